"""The one fixed-point vote scheme of tree-ensemble classifiers, used by the C methods and by mlrt.

A classifier of T trees predicts the argmax of the float64 sum of each tree's leaf probabilities.
The fast path rounds every leaf probability p to q = round(p * 2**S) and adds the integers instead:

* **Scale.** ``S = scale_bits(T) = min(21, 30 - bitlen(T))``. Then every vote q <= 2**S <= 2**21 and
  ``q << 8 | class`` (mlrt packs a vote and its class in one int) stays below 2**30, and every class
  sum is at most T * 2**S < 2**30: all of them are MicroPython small ints on 32-bit ports, and fit a
  uint32 in C with room to spare. (The C methods used S = min(24, 31 - bitlen(T)) and mlrt 2**16
  before; this one S serves both.)
* **Margin rule.** Rounding errs by at most half a unit (2**-S) per tree and class, so two class sums
  differ from their exact difference by at most T units. A lead of more than ``margin(T) = T + 1``
  units is therefore a lead of more than one unit in exact arithmetic; scikit-learn's float64 sums err
  by less than T**2 * 2**-52, far below a unit for any T the scale allows, so their argmax is the same
  class (also after the division by T). A smaller lead goes to the exact float64 replay.
* **Exact votes.** When every leaf probability is a multiple of 2**-S (:func:`exact`), the integer
  sums are the exact sums, and scikit-learn's float64 sums (of the same dyadic values, no rounding)
  order alike: the argmax needs no replay and no float arithmetic at all.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from microlearn.errors import InvalidInputError

MAX_SCALE_BITS = 21
SUM_LIMIT_BITS = 30  # every class sum < 2**30: a MicroPython small int on 32-bit ports


def scale_bits(n_trees: int) -> int:
    """S: votes are leaf probabilities times 2**S, rounded to the nearest integer."""
    if n_trees < 1:
        raise InvalidInputError("a tree ensemble has at least one tree")
    s = min(MAX_SCALE_BITS, SUM_LIMIT_BITS - int(n_trees).bit_length())
    if s < 8:  # the margin argument needs float64's error (< T**2 * 2**-52) below one unit 2**-S
        raise InvalidInputError(f"{n_trees} trees are too many for the fixed-point vote: use under 2**22")
    return s


def margin(n_trees: int) -> int:
    """The lead (in units of 2**-S) above which the fast path's class is scikit-learn's class."""
    return int(n_trees) + 1


def quantize(values: npt.NDArray[np.float64], n_trees: int) -> npt.NDArray[np.int64]:
    """Leaf probabilities (any shape) as integer votes round(p * 2**S)."""
    q: npt.NDArray[np.int64] = np.rint(
        np.asarray(values, dtype=np.float64) * 2.0 ** scale_bits(n_trees)
    ).astype(np.int64)
    return q


def exact(values: npt.NDArray[np.float64], n_trees: int) -> bool:
    """Whether every leaf probability is exactly a multiple of 2**-S (the votes are then exact)."""
    scaled = np.asarray(values, dtype=np.float64) * 2.0 ** scale_bits(n_trees)
    return bool(np.all(np.rint(scaled) == scaled))


def decided(sums: npt.NDArray[np.int64], n_trees: int) -> npt.NDArray[np.bool_]:
    """Per row of class vote sums (n, n_classes): whether the fast path decides it (lead > margin)."""
    if sums.shape[1] == 1:
        return np.ones(sums.shape[0], dtype=bool)
    top = np.sort(sums, axis=1)
    out: npt.NDArray[np.bool_] = (top[:, -1] - top[:, -2]) > margin(n_trees)
    return out
