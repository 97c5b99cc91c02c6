"""scikit-learn nearest-neighbour classifiers -> :class:`~microlearn.ir.neighbors.Neighbors`.

``KNeighborsClassifier`` (uniform or distance weights) and ``KNeighborsRegressor`` (uniform weights),
euclidean, manhattan or chebyshev, any algorithm, keep their stored examples; ``NearestCentroid``
(uniform priors, euclidean or manhattan) its centroids. Anything else is refused with what to change.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from microlearn.errors import InvalidInputError, NotFittedError, UnsupportedEstimatorError
from microlearn.frontends.registry import class_path, register
from microlearn.ir.neighbors import F32_MAX, METRICS, Metric, Neighbors

KNN = "sklearn.neighbors.KNeighborsClassifier"
KNN_REGRESSOR = "sklearn.neighbors.KNeighborsRegressor"
CENTROID = "sklearn.neighbors.NearestCentroid"


def _check_fitted(est: Any) -> None:
    from sklearn.exceptions import NotFittedError as SkNotFitted
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(est)
    except SkNotFitted as e:
        raise NotFittedError(
            f"this {type(est).__name__} is not fitted yet: call .fit(X, y) before converting it"
        ) from e


def _metric(est: Any, name: str) -> Metric:
    metric = getattr(est, "effective_metric_", est.metric)
    p = getattr(est, "p", 2)
    if metric == "minkowski" and p in (1, 2, np.inf):
        metric = {1: "manhattan", 2: "euclidean"}.get(p, "chebyshev")
    if metric in ("l2",):
        metric = "euclidean"
    if metric in ("l1", "cityblock"):
        metric = "manhattan"
    if metric == "infinity":
        metric = "chebyshev"
    if metric not in METRICS or getattr(est, "metric_params", None):
        raise UnsupportedEstimatorError(
            f"{name} uses metric {metric!r} (p={p}); microlearn converts 'euclidean', 'manhattan' and "
            "'chebyshev' (minkowski with p=2, 1 or inf): refit with one of them"
        )
    return "manhattan" if metric == "manhattan" else "chebyshev" if metric == "chebyshev" else "euclidean"


def _examples(a: Any, name: str) -> tuple[np.ndarray[Any, Any], bool]:
    arr = np.asarray(a)
    if arr.dtype not in (np.float32, np.float64) or arr.ndim != 2:
        raise UnsupportedEstimatorError(
            f"{name} holds {arr.dtype} examples; microlearn converts dense floats"
        )
    e = arr.astype(np.float64)
    if not np.all(np.isfinite(e)) or np.any(np.abs(e) > F32_MAX):
        raise InvalidInputError(f"{name} holds NaN, infinite or beyond-float32 values: clean the data, refit")
    return e, arr.dtype == np.float32


def _names(est: Any) -> tuple[str, ...] | None:
    names = getattr(est, "feature_names_in_", None)
    return None if names is None else tuple(str(f) for f in names)


@register(KNN)
def convert_knn(est: Any) -> Neighbors:
    name = type(est).__name__
    _check_fitted(est)
    if est.weights not in ("uniform", "distance"):
        raise UnsupportedEstimatorError(
            f"{name}(weights={est.weights!r}): microlearn converts weights='uniform' or 'distance'"
        )
    if getattr(est, "outputs_2d_", False):
        raise UnsupportedEstimatorError(f"{name} was fitted on several outputs; fit it on one label column")
    if est._fit_method not in ("brute", "kd_tree", "ball_tree"):
        raise UnsupportedEstimatorError(
            f"{name} uses algorithm {est._fit_method!r}; use brute, kd_tree or ball_tree"
        )
    if hasattr(est._fit_X, "toarray"):
        raise UnsupportedEstimatorError(f"{name} was fitted on sparse data; fit it on a dense array")
    e, f32 = _examples(est._fit_X, name)
    classes = np.asarray(est.classes_)
    if len(classes) < 2:
        raise UnsupportedEstimatorError(f"{name} was fitted on a single class; fit it on at least two")
    labels = np.asarray(est._y, dtype=np.int64).reshape(-1)
    if est.n_neighbors > e.shape[0]:
        raise UnsupportedEstimatorError(f"{name}.n_neighbors exceeds its {e.shape[0]} stored examples")
    return Neighbors(
        examples=e,
        labels=labels,
        n_classes=len(classes),
        k=int(est.n_neighbors),
        metric=_metric(est, name),
        kind="knn",
        algorithm=est._fit_method,
        leaf_size=int(est.leaf_size),
        float32=f32,
        weights=est.weights,
        classes=classes,
        source=class_path(type(est)),
        feature_names=_names(est),
    )


@register(KNN_REGRESSOR)
def convert_knn_regressor(est: Any) -> Neighbors:
    name = type(est).__name__
    _check_fitted(est)
    if est.weights != "uniform":
        raise UnsupportedEstimatorError(
            f"{name}(weights={est.weights!r}): microlearn converts weights='uniform'"
        )
    y = np.asarray(est._y)
    if y.ndim != 1:
        raise UnsupportedEstimatorError(f"{name} was fitted on several targets; fit it on one column")
    if est._fit_method not in ("brute", "kd_tree", "ball_tree") or hasattr(est._fit_X, "toarray"):
        raise UnsupportedEstimatorError(f"{name}: fit it on a dense array with brute, kd_tree or ball_tree")
    e, f32 = _examples(est._fit_X, name)
    v = y.astype(np.float64)
    if not np.all(np.isfinite(v)) or np.any(np.abs(v) > F32_MAX):
        raise InvalidInputError(f"{name} holds NaN, infinite or beyond-float32 targets: clean them and refit")
    if est.n_neighbors > e.shape[0]:
        raise UnsupportedEstimatorError(f"{name}.n_neighbors exceeds its {e.shape[0]} stored examples")
    return Neighbors(
        examples=e,
        labels=np.zeros(e.shape[0], dtype=np.int64),
        n_classes=1,
        k=int(est.n_neighbors),
        metric=_metric(est, name),
        kind="knn",
        algorithm=est._fit_method,
        leaf_size=int(est.leaf_size),
        float32=f32,
        values=v,
        source=class_path(type(est)),
        feature_names=_names(est),
    )


@register(CENTROID)
def convert_centroid(est: Any) -> Neighbors:
    name = type(est).__name__
    _check_fitted(est)
    if not np.isclose(est.class_prior_, 1 / len(est.classes_)).all():
        raise UnsupportedEstimatorError(
            f"{name} has non-uniform class priors; microlearn converts priors='uniform' (the default)"
        )
    e, f32 = _examples(est.centroids_, name)
    classes = np.asarray(est.classes_)
    if len(classes) < 2:
        raise UnsupportedEstimatorError(f"{name} was fitted on a single class; fit it on at least two")
    return Neighbors(
        examples=e,
        labels=np.arange(len(classes), dtype=np.int64),
        n_classes=len(classes),
        k=1,
        metric=_metric(est, name),
        kind="centroid",
        float32=f32,
        classes=classes,
        source=class_path(type(est)),
        feature_names=_names(est),
    )
