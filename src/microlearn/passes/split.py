"""Deep trees split into functions: code generators that nest one block per tree level (the C "inline"
method) cut a tree at a fixed nesting depth, so no compiler meets a brace depth it cannot take (clang
stops at 256)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

MAX_NEST = 48  # nesting deeper than this moves a subtree into a function of its own


def cut_nodes(
    feature: npt.NDArray[np.int32],
    left: npt.NDArray[np.int32],
    right: npt.NDArray[np.int32],
    roots: npt.NDArray[np.int32],
    max_nest: int = MAX_NEST,
) -> frozenset[int]:
    """Internal nodes that start a function of their own: those found ``max_nest`` levels below the
    root of the function holding their parent. Tree roots are not listed (every tree is a function)."""
    if max_nest < 1:
        raise ValueError("max_nest must be at least 1")
    cuts: set[int] = set()
    for root in roots:
        stack = [(int(root), 0)]
        while stack:
            i, depth = stack.pop()
            if feature[i] < 0:
                continue
            if depth >= max_nest:
                cuts.add(i)
                depth = 0
            stack.append((int(right[i]), depth + 1))
            stack.append((int(left[i]), depth + 1))
    return frozenset(cuts)
