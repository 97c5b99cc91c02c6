"""The local-outlier-factor IR: scikit-learn's ``LocalOutlierFactor(novelty=True)``, euclidean metric.

Semantics (scikit-learn's ``score_samples``): the k nearest training rows of x (euclidean distance d_j),
``reach_j = max(d_j, kdist_j)`` (kdist: each training row's distance to its own k-th neighbour),
``lrd(x) = 1 / (mean(reach) + 1e-10)``, ``score_samples(x) = -mean(lrd_j / lrd(x))`` over the k
neighbours (lrd_j: the training rows' own densities), ``decision_function = score_samples - offset_``,
``predict`` 1 where that is >= 0, else -1.

The training rows, their ``lrd`` and ``kdist`` are stored as scikit-learn fitted them. Distances are
computed with BLAS (or a tree) and, for float32 input, rounded to float32, so the reference computes
them in float64 and states a bound (docs/anomaly.md): per neighbour ``delta_j`` (float64 rounding of the
squared distance at the scale ``(|x| + |y|)^2``, its square root, float32 rounding), the score within
``mean(lrd_j) * mean(delta_j) + gamma(2k + 8) |score|``. A row is ``ambiguous`` when the k-th and the
(k+1)-th nearest distances are within their bounds (the neighbour set itself is in doubt) or its
decision value is within three score bounds of 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from microlearn.ir.base import Reference, Task, feature_names_lines, score_disagreements
from microlearn.ir.linear import U32, U64, gamma

EPS = 1e-10  # scikit-learn's guard against duplicates


@dataclass(frozen=True)
class LocalOutlierFactor:
    fit_x: npt.NDArray[np.float64]  # (m, n)
    lrd: npt.NDArray[np.float64]  # (m,)
    kdist: npt.NDArray[np.float64]  # (m,)
    k: int
    offset: float
    source: str = ""
    feature_names: tuple[str, ...] | None = field(default=None)

    def __post_init__(self) -> None:
        X, lrd, kd = self.fit_x, self.lrd, self.kdist
        if X.dtype != np.float64 or lrd.dtype != np.float64 or kd.dtype != np.float64:
            raise ValueError("LOF arrays are float64")
        if X.ndim != 2 or X.shape[0] < 2 or X.shape[1] < 1:
            raise ValueError("the training rows must be (m >= 2, n >= 1)")
        m = X.shape[0]
        if lrd.shape != (m,) or kd.shape != (m,):
            raise ValueError("lrd and kdist hold one value per training row")
        if not 1 <= self.k < m:
            raise ValueError("k must be 1 .. m - 1")
        for a in (X, lrd, kd):
            if not np.all(np.isfinite(a)):
                raise ValueError("training rows, densities and distances must be finite")
        if np.any(lrd < 2.0**-1022) or np.any(lrd > 2.0**50) or np.any(kd < 0) or np.any(kd > 2.0**50):
            raise ValueError("densities must lie in 2^-1022 .. 2^50, distances in 0 .. 2^50")
        if not np.isfinite(self.offset):
            raise ValueError("the offset must be finite")

    @property
    def task(self) -> Task:
        return Task.SCORE

    @property
    def m(self) -> int:
        return int(self.fit_x.shape[0])

    @property
    def n_inputs(self) -> int:
        return int(self.fit_x.shape[1])

    @property
    def n_features(self) -> int:
        return self.n_inputs

    @property
    def n_outputs(self) -> int:
        return 1

    @property
    def classes(self) -> None:
        return None

    def summary(self) -> list[str]:
        lines = [
            f"LocalOutlierFactor (novelty): {self.m} training rows, {self.n_features} features, k = {self.k}",
            f"score = -mean(lrd_j / lrd(x)); inlier when score - ({self.offset:.6g}) >= 0",
        ]
        lines += feature_names_lines(self.feature_names)
        return lines

    # ------------------------------------------------------------------ arithmetic
    def distances(
        self, X: npt.NDArray[np.float32]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """(d, delta): euclidean distances (rows, m) in float64 and a bound of each one's error."""
        X64 = np.asarray(X, dtype=np.float64)
        n = self.n_features
        d2 = np.stack([np.sum((X64 - y) ** 2, axis=1) for y in self.fit_x], axis=1)
        scale = np.stack([np.sum((np.abs(X64) + np.abs(y)) ** 2, axis=1) for y in self.fit_x], axis=1)
        e2 = gamma(n + 6, U64) * scale * 1.01
        d = np.sqrt(d2)
        with np.errstate(divide="ignore", invalid="ignore"):
            dd = np.minimum(np.sqrt(e2), np.where(d > 0, e2 / d, np.inf))
        delta = dd + 1.01 * U32 * (d + dd) + 4 * U64 * d
        return d, delta

    def score_parts(
        self, X: npt.NDArray[np.float32]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
        """(score, bound, neighbour set in doubt) per row."""
        d, delta = self.distances(X)
        k = self.k
        order = np.argsort(d, axis=1, kind="stable")
        idx = order[:, :k]
        r = np.arange(len(d))[:, None]
        dk = d[r, idx]
        reach = np.maximum(dk, self.kdist[idx])
        mean_reach = np.mean(reach, axis=1)
        x_lrd = 1.0 / (mean_reach + EPS)
        score = -np.mean(self.lrd[idx] / x_lrd[:, None], axis=1)
        dmean = np.mean(delta[r, idx], axis=1)
        bound = np.mean(self.lrd[idx], axis=1) * dmean + gamma(2 * k + 8, U64) * np.abs(score)
        nxt = order[:, k]
        kth = order[:, k - 1]
        rr = np.arange(len(d))
        doubt = (d[rr, nxt] - d[rr, kth]) <= 2 * (delta[rr, nxt] + delta[rr, kth])
        return score, bound * (1.0 + 2.0**-20), doubt

    def library_disagreements(self, estimator: Any, X: npt.NDArray[np.float32], ref: Reference) -> int:
        """verify's cross-check: rows where scikit-learn's score is outside the bound, or its predict
        differs on a row that is not ambiguous."""
        return score_disagreements(estimator, X, ref)

    # ------------------------------------------------------------------ reference
    def reference(self, X: npt.NDArray[np.float32]) -> Reference:
        X32 = np.asarray(X)
        if X32.dtype != np.float32:
            X32 = X32.astype(np.float32)
        score, E, doubt = self.score_parts(X32)
        dec = score - self.offset
        amb = doubt | (np.abs(dec) <= 3 * E + 4 * U64 * abs(self.offset))
        bound = np.where(doubt, np.inf, 3 * E + 1.01 * U32 * np.abs(score))
        return Reference(
            outputs=np.asarray(score, dtype=np.float64),
            scores=np.asarray(dec, dtype=np.float64),
            bound=np.asarray(bound, dtype=np.float64),
            ambiguous=np.asarray(amb, dtype=np.bool_),
            decision=np.where(dec >= 0, 1, -1).astype(np.int64),
        )
