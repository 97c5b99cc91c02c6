"""The nearest-neighbour IR: stored examples, their class, ``k`` and a metric.

One IR serves ``KNeighborsClassifier`` and ``KNeighborsRegressor`` (uniform or distance weights; the
examples are ``_fit_X``; a regressor's ``values`` are its targets, the prediction their (weighted) mean
over the k nearest) and ``NearestCentroid`` (uniform priors; the examples are the centroids, one per class,
``k`` = 1).

Decision rule (what every backend computes; docs/neighbors.md):

* distances from the float32 input row to every example, in float64: squared euclidean
  ``sum (x_i - e_i)^2``, manhattan ``sum |x_i - e_i|``, minkowski ``sum |x_i - e_i|^p`` (summed in feature
  order), chebyshev ``max |x_i - e_i|``;
* the ``k`` nearest examples, an example replacing a kept one only when strictly nearer (so among equal
  distances the lower example index is kept);
* class: the most frequent class among them, the lowest class index among equally frequent ones.

scikit-learn computes the distances in an order of its own (brute force: ``|x|^2 - 2 x.e + |e|^2``
through BLAS, in chunks; kd/ball trees: direct sums) and breaks ties between equal distances by the order
its sort or tree visits them, which is not the rule above. The two agree on every row where the k-th and
(k+1)-th smallest distances are further apart than the rounding of both computations;
:meth:`Neighbors.reference` computes the rule from the IR's arrays alone and marks as ``ambiguous`` only
the rows where such a near tie can change the result: a tied k-th neighbour whose candidates all carry the
same class leaves the vote (and the class) the same whichever of them scikit-learn keeps, so such rows are
decided; the others are counted by ``verify`` and not required to agree. A regressor's ``bound`` on a near
tie grows by what the choice among the tied candidates can move the mean.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from microlearn.ir.base import Reference, Task

Metric = Literal["euclidean", "manhattan", "chebyshev", "minkowski"]
Kind = Literal["knn", "centroid"]
Algorithm = Literal["brute", "kd_tree", "ball_tree"]
METRICS = ("euclidean", "manhattan", "chebyshev", "minkowski")
KINDS = ("knn", "centroid")
ALGORITHMS = ("brute", "kd_tree", "ball_tree")
U64 = 2.0**-53
F32_MAX = float(np.finfo(np.float32).max)
MAX_P = 1024.0  # minkowski's p (beyond it |d|^p overflows for any difference above 2)


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
    weights: Literal["uniform", "distance"] = "uniform"  # votes (or a regressor's mean) of 1 or 1 / distance
    p: float = 2.0  # the power of metric "minkowski" (p >= 1, not 1, 2 or inf: those are the named metrics)
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
        if self.weights == "distance" and self.kind != "knn":
            raise ValueError("distance weights are for k-nearest-neighbour models")
        if self.metric == "minkowski" and not (1.0 <= self.p <= MAX_P and self.p not in (1.0, 2.0)):
            raise ValueError("minkowski's p is in [1, 1024] and not 1 or 2 (those are manhattan, euclidean)")
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
        metric = f"minkowski p={self.p:g}" if self.metric == "minkowski" else self.metric
        if self.values is not None:
            how = "mean" if self.weights == "uniform" else "1/distance-weighted mean"
            return [
                f"{name}: nearest neighbours, {self.n_features} features",
                f"{self.n_examples} examples; k = {self.k}; metric: {metric}; value: {how} of the k nearest",
            ]
        labels = [str(c) for c in (self.classes if self.classes is not None else range(self.n_classes))]
        shown = ", ".join(f"{i}={lab}" for i, lab in enumerate(labels[:16]))
        more = f", ... ({len(labels)} in all)" if len(labels) > 16 else ""
        what = "centroids" if self.kind == "centroid" else "examples"
        return [
            f"{name}: nearest neighbours, {self.n_features} features",
            f"classes: {self.n_classes} ({shown}{more})",
            f"{self.n_examples} {what}; k = {self.k}; metric: {metric}; {self.weights} votes, lowest class "
            "index among equal sums",
        ]

    # ------------------------------------------------------------------ the rule of docs/neighbors.md
    def distances(self, X: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """(n, m) float64 distances: squared euclidean, manhattan or minkowski ``sum |d|^p`` (summed in
        feature order), chebyshev ``max |d|``."""
        X64 = np.asarray(X, dtype=np.float64)
        D = np.zeros((X64.shape[0], self.n_examples))
        with np.errstate(over="ignore"):
            for i in range(self.n_features):
                diff = X64[:, i : i + 1] - self.examples[None, :, i]
                if self.metric == "chebyshev":
                    D = np.maximum(D, np.abs(diff))
                elif self.metric == "euclidean":
                    D += diff * diff
                elif self.metric == "manhattan":
                    D += np.abs(diff)
                else:
                    D += np.abs(diff) ** self.p
        return D

    def root(self, d: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """The true distance from what :meth:`distances` returns (sqrt, p-th root or itself)."""
        if self.metric == "euclidean":
            return np.sqrt(d)
        if self.metric == "minkowski":
            return np.asarray(d ** (1.0 / self.p))
        return d

    def weights_of(self, d: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """scikit-learn's ``_get_weights``: 1 / distance, or only the neighbours at distance 0 with 1."""
        if self.weights == "uniform":
            return np.ones(d.shape)
        if np.any(d == 0):
            return np.asarray(d == 0, dtype=np.float64)
        with np.errstate(divide="ignore"):
            return np.asarray(1.0 / self.root(d))

    def _order(self, D: npt.NDArray[np.float64]) -> npt.NDArray[np.intp]:
        return np.argsort(D, axis=1, kind="stable")[:, : self.k]

    def decide(self, X: npt.NDArray[np.float32]) -> npt.NDArray[Any]:
        """Classes (a regressor: values) by the rule every backend implements."""
        D = self.distances(X)
        order = self._order(D)
        if self.values is not None:
            out_v = np.empty(D.shape[0])
            for r in range(D.shape[0]):
                w = self.weights_of(D[r, order[r]])
                out_v[r] = float(np.sum(self.values[order[r]] * w) / np.sum(w))
            return out_v
        out = np.empty(D.shape[0], dtype=np.int64)
        for r in range(D.shape[0]):
            votes = self._weighted_votes(D[r, order[r]], self.labels[order[r]])
            out[r] = int(np.argmax(votes))
        return out

    def _weighted_votes(
        self, d: npt.NDArray[np.float64], lab: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.float64]:
        """Per class, the sum of the neighbours' weights (1 each for uniform votes)."""
        w = self.weights_of(d)
        out = np.zeros(self.n_classes)
        for j in range(len(lab)):
            out[lab[j]] += w[j]
        return out

    def error_bounds(self, X: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """Per row, the sum of the bounds on scikit-learn's, the device's and this module's rounding of a
        distance (each gamma_(n+c) * max_j sum_i (|x_i| + |e_ji|)^q, q = 2 for euclidean, p for minkowski,
        1 otherwise; chebyshev rounds each difference once, below that)."""
        X64 = np.abs(np.asarray(X, dtype=np.float64))
        A = np.abs(self.examples)
        S = np.zeros((X64.shape[0], self.n_examples))
        with np.errstate(over="ignore"):
            for i in range(self.n_features):
                s = X64[:, i : i + 1] + A[None, :, i]
                S += s * s if self.metric == "euclidean" else s**self.p if self.metric == "minkowski" else s
        n = self.n_features
        if self.metric == "minkowski":
            # |d|^p through pow: p + 1 roundings for |x - e| to the p-th power, pow's own error (at most 2
            # ulp assumed for libm's pow), n additions; the same for every one of the three computations
            g = 3 * gamma(n + 2 * int(np.ceil(self.p)) + 4)
        else:
            # scikit-learn (GEMM form, n + 2 roundings; sqrt and clipping keep the order up to 4u), device,
            # this module
            g = gamma(n + 4) + 2 * gamma(n + 2)
        return np.asarray(g * S.max(axis=1) + 2.0**-1000)

    def _ties(
        self, X: npt.NDArray[np.float32]
    ) -> tuple[
        npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.bool_], npt.NDArray[np.bool_]
    ]:
        """(D, e, near, sure): per row the distances, the error bound, whether the k-th and (k+1)-th
        distances are within rounding (a near tie), and ``sure[r, j]``: example j is among the k nearest in
        every computation. On a near-tie row the examples within rounding of the k-th distance are the
        candidates: scikit-learn keeps k - sure.sum() of them, in an order of its own."""
        D = self.distances(X)
        e = self.error_bounds(X)
        n = D.shape[0]
        if self.k >= self.n_examples:
            return D, e, np.zeros(n, dtype=bool), np.ones_like(D, dtype=bool)
        Ds = np.sort(D, axis=1)
        thr = 2 * e * (1 + 2.0**-20)
        near = (Ds[:, self.k] - Ds[:, self.k - 1]) <= thr
        t = Ds[:, self.k - 1 : self.k]
        sure = np.where(near[:, None], t - thr[:, None] > D, t >= D)
        return D, e, near, sure

    def ambiguous(self, X: npt.NDArray[np.float32]) -> npt.NDArray[np.bool_]:
        """Rows where scikit-learn's class may differ from the rule's (see the module docstring)."""
        D, e, near, sure = self._ties(X)
        out = near.copy()
        if self.values is None and self.weights == "uniform":
            thr = 2 * e * (1 + 2.0**-20)
            t = np.sort(D, axis=1)[:, self.k - 1]
            for r in np.flatnonzero(near):
                cand = (~sure[r]) & (D[r] <= t[r] + thr[r])
                # one class among the candidates: whichever of them are kept, the votes are the same
                out[r] = len(np.unique(self.labels[cand])) > 1
        if self.values is None and self.weights == "distance":
            out |= self._weights_ambiguous(D, e)
        return out

    def _weights_ambiguous(
        self, D: npt.NDArray[np.float64], e: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.bool_]:
        """Distance weights: a neighbour within 4 e of distance 0 (scikit-learn may see 0 or not), or class
        sums closer than their error bounds (each weight 1/d within 2 e / d + 8 u relative, d in the units
        e bounds: squared for euclidean, p-th powers for minkowski; the k additions k u more)."""
        order = self._order(D)
        out = np.zeros(D.shape[0], dtype=bool)
        for r in range(D.shape[0]):
            d = D[r, order[r]]
            lab = self.labels[order[r]]
            if np.min(d) <= 4 * e[r]:
                # near 0: scikit-learn and the device each see exact zeros (only those vote) or weights of
                # at least 1 / root(5 e): one class among the near ones decides if that outweighs the rest
                near = d <= 4 * e[r]
                cls = np.unique(lab[near])
                if len(cls) != 1:
                    out[r] = True
                    continue
                lower = near.sum() / float(self.root(np.array(5 * e[r])))
                rest = (~near) & (lab != cls[0])
                others = float(np.sum(1.0 / self.root(d[rest] - e[r]))) if rest.any() else 0.0
                out[r] = bool(lower <= others * (1 + 2.0**-20))
                continue
            rel = 2 * e[r] / d + 8 * U64
            w = 1.0 / self.root(d)
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

    def _value_bounds(self, X: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """A regressor's per-row bound between scikit-learn's value and the rule's (float32 result)."""
        assert self.values is not None
        v = self.values
        D, e, near, sure = self._ties(X)
        order = self._order(D)
        mag = float(np.max(np.abs(v)))
        # both float64 sums (k roundings each; weighted: numerator and denominator), the division, the
        # float32 result
        base = 4 * gamma(self.k + 2) * mag + 2.0**-24 * (mag * (1 + 2.0**-20)) + 2.0**-149
        if np.all(v.astype(np.float32).astype(np.float64) == v):
            # targets that are float32 values may be held as float32 by scikit-learn (fitted on float32
            # targets): its mean or weighted sums are then float32 computations
            base += 4 * gamma(self.k + 2, 2.0**-24) * mag
        thr = 2 * e * (1 + 2.0**-20)
        t = np.sort(D, axis=1)[:, self.k - 1]
        out = np.full(D.shape[0], base)
        for r in range(D.shape[0]):
            vk = v[order[r]]
            if near[r]:
                cand = (~sure[r]) & (D[r] <= t[r] + thr[r])
                if self.weights == "uniform":
                    # the mean moves by the share of the choice times the candidates' spread
                    share = (self.k - int(sure[r].sum())) / self.k
                    out[r] += share * float(np.ptp(v[cand]))
                else:
                    # a weighted mean of the kept examples: within the hull of every possible one
                    out[r] += float(np.ptp(v[sure[r] | cand]))
                continue
            if self.weights == "distance":
                d = D[r, order[r]]
                if np.min(d) <= 4 * e[r]:
                    out[r] += float(np.ptp(vk))  # scikit-learn may weight only exact zeros: the hull
                    continue
                rel = float(np.max(2 * e[r] / d + 8 * U64))
                out[r] += (
                    float(np.ptp(vk)) * rel / (1 - rel) * (1 + 2.0**-20) if rel < 0.5 else float(np.ptp(vk))
                )
        return out

    def reference(self, X: npt.NDArray[np.float32]) -> Reference:
        """The rule computed from the IR's arrays (equal to scikit-learn's result outside ``ambiguous``;
        a regressor's within ``bound``)."""
        X32 = np.asarray(X, dtype=np.float32)
        out = self.decide(X32)
        if self.values is not None:
            return Reference(
                outputs=np.asarray(out, dtype=np.float64), bound=np.asarray(self._value_bounds(X32))
            )
        return Reference(outputs=out, scores=np.asarray(-self.distances(X32)), ambiguous=self.ambiguous(X32))
