"""The protocol every model family's IR follows, and what its reference evaluation returns.

A frontend turns a fitted library object into an IR; passes rewrite IRs; backends (C methods, the model
file codec) and targets read IRs only. ``reference(X32)`` is the library's own result, computed from the
IR alone in numpy (bit-identical to the library where the family allows it); ``verify`` compares every
target against it with the comparator of the IR's task.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt


class Task(enum.Enum):
    """What a model's output means; ``verify`` picks its comparator from this."""

    CLASSIFY = "classify"  # outputs: class index per row (+ class probabilities / decision scores)
    REGRESS = "regress"  # outputs: n_outputs values per row
    SCORE = "score"  # outputs: one anomaly score per row (+ inlier/outlier decision)
    CLUSTER = "cluster"  # outputs: cluster index per row (+ distances)
    TRANSFORM = "transform"  # outputs: n_outputs transformed features per row (pipeline stages)


@dataclass(frozen=True)
class Reference:
    """What the reference library computes for a batch of float32 rows.

    ``outputs`` is (n,) int64 class/cluster indices for CLASSIFY/CLUSTER, (n,) or (n, k) float64 values for
    REGRESS/SCORE, (n, k) values for TRANSFORM (in the stage's output dtype). ``proba`` and ``scores``
    (decision_function, raw margins, distances) where the family has them. ``bound`` is, per row, the
    largest difference allowed between a target's value outputs and ``outputs`` (REGRESS, SCORE,
    TRANSFORM); ``margin`` is, per row of a CLASSIFY/CLUSTER model, the reference's own distance to a tie,
    and ``ambiguous`` marks rows where that margin is inside float64 rounding: such rows are counted by
    ``verify``, not required to agree. ``decision`` (SCORE): the library's inlier (1) / outlier (-1)
    ``predict`` per row; for SCORE, ``ambiguous`` marks the rows whose decision value is within the
    rounding bound of its threshold (their decision is counted, not required)."""

    outputs: npt.NDArray[Any]
    proba: npt.NDArray[np.float64] | None = None
    scores: npt.NDArray[np.float64] | None = None
    bound: npt.NDArray[np.float64] | None = None
    ambiguous: npt.NDArray[np.bool_] | None = None
    decision: npt.NDArray[np.int64] | None = None


def feature_names_lines(names: tuple[str, ...] | None) -> list[str]:
    """The summary line naming a model's features (the first 16), or none without names."""
    if names is None:
        return []
    return ["feature names: " + ", ".join(names[:16]) + (" ..." if len(names) > 16 else "")]


@runtime_checkable
class IR(Protocol):
    """Every family's IR (a frozen dataclass) has these."""

    @property
    def task(self) -> Task: ...

    @property
    def n_inputs(self) -> int:
        """Values per input row (features; for a pipeline, its raw input)."""
        ...

    @property
    def n_outputs(self) -> int:
        """Classes (CLASSIFY), values (REGRESS), 1 (SCORE), clusters (CLUSTER), features out (TRANSFORM)."""
        ...

    @property
    def source(self) -> str:
        """Full class path of what it was converted from, e.g. "sklearn.ensemble.RandomForestClassifier"."""
        ...

    @property
    def feature_names(self) -> tuple[str, ...] | None: ...

    @property
    def classes(self) -> npt.NDArray[np.generic] | None:
        """Original class labels (CLASSIFY), else None."""
        ...

    def summary(self) -> list[str]:
        """Lines describing the model for a generated header comment or a report (plain text, user text
        already made safe for a C comment by the writer, not here)."""
        ...

    def reference(self, X: npt.NDArray[np.float32]) -> Reference:
        """The library's result for float32 rows (n, n_inputs)."""
        ...


def score_disagreements(estimator: Any, X: npt.NDArray[np.float32], ref: Reference) -> int:
    """For an outlier detector's IR: rows where the library's ``score_samples`` (MinCovDet:
    ``-mahalanobis``) is outside ``ref.bound`` of the reference, plus firm rows (not ``ref.ambiguous``)
    where its ``predict`` differs from ``ref.decision``."""
    if hasattr(estimator, "score_samples"):
        sk = np.asarray(estimator.score_samples(X), dtype=np.float64).reshape(-1)
    elif hasattr(estimator, "mahalanobis"):
        sk = -np.asarray(estimator.mahalanobis(X), dtype=np.float64).reshape(-1)
    else:
        return 0
    tol = np.zeros(len(sk)) if ref.bound is None else np.asarray(ref.bound, np.float64)
    bad = int(np.sum(~(np.abs(sk - np.asarray(ref.outputs, np.float64)) <= tol)))
    if hasattr(estimator, "predict") and ref.decision is not None:
        firm = np.ones(len(sk), bool) if ref.ambiguous is None else ~np.asarray(ref.ambiguous, bool)
        dec = np.asarray(estimator.predict(X)).astype(np.int64)
        bad += int(np.sum((dec != ref.decision) & firm))
    return bad
