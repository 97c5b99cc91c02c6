"""Leaf probabilities as the integer class counts they were computed from.

scikit-learn (>= 1.4) stores a classifier leaf's value as ``sum_total[c] / weighted_n_node_samples`` in
float64: one correctly rounded division of two sums of sample weights. Without sample or class weights
those weights are integers (1 per sample, or the bootstrap multiplicity of a random forest), so every
leaf row is ``fl(n_c / N)`` for integers ``n_c`` with ``N = sum(n_c)``.

:func:`leaf_counts` recovers such integers from the float64 row alone and *checks* them: a row is only
returned when ``fl(n_c / N)`` (numpy's float64 division, correctly rounded as IEEE 754 requires) gives
back every value bit for bit. Any integers that pass reproduce scikit-learn's values exactly, whatever
counts scikit-learn itself started from; a row that fails (weighted data) gets ``None`` and a backend
keeps its float64 values.
"""

from __future__ import annotations

from fractions import Fraction
from math import lcm

import numpy as np
import numpy.typing as npt

MAX_TOTAL = 1 << 20  # counts and totals stay far below 2**31: the C long division works in uint32


def row_counts(row: npt.NDArray[np.float64], max_total: int = MAX_TOTAL) -> npt.NDArray[np.int64] | None:
    """Integers n with sum(n) = N <= max_total and n / N == row in float64 bit for bit, or None.

    Each value v = fl(p/q) lies within 2**-53 * v of p/q, far closer than 1 / (2 q**2) for q <= 2**20,
    so p/q is a continued-fraction convergent of v and ``limit_denominator`` finds it; N is the least
    common multiple of the reduced denominators."""
    vals = np.asarray(row, dtype=np.float64)
    if vals.ndim != 1 or not np.all(np.isfinite(vals)) or np.any(vals < 0) or not np.any(vals > 0):
        return None
    total = 1
    for v in vals[vals > 0]:
        total = lcm(total, Fraction(float(v)).limit_denominator(max_total).denominator)
        if total > max_total:
            return None
    n = np.rint(vals * total).astype(np.int64)
    if int(n.sum()) != total:
        return None
    if not np.array_equal(n.astype(np.float64) / float(total), vals):
        return None
    return n


def leaf_counts(values: npt.NDArray[np.float64]) -> list[npt.NDArray[np.int64] | None]:
    """row_counts of every row of a (n_rows, n_classes) array."""
    return [row_counts(r) for r in np.asarray(values, dtype=np.float64)]
