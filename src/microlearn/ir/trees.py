"""The tree-ensemble IR: decision trees, random forests and extra trees in one flat form.

Every backend (C inline, C table, model file, MicroPython) is generated from this and only this.

Semantics (those of scikit-learn, which every backend must reproduce exactly):

* Input ``x`` is a row of float32 values.
* At an internal node ``i``: if ``x[feature[i]]`` is NaN, go to ``left[i]`` when ``missing_left[i]``
  else ``right[i]``; otherwise go left when ``x[feature[i]] <= threshold[i]``, else right.
  ``threshold`` is float32 and chosen (see :func:`float32_threshold`) so that this equals scikit-learn's
  float64 comparison for every float32 ``x``.
  The NaN rule is the same as: ``missing_left`` nodes go left unless ``x > threshold``; the others go
  left only when ``x <= threshold``; IEEE comparisons with NaN are false, so no ``isnan`` is needed.
* Nodes of each tree are stored in preorder, one tree after the other: the left child of node ``i`` is
  ``i + 1``; ``roots`` must be increasing, the first being 0.
* A leaf ``i`` (``feature[i] == -1``) holds row ``leaf[i]`` of ``leaf_value``.
* Classifier: ``leaf_value`` rows are the per-tree class probabilities scikit-learn computes (float64,
  already normalised). The ensemble's probabilities are the float64 sum over trees, in tree order,
  divided by ``n_trees``; the class is the first index of the maximum (numpy's argmax).
  For a single tree scikit-learn's ``predict`` takes the argmax of the un-normalised node value; that
  class is kept per leaf in ``leaf_class``, so it is exact too.
* Regressor: ``leaf_value`` has one column; the prediction is the mean over trees.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from microlearn.ir.base import Reference, Task
from microlearn.passes.leaves import unique_rows as unique_rows  # kept importable here for the model file

Kind = Literal["classifier", "regressor", "anomaly"]

LEAF = -1
EPS32 = float(np.finfo(np.float32).eps) / 2  # unit roundoff of float32, 2**-24
SHOWN = 16  # labels / names listed in a summary before "... (n in all)"


def _shown(items: list[str]) -> str:
    more = f", ... ({len(items)} in all)" if len(items) > SHOWN else ""
    return ", ".join(items[:SHOWN]) + more


def float32_threshold(t: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """The largest float32 not above each float64 threshold.

    For every float32 ``x``: ``x <= t`` (in float64) if and only if ``x <= float32_threshold(t)``.
    Proof: if ``x <= t`` then ``x`` is a float32 not above ``t``, so not above the largest such one;
    conversely that float32 is itself ``<= t``. Rounding to nearest instead could round up past a
    float32 value that lies between ``t`` and the rounded result and flip its decision.
    """
    t64 = np.asarray(t, dtype=np.float64)
    t32 = t64.astype(np.float32)
    over = t32.astype(np.float64) > t64
    t32[over] = np.nextafter(t32[over], np.float32(-np.inf))
    return t32


@dataclass(frozen=True)
class TreeEnsemble:
    """A flat tree ensemble. All node arrays have one entry per node of all trees together."""

    kind: Kind
    n_features: int
    n_outputs: int  # number of classes for a classifier, 1 for a regressor
    roots: npt.NDArray[np.int32]  # index of each tree's root node
    feature: npt.NDArray[np.int32]  # feature index, LEAF (-1) at leaves
    threshold: npt.NDArray[np.float32]  # exact float32 threshold (0 at leaves)
    left: npt.NDArray[np.int32]  # child indices (global), -1 at leaves
    right: npt.NDArray[np.int32]
    missing_left: npt.NDArray[np.bool_]  # NaN goes left here
    leaf: npt.NDArray[np.int32]  # row of leaf_value for leaves, -1 at internal nodes
    leaf_value: npt.NDArray[np.float64]  # (n_leaves, n_outputs)
    leaf_class: npt.NDArray[np.int32]  # (n_leaves,) class a single-tree classifier predicts there
    classes: npt.NDArray[np.generic] | None = None  # original labels (classifier)
    source: str = ""  # e.g. "sklearn.ensemble.RandomForestClassifier"
    feature_names: tuple[str, ...] | None = field(default=None)

    def __post_init__(self) -> None:
        self.validate()

    # ------------------------------------------------------------------ invariants
    def validate(self) -> None:
        if self.kind not in ("classifier", "regressor"):
            raise ValueError(f"unknown kind {self.kind!r}")
        if self.n_outputs < 1 or (self.kind == "regressor" and self.n_outputs != 1):
            raise ValueError("a regressor has exactly one output; a classifier at least one class")
        self.validate_nodes()
        if self.leaf_value.ndim != 2 or self.leaf_value.shape[1] != self.n_outputs:
            raise ValueError("leaf_value must have shape (n_leaves, n_outputs)")
        if self.classes is not None and len(self.classes) != self.n_outputs:
            raise ValueError("classes must have one label per output")

    def validate_nodes(self) -> None:
        """The node structure and leaf table invariants every tree IR shares (not the leaf width)."""
        n = self.feature.shape[0]
        for name in ("threshold", "left", "right", "missing_left", "leaf"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"TreeEnsemble.{name} must have shape ({n},)")
        if self.roots.ndim != 1 or self.roots.size < 1:
            raise ValueError("a TreeEnsemble needs at least one tree")
        is_leaf = self.feature == LEAF
        internal = ~is_leaf
        if np.any(self.feature[internal] >= self.n_features) or np.any(self.feature < LEAF):
            raise ValueError("feature index out of range")
        kids = np.concatenate([self.left[internal], self.right[internal]])
        if kids.size and (kids.min() < 0 or kids.max() >= n):
            raise ValueError("child index out of range")
        if np.any(self.leaf[is_leaf] < 0) or np.any(self.leaf[is_leaf] >= self.leaf_value.shape[0]):
            raise ValueError("leaf index out of range")
        if self.leaf_value.ndim != 2:
            raise ValueError("leaf_value must have shape (n_leaves, width)")
        if self.leaf_class.shape != (self.leaf_value.shape[0],):
            raise ValueError("leaf_class must have one entry per leaf")
        if np.any(np.isnan(self.threshold[internal])):
            raise ValueError("thresholds must not be NaN")
        for start, stop in self.tree_slices():
            if start >= stop:
                raise ValueError("every tree needs at least one node")
            inner = np.flatnonzero(internal[start:stop]) + start
            # preorder layout: the left child follows its parent; every child lies inside its tree
            if np.any(self.left[inner] != inner + 1):
                raise ValueError("nodes must be in preorder: left child at index parent + 1")
            if np.any(self.right[inner] <= inner + 1) or np.any(self.right[inner] >= stop):
                raise ValueError("right child must lie after the left subtree, inside the same tree")
        if not np.all(np.isfinite(self.leaf_value)):
            raise ValueError("leaf values must be finite")

    # ------------------------------------------------------------------ the IR protocol (ir.base.IR)
    @property
    def task(self) -> Task:
        return Task.CLASSIFY if self.kind == "classifier" else Task.REGRESS

    @property
    def n_inputs(self) -> int:
        return self.n_features

    def summary(self) -> list[str]:
        """Plain-text lines describing the model (labels and names are the user's text, unescaped)."""
        lines = [f"model: {self.source or 'tree ensemble'}", f"features: {self.n_features}"]
        if self.feature_names is not None:
            lines.append("feature names: " + _shown(list(self.feature_names)))
        if self.is_classifier:
            labels = [str(c) for c in (self.classes if self.classes is not None else range(self.n_outputs))]
            lines.append(
                f"classes: {self.n_outputs} (" + _shown([f"{i}={c}" for i, c in enumerate(labels)]) + ")"
            )
        else:
            lines.append("output: one value (regression)")
        nodes = f"nodes: {self.n_nodes} ({self.n_leaves} leaves)"
        lines.append(f"trees: {self.n_trees}   {nodes}   max depth: {self.max_depth()}")
        return lines

    def reference(self, X: npt.NDArray[np.float32]) -> Reference:
        """scikit-learn's result, bit for bit: class index and float64 probabilities (classifier), or
        float64 values with the per-row bound a float32 device sum may differ by (regressor)."""
        X32 = np.asarray(X, dtype=np.float32)
        if self.is_classifier:
            return Reference(outputs=self.predict_index(X32), proba=self.predict_value(X32))
        return Reference(outputs=self.predict_value(X32)[:, 0], bound=self.regression_bound(X32))

    def regression_bound(self, X: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Per row, the largest difference allowed between a float32 device sum and scikit-learn's float64.

        The device sums T float32-rounded leaf values in float32 and divides by T: every one of the T
        roundings of a leaf value, T-1 additions and one division errs by at most 2**-24 of a magnitude no
        larger than sum|v|, so |device - sklearn| <= (2T + 1) * 2**-24 * sum_t |v_t| / T (plus float64's
        own error, far smaller, covered by using 2T + 2)."""
        leaves = self.leaf[self.apply(X)]
        absv = np.abs(self.leaf_value[leaves, 0]).sum(axis=1)
        T = self.n_trees
        bound: npt.NDArray[np.float64] = (2 * T + 2) * EPS32 * absv / T
        return bound

    # ------------------------------------------------------------------ sizes
    @property
    def n_trees(self) -> int:
        return int(self.roots.shape[0])

    @property
    def n_nodes(self) -> int:
        return int(self.feature.shape[0])

    @property
    def n_leaves(self) -> int:
        return int(self.leaf_value.shape[0])

    @property
    def is_classifier(self) -> bool:
        return self.kind == "classifier"

    def tree_slices(self) -> list[tuple[int, int]]:
        """(start, stop) node range of each tree; trees are stored one after the other."""
        starts = [int(r) for r in self.roots]
        stops = [*starts[1:], self.n_nodes]
        return list(zip(starts, stops, strict=True))

    def max_depth(self) -> int:
        depth = np.zeros(self.n_nodes, dtype=np.int64)
        best = 0
        for i in range(self.n_nodes):  # preorder: parents come before children
            if self.feature[i] != LEAF:
                depth[self.left[i]] = depth[i] + 1
                depth[self.right[i]] = depth[i] + 1
            else:
                best = max(best, int(depth[i]))
        return best

    # ------------------------------------------------------------------ reference evaluation
    def apply(self, X: npt.ArrayLike) -> npt.NDArray[np.int32]:
        """Leaf node index reached in every tree: shape (n_rows, n_trees). Vectorised reference walk."""
        X32 = np.asarray(X, dtype=np.float32)
        n = X32.shape[0]
        out = np.empty((n, self.n_trees), dtype=np.int32)
        rows = np.arange(n)
        for t, root in enumerate(self.roots):
            node = np.full(n, root, dtype=np.int64)
            while True:
                f = self.feature[node]
                active = f != LEAF
                if not active.any():
                    break
                fa = np.where(active, f, 0)
                xv = X32[rows, fa]
                thr = self.threshold[node]
                go_left = np.where(self.missing_left[node], ~(xv > thr), xv <= thr)
                nxt = np.where(go_left, self.left[node], self.right[node])
                node = np.where(active, nxt, node)
            out[:, t] = node
        return out

    def predict_value(self, X: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Reference output in float64 exactly as scikit-learn computes it: (n_rows, n_outputs)."""
        leaves = self.leaf[self.apply(X)]
        acc = np.zeros((leaves.shape[0], self.n_outputs), dtype=np.float64)
        for t in range(self.n_trees):
            acc += self.leaf_value[leaves[:, t]]
        if self.n_trees > 1:
            acc /= self.n_trees
        return acc

    def predict_index(self, X: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Reference class index (classifier)."""
        if self.n_trees == 1:
            leaves = self.leaf[self.apply(X)]
            one: npt.NDArray[np.int64] = self.leaf_class[leaves[:, 0]].astype(np.int64)
            return one
        many: npt.NDArray[np.int64] = np.argmax(self.predict_value(X), axis=1).astype(np.int64)
        return many
