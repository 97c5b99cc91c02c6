"""The Linear IR's reference is scikit-learn's arithmetic, bit for bit; the frontend refuses what it cannot
convert with an error that says what to do."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import linear_model as lm
from sklearn.multiclass import OneVsRestClassifier
from sklearn.tree import DecisionTreeClassifier

from linear_cases import MULTI_OUTPUT, classifiers, fitted, regressors, rows_near
from microlearn.errors import InvalidInputError, NotFittedError, UnsupportedEstimatorError
from microlearn.frontends.sklearn.linear import convert
from microlearn.ir.base import IR, Task
from microlearn.ir.linear import Linear, gamma

CLS = sorted(classifiers())
REG = sorted(regressors())


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("data", ["binary", "multiclass", "digits"])
@pytest.mark.parametrize("name", CLS)
def test_classifier_reference_is_sklearn(name: str, data: str, dtype: str) -> None:
    est = fitted(name, data, dtype)
    ir = convert(est)
    assert isinstance(ir, IR) and ir.task == Task.CLASSIFY
    X = rows_near(data)
    ref = ir.reference(X)
    assert np.array_equal(np.asarray(ir.classes)[ref.outputs], est.predict(X))
    d = est.decision_function(X)
    assert ref.scores is not None and np.array_equal(ref.scores, d)
    assert ir.decision(X).dtype == d.dtype  # float32 models score in float32, as scikit-learn does
    if hasattr(est, "predict_proba") and ir.has_proba:
        assert ref.proba is not None and np.array_equal(ref.proba, est.predict_proba(X))
    else:
        assert ref.proba is None
    assert ref.ambiguous is not None and ref.ambiguous.shape == (X.shape[0],)


REG_CASES = [(n, "regression") for n in REG] + [(n, "regression2") for n in MULTI_OUTPUT]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(("name", "data"), REG_CASES)
def test_regressor_reference_is_sklearn(name: str, data: str, dtype: str) -> None:
    est = fitted(name, data, dtype)
    ir = convert(est)
    assert ir.task == Task.REGRESS and ir.n_outputs == (2 if data == "regression2" else 1)
    X = rows_near(data)
    ref = ir.reference(X)
    p = est.predict(X)
    assert np.array_equal(ref.outputs, p) and ref.outputs.shape == p.shape
    assert ir.decision(X).dtype == p.dtype
    assert ref.bound is not None and ref.bound.shape == (X.shape[0],) and np.all(ref.bound > 0)


def test_ambiguous_marks_exact_ties_and_nothing_on_real_rows() -> None:
    est = fitted("logreg", "digits", "float64")
    ir = convert(est)
    assert not ir.reference(rows_near("digits")).ambiguous.any()  # type: ignore[union-attr]
    # two identical rows of coef: every input is a tie between them, decided by the first index
    coef = np.vstack([ir.coef[:2], ir.coef[1:2]])
    tie = Linear(Task.CLASSIFY, coef, np.array([0.0, 1.0, 1.0]), classes=np.arange(3))
    ref = tie.reference(rows_near("digits"))
    assert ref.ambiguous is not None and ref.ambiguous[ref.outputs == 1].all()
    assert not np.any(ref.outputs == 2)


def test_gamma_is_an_upper_bound() -> None:
    for k in (1, 7, 64, 1000):
        for u in (2.0**-24, 2.0**-53):
            assert gamma(k, u) >= k * u / (1 - k * u)


def test_summary_and_feature_names() -> None:
    import pandas as pd

    X = pd.DataFrame(rows_near("binary").astype(np.float64), columns=[f"f{i}" for i in range(6)])
    y = (X["f0"] > 0).astype(int).map({0: "no */ x", 1: "yes"})
    est = lm.LogisticRegression().fit(X, y)
    ir = convert(est)
    assert ir.feature_names == tuple(X.columns)
    text = "\n".join(ir.summary())
    assert "LogisticRegression" in text and "no */ x" in text and "f0" in text


def test_not_fitted() -> None:
    with pytest.raises(NotFittedError, match="fit"):
        convert(lm.LogisticRegression())
    with pytest.raises(NotFittedError, match="fit"):
        convert(lm.Ridge())


def test_unsupported() -> None:
    X, y = rows_near("multiclass"), np.arange(120) % 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ovr_tree = OneVsRestClassifier(DecisionTreeClassifier(max_depth=2)).fit(X, y)
        multilabel = lm.RidgeClassifier().fit(X, np.c_[y == 0, y == 1].astype(int))
    with pytest.raises(UnsupportedEstimatorError, match="linear classifiers"):
        convert(ovr_tree)
    with pytest.raises(UnsupportedEstimatorError, match="multilabel"):
        convert(multilabel)
    with pytest.raises(UnsupportedEstimatorError, match="supported"):
        convert(DecisionTreeClassifier().fit(X, y))


def test_bad_coefficients() -> None:
    est = lm.LinearRegression().fit(rows_near("regression").astype(np.float64), np.arange(120.0))
    est.coef_ = est.coef_.copy()
    est.coef_[0] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        convert(est)
    est.coef_[0] = 1e300
    with pytest.raises(InvalidInputError, match="float32 range"):
        convert(est)


def test_ir_invariants() -> None:
    c = np.ones((2, 3))
    with pytest.raises(ValueError):
        Linear(Task.CLASSIFY, c, np.zeros(3))
    with pytest.raises(ValueError):
        Linear(Task.REGRESS, c, np.zeros(2), proba="logistic")
    with pytest.raises(ValueError):
        Linear(Task.CLASSIFY, c + 0.1, np.zeros(2), dtype="float32")  # 1.1 is not a float32
    with pytest.raises(ValueError):
        Linear(Task.CLASSIFY, c[:1], np.zeros(1), proba="softmax")


@settings(max_examples=40, deadline=None)
@given(
    k=st.integers(1, 5),
    n=st.integers(1, 12),
    scale=st.sampled_from([1e-30, 1e-3, 1.0, 1e4, 1e30]),
    seed=st.integers(0, 2**31 - 1),
)
def test_ambiguous_rows_are_the_only_ones_a_reordered_sum_may_flip(
    k: int, n: int, scale: float, seed: int
) -> None:
    """Random models: summing in another order (here: reversed, in float64, as a device replay might)
    changes the class only on rows the reference marks ambiguous."""
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(k, n)) * scale
    b = rng.normal(size=k) * scale
    ir = Linear(Task.CLASSIFY, W, b, classes=np.arange(max(k, 2)))
    X = (rng.normal(size=(200, n)) * rng.choice([1e-3, 1.0, 1e3], size=(200, 1))).astype(np.float32)
    if k == 1:  # rows on the boundary too
        X[:50, 0] = (-(X[:50, 1:] @ W[0, 1:]) - b[0]) / W[0, 0] if n > 1 else -b[0] / W[0, 0]
    ref = ir.reference(X)
    rev = np.zeros((X.shape[0], k))
    for j in reversed(range(n)):
        rev += X[:, j : j + 1].astype(np.float64) * W[:, j]
    rev += b
    other = (rev[:, 0] > 0).astype(int) if k == 1 else np.argmax(rev, axis=1)
    assert ref.ambiguous is not None
    assert np.all((other == ref.outputs) | ref.ambiguous)


@pytest.mark.parametrize(
    "make",
    [
        lambda: lm.LogisticRegressionCV(cv=3, Cs=3, max_iter=300),
        lambda: lm.RidgeClassifierCV(),
        lambda: lm.RidgeCV(),
        lambda: lm.LassoCV(cv=3, alphas=5),
        lambda: lm.ElasticNetCV(cv=3, alphas=5),
    ],
    ids=["LogisticRegressionCV", "RidgeClassifierCV", "RidgeCV", "LassoCV", "ElasticNetCV"],
)
def test_cv_variants(make: object) -> None:
    from linear_cases import XM, XR, YM, YR

    est = make()  # type: ignore[operator]
    classify = hasattr(est, "predict_proba") or "Classifier" in type(est).__name__
    X, y = (XM, YM) if classify else (XR, YR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    ir = convert(est)
    Xt = rows_near("multiclass" if classify else "regression")
    ref = ir.reference(Xt)
    if classify:
        assert np.array_equal(np.asarray(ir.classes)[ref.outputs], est.predict(Xt))
        if ir.has_proba:
            assert np.array_equal(ref.proba, est.predict_proba(Xt))
    else:
        assert np.array_equal(ref.outputs, est.predict(Xt))
