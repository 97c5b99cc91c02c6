"""LightGBM boosters and their scikit-learn wrappers -> the tree IR, read from ``dump_model()``.

What LightGBM computes (``Tree::NumericalDecision`` / ``CategoricalDecision``, ``GBDT::PredictRaw``, read
from its source and checked against ``predict``):

* Input: a float32 row becomes doubles, and every value with ``|x| <= 1e-35f`` (kZeroThreshold) becomes
  exactly 0 (the dense-row reader keeps only the other values; the buffer is zero elsewhere).
* Numeric node, threshold ``t`` (float64, printed with 17 digits, so read back exactly): a NaN becomes 0
  unless the node's missing type is ``NaN``; with missing type ``Zero`` a zero value (after the step
  above: ``|x| <= 1e-35f``) and with ``NaN`` a NaN go to ``default_left``; otherwise left iff
  ``x <= t`` in float64. For a float32 ``x`` that is ``x <= float32_threshold(t)``; the zero band moves
  the threshold where ``t`` lies inside it, and for missing type ``Zero`` a band on the other side of
  ``t`` from its default needs a second test (the node becomes a small subtree).
* Categorical node: NaN goes right; otherwise ``int(x)`` (truncated) is looked up in the node's category
  set, a negative integer goes right; members go left.
* Raw score of output k: the float64 sum, in tree order, of the trees ``i * K + k`` (no base score: the
  initial score is already in the first trees' leaves); ``average_output`` (random-forest mode) divides
  by the number of iterations.
* Output: ``binary`` ``1 / (1 + exp(-s * raw))`` (``s`` the ``sigmoid`` parameter), ``multiclass`` the
  float64 softmax, ``multiclassova`` that sigmoid per class (not normalised), ``cross_entropy``
  ``1 / (1 + exp(-raw))``, ``cross_entropy_lambda`` ``log1p(exp(raw))``, ``poisson``/``gamma``/``tweedie``
  ``exp(raw)``, the regressions the raw score.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from microlearn.errors import NotFittedError, UnsupportedEstimatorError
from microlearn.frontends._gbdt import Leaf, Node, Split, assemble, prev_f32
from microlearn.frontends.registry import class_path, register
from microlearn.ir.boosting import BoostedTrees
from microlearn.ir.trees import float32_threshold

ZERO = np.float32(1e-35)  # kZeroThreshold, a float in LightGBM's source
ZERO64 = float(ZERO)

# objective -> (kind, output transform)
OBJECTIVES: dict[str, tuple[str, str]] = {
    "binary": ("binary", "sigmoid"),
    "multiclass": ("multiclass", "softmax"),
    "multiclassova": ("multiclass", "sigmoid_ova"),
    "regression": ("regression", "identity"),
    "regression_l1": ("regression", "identity"),
    "huber": ("regression", "identity"),
    "fair": ("regression", "identity"),
    "quantile": ("regression", "identity"),
    "mape": ("regression", "identity"),
    "poisson": ("regression", "exp"),
    "gamma": ("regression", "exp"),
    "tweedie": ("regression", "exp"),
    "cross_entropy": ("regression", "sigmoid"),
    "cross_entropy_lambda": ("regression", "softplus"),
    "lambdarank": ("regression", "identity"),
    "rank_xendcg": ("regression", "identity"),
}


@dataclass(frozen=True)
class Parsed:
    """A booster as LightGBM evaluates it, trees already in the IR's node test."""

    objective: str
    kind: str  # "binary" | "multiclass" | "regression"
    transform: str  # "identity" | "sigmoid" | "softmax" | "sigmoid_ova" | "exp" | "softplus"
    sigmoid: float  # the binary objective's scale s (1 unless set)
    n_features: int
    n_groups: int  # raw scores per row (trees per iteration)
    trees: list[Node]
    group: list[int]
    average: bool  # average_output: divide the sums by the number of iterations
    n_iterations: int
    feature_names: tuple[str, ...] | None


def _band_threshold(t: float) -> np.float32:
    """The float32 threshold equal to LightGBM's ``v <= t`` after its zero flush, for missing types None
    and NaN: inside the band every value became 0, so ``0 <= t`` decides the whole band."""
    if -ZERO64 <= t < 0:  # the band goes right: left iff x < -1e-35f
        return prev_f32(-ZERO)
    if 0 <= t < ZERO64:  # the band goes left: left iff x <= 1e-35f
        return ZERO
    return _f32_at_or_below(t)


def _f32_at_or_below(t: float) -> np.float32:
    with np.errstate(over="ignore"):  # LightGBM writes an infinite threshold as +-1e300
        return np.float32(float32_threshold(np.float64(t))[()])


def _numeric(node: dict[str, Any], left: Node, right: Node) -> Node:
    f = int(node["split_feature"])
    t = float(node["threshold"])
    default_left = bool(node["default_left"])
    missing = str(node.get("missing_type", "None"))
    if missing == "None":
        # a NaN became 0 and took 0 <= t
        return Split(f, _band_threshold(t), t >= 0.0, left, right)
    if missing == "NaN":
        return Split(f, _band_threshold(t), default_left, left, right)
    if missing != "Zero":
        raise UnsupportedEstimatorError(f"LightGBM missing type {missing!r} is not known to microlearn")
    # Zero: NaN and the band take the default; other values x <= t
    lo, hi = prev_f32(-ZERO), ZERO  # x <= lo: below the band; x <= hi: below or inside it
    if default_left:
        if t >= ZERO64:
            return Split(f, _f32_at_or_below(t), True, left, right)
        if t >= -ZERO64:
            return Split(f, hi, True, left, right)
        # left iff x <= t or inside the band (or NaN)
        inner = Split(f, lo, False, Split(f, _f32_at_or_below(t), False, left, right), left)
        return Split(f, hi, True, inner, right)
    if t < -ZERO64:
        return Split(f, _f32_at_or_below(t), False, left, right)
    if t < ZERO64:
        return Split(f, lo, False, left, right)
    # left iff x < -band or band < x <= t; NaN and the band go right
    upper = Split(f, hi, False, right, Split(f, _f32_at_or_below(t), False, left, right))
    return Split(f, lo, False, left, upper)


def _tree(node: dict[str, Any]) -> Node:
    if "leaf_const" in node or "leaf_coeff" in node:
        raise UnsupportedEstimatorError(
            "LightGBM linear trees (linear_tree=True) are not supported: fit with linear_tree=False"
        )
    if "leaf_value" in node:
        return Leaf(float(node["leaf_value"]))
    left = _tree(node["left_child"])
    right = _tree(node["right_child"])
    kind = str(node["decision_type"])
    if kind == "==":
        cats = frozenset(int(c) for c in str(node["threshold"]).split("||") if c != "")
        return Split(
            int(node["split_feature"]),
            np.float32(0),
            False,
            left,
            right,
            categories=cats,
        )
    if kind != "<=":
        raise UnsupportedEstimatorError(f"LightGBM decision type {kind!r} is not known to microlearn")
    return _numeric(node, left, right)


def booster_of(est: Any) -> Any:
    booster = getattr(est, "booster_", None) if hasattr(est, "fit") else est
    if booster is None:
        raise NotFittedError(
            f"this {type(est).__name__} is not fitted yet: call .fit(X, y) before converting it"
        )
    return booster


def parse(est: Any, model: dict[str, Any] | None = None, n_iterations: int | None = None) -> Parsed:
    """The booster (or wrapper) as LightGBM's ``predict`` evaluates it (``n_iterations``: the first ones)."""
    if model is None:
        try:
            booster = booster_of(est)
            model = booster.dump_model(num_iteration=-1 if n_iterations is None else n_iterations)
        except NotFittedError:
            raise
        except Exception as e:  # lightgbm raises its own errors for an untrained model
            raise NotFittedError(f"this {type(est).__name__} has no trained booster ({e})") from e
    assert model is not None
    words = str(model.get("objective", "")).split()
    name = words[0] if words else ""
    if name not in OBJECTIVES:
        raise UnsupportedEstimatorError(
            f"LightGBM objective {name or 'custom'!r} is not supported; "
            f"supported: {', '.join(sorted(OBJECTIVES))}"
        )
    kind, transform = OBJECTIVES[name]
    opts = dict(w.split(":", 1) for w in words[1:] if ":" in w)
    if name == "regression" and "sqrt" in words[1:]:
        raise UnsupportedEstimatorError(
            "LightGBM objective 'regression' with reg_sqrt=True is not supported; fit without reg_sqrt"
        )
    infos = model.get("tree_info", [])
    if not infos:
        raise NotFittedError("this LightGBM model has no trees: train it for at least one iteration")
    k = int(model["num_tree_per_iteration"])
    trees = [_tree(t["tree_structure"]) for t in infos]
    names = [str(n) for n in model.get("feature_names", [])]
    auto = names == [f"Column_{i}" for i in range(len(names))]
    return Parsed(
        objective=name,
        kind=kind,
        transform=transform,
        sigmoid=float(opts.get("sigmoid", 1.0)),
        n_features=int(model["max_feature_idx"]) + 1,
        n_groups=k,
        trees=trees,
        group=[i % k for i in range(len(trees))],
        average=bool(model.get("average_output", False)),
        n_iterations=len(trees) // k,
        feature_names=None if auto or not names else tuple(names),
    )


@dataclass(frozen=True)
class BoosterView:
    """A Booster seen as scikit-learn sees LGBMClassifier / LGBMRegressor: ``predict`` gives class
    indices (the first largest probability, [1 - p, p] for binary) or values."""

    booster: Any
    kind: str

    def predict(self, X: Any) -> Any:
        out = np.asarray(self.booster.predict(np.asarray(X, dtype=np.float32)))
        if self.kind == "binary":
            return np.argmax(np.stack([1.0 - out, out], axis=1), axis=1)
        if self.kind == "multiclass":
            return np.argmax(out, axis=1)
        return out


def convert_lightgbm(est: Any) -> BoostedTrees:
    name = type(est).__name__
    wrapper = hasattr(est, "fit")
    p = parse(est)
    classify = p.kind != "regression"
    if wrapper and classify != hasattr(est, "classes_"):
        raise UnsupportedEstimatorError(
            f"{name} with objective {p.objective!r}: use LGBMClassifier for classification objectives and "
            "LGBMRegressor for regression ones"
        )
    if p.transform in ("sigmoid", "sigmoid_ova") and not (np.isfinite(p.sigmoid) and p.sigmoid > 0):
        raise UnsupportedEstimatorError(
            f"LightGBM objective {p.objective!r} with sigmoid scale {p.sigmoid}: microlearn converts a "
            "finite scale > 0 (a scale <= 0 inverts or flattens the probabilities); fit with sigmoid > 0"
        )
    arrays = assemble(p.trees)
    n_classes = (2 if p.kind == "binary" else p.n_groups) if classify else 1
    classes = None
    if classify:
        classes = np.asarray(getattr(est, "classes_", np.arange(n_classes)))
        if len(classes) != n_classes:
            raise UnsupportedEstimatorError(f"{name} has {len(classes)} classes but {n_classes} outputs")
    links = {
        "sigmoid": "sigmoid",
        "sigmoid_ova": "sigmoid",
        "softmax": "softmax",
        "exp": "exp",
        "softplus": "softplus",
    }
    post = links.get(p.transform, "none")
    # the binary and one-vs-all sigmoids take LightGBM's scale; cross_entropy's sigmoid has none
    scale = p.sigmoid if post == "sigmoid" and p.sigmoid != 1.0 else None
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
        base_score=np.zeros(p.n_groups),
        tree_output=np.asarray(p.group, dtype=np.int32),
        aggregation="mean" if p.average else "sum",
        accumulate="float64",
        post=post,  # type: ignore[arg-type]
        post_params=() if scale is None else (scale,),
        decide="proba" if classify else "raw",
        cat_cast="trunc",
        **arrays,  # type: ignore[arg-type]
    )


def booster_view(booster: Any) -> BoosterView:
    """A Booster behind a scikit-learn-like predict, for verify's check."""
    return BoosterView(booster, parse(booster).kind)


register("lightgbm.LGBMClassifier", "lightgbm.LGBMRegressor")(convert_lightgbm)
register("lightgbm.Booster", view=booster_view)(convert_lightgbm)
