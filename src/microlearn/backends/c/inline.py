"""The "inline" method: each tree becomes a C function of nested if/else.

A classifier's tree returns the leaf's vote code (its class if pure, else a row of the few tables of
impure leaves, see common.VoteCodes); a regressor's tree returns the row of its leaf-value table."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from microlearn.backends.c.common import (
    CSource,
    api_functions,
    api_functions_codes,
    assemble,
    check_limits,
    f32,
    f32_key,
    leaf_tables,
    vote_codes,
)
from microlearn.backends.c.registry import register_method
from microlearn.ir import TreeEnsemble
from microlearn.passes import split

MAX_NEST = split.MAX_NEST  # deeper nesting moves a subtree into a function of its own (passes.split)


def _condition(ir: TreeEnsemble, i: int) -> str:
    f = int(ir.feature[i])
    t = ir.threshold[i]
    # ML_TREES_LE(x, t, key) is x <= t; the _NAN_LEFT form also sends NaN left. On cores without an FPU
    # they compare integer keys of the float bits instead (ml_trees.h), exactly equivalent.
    macro = "ML_TREES_LE_NAN_LEFT" if ir.missing_left[i] else "ML_TREES_LE"
    return f"{macro}(x[{f}], {f32(t)}, {f32_key(t)})"


def tree_functions(
    ir: TreeEnsemble, name: str, leaf_out: npt.NDArray[np.integer], condition: Callable[[int], str]
) -> list[str]:
    """One C function of nested if/else per tree, ``{name}_tree_{t}(x)``, returning ``leaf_out[leaf]`` of
    the leaf x reaches; ``condition(i)`` is node i's test. A subtree nested deeper than MAX_NEST becomes a
    function of its own (passes.split), defined before its caller."""
    functions: list[str] = []
    cuts = split.cut_nodes(ir.feature, ir.left, ir.right, ir.roots, MAX_NEST)

    def subtree_fn(root: int, fname: str) -> None:
        lines: list[str] = []
        pending: list[tuple[int, str]] = []

        def walk(i: int, depth: int) -> None:
            pad = "    " * (depth + 1)
            if ir.feature[i] < 0:
                lines.append(f"{pad}return {int(leaf_out[ir.leaf[i]])};")
                return
            if i in cuts and depth > 0:
                sub = f"{name}_node_{i}"
                pending.append((i, sub))
                lines.append(f"{pad}return {sub}(x);")
                return
            lines.append(f"{pad}if ({condition(i)}) {{")
            walk(int(ir.left[i]), depth + 1)
            lines.append(f"{pad}}} else {{")
            walk(int(ir.right[i]), depth + 1)
            lines.append(f"{pad}}}")

        walk(root, 0)
        for sub_root, sub_name in pending:  # define callees before callers
            subtree_fn(sub_root, sub_name)
        functions.append(f"static inline int32_t {fname}(const float *x)\n{{\n" + "\n".join(lines) + "\n}\n")

    for t, root in enumerate(ir.roots):
        subtree_fn(int(root), f"{name}_tree_{t}")
    return functions


def emit(ir: TreeEnsemble, name: str, command: str = "") -> CSource:
    check_limits(ir)
    if ir.is_classifier:
        codes = vote_codes(ir, name)
        leaf_out = codes.code_of_leaf
        tables, tables_bytes = codes.text, codes.nbytes
    else:
        leaves = leaf_tables(ir, name)
        leaf_out = leaves.row_of_leaf
        tables, tables_bytes = leaves.text, leaves.nbytes
    functions = tree_functions(ir, name, leaf_out, lambda i: _condition(ir, i))
    leaf_exprs = [f"{name}_tree_{t}(x)" for t in range(ir.n_trees)]
    if ir.is_classifier:
        api, api_bytes = api_functions_codes(ir, name, leaf_exprs, codes), 0
        what = "vote code (class if the leaf is pure, else -(row + 1))"
    else:
        api, api_bytes = api_functions(ir, name, leaf_exprs, leaves)
        what = "row of the leaf tables"
    body = (
        tables
        + f"\n/* Each tree returns the {what} that input x reaches. */\n"
        + "\n".join(functions)
        + "\n"
        + api
    )
    nbytes = tables_bytes + api_bytes
    return assemble(ir, name, "inline", command, nbytes, body)


register_method(TreeEnsemble, "inline", "one C function of nested if/else per tree", emit)
