"""scikit-learn nearest-neighbour classifiers -> :class:`~microlearn.ir.neighbors.Neighbors`.

``KNeighborsClassifier`` and ``KNeighborsRegressor`` (uniform or distance weights; euclidean, manhattan,
chebyshev or minkowski with any p >= 1; any algorithm) keep their stored examples; ``NearestCentroid``
(uniform priors, euclidean or manhattan) its centroids. Anything else is refused with what to change.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from microlearn.errors import InvalidInputError, NotFittedError, UnsupportedEstimatorError
from microlearn.frontends.registry import class_path, register
from microlearn.ir.neighbors import F32_MAX, MAX_P, METRICS, Metric, Neighbors

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


def _metric(est: Any, name: str) -> tuple[Metric, float]:
    metric = getattr(est, "effective_metric_", est.metric)
    params = {
        k: v for k, v in (getattr(est, "effective_metric_params_", None) or {}).items() if v is not None
    }
    p = params.get("p", getattr(est, "p", 2))
    if metric == "minkowski" and p in (1, 2, np.inf):
        metric = {1: "manhattan", 2: "euclidean"}.get(p, "chebyshev")
    if metric == "minkowski" and not (isinstance(p, (int, float)) and 1 <= p <= MAX_P):
        raise UnsupportedEstimatorError(
            f"{name} uses minkowski with p={p}; microlearn converts p >= 1 (a metric) up to {MAX_P:g}: "
            "refit with one"
        )
    if metric == "minkowski" and (
        set(params) - {"p"} or set(getattr(est, "metric_params", None) or {}) - {"p"}
    ):
        raise UnsupportedEstimatorError(
            f"{name}: weighted minkowski (metric_params 'w') is not converted: refit without metric_params"
        )
    if metric == "minkowski":
        return "minkowski", float(p)
    if metric in ("l2",):
        metric = "euclidean"
    if metric in ("l1", "cityblock"):
        metric = "manhattan"
    if metric == "infinity":
        metric = "chebyshev"
    if metric not in METRICS or set(getattr(est, "metric_params", None) or {}) - {"p"}:
        raise UnsupportedEstimatorError(
            f"{name} uses metric {metric!r} (p={p}); microlearn converts 'euclidean', 'manhattan', "
            "'chebyshev' and 'minkowski' (any p >= 1, no metric_params): refit with one of them"
        )
    m: Metric = (
        "manhattan" if metric == "manhattan" else "chebyshev" if metric == "chebyshev" else "euclidean"
    )
    return m, 2.0


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
    metric, p = _metric(est, name)
    return Neighbors(
        examples=e,
        labels=labels,
        n_classes=len(classes),
        k=int(est.n_neighbors),
        metric=metric,
        p=p,
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
    if est.weights not in ("uniform", "distance"):
        raise UnsupportedEstimatorError(
            f"{name}(weights={est.weights!r}): microlearn converts weights='uniform' or 'distance'"
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
    metric, p = _metric(est, name)
    return Neighbors(
        examples=e,
        labels=np.zeros(e.shape[0], dtype=np.int64),
        n_classes=1,
        k=int(est.n_neighbors),
        metric=metric,
        p=p,
        weights=est.weights,
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
    metric, _ = _metric(est, name)
    if metric not in ("euclidean", "manhattan"):
        raise UnsupportedEstimatorError(f"{name} uses metric {metric!r}; refit with euclidean or manhattan")
    classes = np.asarray(est.classes_)
    if len(classes) < 2:
        raise UnsupportedEstimatorError(f"{name} was fitted on a single class; fit it on at least two")
    return Neighbors(
        examples=e,
        labels=np.arange(len(classes), dtype=np.int64),
        n_classes=len(classes),
        k=1,
        metric=metric,
        kind="centroid",
        float32=f32,
        classes=classes,
        source=class_path(type(est)),
        feature_names=_names(est),
    )
