"""The one input validator of every predict and verify path (like scikit-learn's ``check_array`` with
``_check_feature_names``): feature names, shape, numeric values within float32 range."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from microlearn.errors import InvalidInputError

F32_MAX = float(np.finfo(np.float32).max)


def column_names(X: Any) -> list[str] | None:
    """The column names of a DataFrame-like X (an object with ``columns``), else None."""
    cols = getattr(X, "columns", None)
    if cols is None or isinstance(X, np.ndarray):
        return None
    return [str(c) for c in cols]


def check_feature_names(expected: Sequence[str] | None, X: Any) -> None:
    """Refuse a DataFrame whose columns differ from (or are in another order than) the names the model
    was fitted with, as scikit-learn does. Plain arrays, and models fitted without names, pass."""
    got = column_names(X)
    if got is None or expected is None:
        return
    want = list(expected)
    if got == want:
        return
    missing = [n for n in want if n not in got]
    unseen = [n for n in got if n not in want]
    if not missing and not unseen:
        raise InvalidInputError(
            "The feature names should match those that were passed during fit: the columns are in another "
            f"order. Reorder them first, e.g. X[{want[:4]!r}{'...' if len(want) > 4 else ''}]."
        )
    parts = []
    if unseen:
        parts.append(f"unseen at fit time: {unseen[:8]}")
    if missing:
        parts.append(f"seen at fit time, missing now: {missing[:8]}")
    raise InvalidInputError(
        "The feature names should match those that were passed during fit; " + "; ".join(parts)
    )


def as_float32_rows(
    X: Any, n_features: int, feature_names: Sequence[str] | None = None
) -> npt.NDArray[np.float32]:
    """X as a C-contiguous float32 (n_rows, n_features) array, or a clear error.

    A DataFrame's columns must be ``feature_names`` in order (when the model has names). A 3-D batch whose
    rows hold n_features values (e.g. windows as (n, samples, axes)) is flattened row by row. NaN is
    allowed (a missing value) and so are +-inf; finite values beyond the float32 range are not, because
    casting them would silently turn them into infinities."""
    check_feature_names(feature_names, X)
    try:
        A = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise InvalidInputError(f"X must be numeric (an array of numbers): {e}") from e
    if A.ndim >= 3 and int(np.prod(A.shape[1:])) == n_features:  # windows, images (NHWC): one row each
        A = A.reshape(A.shape[0], n_features)
    if A.ndim == 1:
        raise InvalidInputError(
            f"X must be 2-D (n_rows, {n_features}); got a 1-D array. Use X.reshape(1, -1) for a single row."
        )
    if A.ndim != 2:
        raise InvalidInputError(f"X must be 2-D (n_rows, {n_features}); got shape {A.shape}")
    if A.shape[1] != n_features:
        raise InvalidInputError(f"X has {A.shape[1]} features per row, but the model expects {n_features}")
    finite = np.isfinite(A)
    if np.any(np.abs(A[finite]) > F32_MAX):
        raise InvalidInputError(
            f"X has values beyond the float32 range (|x| > {F32_MAX:.4g}); the model computes in float32. "
            "Scale or clip these features."
        )
    return np.ascontiguousarray(A, dtype=np.float32)
