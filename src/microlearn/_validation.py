"""Checks on input rows shared by every predict path."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from microlearn.errors import InvalidInputError

F32_MAX = float(np.finfo(np.float32).max)


def as_float32_rows(X: Any, n_features: int) -> npt.NDArray[np.float32]:
    """X as a C-contiguous float32 (n_rows, n_features) array, or a clear error.

    NaN is allowed (a missing value) and so are +-inf; finite values beyond the float32 range are not,
    because casting them would silently turn them into infinities."""
    try:
        A = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise InvalidInputError(f"X must be numeric (an array of numbers): {e}") from e
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
