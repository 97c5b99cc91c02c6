"""scikit-learn preprocessing stages -> transform stage IRs (ir/transform.py).

Each converter reads the fitted attributes and records the operations ``transform`` performs, with the
dtype each constant has when scikit-learn applies it (see ir/transform.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from microlearn.errors import NotFittedError, UnsupportedEstimatorError
from microlearn.frontends.registry import register
from microlearn.ir.transform import ConstDtype, Elementwise, Impute, Normalize, Op, Project


def _fitted(est: Any, attr: str) -> None:
    if not hasattr(est, attr):
        raise NotFittedError(f"{type(est).__name__} is not fitted: call fit(X) before converting it")


def _names(est: Any) -> tuple[str, ...] | None:
    names = getattr(est, "feature_names_in_", None)
    return None if names is None else tuple(str(n) for n in names)


def _param_dtype(a: npt.NDArray[Any]) -> ConstDtype:
    return "f32" if a.dtype == np.float32 else "f64"


def _arr(a: Any, n: int) -> npt.NDArray[np.float64]:
    out = np.broadcast_to(np.asarray(a, dtype=np.float64), (n,)).copy()
    if not np.all(np.isfinite(out)):
        raise UnsupportedEstimatorError(
            "the fitted scaler holds NaN or infinite constants (a feature with no observed value, or data "
            "beyond the float range at fit): refit on finite data"
        )
    return out


def _elementwise(est: Any, source: str, ops: list[Op]) -> Elementwise:
    return Elementwise(int(est.n_features_in_), tuple(ops), source, _names(est))


@register("sklearn.preprocessing.StandardScaler")
def standard_scaler(est: Any) -> Elementwise:
    """``X -= mean_.astype(X.dtype); X /= scale_.astype(X.dtype)``: float32 operations on float32 rows."""
    _fitted(est, "n_samples_seen_")
    n = int(est.n_features_in_)
    ops = []
    if est.with_mean:
        ops.append(Op("sub", _arr(est.mean_, n), "x"))
    if est.with_std:
        ops.append(Op("div", _arr(est.scale_, n), "x"))
    return _elementwise(est, "sklearn.preprocessing.StandardScaler", ops)


@register("sklearn.preprocessing.MinMaxScaler")
def min_max_scaler(est: Any) -> Elementwise:
    """``X *= scale_; X += min_`` with the fitted dtype (float64 after a float64 fit), then optionally
    ``clip(X, *feature_range)`` with the range cast to the data's dtype."""
    _fitted(est, "scale_")
    n = int(est.n_features_in_)
    ops = [
        Op("mul", _arr(est.scale_, n), _param_dtype(np.asarray(est.scale_))),
        Op("add", _arr(est.min_, n), _param_dtype(np.asarray(est.min_))),
    ]
    if est.clip:
        lo, hi = est.feature_range
        ops.append(Op("clip", _arr(lo, n), "x", hi=_arr(hi, n)))
    return _elementwise(est, "sklearn.preprocessing.MinMaxScaler", ops)


@register("sklearn.preprocessing.MaxAbsScaler")
def max_abs_scaler(est: Any) -> Elementwise:
    """``X /= scale_`` (fitted dtype; zero maxima were replaced by 1), then optionally ``clip(X, -1, 1)``."""
    _fitted(est, "scale_")
    n = int(est.n_features_in_)
    ops = [Op("div", _arr(est.scale_, n), _param_dtype(np.asarray(est.scale_)))]
    if getattr(est, "clip", False):
        ops.append(Op("clip", _arr(-1.0, n), "x", hi=_arr(1.0, n)))
    return _elementwise(est, "sklearn.preprocessing.MaxAbsScaler", ops)


@register("sklearn.preprocessing.RobustScaler")
def robust_scaler(est: Any) -> Elementwise:
    """``X -= center_; X /= scale_`` with the fitted dtype."""
    _fitted(est, "n_features_in_")
    n = int(est.n_features_in_)
    ops = []
    if est.with_centering:
        ops.append(Op("sub", _arr(est.center_, n), _param_dtype(np.asarray(est.center_))))
    if est.with_scaling:
        ops.append(Op("div", _arr(est.scale_, n), _param_dtype(np.asarray(est.scale_))))
    return _elementwise(est, "sklearn.preprocessing.RobustScaler", ops)


@register("sklearn.preprocessing.Normalizer")
def normalizer(est: Any) -> Normalize:
    _fitted(est, "n_features_in_")
    return Normalize(int(est.n_features_in_), est.norm, feature_names=_names(est))


@register("sklearn.decomposition.PCA")
def pca(est: Any) -> Project:
    _fitted(est, "components_")
    comp = np.asarray(est.components_)
    if comp.dtype != np.float64:
        raise UnsupportedEstimatorError("PCA fitted on float32 data is not supported: fit it on float64 data")
    mean = np.asarray(est.mean_, dtype=np.float64)
    offset = np.asarray(np.reshape(est.mean_, (1, -1)) @ est.components_.T, dtype=np.float64).reshape(-1)
    scale = None
    if est.whiten:
        scale = np.sqrt(np.asarray(est.explained_variance_, dtype=np.float64))
        scale[scale < np.finfo(scale.dtype).eps] = np.finfo(scale.dtype).eps
    return Project(mean, comp.copy(), offset, scale, feature_names=_names(est))


@register("sklearn.impute.SimpleImputer")
def simple_imputer(est: Any) -> Impute:
    """NaN -> the fitted statistic (mean, median, most_frequent or constant), rounded to the data's dtype
    as scikit-learn's assignment does; features without any observed value at fit are dropped unless
    ``keep_empty_features``."""
    _fitted(est, "statistics_")
    mv = est.missing_values
    if not (isinstance(mv, float) and np.isnan(mv)):
        raise UnsupportedEstimatorError(
            f"SimpleImputer(missing_values={mv!r}) is not supported: microlearn imputes NaN "
            "(missing_values=np.nan, the default). Replace your marker by NaN before the pipeline."
        )
    if est.add_indicator:
        raise UnsupportedEstimatorError(
            "SimpleImputer(add_indicator=True) is not supported: use add_indicator=False (the default)"
        )
    try:  # strategy="constant" keeps an object array of numbers
        stats = np.asarray(est.statistics_, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise UnsupportedEstimatorError(
            "SimpleImputer fitted on non-numeric data (strings) is not supported: encode the data as numbers"
        ) from e
    fill_dtype = np.dtype(getattr(est, "_fill_dtype", np.float64))
    n = int(est.n_features_in_)
    if est.keep_empty_features:
        keep = np.arange(n, dtype=np.int32)
    else:
        keep = np.flatnonzero(~np.isnan(stats)).astype(np.int32)
    fill = stats[keep].astype(fill_dtype).astype(np.float64)
    if not np.all(np.isfinite(fill)):
        raise UnsupportedEstimatorError("SimpleImputer fill values must be finite numbers")
    return Impute(n, keep, fill, feature_names=_names(est), strategy=str(est.strategy))
