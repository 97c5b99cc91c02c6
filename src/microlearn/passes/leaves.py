"""Leaf de-duplication: identical leaf rows stored once, by every backend alike."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt


def unique_rows(keys: npt.NDArray[Any]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Distinct rows of a 2-D array, in order of first appearance.

    Returns (index of the first occurrence of each distinct row, the distinct row of every input row).
    Backends store identical leaf rows once with it; compare bits (view floats as unsigned ints) so that
    sharing rows changes no output."""
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return first[order].astype(np.int64), rank[inverse.reshape(-1)].astype(np.int64)


def float_rows(values: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """:func:`unique_rows` of float64 rows compared bit for bit."""
    return unique_rows(np.ascontiguousarray(values, dtype=np.float64).view(np.uint64))


def float32_values(values: npt.ArrayLike) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """:func:`unique_rows` of single float32 values compared bit for bit."""
    v32 = np.ascontiguousarray(values, dtype=np.float32)
    return unique_rows(v32.view(np.uint32).reshape(-1, 1))
