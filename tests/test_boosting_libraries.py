"""XGBoost and LightGBM frontends: the IR's reference is the library's own result.

XGBoost's margins are float32 sums in its order, so they must equal ``predict(output_margin=True)`` bit for
bit; LightGBM's raw scores are float64 sums in tree order and must equal ``predict(raw_score=True)`` bit
for bit. Classes must equal the library's on every row not marked ambiguous; values within the stated
bound. Rows include NaN, LightGBM's zero band (|x| <= 1e-35), and category codes that are negative,
fractional or beyond the known categories.
"""

from __future__ import annotations

import json
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

lgb = pytest.importorskip("lightgbm")
xgb = pytest.importorskip("xgboost")

from microlearn.errors import NotFittedError, UnsupportedEstimatorError  # noqa: E402
from microlearn.frontends._gbdt import assemble, f32_from_decimal  # noqa: E402
from microlearn.frontends.registry import library_view, supported_estimators, to_ir  # noqa: E402
from microlearn.frontends.xgboost import sigmoid_tie  # noqa: E402
from microlearn.ir.boosting import BoostedTrees  # noqa: E402

N = 400
EDGE = np.array(
    [
        [0.0, 1e-36, -1e-36, 0.5, -0.5],
        [1e-35, -1e-35, np.nan, 2.5, -0.7],
        [3e-35, -3e-35, 0.0, np.nan, 6.9],
        [-0.0, np.inf, -np.inf, 1e9, 16777216.0],
        [np.nan, np.nan, np.nan, np.nan, 3.0],
        [-1.0, 1.0, -2.0, 2.0, -1.0],
    ],
    dtype=np.float32,
)


def _data(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, 5)).astype(np.float32)
    X[:, 4] = rng.integers(0, 7, N)
    X[rng.random(N) < 0.2, 1] = 0.0
    y_reg = X[:, 0] * 3 + X[:, 1] ** 2 + X[:, 4]
    Xm = X.copy()
    Xm[rng.random(X.shape) < 0.08] = np.nan
    return {
        "X": Xm,
        "Xtest": np.concatenate([Xm[:200], EDGE]),
        # XGBoost refuses infinities in its input (unless they are its missing value)
        "Xtest_xgb": np.concatenate([Xm[:200], np.where(np.isinf(EDGE), np.sign(EDGE) * 3e38, EDGE)]),
        "binary": (X[:, 0] + X[:, 1] * X[:, 2] + (X[:, 4] % 3 == 1) > 0).astype(int),
        "multi": (np.digitize(X[:, 0], [-0.5, 0.5]) + (X[:, 4] > 3)).astype(int),
        "reg": y_reg,
        "count": np.abs(np.round(y_reg)),
        "positive": np.abs(y_reg) + 0.1,
        "prob": 1.0 / (1.0 + np.exp(-(y_reg - 3.0) / 3.0)),  # a probability target (cross entropy)
    }


DATA = _data()

XGB_OBJECTIVES = [
    ("binary:logistic", "binary"),
    ("binary:hinge", "binary"),
    ("multi:softprob", "multi"),
    ("multi:softmax", "multi"),
    ("reg:squarederror", "reg"),
    ("reg:absoluteerror", "reg"),
    ("reg:pseudohubererror", "reg"),
    ("reg:quantileerror", "reg"),
    ("count:poisson", "count"),
    ("reg:gamma", "positive"),
    ("reg:tweedie", "count"),
    ("reg:logistic", "prob"),
]


def _xgb_booster(objective: str, target: str, categorical: bool, parallel: int = 1) -> Any:
    params: dict[str, Any] = {
        "objective": objective,
        "max_depth": 3,
        "num_parallel_tree": parallel,
        "max_cat_to_onehot": 1,
        "nthread": 1,
    }
    y = DATA[target]
    if target == "multi":
        params["num_class"] = 4
    if objective == "reg:quantileerror":
        params["quantile_alpha"] = 0.3
    types = ["q"] * 4 + ["c" if categorical else "q"]
    d = xgb.DMatrix(DATA["X"], y, feature_types=types, enable_categorical=categorical)
    return xgb.train(params, d, 4)


def _xgb_dmatrix(b: Any, X: np.ndarray) -> Any:
    return xgb.DMatrix(X, feature_types=b.feature_types, enable_categorical="c" in (b.feature_types or []))


@pytest.mark.parametrize("categorical", [False, True])
@pytest.mark.parametrize(("objective", "target"), XGB_OBJECTIVES)
def test_xgboost_margins_bit_identical(objective: str, target: str, categorical: bool) -> None:
    b = _xgb_booster(objective, target, categorical, parallel=2 if objective == "binary:logistic" else 1)
    ir = to_ir(b)
    assert isinstance(ir, BoostedTrees) and ir.accumulate == "float32"
    X = DATA["Xtest_xgb"]
    d = _xgb_dmatrix(b, X)
    margin = b.predict(d, output_margin=True).reshape(len(X), -1)
    raw = ir.raw_scores(X)
    assert raw.dtype == np.float64
    np.testing.assert_array_equal(raw.astype(np.float32), margin)  # float32 sums: bit for bit
    ref = ir.reference(X)
    out = b.predict(d)
    if ir.kind == "classifier":
        want = library_view(b).predict(X)
        firm = ~ref.ambiguous
        np.testing.assert_array_equal(ref.outputs[firm], np.asarray(want)[firm])
        if objective == "multi:softprob":
            assert ref.proba is not None
            np.testing.assert_allclose(ref.proba, out, atol=3e-7)
        if objective == "binary:logistic":
            assert ref.proba is not None
            np.testing.assert_allclose(ref.proba[:, 1], out, atol=3e-7)
    else:
        assert ref.bound is not None
        assert np.all(np.abs(ref.outputs - out) <= ref.bound + 0.0)


def test_xgboost_binary_logitraw_booster_is_its_margin() -> None:
    b = _xgb_booster("binary:logitraw", "binary", categorical=False)
    ir = to_ir(b)
    assert ir.task.value == "regress"
    ref = ir.reference(DATA["Xtest_xgb"])
    np.testing.assert_array_equal(
        ref.outputs, b.predict(_xgb_dmatrix(b, DATA["Xtest_xgb"])).astype(np.float64)
    )


def test_xgboost_sigmoid_tie_is_where_xgboost_says_half() -> None:
    """XGBoost's own probability at the tie band's edge and one float32 above it: a model whose trees add
    nothing (learning rate 0) predicts the sigmoid of the per-row base margin given to it."""
    X = np.zeros((40, 1), dtype=np.float32)
    b = xgb.train(
        {"objective": "binary:logistic", "eta": 0.0, "max_depth": 1, "nthread": 1},
        xgb.DMatrix(X, np.arange(40) % 2),
        1,
    )
    t = np.float32(sigmoid_tie())
    margins = np.array([t, np.nextafter(t, np.float32(1)), -t, 0.0], dtype=np.float32)
    p = b.predict(xgb.DMatrix(np.zeros((4, 1), np.float32), base_margin=margins))
    np.testing.assert_array_equal(p == np.float32(0.5), [True, False, True, True])
    assert p[1] > 0.5 and 0 < t < 2.0**-22


@pytest.fixture(scope="module")
def xgb_wrappers() -> dict[str, Any]:
    X = DATA["X"]
    kw = {"n_estimators": 6, "max_depth": 3, "n_jobs": 1}
    return {
        "binary": xgb.XGBClassifier(**kw).fit(X, DATA["binary"]),
        "multi": xgb.XGBClassifier(**kw).fit(X, DATA["multi"]),
        "softmax": xgb.XGBClassifier(objective="multi:softmax", **kw).fit(X, DATA["multi"]),
        "reg": xgb.XGBRegressor(**kw).fit(X, DATA["reg"]),
        "rf": xgb.XGBRFClassifier(n_estimators=4, max_depth=3, n_jobs=1).fit(X, DATA["multi"]),
        "cat": xgb.XGBClassifier(
            feature_types=["q"] * 4 + ["c"], enable_categorical=True, max_cat_to_onehot=1, **kw
        ).fit(X, DATA["multi"]),
    }


@pytest.mark.parametrize("name", ["binary", "multi", "softmax", "reg", "rf", "cat"])
def test_xgboost_wrappers_match_predict(xgb_wrappers: dict[str, Any], name: str) -> None:
    est = xgb_wrappers[name]
    ir = to_ir(est)
    X = DATA["Xtest_xgb"]
    ref = ir.reference(X)
    if ir.kind == "classifier":
        firm = ~ref.ambiguous
        labels = np.asarray(ir.classes)[ref.outputs]
        np.testing.assert_array_equal(labels[firm], est.predict(X)[firm])
        np.testing.assert_allclose(ref.proba, est.predict_proba(X), atol=3e-7)
    else:
        assert np.all(np.abs(ref.outputs - est.predict(X)) <= ref.bound)
    assert ir.source.startswith("xgboost.")


def test_xgboost_early_stopping_uses_best_iteration() -> None:
    X, y = DATA["X"], DATA["reg"]
    est = xgb.XGBRegressor(n_estimators=60, max_depth=3, early_stopping_rounds=3, learning_rate=0.9, n_jobs=1)
    est.fit(X[:300], y[:300], eval_set=[(X[300:], y[300:])], verbose=False)
    assert est.best_iteration < 59
    ir = to_ir(est)
    assert ir.n_trees == est.best_iteration + 1
    np.testing.assert_array_equal(ir.reference(X).outputs, est.predict(X).astype(np.float64))


@pytest.mark.parametrize(
    ("objective", "target"),
    [("binary:logistic", "binary"), ("multi:softprob", "multi"), ("reg:squarederror", "reg")],
)
def test_xgboost_dart_margins_bit_identical(objective: str, target: str) -> None:
    """A dart booster predicts with every tree times its weight_drop; the fold into the leaves repeats
    XGBoost's float32 steps, so margins equal the wrappers' predict (inplace_predict) bit for bit."""
    cls = xgb.XGBRegressor if objective.startswith("reg") else xgb.XGBClassifier
    est = cls(
        booster="dart",
        objective=objective,
        rate_drop=0.5,
        skip_drop=0.0,
        n_estimators=10,
        max_depth=3,
        n_jobs=1,
    ).fit(DATA["X"], DATA[target])
    weights = json.loads(est.get_booster().save_raw("json"))["learner"]["gradient_booster"]["weight_drop"]
    assert len(set(weights)) > 1 and min(weights) < 1.0  # the weights are not all 1: the fold matters
    ir = to_ir(est)
    X = DATA["Xtest_xgb"]
    margin = est.predict(X, output_margin=True).reshape(len(X), -1)
    np.testing.assert_array_equal(ir.raw_scores(X).astype(np.float32), margin)
    ref = ir.reference(X)
    if ir.kind == "classifier":
        np.testing.assert_array_equal(ref.outputs[~ref.ambiguous], est.predict(X)[~ref.ambiguous])
        np.testing.assert_allclose(ref.proba, est.predict_proba(X), rtol=0, atol=3e-7)
    else:
        np.testing.assert_array_equal(ref.outputs, est.predict(X).astype(np.float64))


@pytest.mark.parametrize("objective", ["multi:softprob", "multi:softmax"])
def test_xgboost_vector_leaves_bit_identical(objective: str) -> None:
    """multi_strategy='multi_output_tree': every tree adds a leaf vector, one float32 per class (the IR's
    tree_output None); margins equal XGBoost's bit for bit, and the model file (each tree repeated per
    class) gives the same classes."""
    from microlearn.backends import modelfile as mf

    est = xgb.XGBClassifier(
        objective=objective, multi_strategy="multi_output_tree", n_estimators=4, max_depth=3, n_jobs=1
    ).fit(DATA["X"], DATA["multi"])
    ir = to_ir(est)
    assert ir.tree_output is None and ir.leaf_value.shape[1] == ir.n_raw == 4
    X = DATA["Xtest_xgb"]
    np.testing.assert_array_equal(ir.raw_scores(X).astype(np.float32), est.predict(X, output_margin=True))
    ref = ir.reference(X)
    np.testing.assert_array_equal(ref.outputs[~ref.ambiguous], est.predict(X)[~ref.ambiguous])
    back = mf.loads(mf.dumps(ir))
    assert back.tree_output is not None and back.n_trees == 4 * ir.n_trees
    np.testing.assert_array_equal(back.raw_scores(X), ir.raw_scores(X))


@pytest.mark.parametrize(
    ("objective", "target"),
    [
        ("reg:squarederror", "reg"),
        ("binary:logistic", "binary"),
        ("binary:hinge", "binary"),
        ("multi:softprob", "multi"),
        ("multi:softmax", "multi"),
    ],
)
def test_xgboost_gblinear_is_a_linear_model_bit_for_bit(objective: str, target: str) -> None:
    """booster='gblinear' becomes an Impute stage (missing values add nothing) and the linear IR's
    "sequential" layout: its scores are XGBoost's float32 margins bit for bit, on rows with NaN too."""
    from microlearn.ir.linear import Linear
    from microlearn.ir.pipeline import Pipeline

    cls = xgb.XGBRegressor if objective.startswith("reg") else xgb.XGBClassifier
    est = cls(booster="gblinear", objective=objective, n_estimators=8, n_jobs=1).fit(DATA["X"], DATA[target])
    ir = to_ir(est)
    assert isinstance(ir, Pipeline) and isinstance(ir.final, Linear) and ir.final.layout == "sequential"
    X = DATA["Xtest_xgb"]
    scores = ir.final.decision(np.asarray(ir.stages[0].reference(X).outputs, dtype=np.float32))
    margin = est.predict(X, output_margin=True).reshape(len(X), -1)
    np.testing.assert_array_equal(scores, margin)
    ref = ir.reference(X)
    if ir.task.value == "regress":
        np.testing.assert_array_equal(ref.outputs, est.predict(X).astype(np.float64))
        return
    labels = np.asarray(ir.final.classes)[ref.outputs]
    np.testing.assert_array_equal(labels[~ref.ambiguous], est.predict(X)[~ref.ambiguous])
    if ref.proba is not None:
        np.testing.assert_allclose(ref.proba, est.predict_proba(X), rtol=0, atol=3e-7)


def test_xgboost_gblinear_early_stopping_predicts_with_the_final_weights() -> None:
    """A gblinear model stores only its final weights; XGBoost predicts with them even after early
    stopping, and so does the conversion."""
    X, y = DATA["X"], DATA["reg"]
    est = xgb.XGBRegressor(booster="gblinear", n_estimators=100, early_stopping_rounds=2, learning_rate=0.9)
    est.fit(X[:300], y[:300], eval_set=[(X[300:], y[300:])], verbose=False)
    assert est.best_iteration < 99
    np.testing.assert_array_equal(to_ir(est).reference(X).outputs, est.predict(X).astype(np.float64))


def test_xgboost_logitraw_classifier_thresholds_the_margin_at_half() -> None:
    """XGBClassifier on binary:logitraw: predict is 1 where the float32 margin exceeds 0.5 (the wrapper's
    rule); there are no probabilities, decision_function is the margin."""
    X = DATA["Xtest_xgb"]
    est = xgb.XGBClassifier(objective="binary:logitraw", n_estimators=6, max_depth=3, n_jobs=1)
    est.fit(DATA["X"], DATA["binary"])
    ir = to_ir(est)
    assert ir.kind == "classifier" and ir.decide == "margin_half" and ir.post == "none"
    margin = est.predict(X, output_margin=True)
    np.testing.assert_array_equal(ir.raw_scores(X)[:, 0].astype(np.float32), margin)
    ref = ir.reference(X)
    assert ref.proba is None and not ref.ambiguous.any()
    np.testing.assert_array_equal(ref.outputs, est.predict(X))
    assert np.any((margin > 0) & (margin <= 0.5))  # rows where the threshold (0.5, not 0) decides


def test_xgboost_refusals() -> None:
    X = DATA["X"]
    with pytest.raises(UnsupportedEstimatorError, match="missing"):
        to_ir(xgb.XGBClassifier(n_estimators=2, missing=0.0).fit(np.nan_to_num(X), DATA["binary"]))
    with pytest.raises(UnsupportedEstimatorError, match="gblinear"):  # no exp link in the linear IR
        to_ir(
            xgb.XGBRegressor(n_estimators=2, booster="gblinear", objective="count:poisson").fit(
                X, DATA["count"]
            )
        )
    with pytest.raises(UnsupportedEstimatorError, match="logitraw"):
        to_ir(
            xgb.XGBClassifier(n_estimators=2, booster="gblinear", objective="binary:logitraw").fit(
                X, DATA["binary"]
            )
        )
    with pytest.raises(NotFittedError):
        to_ir(xgb.XGBClassifier())


# ---------------------------------------------------------------------------------------------- LightGBM
LGB_OBJECTIVES = [
    ("binary", "binary"),
    ("multiclass", "multi"),
    ("regression", "reg"),
    ("regression_l1", "reg"),
    ("huber", "reg"),
    ("quantile", "reg"),
    ("poisson", "count"),
    ("gamma", "positive"),
    ("tweedie", "count"),
    ("cross_entropy", "prob"),
    ("cross_entropy_lambda", "prob"),
    ("multiclassova", "multi"),
]
LGB_MODES = {
    "default": {},
    "zero_as_missing": {"zero_as_missing": True},
    "no_missing": {"use_missing": False},
    "rf": {"boosting": "rf", "bagging_freq": 1, "bagging_fraction": 0.7},
}


def _lgb_booster(objective: str, target: str, mode: str, categorical: bool) -> Any:
    params: dict[str, Any] = {
        "objective": objective,
        "num_leaves": 8,
        "verbose": -1,
        "min_data_in_leaf": 5,
        "min_data_per_group": 5,
        "cat_smooth": 1,
        "num_threads": 1,
        "seed": 0,
        **LGB_MODES[mode],
    }
    if target == "multi":
        params["num_class"] = 4
    ds = lgb.Dataset(DATA["X"], DATA[target], categorical_feature=[4] if categorical else [])
    return lgb.train(params, ds, 5)


# every objective in the default mode; the other modes with one objective of each output kind
LGB_CASES = [(o, t, "default") for o, t in LGB_OBJECTIVES] + [
    (o, t, m)
    for o, t in LGB_OBJECTIVES
    if o in ("binary", "multiclass", "regression", "poisson")
    for m in LGB_MODES
    if m != "default"
]


@pytest.mark.parametrize("categorical", [False, True])
@pytest.mark.parametrize(("objective", "target", "mode"), LGB_CASES)
def test_lightgbm_raw_scores_bit_identical(objective: str, target: str, mode: str, categorical: bool) -> None:
    b = _lgb_booster(objective, target, mode, categorical)
    ir = to_ir(b)
    X = DATA["Xtest"]
    raw = ir.raw_scores(X)
    want = b.predict(X, raw_score=True).reshape(len(X), -1)
    if mode == "rf":
        want = want / (ir.n_trees // ir.n_raw)
    np.testing.assert_array_equal(raw, want)  # float64 sums in tree order: bit for bit
    ref = ir.reference(X)
    out = b.predict(X)
    if ir.kind == "classifier":
        firm = ~ref.ambiguous
        np.testing.assert_array_equal(ref.outputs[firm], np.asarray(library_view(b).predict(X))[firm])
        p = ref.proba[:, 1] if objective == "binary" else ref.proba
        np.testing.assert_allclose(p, out, rtol=0, atol=1e-15)
    else:
        assert np.all(np.abs(ref.outputs - out) <= ref.bound)
        if ir.post in ("sigmoid", "softplus"):  # LightGBM's float64 link on the same float64 raw score
            np.testing.assert_allclose(ref.outputs, out, rtol=0, atol=1e-15)


@pytest.mark.parametrize(
    ("objective", "target", "scale"), [("binary", "binary", 2.5), ("multiclassova", "multi", 0.6)]
)
def test_lightgbm_sigmoid_scale(objective: str, target: str, scale: float) -> None:
    """A sigmoid scale other than 1: probabilities 1 / (1 + exp(-s raw)) as LightGBM computes them, and
    its classes (the first largest probability; one-vs-all probabilities are not normalised)."""
    est = lgb.LGBMClassifier(
        objective=objective, sigmoid=scale, n_estimators=6, num_leaves=8, verbose=-1, n_jobs=1
    )
    est.fit(DATA["X"], DATA[target])
    ir = to_ir(est)
    assert ir.post == "sigmoid" and ir.sigmoid_scale == scale
    X = DATA["Xtest"]
    np.testing.assert_array_equal(ir.raw_scores(X), est.predict(X, raw_score=True).reshape(len(X), -1))
    ref = ir.reference(X)
    np.testing.assert_allclose(ref.proba, est.predict_proba(X), rtol=0, atol=1e-15)
    np.testing.assert_array_equal(ref.outputs[~ref.ambiguous], est.predict(X)[~ref.ambiguous])


def test_lightgbm_ova_saturated_probabilities_are_ambiguous() -> None:
    """Two one-vs-all sigmoids that both round to 1.0 in float64 tie in LightGBM's argmax (the first
    class wins) while the raw scores still order them: such rows are ambiguous, the others decided."""
    from microlearn.frontends._gbdt import Leaf, Split

    stumps = [
        Split(0, np.float32(0), False, Leaf(a), Leaf(b)) for a, b in ((40.0, 3.0), (41.0, 1.0), (0.0, 0.0))
    ]
    ir = BoostedTrees(
        kind="classifier",
        n_features=1,
        n_outputs=3,
        n_raw=3,
        base_score=np.zeros(3),
        tree_output=np.arange(3, dtype=np.int32),
        post="sigmoid",
        decide="proba",
        **assemble(stumps),  # type: ignore[arg-type]
    )
    ref = ir.reference(np.array([[-1.0], [1.0]], dtype=np.float32))
    assert ref.proba is not None and ref.proba[0, 0] == ref.proba[0, 1] == 1.0
    assert list(ref.outputs) == [0, 0]  # the library's argmax: the first of the tied probabilities
    assert list(ref.ambiguous) == [True, False]


def test_lightgbm_zero_as_missing_band_rewrites() -> None:
    """Thresholds on every side of the zero band, both defaults: each of LightGBM's cases of a Zero-type
    node against the rewritten tests, on values around the band."""
    from microlearn.frontends.lightgbm import ZERO, _tree

    band = float(ZERO)
    values = np.array(
        [-1.0, -2 * band, -band, -band / 2, -0.0, 0.0, band / 2, band, 2 * band, 1.0, np.nan],
        dtype=np.float32,
    )
    for t in (-0.5, -band, -band / 2, 0.0, band / 2, band, 0.5):
        for default_left in (False, True):
            node = {
                "split_feature": 0,
                "threshold": t,
                "decision_type": "<=",
                "default_left": default_left,
                "missing_type": "Zero",
                "left_child": {"leaf_value": 1.0},
                "right_child": {"leaf_value": 2.0},
            }
            tree = _tree(node)
            ir = BoostedTrees(
                kind="regressor",
                n_features=1,
                n_outputs=1,
                **assemble([tree]),  # type: ignore[arg-type]
            )
            got = ir.raw_scores(values[:, None])[:, 0]
            for v, g in zip(values, got, strict=True):
                x = 0.0 if abs(float(v)) <= band else float(v)  # LightGBM's flush (NaN stays NaN)
                default = 1.0 if default_left else 2.0
                want = default if np.isnan(v) or x == 0.0 else (1.0 if x <= t else 2.0)
                assert g == want, (t, default_left, v)


@pytest.fixture(scope="module")
def lgb_wrappers() -> dict[str, Any]:
    X = DATA["X"]
    kw: dict[str, Any] = {"n_estimators": 6, "num_leaves": 8, "verbose": -1, "n_jobs": 1}
    labels = np.array(["low", "mid", "high", "top"])[DATA["multi"]]
    return {
        "binary": lgb.LGBMClassifier(**kw).fit(X, DATA["binary"]),
        "labels": lgb.LGBMClassifier(**kw).fit(X, labels),
        "reg": lgb.LGBMRegressor(**kw).fit(X, DATA["reg"]),
        "cat": lgb.LGBMClassifier(min_data_per_group=5, cat_smooth=1, **kw).fit(
            X, DATA["multi"], categorical_feature=[4]
        ),
    }


@pytest.mark.parametrize("name", ["binary", "labels", "reg", "cat"])
def test_lightgbm_wrappers_match_predict(lgb_wrappers: dict[str, Any], name: str) -> None:
    est = lgb_wrappers[name]
    ir = to_ir(est)
    X = DATA["Xtest"]
    ref = ir.reference(X)
    if ir.kind == "classifier":
        labels = np.asarray(ir.classes)[ref.outputs]
        np.testing.assert_array_equal(labels[~ref.ambiguous], est.predict(X)[~ref.ambiguous])
        np.testing.assert_allclose(ref.proba, est.predict_proba(X), rtol=0, atol=1e-15)
    else:
        assert np.all(np.abs(ref.outputs - est.predict(X)) <= ref.bound)
    assert ir.source.startswith("lightgbm.")


def test_lightgbm_refusals() -> None:
    X = DATA["X"]
    with pytest.raises(UnsupportedEstimatorError, match="linear"):
        to_ir(lgb.LGBMRegressor(n_estimators=2, linear_tree=True, verbose=-1).fit(X, DATA["reg"]))
    with pytest.raises(UnsupportedEstimatorError, match="reg_sqrt"):
        to_ir(lgb.LGBMRegressor(n_estimators=2, reg_sqrt=True, verbose=-1).fit(X, DATA["count"]))
    with pytest.raises(NotFittedError):
        to_ir(lgb.LGBMClassifier())


def test_registered_paths() -> None:
    have = set(supported_estimators())
    for p in (
        "xgboost.XGBClassifier",
        "xgboost.XGBRegressor",
        "xgboost.Booster",
        "lightgbm.LGBMClassifier",
        "lightgbm.LGBMRegressor",
        "lightgbm.Booster",
    ):
        assert p in have


# ---------------------------------------------------------------------------------------------- parsing
@settings(max_examples=300, deadline=None)
@given(st.floats(width=32, allow_nan=False, allow_infinity=False))
def test_shortest_float32_text_reads_back_exactly(v: float) -> None:
    f = np.float32(v)
    text = np.format_float_scientific(f, unique=True)
    assert f32_from_decimal([text])[0].view(np.int32) == f.view(np.int32)


def test_decimal_on_a_float64_midpoint_rounds_once() -> None:
    # 1 + 2**-24 is halfway between two float32s; a decimal just above it must round up, just below down
    mid = Fraction(1) + Fraction(1, 2**24)
    up = str(float(mid)) + "0000000000000000001"
    assert float(up) == float(mid)  # float64 lands exactly on the midpoint
    assert f32_from_decimal([up])[0] == np.nextafter(np.float32(1), np.float32(2))
    down = "1.0000000596046447753906249"
    assert float(down) == float(mid)
    assert f32_from_decimal([down])[0] == np.float32(1)
    exact = "1.000000059604644775390625"  # the midpoint itself: ties to even
    assert Fraction(exact) == mid and f32_from_decimal([exact])[0] == np.float32(1)


# ---------------------------------------------------------------------------------------------- targets
TARGETS = ("host", "cortex-m4f", "cortex-m0plus", "rv32imc", "micropython")


def _target_models() -> dict[str, tuple[Any, str]]:
    """Small models of every output kind, each with the C method it is verified with."""
    X = DATA["X"]
    kw = {"n_estimators": 5, "max_depth": 3, "n_jobs": 1}
    lkw: dict[str, Any] = {"n_estimators": 5, "num_leaves": 6, "verbose": -1, "n_jobs": 1}
    booster_params = {"objective": "multi:softprob", "num_class": 4, "max_depth": 2, "nthread": 1}
    lgb_params = {"objective": "binary", "num_leaves": 6, "verbose": -1, "zero_as_missing": True}
    return {
        "xgb-binary": (xgb.XGBClassifier(**kw).fit(X, DATA["binary"]), "table"),
        "xgb-categorical": (
            xgb.XGBClassifier(
                feature_types=["q"] * 4 + ["c"], enable_categorical=True, max_cat_to_onehot=1, **kw
            ).fit(X, DATA["multi"]),
            "inline",
        ),
        "xgb-regressor": (xgb.XGBRegressor(**kw).fit(X, DATA["reg"]), "table"),
        "xgb-poisson": (xgb.XGBRegressor(objective="count:poisson", **kw).fit(X, DATA["count"]), "inline"),
        "xgb-booster": (xgb.train(booster_params, xgb.DMatrix(X, DATA["multi"]), 3), "inline"),
        "lgb-categorical": (
            lgb.LGBMClassifier(min_data_per_group=5, cat_smooth=1, **lkw).fit(
                X, DATA["multi"], categorical_feature=[4]
            ),
            "table",
        ),
        "lgb-rf": (
            lgb.LGBMRegressor(boosting_type="rf", subsample=0.7, subsample_freq=1, **lkw).fit(X, DATA["reg"]),
            "inline",
        ),
        "lgb-booster": (lgb.train(lgb_params, lgb.Dataset(X, DATA["binary"]), 4), "table"),
        "xgb-dart": (
            xgb.XGBClassifier(booster="dart", rate_drop=0.5, skip_drop=0.0, **kw).fit(X, DATA["binary"]),
            "table",
        ),
        "xgb-logistic": (xgb.XGBRegressor(objective="reg:logistic", **kw).fit(X, DATA["prob"]), "inline"),
        "xgb-logitraw": (
            xgb.XGBClassifier(objective="binary:logitraw", **kw).fit(X, DATA["binary"]),
            "inline",
        ),
        "lgb-ova": (
            lgb.LGBMClassifier(objective="multiclassova", sigmoid=0.8, **lkw).fit(X, DATA["multi"]),
            "table",
        ),
        "lgb-cross-entropy": (
            lgb.LGBMRegressor(objective="cross_entropy", **lkw).fit(X, DATA["prob"]),
            "inline",
        ),
        "lgb-sigmoid": (lgb.LGBMClassifier(sigmoid=2.5, **lkw).fit(X, DATA["binary"]), "inline"),
        "xgb-gblinear": (
            xgb.XGBClassifier(booster="gblinear", n_estimators=5, n_jobs=1).fit(X, DATA["binary"]),
            "float",
        ),
        "xgb-gblinear-multi": (
            xgb.XGBClassifier(booster="gblinear", n_estimators=5, n_jobs=1).fit(X, DATA["multi"]),
            "float",
        ),
        "xgb-gblinear-booster": (
            xgb.train(
                {"booster": "gblinear", "objective": "binary:logistic", "nthread": 1},
                xgb.DMatrix(X, DATA["binary"]),
                4,
            ),
            "float",
        ),
        "xgb-gblinear-regressor": (
            xgb.XGBRegressor(booster="gblinear", n_estimators=5, n_jobs=1).fit(X, DATA["reg"]),
            "float",
        ),
        "xgb-vector-leaves": (
            xgb.XGBClassifier(multi_strategy="multi_output_tree", **kw).fit(X, DATA["multi"]),
            "inline",
        ),
        "lgb-cross-entropy-lambda": (
            lgb.LGBMRegressor(objective="cross_entropy_lambda", **lkw).fit(X, DATA["prob"]),
            "table",
        ),
    }


@pytest.fixture(scope="module")
def target_models() -> dict[str, tuple[Any, str]]:
    return _target_models()


@pytest.mark.parametrize(
    "name",
    [
        "xgb-binary",
        "xgb-categorical",
        "xgb-regressor",
        "xgb-poisson",
        "xgb-booster",
        "lgb-categorical",
        "lgb-rf",
        "lgb-booster",
        "xgb-dart",
        "xgb-logistic",
        "xgb-logitraw",
        "lgb-ova",
        "lgb-cross-entropy",
        "lgb-sigmoid",
        "lgb-cross-entropy-lambda",
        "xgb-vector-leaves",
        "xgb-gblinear",
        "xgb-gblinear-multi",
        "xgb-gblinear-booster",
        "xgb-gblinear-regressor",
    ],
)
def test_every_target_agrees(target_models: dict[str, tuple[Any, str]], name: str) -> None:
    """The generated C (host, Cortex-M4F, Cortex-M0+, RV32IMC) and mlrt on MicroPython give the library's
    class on every decidable row and its values within the bound; verify checks the IR against the
    library itself first."""
    from microlearn.verify import verify

    est, method = target_models[name]
    X = DATA["Xtest_xgb"][::3]  # NaN, the zero band and odd category codes, 69 rows
    report = verify(est, X, targets=TARGETS, method=method)
    for t in TARGETS:
        assert report[t].agreement == 1.0, (name, t, str(report))


@pytest.mark.parametrize(
    "name",
    ["xgb-binary", "xgb-categorical", "xgb-regressor", "xgb-booster", "lgb-categorical", "lgb-booster"],
)
def test_packed_agrees(target_models: dict[str, tuple[Any, str]], name: str) -> None:
    """The packed method on the host and on a core without an FPU (integer keys, categorical records,
    XGBoost's float32 sums, LightGBM's float64 replay from float32 + residual leaves)."""
    from microlearn.verify import verify

    est, _ = target_models[name]
    X = DATA["Xtest_xgb"][::3]
    report = verify(est, X, targets=("host", "cortex-m0plus"), method="packed")
    for t in ("host", "cortex-m0plus"):
        assert report[t].agreement == 1.0, (name, t, str(report))


# ---------------------------------------------------------------------------------------------- random models
@settings(max_examples=8, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    depth=st.integers(1, 5),
    rounds=st.integers(1, 6),
    missing=st.sampled_from([0.0, 0.15]),
    categorical=st.booleans(),
    classes=st.sampled_from([1, 2, 3]),
    layout=st.sampled_from(["gbtree", "dart", "vector"]),
)
def test_random_xgboost_models_bit_identical(
    seed: int, depth: int, rounds: int, missing: float, categorical: bool, classes: int, layout: str
) -> None:
    """Random boosters (plain, dart with random tree weights, vector leaves) against XGBoost's margins:
    ``Booster.predict`` on a DMatrix, and for dart ``inplace_predict`` (the wrappers' arithmetic)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(120, 4)).astype(np.float32) * rng.choice([1e-3, 1.0, 1e3])
    X[:, 3] = rng.integers(0, 12, 120)
    X[rng.random(X.shape) < missing] = np.nan
    y = rng.integers(0, classes, 120) if classes > 1 else rng.normal(size=120)
    params: dict[str, Any] = {"max_depth": depth, "nthread": 1, "max_cat_to_onehot": 1, "seed": seed}
    params["objective"] = {1: "reg:squarederror", 2: "binary:logistic", 3: "multi:softprob"}[classes]
    if classes == 3:
        params["num_class"] = 3
    if layout == "dart":
        params.update(booster="dart", rate_drop=0.4, skip_drop=0.0)
    if layout == "vector" and classes == 3:
        params["multi_strategy"] = "multi_output_tree"
        categorical = False
    types = ["q"] * 3 + ["c" if categorical else "q"]
    d = xgb.DMatrix(X, y, feature_types=types, enable_categorical=categorical)
    b = xgb.train(params, d, rounds)
    Xt = np.concatenate([X, rng.normal(size=(40, 4)).astype(np.float32), EDGE[:, :4]])
    Xt = np.where(np.isinf(Xt), 1e30, Xt).astype(np.float32)
    dt = xgb.DMatrix(Xt, feature_types=types, enable_categorical=categorical)
    if layout == "dart":
        margin = b.inplace_predict(Xt, predict_type="margin")
    else:
        margin = b.predict(dt, output_margin=True)
    np.testing.assert_array_equal(to_ir(b).raw_scores(Xt).astype(np.float32), margin.reshape(len(Xt), -1))


@settings(max_examples=8, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    leaves=st.integers(2, 12),
    rounds=st.integers(1, 6),
    mode=st.sampled_from(list(LGB_MODES)),
    categorical=st.booleans(),
    classes=st.sampled_from([1, 2, 3]),
)
def test_random_lightgbm_models_bit_identical(
    seed: int, leaves: int, rounds: int, mode: str, categorical: bool, classes: int
) -> None:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(150, 4)).astype(np.float32)
    X[rng.random(150) < 0.3, 0] = 0.0
    X[:, 3] = rng.integers(0, 12, 150)
    X[rng.random(X.shape) < 0.1] = np.nan
    y = rng.integers(0, classes, 150) if classes > 1 else rng.normal(size=150)
    params: dict[str, Any] = {
        "objective": {1: "regression", 2: "binary", 3: "multiclass"}[classes],
        "num_leaves": leaves,
        "min_data_in_leaf": 3,
        "min_data_per_group": 3,
        "cat_smooth": 1,
        "verbose": -1,
        "num_threads": 1,
        "seed": seed,
        **LGB_MODES[mode],
    }
    if classes == 3:
        params["num_class"] = 3
    b = lgb.train(params, lgb.Dataset(X, y, categorical_feature=[3] if categorical else []), rounds)
    Xt = np.concatenate([X, rng.normal(size=(40, 4)).astype(np.float32), EDGE[:, :4]])
    ir = to_ir(b)
    want = b.predict(Xt, raw_score=True).reshape(len(Xt), -1)
    if mode == "rf":
        want = want / (ir.n_trees // ir.n_raw)
    np.testing.assert_array_equal(ir.raw_scores(Xt), want)
