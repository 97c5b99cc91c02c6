"""XGBoost boosters and their scikit-learn wrappers -> the tree IR, read from the model's JSON.

What XGBoost computes (CPU predictor, read from its source and checked against ``predict``):

* Node test: ``x < split_condition`` in float32, NaN takes ``default_left``; the right child is the left
  child's sibling. For float32 ``x``, ``x < c`` iff ``x <= c'`` with ``c'`` the float32 below ``c``, so the
  IR's threshold is ``c'`` and a NaN goes where ``default_left`` says (``missing_left``).
* Categorical node (``split_type`` 1): the listed categories go *right*; a NaN takes ``default_left``; any
  other value goes left (a value below 0 or at least 2**24 is not a category; others are truncated to an
  integer). The IR puts members on the left, so the two children swap and ``missing_left`` is
  ``not default_left``.
* Margin of output group g: a float32 that starts at the group's base margin and adds each tree's leaf
  value in tree order (one float32 addition per tree), so the IR's float32 sum in tree order is
  XGBoost's, bit for bit.
* Dart (``gradient_booster`` "dart"): every tree counts, scaled by its float32 ``weight_drop``;
  ``inplace_predict`` (the scikit-learn wrappers' ``predict``) adds ``((b + leaf) - b) * w`` per tree in
  float32 (``b`` the base margin of its output), a function of the leaf alone, so it is folded into the
  leaf values. (``Booster.predict`` on a DMatrix adds ``leaf * w``: the last bits of some margins differ.)
* Vector leaves (``size_leaf_vector`` > 1, ``multi_strategy="multi_output_tree"``): a leaf's right child
  is its row of ``leaf_weights``, one value per class, each added to its margin in tree order (the IR's
  ``tree_output`` None).
* Base margin: ``base_score`` as stored is on the prediction scale; the objective's link maps it to the
  margin in float32: logistic objectives clip it to [1e-6, 1 - 1e-6] and take ``-logf(1/b - 1)``,
  ``count:poisson``, ``reg:gamma`` and ``reg:tweedie`` take ``logf(b)``, the others use it as it is
  (multi-class models store one margin per class).
* Output: ``binary:logistic`` and ``reg:logistic`` the float32 sigmoid ``1 / (expf(-m) + 1)``;
  ``multi:softprob`` the float32 softmax (max subtracted, float64 sum); ``multi:softmax`` the first index
  of the largest margin; ``count:poisson``, ``reg:gamma``, ``reg:tweedie``, ``survival:cox`` ``expf(m)``;
  the rest the margin itself. An ``XGBClassifier`` on ``binary:logitraw`` predicts class 1 where the
  margin exceeds 0.5 and has no probabilities.
* ``gblinear``: ``bias + base`` (the first output's base margin for every output) then ``+= x_j * w_j``
  per non-missing ``x_j`` in feature order, all float32: an ``Impute`` stage filling 0 (adding ``0 * w``
  is the same as skipping) and the linear IR's "sequential" layout, which is this sum.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt

from microlearn.errors import NotFittedError, UnsupportedEstimatorError
from microlearn.frontends._gbdt import (
    Leaf,
    Node,
    Split,
    assemble,
    f32_from_decimal,
    guard_zero_category,
    prev_f32,
)
from microlearn.frontends.registry import class_path, register
from microlearn.ir.base import Task
from microlearn.ir.boosting import BoostedTrees
from microlearn.ir.linear import Linear
from microlearn.ir.pipeline import Pipeline
from microlearn.ir.transform import Impute

RT_EPS = np.float32(1e-6)

# objective -> (kind, output transform); kind: "binary" | "multiclass" | "regression"
OBJECTIVES: dict[str, tuple[str, str]] = {
    "binary:logistic": ("binary", "sigmoid"),
    "binary:logitraw": ("binary", "identity"),
    "binary:hinge": ("binary", "hinge"),
    "multi:softprob": ("multiclass", "softmax"),
    "multi:softmax": ("multiclass", "softmax"),
    "reg:squarederror": ("regression", "identity"),
    "reg:squaredlogerror": ("regression", "identity"),
    "reg:pseudohubererror": ("regression", "identity"),
    "reg:absoluteerror": ("regression", "identity"),
    "reg:quantileerror": ("regression", "identity"),
    "reg:expectile": ("regression", "identity"),
    "reg:logistic": ("regression", "sigmoid"),
    "count:poisson": ("regression", "exp"),
    "reg:gamma": ("regression", "exp"),
    "reg:tweedie": ("regression", "exp"),
    "survival:cox": ("regression", "exp"),
    "rank:pairwise": ("regression", "identity"),
    "rank:ndcg": ("regression", "identity"),
    "rank:map": ("regression", "identity"),
}
LOGIT_LINK = {"binary:logistic", "reg:logistic"}
LOG_LINK = {"count:poisson", "reg:gamma", "reg:tweedie"}


@dataclass(frozen=True)
class Parsed:
    """A booster as XGBoost evaluates it, trees already in the IR's node test."""

    objective: str
    kind: str  # "binary" | "multiclass" | "regression"
    transform: str  # "identity" | "sigmoid" | "softmax" | "exp" | "hinge"
    n_features: int
    n_groups: int  # margins per row: classes of a multi-class model, else 1
    trees: list[Node]
    group: list[int]  # output group each tree adds to
    base_margin: npt.NDArray[np.float32]  # (n_groups,) the float32 each margin starts from
    feature_names: tuple[str, ...] | None
    vector_leaves: bool = False  # every tree adds one value to every margin (multi_output_tree)
    # gblinear: (n_features + 1, n_groups) float32 weights, the last row the bias (no trees)
    linear: npt.NDArray[np.float32] | None = None


# ---------------------------------------------------------------------------------------------- libm
@cache
def _libm() -> Any:
    name = ctypes.util.find_library("m")
    if name is None:
        return None
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return None
    for fn in ("logf", "expf"):
        getattr(lib, fn).restype = ctypes.c_float
        getattr(lib, fn).argtypes = [ctypes.c_float]
    return lib


def logf(x: np.float32) -> np.float32:
    """The C library's logf, which XGBoost calls (the same libm on this machine); correctly rounded
    float64 log where no C library is found."""
    lib = _libm()
    if lib is not None:
        return np.float32(lib.logf(float(x)))
    return np.float32(math.log(float(x)))


def base_margin(objective: str, base_score: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """XGBoost's ``ProbToMargin`` of each stored ``base_score``, in float32 as XGBoost computes it."""
    out = base_score.astype(np.float32).copy()
    if objective in LOGIT_LINK:
        for i, b in enumerate(out):
            b = min(max(b, RT_EPS), np.float32(1) - RT_EPS)
            out[i] = -logf(np.float32(np.float32(1) / b) - np.float32(1))
    elif objective in LOG_LINK:
        for i, b in enumerate(out):
            out[i] = logf(b)
    return out


# ---------------------------------------------------------------------------------------------- parsing
def booster_json(est: Any) -> dict[str, Any]:
    """The model JSON of a Booster or a fitted wrapper, floats kept as their decimal text."""
    get = getattr(est, "get_booster", None)
    try:
        booster = get() if get is not None else est
        raw = booster.save_raw("json")
    except Exception as e:  # xgboost raises its own NotFittedError / XGBoostError
        raise NotFittedError(
            f"this {type(est).__name__} has no trained booster: fit it before converting ({e})"
        ) from e
    model: dict[str, Any] = json.loads(bytes(raw), parse_float=str)
    return model


def _ints(v: Any) -> list[int]:
    return [int(x) for x in v]


def _tree(
    t: dict[str, Any], feature_types: list[str], dart: tuple[np.float32, np.float32] | None = None
) -> Node:
    """One tree in the IR's node test. ``dart = (weight, base)``: a dart tree's ``weight_drop`` and the
    base margin of its output, folded into every leaf as XGBoost's ``inplace_predict`` (the scikit-learn
    wrappers' ``predict``) applies them: ``((base + leaf) - base) * weight``, each step in float32."""
    left = _ints(t["left_children"])
    right = _ints(t["right_children"])
    feat = _ints(t["split_indices"])
    cond = f32_from_decimal([str(c) for c in t["split_conditions"]])
    dleft = [bool(int(v)) for v in t["default_left"]]
    stype = _ints(t.get("split_type", [0] * len(left)))
    cats: dict[int, frozenset[int]] = {}
    cat_values = _ints(t.get("categories", []))
    for nid, beg, size in zip(
        _ints(t.get("categories_nodes", [])),
        _ints(t.get("categories_segments", [])),
        _ints(t.get("categories_sizes", [])),
        strict=True,
    ):
        cats[nid] = frozenset(cat_values[beg : beg + size])
    width = int(t.get("tree_param", {}).get("size_leaf_vector", "1"))
    vectors: npt.NDArray[np.float32] | None = None
    if width > 1:  # a leaf's right child is its row of leaf_weights, one value per output
        vectors = f32_from_decimal([str(v) for v in t["leaf_weights"]]).reshape(-1, width)

    def build(i: int) -> Node:
        if left[i] == -1:
            if vectors is not None:
                return Leaf(tuple(float(v) for v in vectors[right[i]]))
            if dart is None:
                return Leaf(float(cond[i]))
            w, b = dart
            return Leaf(float(np.float32(np.float32(b + cond[i]) - b) * w))
        if stype[i] == 1:
            # members go right in XGBoost: the IR's left child (members) is XGBoost's right child
            return guard_zero_category(
                Split(
                    feat[i],
                    np.float32(0),
                    not dleft[i],
                    build(right[i]),
                    build(left[i]),
                    categories=cats.get(i, frozenset()),
                )
            )
        if feature_types and feature_types[feat[i]] == "c":
            raise UnsupportedEstimatorError(
                "a numeric split on a categorical feature: the model is inconsistent"
            )
        return Split(feat[i], prev_f32(cond[i]), dleft[i], build(left[i]), build(right[i]))

    return build(0)


def parse(est: Any, model: dict[str, Any] | None = None, n_iterations: int | None = None) -> Parsed:
    """The booster (or wrapper) as XGBoost evaluates it; ``n_iterations`` keeps the first rounds only."""
    model = booster_json(est) if model is None else model
    learner = model["learner"]
    objective = str(learner["objective"]["name"])
    if objective not in OBJECTIVES:
        raise UnsupportedEstimatorError(
            f"XGBoost objective {objective!r} is not supported; supported: {', '.join(sorted(OBJECTIVES))}"
        )
    kind, transform = OBJECTIVES[objective]
    gb = learner["gradient_booster"]
    weights: list[np.float32] | None = None
    if gb["name"] == "dart":
        weights = list(f32_from_decimal([str(w) for w in gb["weight_drop"]]))
        gb = gb["gbtree"]
    if gb["name"] not in ("gbtree", "gblinear"):
        raise UnsupportedEstimatorError(
            f"XGBoost booster {gb['name']!r} is not supported; microlearn converts booster='gbtree', "
            "'dart' and 'gblinear'"
        )
    params = learner["learner_model_param"]
    n_features = int(params["num_feature"])
    n_class = int(params.get("num_class", "0"))
    if int(params.get("num_target", "1")) > 1:
        raise UnsupportedEstimatorError(
            "this XGBoost model has several targets; microlearn converts single-target models: "
            "fit one model per target"
        )
    n_groups = max(n_class, 1)
    cats = gb["model"].get("cats", {})
    if cats.get("enc"):
        raise UnsupportedEstimatorError(
            "this XGBoost model re-codes DataFrame categories at prediction time; microlearn's input is the "
            "category code itself: fit on a numeric array with feature_types 'c' for categorical columns"
        )
    feature_types = [str(f) for f in learner.get("feature_types", [])]
    text = str(params["base_score"]).strip()
    scores = [s for s in text.strip("[]").split(",") if s.strip()]
    base = f32_from_decimal(scores)
    if base.size == 1 and n_groups > 1:
        base = np.full(n_groups, base[0], dtype=np.float32)
    if base.size != n_groups:
        raise UnsupportedEstimatorError(f"base_score has {base.size} values for {n_groups} outputs")
    names = learner.get("feature_names") or None
    if gb["name"] == "gblinear":
        if "c" in feature_types:
            raise UnsupportedEstimatorError(
                "a gblinear model with categorical features: microlearn converts gblinear on numeric ones"
            )
        coef = f32_from_decimal([str(w) for w in gb["model"]["weights"]])
        if coef.size != (n_features + 1) * n_groups:
            raise UnsupportedEstimatorError(f"gblinear weights do not fit {n_features} features")
        return Parsed(
            objective=objective,
            kind=kind,
            transform=transform,
            n_features=n_features,
            n_groups=n_groups,
            trees=[],
            group=[],
            base_margin=base_margin(objective, base),
            feature_names=None if names is None else tuple(str(n) for n in names),
            linear=coef.reshape(n_features + 1, n_groups),
        )
    trees_json = gb["model"]["trees"]
    groups = _ints(gb["model"]["tree_info"])
    indptr = _ints(gb["model"].get("iteration_indptr", []))
    if n_iterations is not None and indptr:
        keep = indptr[min(n_iterations, len(indptr) - 1)]
        trees_json, groups = trees_json[:keep], groups[:keep]
    if not trees_json:
        raise NotFittedError("this XGBoost model has no trees: train it for at least one round")
    margins = base_margin(objective, base)
    widths = {int(t.get("tree_param", {}).get("size_leaf_vector", "1")) for t in trees_json}
    vector = widths != {1}
    if vector and (widths != {n_groups} or weights is not None):
        raise UnsupportedEstimatorError(
            f"this XGBoost model's leaves hold {sorted(widths)} values for {n_groups} outputs; microlearn "
            "converts vector leaves with one value per class"
        )
    if weights is not None and len(weights) < len(trees_json):
        raise UnsupportedEstimatorError("this dart model has fewer tree weights than trees")
    trees = [
        _tree(t, feature_types, None if weights is None else (weights[i], margins[groups[i]]))
        for i, t in enumerate(trees_json)
    ]
    return Parsed(
        objective=objective,
        kind=kind,
        transform=transform,
        n_features=n_features,
        n_groups=n_groups,
        trees=trees,
        group=groups,
        base_margin=margins,
        feature_names=None if names is None else tuple(str(n) for n in names),
        vector_leaves=vector,
    )


def check_wrapper(est: Any) -> int | None:
    """Refuse wrapper settings the device cannot follow; the number of rounds ``predict`` uses."""
    missing = getattr(est, "missing", np.nan)
    if missing is not None and not (isinstance(missing, float) and math.isnan(missing)):
        raise UnsupportedEstimatorError(
            f"this {type(est).__name__} treats {missing!r} as missing; microlearn treats NaN as missing "
            "(XGBoost's default): fit with missing=np.nan and pass NaN for missing values"
        )
    try:
        best = est.best_iteration  # set by early stopping; predict then stops after it
    except AttributeError:
        return None
    return None if best is None else int(best) + 1


# ---------------------------------------------------------------------------------------------- float32 maths
def sigmoid32(m: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """XGBoost's float32 sigmoid: 1 / (expf(min(-m, 88.7)) + 1)."""
    x = np.minimum(-m.astype(np.float32), np.float32(88.7))
    out: npt.NDArray[np.float32] = np.float32(1) / (np.exp(x) + np.float32(1))
    return out


def softmax32(m: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """XGBoost's float32 softmax: expf(m - max), summed in float64, divided as float32."""
    e = np.exp(m - m.max(axis=1, keepdims=True)).astype(np.float32)
    s = e.astype(np.float64).sum(axis=1, keepdims=True).astype(np.float32)
    out: npt.NDArray[np.float32] = e / s
    return out


TRANSFORMS: dict[str, Callable[[npt.NDArray[np.float32]], npt.NDArray[np.float32]]] = {
    "sigmoid": sigmoid32,
    "softmax": softmax32,
    "exp": lambda m: np.exp(m).astype(np.float32),
}


def expf(x: np.float32) -> np.float32:
    lib = _libm()
    if lib is not None:
        return np.float32(lib.expf(float(x)))
    return np.float32(math.exp(float(x)))


@cache
def sigmoid_tie() -> float:
    """The largest float32 margin m whose float32 sigmoid is still 0.5 (XGBoost's 1/(expf(-m) + 1)):
    between 0 and this margin XGBoost's probability ties 0.5 and its class is 0."""
    lo, hi = 0, int(np.float32(1e-3).view(np.int32))  # bit patterns of positive float32s keep their order
    while hi - lo > 1:
        mid = (lo + hi) // 2
        m = np.int32(mid).view(np.float32)
        p = np.float32(1) / np.float32(expf(np.float32(-m)) + np.float32(1))
        lo, hi = (mid, hi) if p <= np.float32(0.5) else (lo, mid)
    return float(np.int32(lo).view(np.float32))


# two margins closer than this give float32 softmax probabilities that may round to the same value
SOFTMAX_TIE = 2.0**-21
CLASSIFIERS = ("XGBClassifier", "XGBRFClassifier")
REGRESSORS = ("XGBRegressor", "XGBRFRegressor")


@dataclass(frozen=True)
class BoosterView:
    """A Booster seen as scikit-learn sees its wrapper: ``predict`` gives class indices or values."""

    booster: Any
    objective: str
    linear: bool = False  # gblinear has no inplace_predict: a DMatrix (the same arithmetic)

    def predict(self, X: npt.NDArray[np.float32]) -> npt.NDArray[Any]:
        X32 = np.asarray(X, dtype=np.float32)
        if self.linear:
            import xgboost

            out = np.asarray(self.booster.predict(xgboost.DMatrix(X32)))
        else:
            out = np.asarray(self.booster.inplace_predict(X32))
        if self.objective in ("binary:logistic", "binary:hinge"):
            return (out > 0.5).astype(np.int64)
        if self.objective == "multi:softprob":
            index: npt.NDArray[Any] = np.argmax(out, axis=1)
            return index
        if self.objective == "multi:softmax":
            return out.astype(np.int64)
        values: npt.NDArray[Any] = out
        return values


def convert_gblinear(est: Any, p: Parsed, classify: bool) -> Pipeline:
    """A gblinear booster as XGBoost evaluates it: an ``Impute`` stage that fills missing values with 0
    (XGBoost skips them: the same sums), then the linear IR's "sequential" layout, whose reference is
    XGBoost's float32 arithmetic (score = fl32(bias + base margin), then ``+= x_j * w_j`` in feature
    order). Objectives with a link the linear IR has not (exp, a sigmoid value, logitraw's 0.5) are
    refused."""
    assert p.linear is not None
    name = type(est).__name__
    if p.transform not in ("identity", "sigmoid", "softmax", "hinge") or (
        p.transform == "sigmoid" and not classify
    ):
        raise UnsupportedEstimatorError(
            f"XGBoost objective {p.objective!r} with booster='gblinear' is not supported (microlearn's "
            "linear models have no such output link); use booster='gbtree'"
        )
    n = p.n_features
    W = p.linear[:n].T.astype(np.float64)  # (k, n)
    bias = p.linear[n]
    # XGBoost's first float32 sum: gblinear starts every output from the first base margin
    intercept = (bias + p.base_margin[0]).astype(np.float32).astype(np.float64)
    classes = None
    proba = "none"
    if classify:
        n_classes = 2 if p.kind == "binary" else p.n_groups
        classes = np.asarray(getattr(est, "classes_", np.arange(n_classes)))
        if len(classes) != n_classes:
            raise UnsupportedEstimatorError(f"{name} has {len(classes)} classes but {n_classes} outputs")
        proba = {"sigmoid": "logistic", "softmax": "softmax"}.get(p.transform, "none")
    names = getattr(est, "feature_names_in_", None)
    feature_names = p.feature_names if names is None else tuple(str(n) for n in names)
    linear = Linear(
        task=Task.CLASSIFY if classify else Task.REGRESS,
        coef=W,
        intercept=intercept,
        dtype="float32",
        intercept_dtype="float32",
        layout="sequential",
        proba=proba,  # type: ignore[arg-type]
        classes=classes,
        source=class_path(type(est)),
        feature_names=feature_names,
    )
    fill = Impute(
        n_features=n,
        keep=np.arange(n, dtype=np.int32),
        fill=np.zeros(n),
        source="xgboost.gblinear",  # XGBoost skips a missing value: adding 0 * w is the same
        feature_names=feature_names,
        strategy="constant 0",
    )
    return Pipeline(stages=(fill,), final=linear, source=class_path(type(est)), feature_names=feature_names)


def convert_xgboost(est: Any) -> BoostedTrees | Pipeline:
    name = type(est).__name__
    wrapper = hasattr(est, "get_booster")
    p = parse(est, n_iterations=check_wrapper(est) if wrapper else None)
    # a Booster trained on binary:logitraw predicts its margin (a regressor); the wrapper a class
    logitraw = p.objective == "binary:logitraw" and wrapper and name in CLASSIFIERS
    classify = p.kind != "regression" and (p.objective != "binary:logitraw" or logitraw)
    if wrapper and name in CLASSIFIERS and not classify:
        raise UnsupportedEstimatorError(
            f"{name} with objective {p.objective!r} is not supported (the objective is a regression one); "
            "use XGBRegressor"
        )
    if wrapper and name in REGRESSORS and classify:
        raise UnsupportedEstimatorError(
            f"{name} with the classification objective {p.objective!r}: use XGBClassifier instead"
        )
    if p.linear is not None:
        if logitraw:
            raise UnsupportedEstimatorError(
                f"{name} with objective 'binary:logitraw' and booster='gblinear' is not supported (its "
                "predict thresholds the margin at 0.5); use objective='binary:logistic'"
            )
        return convert_gblinear(est, p, classify)
    arrays = assemble(p.trees)
    n_classes = (2 if p.kind == "binary" else p.n_groups) if classify else 1
    classes = None
    if classify:
        classes = np.asarray(getattr(est, "classes_", np.arange(n_classes)))
        if len(classes) != n_classes:
            raise UnsupportedEstimatorError(f"{name} has {len(classes)} classes but {n_classes} outputs")
    post = {"sigmoid": "sigmoid", "softmax": "softmax", "exp": "exp"}.get(p.transform, "none")
    tie = sigmoid_tie() if p.objective == "binary:logistic" else 0.0
    if p.objective == "multi:softprob":
        tie = SOFTMAX_TIE
    names = getattr(est, "feature_names_in_", None)
    feature_names = p.feature_names if names is None else tuple(str(n) for n in names)
    return BoostedTrees(
        kind="classifier" if classify else "regressor",
        n_features=p.n_features,
        n_outputs=n_classes,
        classes=classes,
        source=class_path(type(est)),
        feature_names=feature_names,
        n_raw=p.n_groups,
        base_score=p.base_margin.astype(np.float64),
        tree_output=None if p.vector_leaves else np.asarray(p.group, dtype=np.int32),
        aggregation="sum",
        accumulate="float32",
        post=post,  # type: ignore[arg-type]
        decide="margin_half" if logitraw else "raw_strict" if p.kind == "binary" else "raw",
        tie_band=tie,
        cat_cast="trunc",
        **arrays,  # type: ignore[arg-type]
    )


def booster_view(booster: Any) -> BoosterView:
    """A Booster behind a scikit-learn-like predict, for verify's check."""
    learner = json.loads(booster.save_config())["learner"]
    linear = learner["gradient_booster"]["name"] == "gblinear"
    return BoosterView(booster, str(learner["objective"]["name"]), linear)


register(
    "xgboost.XGBClassifier", "xgboost.XGBRegressor", "xgboost.XGBRFClassifier", "xgboost.XGBRFRegressor"
)(convert_xgboost)
register("xgboost.Booster", view=booster_view)(convert_xgboost)
