"""The Mahalanobis-distance IR: scikit-learn's ``EllipticEnvelope`` and ``MinCovDet``.

Semantics (scikit-learn 1.x):

* ``mahalanobis(x) = (x - location) @ precision @ (x - location)`` (float64; ``precision`` is the fitted
  ``precision_``, the float32 row widened exactly);
* ``score_samples(x) = -mahalanobis(x)``; ``decision_function(x) = score_samples(x) - offset``;
  ``predict(x) = 1`` where ``decision_function(x) >= 0``, else ``-1``.

EllipticEnvelope's ``offset`` is its fitted ``offset_``. MinCovDet has no ``predict`` of its own: its
``offset`` is ``-chi2(n_features).isf(0.025)``, the cut-off scikit-learn's MCD itself applies to the
distances when it re-weights its support, so ``predict`` says whether a row would be in that support.

scikit-learn computes the quadratic form with BLAS (an order it does not fix), so the reference cannot
be bit-identical: :meth:`Mahalanobis.reference` computes it in float64 and states, per row, a proven
bound (docs/anomaly.md, "Mahalanobis distance"). ``S = |d| @ |P| @ |d|`` (d = x - location) is the
scale of every rounding; any float64 evaluation of the form (any order, FMA or not) is within
``gamma(2n + 5) * S`` of the exact value. A row is ``ambiguous`` when the reference's decision value is
within three times that of 0 (scikit-learn's error, the reference's and a float64 replay's).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from microlearn.ir.base import Reference, Task, feature_names_lines, score_disagreements
from microlearn.ir.linear import U32, U64, gamma

Kind = Literal["elliptic", "mcd"]
F32_MAX = float(np.finfo(np.float32).max)


def jacobi_weights(P: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """w_i = |P_ii| (floored far below the largest, so every w_i > 0), rounded up to float32: the scaling
    under which the bound is taken (docs/anomaly.md)."""
    dg = np.abs(np.diag(P))
    floor = max(float(np.max(dg)) * 2.0**-60, 2.0**-100)
    w = np.maximum(dg, floor).astype(np.float32)
    w = np.where(w.astype(np.float64) < np.maximum(dg, floor), np.nextafter(w, np.float32(np.inf)), w)
    return np.asarray(w, dtype=np.float64)


def scaled_norm(P: npt.NDArray[np.float64], w: npt.NDArray[np.float64]) -> float:
    """An upper bound of the spectral norm of |P_ij| / sqrt(w_i w_j): its largest row or column sum."""
    s = np.sqrt(w)
    A = np.abs(P) / np.outer(s, s)
    return max(float(np.max(np.sum(A, axis=1))), float(np.max(np.sum(A, axis=0)))) * (1.0 + 2.0**-40)


@dataclass(frozen=True)
class Mahalanobis:
    """A fitted Mahalanobis-distance outlier detector: ``location`` (n,), ``precision`` (n, n, symmetric)
    and the decision ``offset``, exactly scikit-learn's float64 values."""

    location: npt.NDArray[np.float64]
    precision: npt.NDArray[np.float64]
    offset: float
    kind: Kind = "elliptic"
    source: str = ""
    feature_names: tuple[str, ...] | None = field(default=None)

    def __post_init__(self) -> None:
        loc, P = self.location, self.precision
        if loc.dtype != np.float64 or P.dtype != np.float64:
            raise ValueError("Mahalanobis arrays are float64")
        if loc.ndim != 1 or loc.shape[0] < 1 or P.shape != (loc.shape[0], loc.shape[0]):
            raise ValueError("location must be (n,) and precision (n, n)")
        if not (np.all(np.isfinite(loc)) and np.all(np.isfinite(P)) and np.isfinite(self.offset)):
            raise ValueError("location, precision and offset must be finite")
        if np.any(np.abs(loc) > F32_MAX) or np.any(np.abs(P) > F32_MAX / 2):
            raise ValueError("location and precision must lie within the float32 range")
        if self.kind not in ("elliptic", "mcd"):
            raise ValueError("kind is 'elliptic' or 'mcd'")

    @property
    def task(self) -> Task:
        return Task.SCORE

    @property
    def n_inputs(self) -> int:
        return int(self.location.shape[0])

    @property
    def n_features(self) -> int:
        return self.n_inputs

    @property
    def n_outputs(self) -> int:
        return 1

    @property
    def classes(self) -> None:
        return None

    @property
    def threshold(self) -> float:
        """-offset: a row is an inlier when its distance is <= this (negation is exact)."""
        return -float(self.offset)

    def summary(self) -> list[str]:
        name = "EllipticEnvelope" if self.kind == "elliptic" else "MinCovDet"
        lines = [
            f"{name}: squared Mahalanobis distance, {self.n_features} features",
            f"score = -distance; inlier when distance <= {self.threshold:.6g} (offset {self.offset:.6g})",
        ]
        lines += feature_names_lines(self.feature_names)
        return lines

    # ------------------------------------------------------------------ arithmetic
    def distance(self, X: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """The squared Mahalanobis distance in float64 (scikit-learn's formula)."""
        d = np.asarray(X, dtype=np.float64) - self.location
        out: npt.NDArray[np.float64] = np.sum((d @ self.precision) * d, axis=1)
        return out

    def packed(self) -> npt.NDArray[np.float64]:
        """The upper triangle, row by row, of the symmetrised form: P[i][i], then P[i][j] + P[j][i] for
        j > i (what the devices multiply; d @ P @ d is the same form)."""
        P, n = self.precision, self.n_features
        out = []
        for i in range(n):
            out.append(P[i, i])
            out += [P[i, j] + P[j, i] for j in range(i + 1, n)]
        return np.asarray(out, dtype=np.float64)

    def scale(self, X: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """S = |d| @ |P| @ |d| per row, rounded up."""
        d = np.abs(np.asarray(X, dtype=np.float64) - self.location)
        S = np.sum((d @ np.abs(self.precision)) * d, axis=1)
        out: npt.NDArray[np.float64] = S * (1.0 + gamma(2 * self.n_features + 4, U64))
        return out

    def f64_error(self, X: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """Bound of |a float64 evaluation of the distance - the exact distance| (any order or FMA)."""
        out: npt.NDArray[np.float64] = gamma(2 * self.n_features + 5, U64) * self.scale(X) + 2.0**-1000
        return out

    @property
    def weights(self) -> npt.NDArray[np.float64]:
        return jacobi_weights(self.precision)

    def f32_constants(self) -> tuple[float, float, float]:
        """(a, b, c) of the device's bound ``a * r + b + c * (|q| + a * r + b)`` of |q32 - sklearn's
        distance| where r is the computed sum of w_i * d_i^2 over the float32 differences d and q the
        computed float32 distance (docs/anomaly.md derives it)."""
        n, u = self.n_features, U32
        w = self.weights
        M = scaled_norm(self.precision, w)
        L2 = float(np.sum(w * self.location**2)) * (1.0 + 2.0**-40)
        a = M * (gamma(2 * n + 2, u) * (1 + u) + 4.0004 * u + 2.0004 * u * u + 2.1 * gamma(2 * n + 5, U64))
        a *= (1.0 + gamma(n + 3, u)) * (1.0 + 2.0**-10)
        b = M * (1.0002 * u + 2.0004 * u * u + 2.1 * gamma(2 * n + 5, U64)) * L2 * (1.0 + 2.0**-10)
        b += (n * n + 4 * n) * 2.0**-140 * (float(np.max(np.abs(self.precision))) + float(np.max(w)) + 1.0)
        c = 4.0 * u
        return a, b, c

    def f32_bound(self, X: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """Per row, the device bound evaluated on the largest r and q the float32 path can compute."""
        a, b, c = self.f32_constants()
        u = U32
        d = np.asarray(X, dtype=np.float64) - self.location
        e = 1.0001 * u * (np.abs(self.location) + np.abs(d))
        r = np.sum(self.weights * (np.abs(d) + e) ** 2, axis=1) * (1.0 + gamma(self.n_features + 3, u))
        q = self.distance(X)
        out: npt.NDArray[np.float64] = a * r + b + c * (np.abs(q) + a * r + b)
        return out

    def library_disagreements(self, estimator: Any, X: npt.NDArray[np.float32], ref: Reference) -> int:
        """verify's cross-check: rows where scikit-learn's score is outside the bound, or its predict
        differs on a row that is not ambiguous."""
        return score_disagreements(estimator, X, ref)

    # ------------------------------------------------------------------ reference
    def reference(self, X: npt.NDArray[np.float32]) -> Reference:
        X32 = np.asarray(X)
        if X32.dtype != np.float32:
            X32 = X32.astype(np.float32)
        q = self.distance(X32)
        score = -q
        dec = score - self.offset
        e64 = self.f64_error(X32)
        with np.errstate(invalid="ignore"):
            amb = (np.abs(dec) <= 3.0 * e64 + 4 * U64 * np.abs(self.offset)) | ~np.isfinite(dec)
        decision = np.where(dec >= 0, 1, -1).astype(np.int64)
        bound = self.f32_bound(X32) + 2.0 * e64
        return Reference(
            outputs=np.asarray(score, dtype=np.float64),
            scores=np.asarray(dec, dtype=np.float64),
            bound=np.asarray(bound, dtype=np.float64),
            ambiguous=np.asarray(amb, dtype=np.bool_),
            decision=decision,
        )
