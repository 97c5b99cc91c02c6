"""The nearest-neighbour IR: stored examples, their class, ``k`` and a metric.

One IR serves ``KNeighborsClassifier`` and ``KNeighborsRegressor`` (uniform weights; the examples are
``_fit_X``; a regressor's ``values`` are its targets, the prediction their mean over the k nearest) and
``NearestCentroid`` (uniform priors; the examples are the centroids, one per class, ``k`` = 1).

Decision rule (what every backend computes; docs/neighbors.md):

* distances from the float32 input row to every example, in float64: squared euclidean
  ``sum (x_i - e_i)^2`` or manhattan ``sum |x_i - e_i|``, summed in feature order;
* the ``k`` nearest examples, an example replacing a kept one only when strictly nearer (so among equal
  distances the lower example index is kept);
* class: the most frequent class among them, the lowest class index among equally frequent ones.

scikit-learn computes the distances in an order of its own (brute force: ``|x|^2 - 2 x.e + |e|^2``
through BLAS, in chunks; kd/ball trees: direct sums) and breaks ties between equal distances by the order
its sort or tree visits them, which is not the rule above. The two agree on every row where the k-th and
(k+1)-th smallest distances are further apart than the rounding of both computations;
:meth:`Neighbors.reference` marks the other rows ``ambiguous`` (counted by ``verify``, not required to
agree). The reference outputs themselves are scikit-learn's: it evaluates the stored examples with
scikit-learn's own code (same algorithm, leaf size and metric), so they are its bits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from microlearn.errors import UnsupportedEstimatorError
from microlearn.ir.base import Reference, Task

Metric = Literal["euclidean", "manhattan", "chebyshev"]
Kind = Literal["knn", "centroid"]
Algorithm = Literal["brute", "kd_tree", "ball_tree"]
METRICS = ("euclidean", "manhattan", "chebyshev")
KINDS = ("knn", "centroid")
ALGORITHMS = ("brute", "kd_tree", "ball_tree")
U64 = 2.0**-53
F32_MAX = float(np.finfo(np.float32).max)


def gamma(k: int, u: float = U64) -> float:
    """Higham's gamma_k = k u / (1 - k u), rounded up."""
    ku = k * u
    return float(np.nextafter(ku / (1.0 - ku) * (1.0 + 4 * U64), np.inf))


@dataclass(frozen=True)
class Neighbors:
    """Stored examples (m, n_features) float64 with class indices ``labels`` (m,) in 0..n_classes-1."""

    examples: npt.NDArray[np.float64]
    labels: npt.NDArray[np.int64]
    n_classes: int
    k: int = 1
    metric: Metric = "euclidean"
    kind: Kind = "knn"
    algorithm: Algorithm = "brute"
    leaf_size: int = 30
    float32: bool = False  # scikit-learn holds the examples as float32 (fitted on float32 data)
    values: npt.NDArray[np.float64] | None = None  # a regressor's target per example
    weights: Literal["uniform", "distance"] = "uniform"  # classifiers: votes of 1 or of 1 / distance
    classes: npt.NDArray[np.generic] | None = None
    source: str = ""
    feature_names: tuple[str, ...] | None = field(default=None)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        e, y = self.examples, self.labels
        if e.dtype != np.float64 or e.ndim != 2 or e.shape[0] < 1 or e.shape[1] < 1:
            raise ValueError("Neighbors.examples is a float64 array (n_examples >= 1, n_features >= 1)")
        if y.dtype != np.int64 or y.shape != (e.shape[0],):
            raise ValueError("Neighbors.labels is an int64 array with one class index per example")
        if self.weights not in ("uniform", "distance"):
            raise ValueError("weights is 'uniform' or 'distance'")
        if self.weights == "distance" and (self.values is not None or self.kind != "knn"):
            raise ValueError("distance weights are for k-nearest-neighbour classifiers")
        if self.values is not None:
            v = self.values
            if v.dtype != np.float64 or v.shape != (e.shape[0],) or not np.all(np.isfinite(v)):
                raise ValueError("Neighbors.values holds one finite float64 target per example")
            if self.kind != "knn" or self.classes is not None or self.n_classes != 1 or np.any(y != 0):
                raise ValueError("a nearest-neighbour regressor has no classes (n_classes 1, labels 0)")
        elif self.n_classes < 2 or np.any(y < 0) or np.any(y >= self.n_classes):
            raise ValueError("labels must be class indices 0 .. n_classes - 1, n_classes >= 2")
        if not np.all(np.isfinite(e)) or np.any(np.abs(e) > F32_MAX):
            raise ValueError("examples must be finite and within the float32 range")
        if not 1 <= self.k <= e.shape[0]:
            raise ValueError(f"k must be 1 .. n_examples ({e.shape[0]}), not {self.k}")
        if self.metric not in METRICS or self.kind not in KINDS or self.algorithm not in ALGORITHMS:
            raise ValueError("unknown metric, kind or algorithm")
        if self.kind == "centroid" and (self.k != 1 or e.shape[0] != self.n_classes):
            raise ValueError("a nearest-centroid model has one example per class and k = 1")
        if self.float32 and np.any(e.astype(np.float32).astype(np.float64) != e):
            raise ValueError("float32 examples must be exact float32 values")
        if self.classes is not None and len(self.classes) != self.n_classes:
            raise ValueError("classes must have one label per class")

    # ------------------------------------------------------------------ shape
    @property
    def task(self) -> Task:
        return Task.CLASSIFY if self.values is None else Task.REGRESS

    @property
    def n_examples(self) -> int:
        return int(self.examples.shape[0])

    @property
    def n_inputs(self) -> int:
        return int(self.examples.shape[1])

    @property
    def n_features(self) -> int:
        return self.n_inputs

    @property
    def n_outputs(self) -> int:
        return self.n_classes  # 1 for a regressor

    def summary(self) -> list[str]:
        name = self.source.split(".")[-1] or "nearest neighbours"
        if self.values is not None:
            return [
                f"{name}: nearest neighbours, {self.n_features} features",
                f"{self.n_examples} examples; k = {self.k}; metric: {self.metric}; value: mean of the k "
                "nearest",
            ]
        labels = [str(c) for c in (self.classes if self.classes is not None else range(self.n_classes))]
        shown = ", ".join(f"{i}={lab}" for i, lab in enumerate(labels[:16]))
        more = f", ... ({len(labels)} in all)" if len(labels) > 16 else ""
        what = "centroids" if self.kind == "centroid" else "examples"
        return [
            f"{name}: nearest neighbours, {self.n_features} features",
            f"classes: {self.n_classes} ({shown}{more})",
            f"{self.n_examples} {what}; k = {self.k}; metric: {self.metric}; uniform votes, lowest class "
            "index among equal counts",
        ]

    # ------------------------------------------------------------------ the rule of docs/neighbors.md
    def distances(self, X: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """(n, m) float64 distances (squared euclidean or manhattan, summed in feature order; chebyshev)."""
        X64 = np.asarray(X, dtype=np.float64)
        D = np.zeros((X64.shape[0], self.n_examples))
        for i in range(self.n_features):
            diff = X64[:, i : i + 1] - self.examples[None, :, i]
            if self.metric == "chebyshev":
                D = np.maximum(D, np.abs(diff))
            else:
                D += diff * diff if self.metric == "euclidean" else np.abs(diff)
        return D

    def decide(self, X: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
        """Classes by the rule every backend implements (equal to scikit-learn's outside ``ambiguous``)."""
        D = self.distances(X)
        order = np.argsort(D, axis=1, kind="stable")[:, : self.k]
        if self.values is not None:
            return np.asarray(self.values[order].sum(axis=1) / self.k)
        out = np.empty(D.shape[0], dtype=np.int64)
        for r in range(D.shape[0]):
            if self.weights == "distance":
                out[r] = int(np.argmax(self._weighted_votes(D[r, order[r]], self.labels[order[r]])))
                continue
            votes = np.bincount(self.labels[order[r]], minlength=self.n_classes)
            out[r] = int(np.argmax(votes))
        return out

    def _weighted_votes(
        self, d: npt.NDArray[np.float64], lab: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.float64]:
        """Per class, the sum of 1 / distance (only the zero-distance neighbours, weight 1, if any)."""
        if np.any(d == 0):
            w = (d == 0).astype(np.float64)
        else:
            w = 1.0 / (np.sqrt(d) if self.metric == "euclidean" else d)
        out = np.zeros(self.n_classes)
        for j in range(len(lab)):
            out[lab[j]] += w[j]
        return out

    def ambiguous(self, X: npt.NDArray[np.float32]) -> npt.NDArray[np.bool_]:
        """Rows whose k-th and (k+1)-th distances are within the rounding of scikit-learn's computation,
        of the device's and of :meth:`distances` (each bounded by gamma_(n+4) * sum (|x_i| + |e_i|)^p, p = 2
        for euclidean, 1 otherwise: chebyshev rounds each difference once, below that)."""
        if self.k >= self.n_examples:
            return np.zeros(np.asarray(X).shape[0], dtype=bool)
        X64 = np.abs(np.asarray(X, dtype=np.float64))
        A = np.abs(self.examples)
        S = np.zeros((X64.shape[0], self.n_examples))
        for i in range(self.n_features):
            s = X64[:, i : i + 1] + A[None, :, i]
            S += s * s if self.metric == "euclidean" else s
        # scikit-learn (GEMM form, n + 2 roundings; sqrt and clipping keep the order up to 4u), device,
        # this module: three bounds; a swap needs the two distances to move towards each other.
        e = (gamma(self.n_features + 4) + 2 * gamma(self.n_features + 2)) * S.max(axis=1) + 2.0**-1000
        D = np.sort(self.distances(X), axis=1)
        gap = D[:, self.k] - D[:, self.k - 1]
        out: npt.NDArray[np.bool_] = gap <= 2 * e * (1 + 2.0**-20)
        if self.weights == "distance":
            out |= self._weights_ambiguous(X, e)
        return out

    def _weights_ambiguous(
        self, X: npt.NDArray[np.float32], e: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.bool_]:
        """Distance weights: a neighbour within 4 e of distance 0 (scikit-learn may see 0 or not), or class
        sums closer than their error bounds (each weight 1/d within 2 e / d + 8 u relative, d in the units
        e bounds: squared for euclidean; the k additions k u more)."""
        Dfull = self.distances(X)
        order = np.argsort(Dfull, axis=1, kind="stable")[:, : self.k]
        out = np.zeros(Dfull.shape[0], dtype=bool)
        for r in range(Dfull.shape[0]):
            d = Dfull[r, order[r]]
            lab = self.labels[order[r]]
            f = np.sqrt if self.metric == "euclidean" else (lambda v: v)
            if np.min(d) <= 4 * e[r]:
                # near 0: scikit-learn and the device each see exact zeros (only those vote) or weights of
                # at least 1 / f(5 e): one class among the near ones decides if that outweighs the rest
                near = d <= 4 * e[r]
                cls = np.unique(lab[near])
                if len(cls) != 1:
                    out[r] = True
                    continue
                lower = near.sum() / f(5 * e[r])
                rest = (~near) & (lab != cls[0])
                others = float(np.sum(1.0 / f(d[rest] - e[r]))) if rest.any() else 0.0
                out[r] = bool(lower <= others * (1 + 2.0**-20))
                continue
            rel = 2 * e[r] / d + 8 * U64
            w = 1.0 / (np.sqrt(d) if self.metric == "euclidean" else d)
            W = self._weighted_votes(d, lab)
            err = np.zeros(self.n_classes)
            for j in range(len(lab)):
                err[lab[j]] += w[j] * rel[j]
            err += gamma(self.k + 1) * W
            t = int(np.argmax(W))
            close = (W[t] - W) <= (err[t] + err) * (1 + 2.0**-20)
            close[t] = False
            out[r] = bool(close.any())
        return out

    # ------------------------------------------------------------------ scikit-learn's result
    def sklearn_predict(self, X: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
        """scikit-learn's class indices for X, computed by scikit-learn's own code on the stored examples."""
        try:
            from sklearn.metrics import pairwise_distances_argmin
            from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
        except ImportError as e:  # pragma: no cover - scikit-learn is installed wherever models come from
            raise UnsupportedEstimatorError(
                "the reference of a nearest-neighbour model runs scikit-learn: install scikit-learn"
            ) from e
        X32 = np.asarray(X, dtype=np.float32)
        if self.kind == "centroid":  # NearestCentroid.predict with uniform priors
            E = self.examples.astype(np.float32) if self.float32 else self.examples
            return np.asarray(pairwise_distances_argmin(X32, E, metric=self.metric), dtype=np.int64)
        est: Any
        if self.values is None:
            est = KNeighborsClassifier(
                n_neighbors=self.k,
                algorithm=self.algorithm,
                leaf_size=self.leaf_size,
                metric=self.metric,
                weights=self.weights,
            )
        else:
            est = KNeighborsRegressor(
                n_neighbors=self.k, algorithm=self.algorithm, leaf_size=self.leaf_size, metric=self.metric
            )
        est.fit(
            self.examples.astype(np.float32) if self.float32 else self.examples,
            self.labels if self.values is None else self.values,
        )
        if self.values is not None:
            return np.asarray(est.predict(X32), dtype=np.float64)
        return np.asarray(est.predict(X32), dtype=np.int64)  # the labels are the class indices

    def reference(self, X: npt.NDArray[np.float32]) -> Reference:
        X32 = np.asarray(X, dtype=np.float32)
        out = self.sklearn_predict(X32)
        D = self.distances(X32)
        amb = self.ambiguous(X32)
        if self.values is not None:
            # the mean of k values: scikit-learn's and the device's float64 sums (k roundings each, the
            # division one more), the float32 result; on ambiguous rows the set may differ, so the whole
            # spread of the targets
            v = self.values
            mag = float(np.max(np.abs(v)))
            bound = 2 * gamma(self.k + 1) * mag + 2.0**-24 * (mag * (1 + 2.0**-20)) + 2.0**-149
            spread = float(v.max() - v.min())
            b = np.where(amb, spread + bound, bound)
            return Reference(outputs=np.asarray(out, dtype=np.float64), bound=np.asarray(b, dtype=np.float64))
        return Reference(outputs=out, scores=np.asarray(-D), ambiguous=amb)
