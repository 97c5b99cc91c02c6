"""The k-means IR: cluster centres (``KMeans``, ``MiniBatchKMeans``) and, for the online update, the
per-centre weight sums scikit-learn's ``MiniBatchKMeans`` keeps (``_counts``).

Rule (docs/kmeans.md): ``predict`` is the centre at the smallest float64 squared euclidean distance
``sum (x_i - c_i)^2`` (summed in feature order, the float32 input widened exactly), the lowest centre
index among equal distances; ``transform`` the square roots of those distances, rounded to float32.

scikit-learn computes ``predict`` as ``|c|^2 - 2 x.c`` through BLAS in the centres' dtype (float32 for a
model fitted on float32 data) and keeps the first of equal values, ``transform`` as
``sqrt(max(0, |x|^2 - 2 x.c + |c|^2))`` in float64. Both equal the rule outside rounding: a row whose
nearest and second-nearest squared distances are closer than the sum of both computations' error bounds is
``ambiguous`` (counted by ``verify``, not required to agree); a transformed value is within
:meth:`KMeans.transform_reference`'s bound.

The online update (``partial_fit`` of one batch, unit sample weights) is the device's float32 replay of
scikit-learn's ``_mini_batch_step``: :meth:`KMeans.partial_fit_f32` computes it here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from microlearn.ir.base import Reference, Task

U64 = 2.0**-53
U32 = 2.0**-24
F32_MAX = float(np.finfo(np.float32).max)
MAX_COUNT = 1e15  # a weight sum beyond it is not a count of samples


def gamma(k: int, u: float = U64) -> float:
    """Higham's gamma_k = k u / (1 - k u), rounded up."""
    ku = k * u
    return float(np.nextafter(ku / (1.0 - ku) * (1.0 + 4 * U64), np.inf))


@dataclass(frozen=True)
class KMeans:
    """Centres (k, n_features) float64; ``counts`` (k,) the weight sums of a MiniBatchKMeans, else None."""

    centers: npt.NDArray[np.float64]
    counts: npt.NDArray[np.float64] | None = None
    float32: bool = False  # scikit-learn holds the centres as float32 (fitted on float32 data)
    source: str = ""
    feature_names: tuple[str, ...] | None = field(default=None)

    def __post_init__(self) -> None:
        c = self.centers
        if c.dtype != np.float64 or c.ndim != 2 or c.shape[0] < 1 or c.shape[1] < 1:
            raise ValueError("KMeans.centers is a float64 array (n_clusters >= 1, n_features >= 1)")
        if not np.all(np.isfinite(c)) or np.any(np.abs(c) > F32_MAX):
            raise ValueError("centres must be finite and within the float32 range")
        if self.float32 and np.any(c.astype(np.float32).astype(np.float64) != c):
            raise ValueError("float32 centres must be exact float32 values")
        if self.counts is not None:
            w = self.counts
            if w.dtype != np.float64 or w.shape != (c.shape[0],):
                raise ValueError("KMeans.counts holds one float64 weight sum per centre")
            if not np.all((w >= 0) & (w <= MAX_COUNT)):
                raise ValueError(f"weight sums must be in [0, {MAX_COUNT:g}]")

    @property
    def task(self) -> Task:
        return Task.CLUSTER

    @property
    def n_clusters(self) -> int:
        return int(self.centers.shape[0])

    @property
    def n_inputs(self) -> int:
        return int(self.centers.shape[1])

    @property
    def n_features(self) -> int:
        return self.n_inputs

    @property
    def n_outputs(self) -> int:
        return self.n_clusters

    @property
    def classes(self) -> None:
        return None

    def summary(self) -> list[str]:
        name = self.source.split(".")[-1] or "k-means"
        learn = "; online update from the weight sums" if self.counts is not None else ""
        return [
            f"{name}: {self.n_clusters} clusters, {self.n_features} features",
            "predict: nearest centre (squared euclidean, lowest index among equal distances); transform: "
            f"distances{learn}",
        ]

    # ------------------------------------------------------------------ the rule
    def distances(self, X: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """(n, k) float64 squared euclidean distances, summed in feature order."""
        X64 = np.asarray(X, dtype=np.float64)
        D = np.zeros((X64.shape[0], self.n_clusters))
        for i in range(self.n_features):
            d = X64[:, i : i + 1] - self.centers[None, :, i]
            D += d * d
        return D

    def _scale(self, X: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """Per row, max_j sum_i (|x_i| + |c_ji|)^2: what every rounding error below is relative to."""
        X64 = np.abs(np.asarray(X, dtype=np.float64))
        A = np.abs(self.centers)
        S = np.zeros((X64.shape[0], self.n_clusters))
        for i in range(self.n_features):
            s = X64[:, i : i + 1] + A[None, :, i]
            S += s * s
        return np.asarray(S.max(axis=1))

    def ambiguous(self, X: npt.NDArray[np.float32]) -> npt.NDArray[np.bool_]:
        """Rows whose two smallest distances are within scikit-learn's rounding (GEMM form in the centres'
        dtype: n + 2 roundings of terms bounded by S) plus the rule's own (n + 2 float64 roundings)."""
        if self.n_clusters < 2:
            return np.zeros(np.asarray(X).shape[0], dtype=bool)
        D = np.sort(self.distances(X), axis=1)
        u = U32 if self.float32 else U64
        e = (gamma(self.n_features + 3, u) + gamma(self.n_features + 2)) * self._scale(X) + 2.0**-1000
        out: npt.NDArray[np.bool_] = (D[:, 1] - D[:, 0]) <= 2 * e * (1 + 2.0**-20)
        return out

    def predict(self, X: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
        return np.asarray(np.argmin(self.distances(X), axis=1), dtype=np.int64)

    def reference(self, X: npt.NDArray[np.float32]) -> Reference:
        X32 = np.asarray(X, dtype=np.float32)
        D = self.distances(X32)
        return Reference(
            outputs=np.asarray(np.argmin(D, axis=1), dtype=np.int64),
            scores=np.asarray(-D),
            ambiguous=self.ambiguous(X32),
        )

    def transform_reference(
        self, X: npt.NDArray[np.float32]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """(values, bound): the rule's distances (float32-rounded) and, per row, the largest difference
        from scikit-learn's ``transform``: its squared distance is within gamma_(n+4) S of the exact one
        (float64 GEMM form and clipping), the rule's within gamma_(n+2) S; |sqrt a - sqrt b| <= sqrt|a - b|;
        both results are rounded to float32 (half an ulp each)."""
        X32 = np.asarray(X, dtype=np.float32)
        v = np.sqrt(self.distances(X32)).astype(np.float32).astype(np.float64)
        S = self._scale(X32)
        e = (gamma(self.n_features + 4) + gamma(self.n_features + 2)) * S
        bound = np.sqrt(e) + 2 * U32 * v.max(axis=1) * (1 + 2.0**-20) + 2.0**-149
        return v, np.asarray(bound)

    # ------------------------------------------------------------------ the online update
    def partial_fit_f32(
        self,
        centers: npt.NDArray[np.float32],
        counts: npt.NDArray[np.float32],
        X: npt.NDArray[np.float32],
        sample_weight: npt.NDArray[np.float32] | None = None,
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        """One mini-batch step in float32, as the device computes it: labels by the rule on the current
        centres, then per centre whose members' weights sum (in float32, batch order) to s > 0
        ``c = c * w; c += float32(x * weight) (batch order); w += s; c *= float32(1 / w)``
        (scikit-learn's ``_mini_batch_step`` without reassignment; weights default to 1). Returns
        (centres, weight sums, labels)."""
        c = np.array(centers, dtype=np.float32)
        w = np.array(counts, dtype=np.float32)
        X32 = np.asarray(X, dtype=np.float32)
        sw = np.ones(len(X32), np.float32) if sample_weight is None else np.asarray(sample_weight, np.float32)
        step = KMeans(centers=c.astype(np.float64), float32=True)
        labels = step.predict(X32)
        for j in range(self.n_clusters):
            members = np.flatnonzero(labels == j)
            s = np.float32(0.0)
            for r in members:
                s = np.float32(s + sw[r])
            if not s > 0:
                continue
            row = c[j] * w[j]
            for r in members:
                row = row + X32[r] * sw[r]
            w[j] = np.float32(w[j] + s)
            alpha = np.float32(1.0) / w[j]
            c[j] = row * alpha
        return c, w, labels
