"""What the XGBoost and LightGBM frontends share: exact float parsing, nested decision nodes with the
tree IR's test (``x <= threshold``, NaN to ``missing_left``), and their flattening into preorder arrays.

A library's own node test is rewritten into the IR's test here, once, with a proof per case in the
frontend; where one library test needs two IR tests (LightGBM's zero-as-missing band on the wrong
side of the threshold) the node becomes a small subtree that repeats a child: the decisions stay the
library's, only the tree grows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from microlearn.errors import UnsupportedEstimatorError

MAX_NODES = 1 << 22  # a rewritten tree larger than this is refused rather than built


@dataclass(frozen=True)
class Leaf:
    # float64 (LightGBM) or a float32 value held in a float (XGBoost); a tuple: one value per raw score
    # (XGBoost's vector leaves, every tree adding a row)
    value: float | tuple[float, ...]


@dataclass(frozen=True)
class Split:
    """Go to ``left`` when x[feature] <= threshold (float32), or when x is NaN and ``missing_left``.

    With ``categories`` (a categorical split), go to ``left`` when x[feature] truncates to one of these
    category codes (the IR's ``cat_cast = "trunc"``: C's ``(int)x``, for x > -1), else right; NaN goes
    left iff ``missing_left``."""

    feature: int
    threshold: np.float32
    missing_left: bool
    left: Node
    right: Node
    categories: frozenset[int] | None = None


Node = Leaf | Split


@dataclass
class Flat:
    """One tree in preorder (left child at parent + 1), the tree IR's node layout."""

    feature: list[int] = field(default_factory=list)
    threshold: list[float] = field(default_factory=list)
    missing_left: list[bool] = field(default_factory=list)
    right: list[int] = field(default_factory=list)
    value: list[float | tuple[float, ...]] = field(default_factory=list)  # leaf value (0 at internal nodes)
    categories: list[frozenset[int] | None] = field(default_factory=list)


def flatten(root: Node) -> Flat:
    """Preorder arrays of a nested tree (a shared child object is written once per path to it)."""
    out = Flat()
    stack: list[tuple[Node, int]] = [(root, -1)]  # (node, index of the parent whose right child it is)
    while stack:
        node, parent = stack.pop()
        i = len(out.feature)
        if i >= MAX_NODES:
            raise UnsupportedEstimatorError(
                f"a tree grows beyond {MAX_NODES} nodes when written with microlearn's node test; "
                "train with fewer leaves (or without zero_as_missing)"
            )
        if parent >= 0:
            out.right[parent] = i
        if isinstance(node, Leaf):
            out.feature.append(-1)
            out.threshold.append(0.0)
            out.missing_left.append(False)
            out.right.append(-1)
            out.value.append(node.value if isinstance(node.value, tuple) else float(node.value))
            out.categories.append(None)
            continue
        out.feature.append(int(node.feature))
        out.threshold.append(float(node.threshold))
        out.missing_left.append(bool(node.missing_left))
        out.right.append(-1)  # filled when the right child is written
        out.value.append(0.0)
        out.categories.append(node.categories)
        stack.append((node.right, i))
        stack.append((node.left, -1))
    return out


# ---------------------------------------------------------------------------------------------- floats
def f32_from_decimal(texts: list[str]) -> npt.NDArray[np.float32]:
    """Each decimal string rounded once, to the nearest float32 (ties to even).

    Going through float64 first rounds twice; that can differ from one rounding only where the float64
    lands exactly halfway between two float32 values, and those few are decided exactly here."""
    d = np.asarray([float(t) for t in texts], dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):  # beyond float32's range: infinities, not midpoints
        f = d.astype(np.float32)
        back = f.astype(np.float64)
        other = np.nextafter(
            f, np.where(d > back, np.float32(np.inf), np.float32(-np.inf)).astype(np.float32)
        )
        mid = (back + other.astype(np.float64)) / 2
    for i in np.flatnonzero((d == mid) & np.isfinite(mid)):
        exact = Fraction(texts[i])
        m = Fraction(float(mid[i]))
        if exact != m:  # the decimal is off the midpoint: take the float32 on its side
            f[i] = other[i] if (exact > m) == (float(other[i]) > float(back[i])) else f[i]
    return f


def prev_f32(x: np.float32) -> np.float32:
    """The largest float32 below x: for float32 v, ``v < x`` iff ``v <= prev_f32(x)``."""
    return np.float32(np.nextafter(np.float32(x), np.float32(-np.inf)))


# ---------------------------------------------------------------------------------------------- the IR
def guard_zero_category(node: Split) -> Node:
    """XGBoost's rule for a categorical node whose set holds 0: a value in (-1, 0) is not a category
    there (it goes to the non-member side), while the IR's truncating rule makes it category 0. A numeric
    test in front (``x < 0`` -> the non-member child; NaN passes on) keeps XGBoost's decision."""
    if node.categories is None or 0 not in node.categories:
        return node
    outside = node.right  # members go left in the IR, so the non-member side is the right child
    return Split(node.feature, prev_f32(np.float32(0)), False, outside, node)


def cat_arrays(
    sets: list[frozenset[int] | None],
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.uint32]]:
    """Per node the index of its category set (-1 for the others) and the sets as 32-bit word bitsets."""
    index: dict[frozenset[int], int] = {}
    cat_set = np.full(len(sets), -1, dtype=np.int32)
    for i, s in enumerate(sets):
        if s is not None:
            cat_set[i] = index.setdefault(s, len(index))
    top = max((max(s) for s in index if s), default=0)
    if any(c < 0 for s in index for c in s):
        raise UnsupportedEstimatorError("a categorical split lists a negative category")
    words = top // 32 + 1
    from microlearn.ir.boosting import MAX_CAT_WORDS

    if words > MAX_CAT_WORDS:
        raise UnsupportedEstimatorError(
            f"a categorical split uses category {top}; microlearn handles categories "
            f"0..{32 * MAX_CAT_WORDS - 1}: re-code the categories to small integers"
        )
    bits = np.zeros((max(len(index), 1), words), dtype=np.uint32)
    for s, k in index.items():
        for c in s:
            bits[k, c // 32] |= np.uint32(1 << (c % 32))
    return cat_set, bits


def assemble(trees: list[Node]) -> dict[str, npt.NDArray[np.generic]]:
    """The tree IR's node arrays (and, where any node is categorical, its category arrays) of these
    trees, one after the other in preorder; leaves numbered in node order. ``leaf_value`` has one column,
    or one per raw score where the leaves hold tuples (all of one length)."""
    flats = [flatten(t) for t in trees]
    roots, feature, threshold, missing, right, leaf, sets = [], [], [], [], [], [], []
    values: list[float | tuple[float, ...]] = []
    base = 0
    for fl in flats:
        n = len(fl.feature)
        roots.append(base)
        for i in range(n):
            feature.append(fl.feature[i])
            threshold.append(fl.threshold[i])
            missing.append(fl.missing_left[i])
            sets.append(fl.categories[i])
            if fl.feature[i] == -1:
                right.append(-1)
                leaf.append(len(values))
                values.append(fl.value[i])
            else:
                right.append(fl.right[i] + base)
                leaf.append(-1)
        base += n
    feat = np.asarray(feature, dtype=np.int32)
    is_leaf = feat == -1
    idx = np.arange(feat.size, dtype=np.int32)
    out: dict[str, npt.NDArray[np.generic]] = {
        "roots": np.asarray(roots, dtype=np.int32),
        "feature": feat,
        "threshold": np.asarray(threshold, dtype=np.float32),
        "left": np.where(is_leaf, -1, idx + 1).astype(np.int32),
        "right": np.asarray(right, dtype=np.int32),
        "missing_left": np.asarray(missing, dtype=bool),
        "leaf": np.asarray(leaf, dtype=np.int32),
        "leaf_value": np.asarray(values, dtype=np.float64).reshape(len(values), -1),
        "leaf_class": np.zeros(len(values), dtype=np.int32),
    }
    if any(s is not None for s in sets):
        cat_set, bits = cat_arrays(sets)
        out["cat_set"] = cat_set
        out["cat_left"] = cat_set >= 0
        out["cat_bits"] = bits
    return out
