"""scikit-learn OneClassSVM -> :class:`~microlearn.ir.kernel.KernelExpansion`."""

from __future__ import annotations

from typing import Any

import numpy as np

from microlearn.errors import InvalidInputError, NotFittedError, UnsupportedEstimatorError
from microlearn.frontends.registry import class_path, register
from microlearn.ir.kernel import KERNELS, KernelExpansion


@register("sklearn.svm.OneClassSVM")
def convert_one_class_svm(est: Any) -> KernelExpansion:
    from sklearn.exceptions import NotFittedError as SkNotFitted
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(est)
    except SkNotFitted as e:
        raise NotFittedError("this OneClassSVM is not fitted yet: call .fit(X) before converting it") from e
    kernel = est.kernel
    if not isinstance(kernel, str) or kernel not in KERNELS:
        raise UnsupportedEstimatorError(
            f"OneClassSVM kernel {kernel!r} is not supported; use one of {KERNELS} (not a callable or "
            "'precomputed')"
        )
    if getattr(est, "_sparse", False):
        raise UnsupportedEstimatorError("OneClassSVM was fitted on sparse data; fit it on a dense array")
    sv = np.ascontiguousarray(est.support_vectors_, dtype=np.float64)
    coef = np.ascontiguousarray(est.dual_coef_, dtype=np.float64).reshape(-1)
    rho = float(-np.asarray(est._intercept_, dtype=np.float64)[0])
    names = getattr(est, "feature_names_in_", None)
    try:
        return KernelExpansion(
            support=sv,
            coef=coef,
            rho=rho,
            kernel=kernel,
            gamma=float(est._gamma),
            coef0=float(est.coef0),
            degree=int(est.degree),
            source=class_path(type(est)),
            feature_names=None if names is None else tuple(str(f) for f in names),
        )
    except ValueError as e:
        raise InvalidInputError(f"OneClassSVM cannot be converted: {e}") from e
