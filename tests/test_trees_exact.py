"""Converted tree models predict exactly what scikit-learn predicts, through the generated C."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn import datasets
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.tree import (
    DecisionTreeClassifier,
    DecisionTreeRegressor,
    ExtraTreeClassifier,
    ExtraTreeRegressor,
)

import microlearn
from microlearn.backends.c.common import fixed_point_scale, margin_q
from microlearn.verify import regression_bound

METHODS = ["table", "inline"]
F32_MAX = np.finfo(np.float32).max


def _classifiers() -> list[object]:
    return [
        DecisionTreeClassifier(max_depth=8, random_state=0),
        ExtraTreeClassifier(random_state=0),
        RandomForestClassifier(n_estimators=7, max_depth=7, random_state=0),
        ExtraTreesClassifier(n_estimators=7, max_depth=9, random_state=0),
    ]


def _regressors() -> list[object]:
    return [
        DecisionTreeRegressor(max_depth=8, random_state=0),
        ExtraTreeRegressor(random_state=0),
        RandomForestRegressor(n_estimators=6, max_depth=7, random_state=0),
        ExtraTreesRegressor(n_estimators=6, max_depth=7, random_state=0),
    ]


CLF_DATA = {
    "iris": datasets.load_iris(return_X_y=True),
    "breast_cancer": datasets.load_breast_cancer(return_X_y=True),
    "wine": datasets.load_wine(return_X_y=True),
    "digits": datasets.load_digits(return_X_y=True),
}
REG_DATA = {
    "diabetes": datasets.load_diabetes(return_X_y=True),
    "friedman": datasets.make_friedman1(n_samples=300, random_state=0),
}


def near_threshold_rows(model: microlearn.Model, X: np.ndarray, n: int = 200) -> np.ndarray:
    """Rows whose features sit exactly at thresholds and at their float32 neighbours."""
    rng = np.random.default_rng(0)
    ir = model.ir
    inner = np.flatnonzero((ir.feature >= 0) & (np.abs(ir.threshold) < np.finfo(np.float32).max))
    if inner.size == 0:
        return np.asarray(X, dtype=np.float32)
    rows = X[rng.integers(0, len(X), n)].astype(np.float32)
    pick = rng.choice(inner, size=(n, 3))
    for r in range(n):
        for k, node in enumerate(pick[r]):
            t = ir.threshold[node]
            v = (t, np.nextafter(t, np.float32(np.inf)), np.nextafter(t, np.float32(-np.inf)))[k]
            rows[r, ir.feature[node]] = v
    return rows


def assert_classifier_exact(est: object, model: microlearn.Model, X: np.ndarray) -> None:
    X32 = np.asarray(X, dtype=np.float32)
    np.testing.assert_array_equal(model.predict(X32), est.predict(X32))  # type: ignore[attr-defined]
    np.testing.assert_allclose(model.predict_proba(X32), est.predict_proba(X32), atol=1e-6, rtol=0)  # type: ignore[attr-defined]


def assert_regressor_exact(est: object, model: microlearn.Model, X: np.ndarray) -> None:
    X32 = np.asarray(X, dtype=np.float32)
    ref = est.predict(X32)  # type: ignore[attr-defined]
    got = model.predict(X32).astype(np.float64)
    bound = regression_bound(model.ir, X32)
    assert np.all(np.abs(got - ref) <= bound), np.max(np.abs(got - ref) - bound)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("data", list(CLF_DATA))
@pytest.mark.parametrize("idx", range(4))
def test_classifiers_match_sklearn(method: str, data: str, idx: int) -> None:
    X, y = CLF_DATA[data]
    est = _classifiers()[idx].fit(X, y)
    model = microlearn.convert(est, method=method)
    assert_classifier_exact(est, model, X)
    assert_classifier_exact(est, model, near_threshold_rows(model, X))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("data", list(REG_DATA))
@pytest.mark.parametrize("idx", range(4))
def test_regressors_match_sklearn(method: str, data: str, idx: int) -> None:
    X, y = REG_DATA[data]
    est = _regressors()[idx].fit(X, y)
    model = microlearn.convert(est, method=method)
    assert_regressor_exact(est, model, X)
    assert_regressor_exact(est, model, near_threshold_rows(model, X))


def test_regression_bound_is_tight_enough() -> None:
    X, y = REG_DATA["diabetes"]
    est = RandomForestRegressor(n_estimators=10, random_state=0).fit(X, y)
    model = microlearn.convert(est)
    bound = regression_bound(model.ir, X)
    assert np.all(bound > 0)
    assert np.all(bound / np.abs(est.predict(X)) < 1e-5)  # a float32-sized bound, not a vacuous one
    report = microlearn.verify(est, X)
    assert report["host"].agreement == 1.0


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("est_cls", [DecisionTreeClassifier, RandomForestClassifier, ExtraTreesClassifier])
def test_missing_values_routed_like_sklearn(method: str, est_cls: type) -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(400, 5))
    y = (X[:, 0] + np.where(np.isnan(X[:, 1]), 1.0, X[:, 1]) > 0).astype(int) + (X[:, 2] > 1)
    X[rng.random(X.shape) < 0.2] = np.nan
    kw = {"n_estimators": 5} if est_cls is not DecisionTreeClassifier else {}
    est = est_cls(random_state=0, **kw).fit(X, y)
    model = microlearn.convert(est, method=method)
    assert model.ir.missing_left.any()
    Xt = rng.normal(size=(500, 5))
    Xt[rng.random(Xt.shape) < 0.3] = np.nan
    Xt[0] = np.nan
    assert_classifier_exact(est, model, Xt)


def test_missing_values_regressor() -> None:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 3))
    y = X[:, 0] * 3 + 1
    X[rng.random(X.shape) < 0.25] = np.nan
    est = RandomForestRegressor(n_estimators=4, random_state=0).fit(X, y)
    Xt = rng.normal(size=(300, 3))
    Xt[rng.random(Xt.shape) < 0.3] = np.nan
    for method in METHODS:
        assert_regressor_exact(est, microlearn.convert(est, method=method), Xt)


@pytest.mark.parametrize(
    "labels",
    [
        np.array(["cat", "dog", "emu"]),
        np.array([-5, 0, 7]),
        np.array([1.0, 2.0, -3.0]),
        np.array([True, False, True]),
    ],
)
def test_labels_of_any_type(labels: np.ndarray) -> None:
    X, y = CLF_DATA["iris"]
    y_lab = labels[y]
    est = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y_lab)
    model = microlearn.convert(est)
    pred = model.predict(X)
    np.testing.assert_array_equal(pred, est.predict(X))
    assert pred.dtype == est.predict(X).dtype


def test_single_class_and_single_feature() -> None:
    X = np.arange(20, dtype=float).reshape(-1, 1)
    est = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, np.full(20, "only"))
    model = microlearn.convert(est)
    np.testing.assert_array_equal(model.predict(X), est.predict(X))
    np.testing.assert_allclose(model.predict_proba(X), 1.0)
    est1 = DecisionTreeClassifier().fit(X, (X[:, 0] > 7.5).astype(int))
    m1 = microlearn.convert(est1, method="inline")
    np.testing.assert_array_equal(m1.predict(X), est1.predict(X))


def test_deep_tree_inline_splits_into_functions() -> None:
    # a chain-shaped tree deeper than the inline method's nesting limit (48)
    X = np.arange(200, dtype=float).reshape(-1, 1)
    y = np.arange(200) % 2
    est = DecisionTreeClassifier(random_state=0).fit(X, y)
    model = microlearn.convert(est, method="inline")
    assert model.ir.max_depth() > 60
    assert "_node_" in model.to_c("deep")
    assert_classifier_exact(est, model, X)
    assert_classifier_exact(est, model, X + 0.5)


def test_many_classes() -> None:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(1000, 6))
    y = rng.integers(0, 50, 1000)
    est = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
    for method in METHODS:
        assert_classifier_exact(est, microlearn.convert(est, method=method), rng.normal(size=(500, 6)))


def test_infinities_follow_the_reference_walk() -> None:
    X, y = CLF_DATA["wine"]
    est = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
    model = microlearn.convert(est)
    rows = X[:40].astype(np.float32).copy()
    rows[::2, 3] = np.inf
    rows[1::2, 5] = -np.inf
    # the IR walk equals scikit-learn wherever scikit-learn accepts the input ...
    assert np.all(model.ir.threshold[model.ir.feature >= 0] < F32_MAX)
    clipped = np.clip(rows, -F32_MAX, F32_MAX)
    np.testing.assert_array_equal(
        model.ir.predict_index(rows), np.searchsorted(est.classes_, est.predict(clipped))
    )
    # ... and the C follows the IR walk for infinities
    np.testing.assert_array_equal(model.predict_index(rows), model.ir.predict_index(rows))


def fast_path_undecided(model: microlearn.Model, X: np.ndarray) -> int:
    """Rows on which the generated fixed-point vote leaves the decision to the float64 replay."""
    ir = model.ir
    rows = ir.leaf[ir.apply(X)]
    scale = 2.0 ** fixed_point_scale(ir.n_trees)
    votes = np.zeros((len(X), ir.n_outputs), dtype=np.int64)
    for t in range(ir.n_trees):
        votes += np.rint(ir.leaf_value[rows[:, t]] * scale).astype(np.int64)
    top = np.sort(votes, axis=1)
    return int(np.sum(top[:, -1] - top[:, -2] <= margin_q(ir.n_trees))) if ir.n_outputs > 1 else 0


def test_forest_ties_decided_like_sklearn() -> None:
    # tiny data sets make fractional leaves and exact ties between classes frequent, so the C's
    # float64 replay of near ties is exercised too
    rng = np.random.default_rng(4)
    replayed = 0
    for seed in range(15):
        X = rng.integers(0, 3, size=(12, 2)).astype(float)
        y = rng.integers(0, 3, 12)
        est = RandomForestClassifier(n_estimators=6, max_depth=2, random_state=seed).fit(X, y)
        grid = np.array([[a, b] for a in np.arange(-1, 4, 0.5) for b in np.arange(-1, 4, 0.5)])
        for method in METHODS:
            model = microlearn.convert(est, method=method)
            assert_classifier_exact(est, model, grid)
        replayed += fast_path_undecided(model, grid)
    assert replayed > 0


def test_pure_leaf_forests_need_no_float64() -> None:
    # trees grown to purity: exact fixed-point sums, exact ties (e.g. 2 trees voting apart) -> first class
    rng = np.random.default_rng(6)
    X = rng.integers(0, 4, size=(200, 3)).astype(float)
    y = rng.integers(0, 3, 200)
    X[:, 2] = np.arange(200)  # distinct rows: every leaf pure
    for n_trees in (2, 4, 7):
        est = RandomForestClassifier(n_estimators=n_trees, random_state=n_trees).fit(X, y)
        grid = np.array(
            [[a, b, c] for a in range(-1, 5) for b in range(-1, 5) for c in (0.0, 50.5, 120.5, 300.0)]
        )
        for method in METHODS:
            model = microlearn.convert(est, method=method)
            src = model.to_c("pure")
            assert "these sums are exact" in src and "replay scikit-learn" not in src
            assert_classifier_exact(est, model, grid)


def test_hundred_thousand_rows() -> None:
    X, y = CLF_DATA["digits"]
    est = RandomForestClassifier(n_estimators=10, max_depth=10, random_state=0).fit(X, y)
    model = microlearn.convert(est)
    rows = np.random.default_rng(5).integers(0, 17, size=(100_000, 64)).astype(np.float32)
    np.testing.assert_array_equal(model.predict(rows), est.predict(rows))


@st.composite
def random_problem(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    n = draw(st.integers(8, 60))
    d = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    style = draw(st.sampled_from(["int", "float", "neg", "const"]))
    if style == "int":
        X = rng.integers(-3, 4, size=(n, d)).astype(float)
    elif style == "neg":
        X = -np.abs(rng.normal(size=(n, d))) * 1e3
    else:
        X = rng.normal(size=(n, d))
    if style == "const":
        X[:, 0] = 2.5
    if draw(st.booleans()):
        X[rng.random(X.shape) < 0.15] = np.nan
    n_classes = draw(st.integers(1, 5))
    y = rng.integers(0, n_classes, n)
    Xt = np.concatenate([X, rng.integers(-4, 5, size=(30, d)).astype(float)])
    Xt[rng.random(Xt.shape) < 0.1] = np.nan
    return X, y, Xt, draw(st.booleans())


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(problem=random_problem(), n_trees=st.integers(1, 6), depth=st.one_of(st.none(), st.integers(1, 6)))
def test_random_forests_hypothesis(
    problem: tuple[np.ndarray, np.ndarray, np.ndarray, bool], n_trees: int, depth: int | None
) -> None:
    X, y, Xt, extra = problem
    cls = ExtraTreesClassifier if extra else RandomForestClassifier
    est = cls(n_estimators=n_trees, max_depth=depth, random_state=0).fit(X, y)
    for method in METHODS:
        model = microlearn.convert(est, method=method)
        assert_classifier_exact(est, model, Xt)
        assert_classifier_exact(est, model, near_threshold_rows(model, Xt, 20))
        ry = np.nan_to_num(X[:, 0]) * 1.7 + np.nan_to_num(X[:, -1]) + y
        reg = RandomForestRegressor(n_estimators=n_trees, max_depth=depth, random_state=0).fit(X, ry)
        assert_regressor_exact(reg, microlearn.convert(reg, method=method), Xt)
