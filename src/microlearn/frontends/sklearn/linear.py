"""scikit-learn linear models -> :class:`~microlearn.ir.linear.Linear`.

Every estimator here predicts from ``coef_`` and ``intercept_`` alone; the frontend records the numbers
and how scikit-learn evaluates them (dtype, product layout, probability rule), nothing else.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from microlearn.errors import InvalidInputError, NotFittedError, UnsupportedEstimatorError
from microlearn.frontends.registry import class_path, register
from microlearn.ir.base import Task
from microlearn.ir.linear import F32_MAX, Dtype, InterceptDtype, Layout, Linear, Normalize, Proba

CLASSIFIERS = (
    "sklearn.linear_model.LogisticRegression",
    "sklearn.linear_model.LogisticRegressionCV",
    "sklearn.svm.LinearSVC",
    "sklearn.linear_model.SGDClassifier",
    "sklearn.linear_model.RidgeClassifier",
    "sklearn.linear_model.RidgeClassifierCV",
    "sklearn.linear_model.Perceptron",
    "sklearn.linear_model.PassiveAggressiveClassifier",
)
REGRESSORS = (
    "sklearn.linear_model.LinearRegression",
    "sklearn.linear_model.Ridge",
    "sklearn.linear_model.RidgeCV",
    "sklearn.linear_model.Lasso",
    "sklearn.linear_model.LassoCV",
    "sklearn.linear_model.ElasticNet",
    "sklearn.linear_model.ElasticNetCV",
    "sklearn.linear_model.SGDRegressor",
    "sklearn.svm.LinearSVR",
    "sklearn.linear_model.HuberRegressor",
)
OVR = "sklearn.multiclass.OneVsRestClassifier"
SUPPORTED = (*CLASSIFIERS, *REGRESSORS, OVR)


def _check_fitted(est: Any) -> None:
    from sklearn.exceptions import NotFittedError as SkNotFitted
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(est)
    except SkNotFitted as e:
        raise NotFittedError(
            f"this {type(est).__name__} is not fitted yet: call .fit(X, y) before converting it"
        ) from e


def _dtype_of(a: Any, what: str, name: str) -> str:
    dt = np.asarray(a).dtype
    if dt not in (np.float32, np.float64):
        raise UnsupportedEstimatorError(
            f"{name}.{what} has dtype {dt}; microlearn converts float32/float64 models"
        )
    return str(dt)


def _intercept(est: Any, k: int, name: str) -> tuple[np.ndarray[Any, Any], InterceptDtype]:
    b = est.intercept_
    if isinstance(b, float) and not isinstance(b, np.floating):
        return np.full(k, float(b)), "weak"
    dt: InterceptDtype = _dtype_of(b, "intercept_", name)  # type: ignore[assignment]
    arr = np.asarray(b, dtype=np.float64).reshape(-1)
    if arr.size == 1 and k > 1:
        arr = np.full(k, arr[0])
    if arr.size != k:
        raise UnsupportedEstimatorError(f"{name}.intercept_ has {arr.size} values for {k} rows of coef_")
    return arr, dt


def _check_range(coef: np.ndarray[Any, Any], b: np.ndarray[Any, Any], name: str) -> None:
    if not (np.all(np.isfinite(coef)) and np.all(np.isfinite(b))):
        raise InvalidInputError(
            f"{name} has NaN or infinite coefficients: refit it (check the training data)"
        )
    if np.any(np.abs(coef) > F32_MAX) or np.any(np.abs(b) > F32_MAX):
        raise InvalidInputError(
            f"{name} has coefficients beyond the float32 range; scale the features or the target and refit"
        )


def _feature_names(est: Any) -> tuple[str, ...] | None:
    names = getattr(est, "feature_names_in_", None)
    return None if names is None else tuple(str(f) for f in names)


def _proba_of(est: Any, path: str) -> Proba:
    if path.endswith("LogisticRegression") or path.endswith("LogisticRegressionCV"):
        return "logistic" if len(est.classes_) <= 2 else "softmax"
    if path.endswith("SGDClassifier"):
        loss = getattr(est, "loss", "")
        if loss == "log_loss":
            return "logistic"
        if loss == "modified_huber":
            return "modified_huber"
    return "none"


@register(*CLASSIFIERS)
def convert_classifier(est: Any) -> Linear:
    path = class_path(type(est))
    name = type(est).__name__
    _check_fitted(est)
    coef = np.asarray(est.coef_)
    classes = np.asarray(est.classes_)
    if coef.ndim not in (1, 2):
        raise UnsupportedEstimatorError(
            f"{name}.coef_ has shape {coef.shape}; expected (n_classes or 1, n_features)"
        )
    layout: Layout = "vector" if coef.ndim == 1 else "matrix"  # binary RidgeClassifier: X @ coef_
    coef = coef.reshape(1, -1) if coef.ndim == 1 else coef
    if len(classes) < 2:
        raise UnsupportedEstimatorError(f"{name} was fitted on a single class; fit it on at least two")
    if getattr(getattr(est, "_label_binarizer", None), "y_type_", "").startswith("multilabel"):
        raise UnsupportedEstimatorError(
            f"{name} was fitted on multilabel targets; microlearn converts one label"
        )
    k = coef.shape[0]
    if not (k == len(classes) or (k == 1 and len(classes) == 2)):
        raise UnsupportedEstimatorError(f"{name}.coef_ has {k} rows for {len(classes)} classes")
    dtype: Dtype = _dtype_of(coef, "coef_", name)  # type: ignore[assignment]
    b, bdt = _intercept(est, k, name)
    c64 = coef.astype(np.float64)
    _check_range(c64, b, name)
    proba = _proba_of(est, path)
    normalize: Normalize = "ovr" if (k > 1 and proba in ("logistic", "modified_huber")) else "none"
    return Linear(
        task=Task.CLASSIFY,
        coef=np.ascontiguousarray(c64),
        intercept=b,
        dtype=dtype,
        intercept_dtype=bdt,
        layout=layout,
        proba=proba,
        normalize=normalize,
        classes=classes,
        source=path,
        feature_names=_feature_names(est),
    )


@register(*REGRESSORS)
def convert_regressor(est: Any) -> Linear:
    path = class_path(type(est))
    name = type(est).__name__
    _check_fitted(est)
    coef = np.asarray(est.coef_)
    if coef.ndim not in (1, 2):
        raise UnsupportedEstimatorError(f"{name}.coef_ has shape {coef.shape}")
    dtype: Dtype = _dtype_of(coef, "coef_", name)  # type: ignore[assignment]
    c2 = coef.reshape(1, -1) if coef.ndim == 1 else coef
    k = c2.shape[0]
    b, bdt = _intercept(est, k, name)
    c64 = c2.astype(np.float64)
    _check_range(c64, b, name)
    return Linear(
        task=Task.REGRESS,
        coef=np.ascontiguousarray(c64),
        intercept=b,
        dtype=dtype,
        intercept_dtype=bdt,
        layout="vector" if coef.ndim == 1 else "matrix",
        source=path,
        feature_names=_feature_names(est),
    )


@register(OVR)
def convert_ovr(est: Any) -> Linear:
    """OneVsRestClassifier over linear binary classifiers: one score per class, each from its own
    estimator (the ``ovr`` scheme LogisticRegression no longer offers itself)."""
    _check_fitted(est)
    if est.multilabel_:
        raise UnsupportedEstimatorError(
            "OneVsRestClassifier was fitted on multilabel targets; microlearn converts one label"
        )
    subs = [convert_classifier(e) if class_path(type(e)) in CLASSIFIERS else None for e in est.estimators_]
    if any(s is None for s in subs):
        bad = sorted({type(e).__name__ for e, s in zip(est.estimators_, subs, strict=True) if s is None})
        raise UnsupportedEstimatorError(
            f"OneVsRestClassifier over {', '.join(bad)}: microlearn converts it over the linear classifiers "
            f"({', '.join(p.split('.')[-1] for p in CLASSIFIERS)})"
        )
    lin = [s for s in subs if s is not None]
    if any(s.k != 1 for s in lin):
        raise UnsupportedEstimatorError("OneVsRestClassifier: every estimator must be binary")
    kinds = {(s.dtype, s.intercept_dtype, s.proba) for s in lin}
    if len(kinds) != 1:
        raise UnsupportedEstimatorError(
            "OneVsRestClassifier: the estimators differ in dtype or probability rule"
        )
    s0 = lin[0]
    return Linear(
        task=Task.CLASSIFY,
        coef=np.ascontiguousarray(np.concatenate([s.coef for s in lin], axis=0)),
        intercept=np.concatenate([s.intercept for s in lin]),
        dtype=s0.dtype,
        intercept_dtype=s0.intercept_dtype,
        layout="per_class",
        proba=s0.proba,
        normalize="ovr_nonzero" if s0.proba != "none" else "none",
        classes=np.asarray(est.classes_),
        source=OVR,
        feature_names=_feature_names(est),
    )


def convert(est: Any) -> Linear:
    """The Linear IR of any supported linear estimator (used where the registry is not there yet)."""
    path = class_path(type(est))
    if path in CLASSIFIERS:
        return convert_classifier(est)
    if path in REGRESSORS:
        return convert_regressor(est)
    if path == OVR:
        return convert_ovr(est)
    raise UnsupportedEstimatorError(
        f"{path} is not a supported linear model; supported: {', '.join(SUPPORTED)}"
    )
