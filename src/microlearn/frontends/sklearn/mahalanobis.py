"""scikit-learn EllipticEnvelope / MinCovDet -> :class:`~microlearn.ir.mahalanobis.Mahalanobis`."""

from __future__ import annotations

from typing import Any

import numpy as np

from microlearn.errors import InvalidInputError, NotFittedError
from microlearn.frontends.registry import class_path, register
from microlearn.ir.mahalanobis import Kind, Mahalanobis


@register("sklearn.covariance.EllipticEnvelope", "sklearn.covariance.MinCovDet")
def convert_mahalanobis(est: Any) -> Mahalanobis:
    from scipy.stats import chi2
    from sklearn.exceptions import NotFittedError as SkNotFitted
    from sklearn.utils.validation import check_is_fitted

    name = type(est).__name__
    try:
        check_is_fitted(est)
    except SkNotFitted as e:
        raise NotFittedError(f"this {name} is not fitted yet: call .fit(X) before converting it") from e
    loc = np.ascontiguousarray(est.location_, dtype=np.float64)
    prec = np.ascontiguousarray(est.get_precision(), dtype=np.float64)
    kind: Kind = "elliptic" if hasattr(est, "offset_") else "mcd"
    offset = float(est.offset_) if kind == "elliptic" else -float(chi2(loc.shape[0]).isf(0.025))
    if not (np.all(np.isfinite(loc)) and np.all(np.isfinite(prec))):
        raise InvalidInputError(f"{name} has a NaN or infinite location or precision: refit it")
    names = getattr(est, "feature_names_in_", None)
    try:
        return Mahalanobis(
            location=loc,
            precision=prec,
            offset=offset,
            kind=kind,
            source=class_path(type(est)),
            feature_names=None if names is None else tuple(str(f) for f in names),
        )
    except ValueError as e:
        raise InvalidInputError(f"{name} cannot be converted: {e}; scale the features and refit") from e
