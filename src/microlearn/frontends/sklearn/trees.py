"""scikit-learn decision trees, random forests and extra trees -> :class:`TreeEnsemble`."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from microlearn.errors import InvalidInputError, NotFittedError, UnsupportedEstimatorError
from microlearn.frontends.registry import class_path, register
from microlearn.ir.trees import LEAF, TreeEnsemble, float32_threshold

KIND = {
    "DecisionTreeClassifier": "classifier",
    "DecisionTreeRegressor": "regressor",
    "ExtraTreeClassifier": "classifier",
    "ExtraTreeRegressor": "regressor",
    "RandomForestClassifier": "classifier",
    "RandomForestRegressor": "regressor",
    "ExtraTreesClassifier": "classifier",
    "ExtraTreesRegressor": "regressor",
}

_F32_MAX = float(np.finfo(np.float32).max)


def _check_fitted(est: Any) -> None:
    from sklearn.exceptions import NotFittedError as SkNotFitted
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(est)
    except SkNotFitted as e:
        raise NotFittedError(
            f"this {type(est).__name__} is not fitted yet: call .fit(X, y) before converting it"
        ) from e


def _preorder(tree: Any) -> npt.NDArray[np.int64]:
    """scikit-learn node ids in preorder (node, left subtree, right subtree)."""
    left, right = tree.children_left, tree.children_right
    order: list[int] = []
    stack = [0]
    while stack:
        i = stack.pop()
        order.append(i)
        if left[i] != -1:
            stack.append(int(right[i]))
            stack.append(int(left[i]))
    return np.asarray(order, dtype=np.int64)


@register(
    "sklearn.tree.DecisionTreeClassifier",
    "sklearn.tree.DecisionTreeRegressor",
    "sklearn.tree.ExtraTreeClassifier",
    "sklearn.tree.ExtraTreeRegressor",
    "sklearn.ensemble.RandomForestClassifier",
    "sklearn.ensemble.RandomForestRegressor",
    "sklearn.ensemble.ExtraTreesClassifier",
    "sklearn.ensemble.ExtraTreesRegressor",
)
def convert(est: Any) -> TreeEnsemble:
    name = type(est).__name__
    kind = KIND[name]
    _check_fitted(est)
    if getattr(est, "n_outputs_", 1) != 1:
        raise UnsupportedEstimatorError(
            f"{name} was fitted with {est.n_outputs_} outputs; microlearn converts single-output models. "
            "Fit one model per output instead."
        )
    trees = list(getattr(est, "estimators_", [est]))
    n_features = int(est.n_features_in_)
    classes = np.asarray(est.classes_) if kind == "classifier" else None
    n_outputs = len(classes) if classes is not None else 1

    feat_parts, thr_parts, left_parts, right_parts, miss_parts, leaf_parts = [], [], [], [], [], []
    value_parts, class_parts, roots = [], [], []
    n_nodes_total = 0
    n_leaves_total = 0
    for tree_est in trees:
        t = tree_est.tree_
        order = _preorder(t)
        new_id = np.empty(t.node_count, dtype=np.int64)
        new_id[order] = np.arange(order.size) + n_nodes_total
        is_leaf = t.children_left[order] == -1
        feature = np.where(is_leaf, LEAF, t.feature[order]).astype(np.int32)
        thr64 = np.where(is_leaf, 0.0, t.threshold[order])
        threshold = float32_threshold(thr64)
        left = np.where(is_leaf, -1, new_id[np.where(is_leaf, 0, t.children_left[order])]).astype(np.int32)
        right = np.where(is_leaf, -1, new_id[np.where(is_leaf, 0, t.children_right[order])]).astype(np.int32)
        miss = getattr(t, "missing_go_to_left", None)
        missing_left = (
            np.zeros(order.size, dtype=bool) if miss is None else (np.asarray(miss)[order] != 0) & ~is_leaf
        )
        leaf_nodes = order[is_leaf]
        leaf = np.full(order.size, -1, dtype=np.int32)
        leaf[is_leaf] = np.arange(leaf_nodes.size, dtype=np.int32) + n_leaves_total
        if kind == "classifier":
            # scikit-learn >= 1.4 stores per-node class fractions; predict_proba returns them as they are
            # and predict takes their argmax (numpy: the first maximum).
            val = np.asarray(t.value[leaf_nodes, 0, :n_outputs], dtype=np.float64)
            if val.shape[1] != n_outputs:
                raise UnsupportedEstimatorError(f"{name}: a tree knows fewer classes than the model")
            cls = np.argmax(val, axis=1).astype(np.int32)
        else:
            val = np.asarray(t.value[leaf_nodes, 0, :1], dtype=np.float64)
            if np.any(np.abs(val) > _F32_MAX):
                raise InvalidInputError(
                    f"{name} has leaf values beyond the float32 range (|v| > {_F32_MAX:.3g}); "
                    "scale the target before fitting."
                )
            cls = np.zeros(leaf_nodes.size, dtype=np.int32)
        roots.append(n_nodes_total)
        feat_parts.append(feature)
        thr_parts.append(threshold)
        left_parts.append(left)
        right_parts.append(right)
        miss_parts.append(missing_left)
        leaf_parts.append(leaf)
        value_parts.append(val)
        class_parts.append(cls)
        n_nodes_total += order.size
        n_leaves_total += leaf_nodes.size

    feature_names = getattr(est, "feature_names_in_", None)
    return TreeEnsemble(
        kind=kind,  # type: ignore[arg-type]
        n_features=n_features,
        n_outputs=n_outputs,
        roots=np.asarray(roots, dtype=np.int32),
        feature=np.concatenate(feat_parts),
        threshold=np.concatenate(thr_parts).astype(np.float32),
        left=np.concatenate(left_parts),
        right=np.concatenate(right_parts),
        missing_left=np.concatenate(miss_parts),
        leaf=np.concatenate(leaf_parts),
        leaf_value=np.concatenate(value_parts, axis=0),
        leaf_class=np.concatenate(class_parts),
        classes=classes,
        source=class_path(type(est)),
        feature_names=None if feature_names is None else tuple(str(f) for f in feature_names),
    )
