"""Bad input gets a clear error that says what to do; nothing is silently wrong."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.gaussian_process import GaussianProcessClassifier
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

import microlearn
from microlearn.errors import InvalidInputError, NotFittedError, UnsupportedEstimatorError

X, y = load_iris(return_X_y=True)
CLF = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)
REG = DecisionTreeRegressor(max_depth=3).fit(X, X[:, 0])


def test_unfitted_estimator() -> None:
    with pytest.raises(NotFittedError, match=r"not fitted yet: call \.fit"):
        microlearn.convert(RandomForestClassifier())


def test_unsupported_estimator_lists_supported() -> None:
    with pytest.raises(UnsupportedEstimatorError, match=r"Supported estimators: .*RandomForestClassifier"):
        microlearn.convert(GaussianProcessClassifier().fit(X[::3], y[::3]))
    assert "sklearn.tree.DecisionTreeRegressor" in microlearn.supported_estimators()


def test_multi_output_rejected() -> None:
    est = DecisionTreeClassifier().fit(X, np.c_[y, y % 2])
    with pytest.raises(UnsupportedEstimatorError, match="one model per output"):
        microlearn.convert(est)


@pytest.mark.parametrize("name", ["1abc", "my-model", "int", "", "a b", "ml_model", "static"])
def test_name_must_be_c_identifier(name: str) -> None:
    model = microlearn.convert(CLF)
    with pytest.raises(InvalidInputError, match=r"C identifier|reserved"):
        model.to_c(name)


def test_wrong_feature_count() -> None:
    model = microlearn.convert(CLF)
    with pytest.raises(InvalidInputError, match="3 features per row, but the model expects 4"):
        model.predict(X[:, :3])


def test_one_dimensional_input() -> None:
    with pytest.raises(InvalidInputError, match=r"reshape\(1, -1\)"):
        microlearn.convert(CLF).predict(X[0])


def test_non_numeric_input() -> None:
    with pytest.raises(InvalidInputError, match="numeric"):
        microlearn.convert(CLF).predict([["a", "b", "c", "d"]])


def test_values_beyond_float32_range() -> None:
    bad = X[:2].copy()
    bad[0, 1] = 1e39
    with pytest.raises(InvalidInputError, match="float32 range"):
        microlearn.convert(CLF).predict(bad)


def test_predict_proba_on_regressor() -> None:
    with pytest.raises(InvalidInputError, match="use predict"):
        microlearn.convert(REG).predict_proba(X)


def test_unknown_method_and_option() -> None:
    with pytest.raises(InvalidInputError, match="unknown method 'quick'"):
        microlearn.convert(CLF, method="quick")
    with pytest.raises(InvalidInputError, match="unknown option"):
        microlearn.convert(CLF, dtype="int8")


def test_regression_leaves_beyond_float32() -> None:
    est = RandomForestRegressor(n_estimators=2, random_state=0).fit(X, X[:, 0] * 1e300)
    with pytest.raises(InvalidInputError, match=r"float32 range.*scale the target"):
        microlearn.convert(est)


def test_unknown_target() -> None:
    with pytest.raises(InvalidInputError, match="unknown target"):
        microlearn.verify(CLF, X, targets=["z80"])


def test_verify_needs_the_estimator() -> None:
    with pytest.raises(InvalidInputError, match="original fitted estimator"):
        microlearn.verify(microlearn.convert(CLF), X)


def test_nan_is_a_value_not_an_error() -> None:
    # NaN means "missing" and is routed like scikit-learn; it must not raise
    rows = X[:3].copy()
    rows[:, 2] = np.nan
    np.testing.assert_array_equal(microlearn.convert(CLF).predict(rows), CLF.predict(rows))


def test_dataframe_columns_checked_like_sklearn() -> None:
    pd = pytest.importorskip("pandas")
    cols = ["sepal length", "sepal width", "petal length", "petal width"]
    df = pd.DataFrame(X, columns=cols)
    est = RandomForestClassifier(n_estimators=5, random_state=0).fit(df, y)
    model = microlearn.convert(est)
    assert model.feature_names == tuple(cols)
    np.testing.assert_array_equal(model.predict(df), est.predict(df))
    np.testing.assert_array_equal(model.predict(X), est.predict(df))  # plain arrays carry no names
    reordered = df[cols[::-1]]
    with pytest.raises(ValueError, match="feature names"):
        est.predict(reordered)  # scikit-learn refuses it ...
    with pytest.raises(InvalidInputError, match="another order"):
        model.predict(reordered)  # ... and so does microlearn, instead of mis-predicting
    with pytest.raises(InvalidInputError, match="unseen at fit time"):
        model.predict(df.rename(columns={"petal width": "petal wdth"}))
    with pytest.raises(InvalidInputError, match="another order"):
        microlearn.verify(est, reordered)
    assert "petal width" in model.to_c("iris").split("*/")[0]  # names are in the header comment


def test_newline_in_c_name_rejected() -> None:
    with pytest.raises(InvalidInputError, match="not a valid C identifier"):
        microlearn.convert(CLF).to_c("model\n")
