"""scikit-learn GaussianMixture / BayesianGaussianMixture -> :class:`~microlearn.ir.mixture.GaussianMixture`
(every covariance type)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from microlearn.errors import InvalidInputError, NotFittedError, UnsupportedEstimatorError
from microlearn.frontends.registry import class_path, register
from microlearn.ir.mixture import COV_TYPES, LOG_2PI, GaussianMixture


def log_det_chol(chol: npt.NDArray[np.float64], cov: str, n: int, k: int) -> npt.NDArray[np.float64]:
    """scikit-learn's _compute_log_det_cholesky, per component."""
    if cov == "full":
        out = np.sum(np.log(chol.reshape(k, -1)[:, :: n + 1]), axis=1)
    elif cov == "tied":
        out = np.full(k, np.sum(np.log(np.diag(chol))))
    elif cov == "diag":
        out = np.sum(np.log(chol), axis=1)
    else:
        out = n * np.log(chol)
    return np.asarray(out, dtype=np.float64)


@register("sklearn.mixture.GaussianMixture", "sklearn.mixture.BayesianGaussianMixture")
def convert_mixture(est: Any) -> GaussianMixture:
    from scipy.special import digamma
    from sklearn.exceptions import NotFittedError as SkNotFitted
    from sklearn.utils.validation import check_is_fitted

    name = type(est).__name__
    try:
        check_is_fitted(est)
    except SkNotFitted as e:
        raise NotFittedError(f"this {name} is not fitted yet: call .fit(X) before converting it") from e
    cov = str(est.covariance_type)
    if cov not in COV_TYPES:
        raise UnsupportedEstimatorError(f"{name} covariance_type {cov!r} is not one of {COV_TYPES}")
    means = np.ascontiguousarray(est.means_, dtype=np.float64)
    chol = np.ascontiguousarray(est.precisions_cholesky_, dtype=np.float64)
    k, n = means.shape
    if not (np.all(np.isfinite(means)) and np.all(np.isfinite(chol))):
        raise InvalidInputError(f"{name} has NaN or infinite means or precisions: refit it")
    if cov in ("diag", "spherical") and np.any(chol <= 0):
        raise InvalidInputError(f"{name} has a non-positive precision: refit it")
    log_w = np.asarray(est._estimate_log_weights(), dtype=np.float64)
    const = (-0.5 * (n * LOG_2PI) + log_det_chol(chol, cov, n, k)) + log_w
    bayesian = hasattr(est, "degrees_of_freedom_")
    if bayesian:
        dof = np.asarray(est.degrees_of_freedom_, dtype=np.float64)
        mp = np.asarray(est.mean_precision_, dtype=np.float64)
        log_lambda = n * np.log(2.0) + np.sum(digamma(0.5 * (dof - np.arange(0, n)[:, np.newaxis])), 0)
        const = (
            (-0.5 * (n * LOG_2PI) + log_det_chol(chol, cov, n, k))
            - 0.5 * n * np.log(dof)
            + 0.5 * (log_lambda - n / mp)
            + log_w
        )
    names = getattr(est, "feature_names_in_", None)
    try:
        return GaussianMixture(
            means=means,
            prec_chol=chol,
            const=np.ascontiguousarray(const, dtype=np.float64),
            covariance_type=cov,  # type: ignore[arg-type,unused-ignore]
            bayesian=bayesian,
            source=class_path(type(est)),
            feature_names=None if names is None else tuple(str(f) for f in names),
        )
    except ValueError as e:
        raise InvalidInputError(f"{name} cannot be converted: {e}") from e
