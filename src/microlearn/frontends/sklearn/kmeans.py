"""scikit-learn k-means -> :class:`~microlearn.ir.kmeans.KMeans`: the cluster centres, and a
``MiniBatchKMeans``'s per-centre weight sums (``_counts``) for the on-device online update."""

from __future__ import annotations

from typing import Any

import numpy as np

from microlearn.errors import InvalidInputError, NotFittedError
from microlearn.frontends.registry import class_path, register
from microlearn.ir.kmeans import F32_MAX, MAX_COUNT, KMeans


@register("sklearn.cluster.KMeans", "sklearn.cluster.MiniBatchKMeans")
def convert(est: Any) -> KMeans:
    name = type(est).__name__
    if not hasattr(est, "cluster_centers_"):
        raise NotFittedError(
            f"this {name} is not fitted yet: call .fit(X) (or partial_fit) before converting it"
        )
    arr = np.asarray(est.cluster_centers_)
    c = arr.astype(np.float64)
    if not np.all(np.isfinite(c)) or np.any(np.abs(c) > F32_MAX):
        raise InvalidInputError(
            f"{name} has NaN, infinite or beyond-float32 centres: clean the data and refit"
        )
    counts = getattr(est, "_counts", None)
    w = None
    if counts is not None:
        w = np.asarray(counts, dtype=np.float64)
        if not np.all((w >= 0) & (w <= MAX_COUNT)):
            raise InvalidInputError(f"{name} holds weight sums outside [0, {MAX_COUNT:g}]: refit it")
    names = getattr(est, "feature_names_in_", None)
    return KMeans(
        centers=c,
        counts=w,
        float32=arr.dtype == np.float32,
        source=class_path(type(est)),
        feature_names=None if names is None else tuple(str(f) for f in names),
    )
