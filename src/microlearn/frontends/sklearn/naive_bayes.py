"""scikit-learn GaussianNB -> :class:`~microlearn.ir.naive_bayes.GaussianNB`."""

from __future__ import annotations

from typing import Any

import numpy as np

from microlearn.errors import InvalidInputError, NotFittedError, UnsupportedEstimatorError
from microlearn.frontends.registry import class_path, register
from microlearn.ir.naive_bayes import F32_MAX, Dtype, GaussianNB

PATH = "sklearn.naive_bayes.GaussianNB"


@register(PATH)
def convert_gaussian_nb(est: Any) -> GaussianNB:
    from sklearn.exceptions import NotFittedError as SkNotFitted
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(est)
    except SkNotFitted as e:
        raise NotFittedError("this GaussianNB is not fitted yet: call .fit(X, y) before converting it") from e
    theta, var, prior = np.asarray(est.theta_), np.asarray(est.var_), np.asarray(est.class_prior_)
    classes = np.asarray(est.classes_)
    if len(classes) < 2:
        raise UnsupportedEstimatorError("GaussianNB was fitted on a single class; fit it on at least two")
    dts = {str(a.dtype) for a in (theta, var, prior)}
    if not dts <= {"float32", "float64"}:
        raise UnsupportedEstimatorError(f"GaussianNB arrays have dtype {sorted(dts)}; expected float32/64")
    dtype: Dtype = "float32" if str(theta.dtype) == "float32" else "float64"
    t64, v64, p64 = (np.ascontiguousarray(a, dtype=np.float64) for a in (theta, var, prior))
    if dtype == "float32" and len(dts) > 1:
        raise UnsupportedEstimatorError("GaussianNB arrays mix float32 and float64; refit it")
    if not (np.all(np.isfinite(t64)) and np.all(np.isfinite(v64)) and np.all(np.isfinite(p64))):
        raise InvalidInputError("GaussianNB has NaN or infinite means or variances: refit it")
    if np.any(v64 <= 0):
        raise InvalidInputError(
            "GaussianNB has a zero variance (a constant feature with var_smoothing=0): "
            "refit it with var_smoothing > 0"
        )
    if np.any(np.abs(t64) > F32_MAX) or np.any(v64 > F32_MAX):
        raise InvalidInputError("GaussianNB means or variances exceed the float32 range: scale the features")
    names = getattr(est, "feature_names_in_", None)
    try:
        return GaussianNB(
            theta=t64,
            var=v64,
            prior=p64,
            dtype=dtype,
            classes=classes,
            source=class_path(type(est)),
            feature_names=None if names is None else tuple(str(f) for f in names),
        )
    except ValueError as e:
        raise InvalidInputError(f"GaussianNB cannot be converted: {e}") from e
