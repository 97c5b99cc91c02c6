"""scikit-learn GradientBoosting*, HistGradientBoosting* and IsolationForest -> :class:`BoostedTrees`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from microlearn.errors import InvalidInputError, UnsupportedEstimatorError
from microlearn.frontends.registry import class_path, register
from microlearn.frontends.sklearn.trees import _check_fitted, _preorder
from microlearn.ir.boosting import MAX_CAT_WORDS, BoostedTrees
from microlearn.ir.trees import LEAF, float32_threshold

_F32_MAX = float(np.finfo(np.float32).max)


@dataclass
class _Nodes:
    """Flat preorder node arrays collected tree by tree."""

    feature: list[npt.NDArray[np.int32]] = field(default_factory=list)
    threshold: list[npt.NDArray[np.float32]] = field(default_factory=list)
    left: list[npt.NDArray[np.int32]] = field(default_factory=list)
    right: list[npt.NDArray[np.int32]] = field(default_factory=list)
    missing_left: list[npt.NDArray[np.bool_]] = field(default_factory=list)
    leaf: list[npt.NDArray[np.int32]] = field(default_factory=list)
    value: list[npt.NDArray[np.float64]] = field(default_factory=list)
    cat_set: list[npt.NDArray[np.int32]] = field(default_factory=list)
    cat_left: list[npt.NDArray[np.bool_]] = field(default_factory=list)
    bitsets: list[npt.NDArray[np.uint32]] = field(default_factory=list)
    roots: list[int] = field(default_factory=list)
    n_nodes: int = 0
    n_leaves: int = 0

    def add(
        self,
        left: npt.NDArray[Any],
        right: npt.NDArray[Any],
        feature: npt.NDArray[Any],
        threshold: npt.NDArray[np.float64],
        missing_left: npt.NDArray[Any],
        value: npt.NDArray[np.float64],
        cat_set: npt.NDArray[np.int32] | None = None,
        cat_left: npt.NDArray[np.bool_] | None = None,
    ) -> None:
        """One tree given by its own node ids (root 0; ``left == -1`` at leaves); ``value`` per node."""

        class _T:
            children_left = left
            children_right = right

        order = _preorder(_T)
        new_id = np.empty(left.size, dtype=np.int64)
        new_id[order] = np.arange(order.size) + self.n_nodes
        is_leaf = left[order] == -1
        self.feature.append(np.where(is_leaf, LEAF, feature[order]).astype(np.int32))
        self.threshold.append(float32_threshold(np.where(is_leaf, 0.0, threshold[order])))
        kid_l = np.where(is_leaf, 0, left[order]).astype(np.int64)
        kid_r = np.where(is_leaf, 0, right[order]).astype(np.int64)
        self.left.append(np.where(is_leaf, -1, new_id[kid_l]).astype(np.int32))
        self.right.append(np.where(is_leaf, -1, new_id[kid_r]).astype(np.int32))
        self.missing_left.append((np.asarray(missing_left)[order] != 0) & ~is_leaf)
        leaf = np.full(order.size, -1, dtype=np.int32)
        leaf[is_leaf] = np.arange(int(is_leaf.sum()), dtype=np.int32) + self.n_leaves
        self.leaf.append(leaf)
        vals = np.asarray(value, dtype=np.float64)[order[is_leaf]]
        if np.any(np.abs(vals) > _F32_MAX):
            raise InvalidInputError(
                f"leaf values beyond the float32 range (|v| > {_F32_MAX:.3g}); "
                "scale the target before fitting"
            )
        self.value.append(vals.reshape(-1, 1))
        cs = np.full(order.size, -1, dtype=np.int32) if cat_set is None else cat_set[order]
        self.cat_set.append(np.where(is_leaf, -1, cs).astype(np.int32))
        cl = np.zeros(order.size, dtype=bool) if cat_left is None else cat_left[order]
        self.cat_left.append(cl & ~is_leaf)
        self.roots.append(self.n_nodes)
        self.n_nodes += order.size
        self.n_leaves += int(is_leaf.sum())

    def build(self, est: Any, **kw: Any) -> BoostedTrees:
        cat: dict[str, Any] = {}
        cat_set = np.concatenate(self.cat_set)
        if np.any(cat_set >= 0):
            words = max(b.size for b in self.bitsets)
            bits = np.zeros((len(self.bitsets), words), dtype=np.uint32)
            for i, b in enumerate(self.bitsets):
                bits[i, : b.size] = b
            cat = {"cat_set": cat_set, "cat_left": np.concatenate(self.cat_left), "cat_bits": bits}
        names = getattr(est, "feature_names_in_", None)
        n_leaves = self.n_leaves
        return BoostedTrees(
            n_features=int(est.n_features_in_),
            roots=np.asarray(self.roots, dtype=np.int32),
            feature=np.concatenate(self.feature),
            threshold=np.concatenate(self.threshold).astype(np.float32),
            left=np.concatenate(self.left),
            right=np.concatenate(self.right),
            missing_left=np.concatenate(self.missing_left),
            leaf=np.concatenate(self.leaf),
            leaf_value=np.concatenate(self.value, axis=0),
            leaf_class=np.zeros(n_leaves, dtype=np.int32),
            source=class_path(type(est)),
            feature_names=None if names is None else tuple(str(f) for f in names),
            **cat,
            **kw,
        )


def _classifier_kw(est: Any, n_raw: int) -> dict[str, Any]:
    classes = np.asarray(est.classes_)
    return {"kind": "classifier", "n_outputs": len(classes), "classes": classes, "n_raw": n_raw}


# ---------------------------------------------------------------------------------------- GradientBoosting
_GB_LOSSES = {
    "GradientBoostingClassifier": ("log_loss", "exponential"),
    "GradientBoostingRegressor": ("squared_error", "absolute_error", "huber", "quantile"),
}


@register("sklearn.ensemble.GradientBoostingClassifier", "sklearn.ensemble.GradientBoostingRegressor")
def convert_gb(est: Any) -> BoostedTrees:
    name = type(est).__name__
    _check_fitted(est)
    if est.loss not in _GB_LOSSES[name]:
        raise UnsupportedEstimatorError(f"{name} with loss={est.loss!r} is not supported")
    init = est.init_
    if not (isinstance(init, str) and init == "zero"):
        from sklearn.dummy import DummyClassifier, DummyRegressor

        random = isinstance(init, DummyClassifier) and init.strategy in ("stratified", "uniform")
        if not isinstance(init, DummyClassifier | DummyRegressor) or random:
            raise UnsupportedEstimatorError(
                f"{name} with init={init!r}: only a constant initial prediction (init=None, "
                "'zero' or a DummyClassifier / DummyRegressor) converts; the initial model would have to be "
                "converted too. Fit with init=None or 'zero'."
            )
    n_features = int(est.n_features_in_)
    # the constant initial raw score, by scikit-learn's own code (float64, one per raw output)
    base = np.asarray(est._raw_predict_init(np.zeros((1, n_features), dtype=np.float32)), np.float64)[0]
    stages = est.estimators_
    K = stages.shape[1]
    lr = float(est.learning_rate)
    nodes = _Nodes()
    tree_output = []
    for i in range(stages.shape[0]):
        for k in range(K):
            t = stages[i, k].tree_
            miss = getattr(t, "missing_go_to_left", None)
            miss = np.zeros(t.node_count, dtype=bool) if miss is None else np.asarray(miss)
            # scikit-learn adds learning_rate * value (a float64 product) per stage: fold that product
            value = lr * np.asarray(t.value[:, 0, 0], dtype=np.float64)
            nodes.add(t.children_left, t.children_right, t.feature, t.threshold, miss, value)
            tree_output.append(k)
    if name == "GradientBoostingClassifier":
        kw = _classifier_kw(est, K)
        kw["post"] = ("sigmoid" if est.loss == "log_loss" else "exponential") if K == 1 else "softmax"
        kw["decide"] = "raw"  # binary: raw >= 0, multi-class: argmax raw
    else:
        kw = {"kind": "regressor", "n_outputs": 1, "n_raw": 1, "post": "none"}
    return nodes.build(
        est, base_score=base, tree_output=np.asarray(tree_output, dtype=np.int32), accumulate="float64", **kw
    )


# ------------------------------------------------------------------------------------ HistGradientBoosting
def _hist_categories(est: Any) -> tuple[npt.NDArray[np.int64], list[npt.NDArray[np.int64]] | None]:
    """(original feature of each column the predictors see, integer raw category of each code per column
    or None). With categorical features scikit-learn puts the encoded categorical columns first."""
    n = int(est.n_features_in_)
    pre = getattr(est, "_preprocessor", None)
    if pre is None:
        return np.arange(n, dtype=np.int64), None
    is_cat = np.asarray(est.is_categorical_, dtype=bool)
    cat_cols = np.flatnonzero(is_cat)
    orig = np.concatenate([cat_cols, np.flatnonzero(~is_cat)]).astype(np.int64)
    enc = pre.named_transformers_["encoder"]
    cats: list[npt.NDArray[np.int64]] = []
    for col, c in zip(cat_cols, enc.categories_, strict=True):
        c = np.asarray(c)
        if c.dtype.kind not in "iuf":
            raise UnsupportedEstimatorError(
                "categorical features must be numbers on the device: encode them as integers 0..8191 first"
            )
        c64 = c.astype(np.float64)
        c64 = c64[~np.isnan(c64)]
        top = 32 * MAX_CAT_WORDS
        if np.any(c64 < 0) or np.any(c64 >= top) or np.any(np.floor(c64) != c64):
            raise UnsupportedEstimatorError(
                f"categorical feature {int(col)} has categories that are not integers in 0..{top - 1}; "
                "encode them as such (e.g. with an OrdinalEncoder before the model)"
            )
        cats.append(c64.astype(np.int64))
    return orig, cats


def _bits_of(values: npt.NDArray[np.int64]) -> npt.NDArray[np.uint32]:
    words = int(values.max()) // 32 + 1 if values.size else 1
    bits = np.zeros(words, dtype=np.uint32)
    for v in values:
        bits[v >> 5] |= np.uint32(1 << (int(v) & 31))
    return bits


@register("sklearn.ensemble.HistGradientBoostingClassifier", "sklearn.ensemble.HistGradientBoostingRegressor")
def convert_hist(est: Any) -> BoostedTrees:
    name = type(est).__name__
    _check_fitted(est)
    orig, cats = _hist_categories(est)
    loss = est.loss
    if name == "HistGradientBoostingRegressor" and loss not in (
        "squared_error",
        "absolute_error",
        "quantile",
        "poisson",
        "gamma",
    ):
        raise UnsupportedEstimatorError(f"{name} with loss={loss!r} is not supported")
    base = np.asarray(est._baseline_prediction, dtype=np.float64).reshape(-1)
    nodes = _Nodes()
    tree_output = []
    for predictors in est._predictors:
        for k, pred in enumerate(predictors):
            nd = pred.nodes
            leaf = nd["is_leaf"] != 0
            left = np.where(leaf, -1, nd["left"].astype(np.int64))
            right = np.where(leaf, -1, nd["right"].astype(np.int64))
            feat = np.where(leaf, 0, orig[np.where(leaf, 0, nd["feature_idx"])])
            is_cat = (nd["is_categorical"] != 0) & ~leaf
            miss = nd["missing_go_to_left"] != 0
            cat_set = np.full(nd.size, -1, dtype=np.int32)
            cat_left = np.zeros(nd.size, dtype=bool)
            for i in np.flatnonzero(is_cat):
                assert cats is not None
                col = int(nd["feature_idx"][i])  # categorical columns come first: col is its index
                codes = cats[col]
                bitset = pred.raw_left_cat_bitsets[int(nd["bitset_idx"][i])]
                code = np.arange(codes.size)
                in_left = ((bitset[code >> 5] >> (code & 31).astype(np.uint32)) & 1) == 1
                # members = the known categories on the side unknown ones and NaN do not take
                side = codes[~in_left] if miss[i] else codes[in_left]
                cat_set[i] = len(nodes.bitsets)
                cat_left[i] = not miss[i]
                nodes.bitsets.append(_bits_of(side))
            thr = np.where(leaf | is_cat, 0.0, nd["num_threshold"])
            nodes.add(left, right, feat, thr, miss, nd["value"], cat_set, cat_left)
            tree_output.append(k)
    if name == "HistGradientBoostingClassifier":
        K = len(est.classes_)
        n_raw = 1 if K == 2 else K
        kw = _classifier_kw(est, n_raw)
        kw["post"] = "sigmoid" if n_raw == 1 else "softmax"
        kw["decide"] = "raw_strict"  # binary: raw > 0; multi-class: argmax raw
    else:
        kw = {"kind": "regressor", "n_outputs": 1, "n_raw": 1}
        kw["post"] = "exp" if loss in ("poisson", "gamma") else "none"
    return nodes.build(
        est, base_score=base, tree_output=np.asarray(tree_output, dtype=np.int32), accumulate="float64", **kw
    )


# ---------------------------------------------------------------------------------------- IsolationForest
@register("sklearn.ensemble.IsolationForest")
def convert_iforest(est: Any) -> BoostedTrees:
    from sklearn.ensemble._iforest import _average_path_length

    _check_fitted(est)
    n_features = int(est.n_features_in_)
    subsample = est._max_features != n_features
    nodes = _Nodes()
    for tree_est, features, dpl, apl in zip(
        est.estimators_,
        est.estimators_features_,
        est._decision_path_lengths,
        est._average_path_length_per_tree,
        strict=True,
    ):
        t = tree_est.tree_
        fmap = np.asarray(features, dtype=np.int64) if subsample else np.arange(n_features)
        is_leaf = t.children_left == -1
        feat = np.where(is_leaf, 0, fmap[np.where(is_leaf, 0, t.feature)])
        # scikit-learn adds tree_decision_path_lengths[leaf] + tree_avg_path_lengths[leaf] - 1.0
        depth = dpl + apl - 1.0
        miss = getattr(t, "missing_go_to_left", None)
        miss = np.zeros(t.node_count, dtype=bool) if miss is None else np.asarray(miss)
        nodes.add(t.children_left, t.children_right, feat, t.threshold, miss, np.asarray(depth, np.float64))
    denominator = float((len(est.estimators_) * _average_path_length([est._max_samples]))[0])
    return nodes.build(
        est,
        kind="anomaly",
        n_outputs=1,
        n_raw=1,
        base_score=np.zeros(1),
        tree_output=np.zeros(len(nodes.roots), dtype=np.int32),
        post="isolation",
        post_params=(denominator, float(est.offset_)),
    )
