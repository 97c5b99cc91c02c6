"""scikit-learn LocalOutlierFactor(novelty=True) -> :class:`~microlearn.ir.lof.LocalOutlierFactor`."""

from __future__ import annotations

from typing import Any

import numpy as np

from microlearn.errors import InvalidInputError, NotFittedError, UnsupportedEstimatorError
from microlearn.frontends.registry import class_path, register
from microlearn.ir.lof import LocalOutlierFactor


@register("sklearn.neighbors.LocalOutlierFactor")
def convert_lof(est: Any) -> LocalOutlierFactor:
    from sklearn.exceptions import NotFittedError as SkNotFitted
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(est)
    except SkNotFitted as e:
        raise NotFittedError(
            "this LocalOutlierFactor is not fitted yet: call .fit(X) before converting it"
        ) from e
    if not est.novelty:
        raise UnsupportedEstimatorError(
            "LocalOutlierFactor scores new rows only with novelty=True: refit it with novelty=True"
        )
    metric, p = est.effective_metric_, est.effective_metric_params_
    if metric != "euclidean" and not (metric == "minkowski" and float(est.p) == 2.0):
        raise UnsupportedEstimatorError(
            f"LocalOutlierFactor metric {metric!r} {p or ''} is not supported; use the euclidean "
            "(minkowski, p=2) metric"
        )
    fit_x = np.asarray(est._fit_X)
    if not isinstance(fit_x, np.ndarray) or fit_x.ndim != 2:
        raise UnsupportedEstimatorError(
            "LocalOutlierFactor was fitted on sparse data; fit it on a dense array"
        )
    k = int(est.n_neighbors_)
    names = getattr(est, "feature_names_in_", None)
    try:
        return LocalOutlierFactor(
            fit_x=np.ascontiguousarray(fit_x, dtype=np.float64),
            lrd=np.ascontiguousarray(est._lrd, dtype=np.float64),
            kdist=np.ascontiguousarray(est._distances_fit_X_[:, k - 1], dtype=np.float64),
            k=k,
            offset=float(est.offset_),
            source=class_path(type(est)),
            feature_names=None if names is None else tuple(str(f) for f in names),
        )
    except ValueError as e:
        raise InvalidInputError(f"LocalOutlierFactor cannot be converted: {e}") from e
