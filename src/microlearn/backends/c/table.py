"""The "table" method: const node arrays (kept in flash) walked by the loop in ml_trees.h."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from microlearn.backends.c.common import (
    CSource,
    api_functions,
    array_lines,
    assemble,
    check_limits,
    f32,
    leaf_tables,
)
from microlearn.backends.c.registry import register_method
from microlearn.ir import TreeEnsemble


def node_arrays(ir: TreeEnsemble, name: str, row_of_leaf: npt.NDArray[np.integer]) -> tuple[list[str], int]:
    """The node arrays ml_trees_leaf walks (roots, feature, missing_left, threshold, right; at a leaf,
    ``right`` holds its row of the leaf tables, ``row_of_leaf[leaf]``) and their bytes."""
    n = ir.n_nodes
    right = [int(row_of_leaf[ir.leaf[i]]) if ir.feature[i] < 0 else int(ir.right[i]) for i in range(n)]
    arrays = [
        f"static const int32_t {name}_roots[{ir.n_trees}] = {{\n"
        + array_lines([str(int(r)) for r in ir.roots], 16)
        + "\n};\n",
        f"static const int16_t {name}_feature[{n}] = {{\n"
        + array_lines([str(int(f)) for f in ir.feature], 16)
        + "\n};\n",
        f"static const uint8_t {name}_missing_left[{n}] = {{\n"
        + array_lines([str(int(m)) for m in ir.missing_left], 24)
        + "\n};\n",
        f"static const float {name}_threshold[{n}] = {{\n"
        + array_lines([f32(t) for t in ir.threshold], 6)
        + "\n};\n",
        f"static const int32_t {name}_right[{n}] = {{\n"
        + array_lines([str(r) for r in right], 12)
        + "\n};\n",
    ]
    return arrays, n * (2 + 1 + 4 + 4) + 4 * ir.n_trees


def emit(ir: TreeEnsemble, name: str, command: str = "") -> CSource:
    check_limits(ir)
    leaves = leaf_tables(ir, name)
    arrays, node_bytes = node_arrays(ir, name, leaves.row_of_leaf)
    parts = [*arrays, leaves.text]
    cls = ir.is_classifier
    model = (
        f"static const ml_trees {name}_model = {{\n"
        f"    {ir.n_features}, {ir.n_outputs}, {ir.n_trees}, {ir.n_nodes}, {leaves.n_rows},\n"
        f"    {name}_roots, {name}_feature, {name}_missing_left, {name}_threshold, {name}_right,\n"
        f"    {name + '_leaf_proba[0]' if cls else 'NULL'}, "
        f"{name + '_leaf_class' if cls and ir.n_trees == 1 else 'NULL'}, "
        f"{'NULL' if cls else name + '_leaf_value'}\n"
        "};\n"
    )
    leaf_exprs = [f"ml_trees_leaf(&{name}_model, {t}, x)" for t in range(ir.n_trees)]
    api, api_bytes = api_functions(ir, name, leaf_exprs, leaves)
    body = "\n".join(parts) + "\n" + model + "\n" + api
    const_bytes = node_bytes + leaves.nbytes + api_bytes
    return assemble(ir, name, "table", command, const_bytes, body)


register_method(
    TreeEnsemble, "table", "const node arrays in flash, walked by the loop in ml_trees.h", emit, default=True
)
