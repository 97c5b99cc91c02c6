"""The tree-ensemble codec (family 1): decision trees, random forests, extra trees.

Sections and their invariants are declared in ``schema.TREES``; this module maps the IR to them and back
and checks what spans sections: every node is a leaf (FEAT = -1, RGHT a leaf row) or an internal node
whose right child lies after its left one inside the same tree, so every walk ends at a leaf.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from microlearn.backends.modelfile import boosting
from microlearn.backends.modelfile.container import (
    TASK_CLASSIFY,
    TASK_REGRESS,
    fail,
    labels_json,
    text_array,
    text_sections,
)
from microlearn.backends.modelfile.registry import Encoded, register_family
from microlearn.backends.modelfile.schema import MAX_CLASSES, MAX_FEATURES, TREES, Decoded
from microlearn.errors import ModelFileError
from microlearn.ir import BoostedTrees, TreeEnsemble
from microlearn.ir.trees import unique_rows


def dump(ir: TreeEnsemble) -> Encoded:
    """The arrays a tree-ensemble file holds, in file order (identical leaf rows stored once)."""
    if isinstance(ir, BoostedTrees):
        return boosting.dump(ir)
    if ir.n_features > MAX_FEATURES:
        raise ModelFileError(
            f"the model has {ir.n_features} features; a model file holds at most {MAX_FEATURES}"
        )
    if ir.is_classifier and ir.n_outputs > MAX_CLASSES:
        raise ModelFileError(
            f"the model has {ir.n_outputs} classes; a model file holds at most {MAX_CLASSES}"
        )
    is_leaf = ir.feature < 0
    if ir.is_classifier:
        keys = np.concatenate(
            [np.ascontiguousarray(ir.leaf_value).view(np.uint64), ir.leaf_class.astype(np.uint64)[:, None]],
            axis=1,
        )
    else:
        v32 = ir.leaf_value[:, 0].astype(np.float32)
        keys = np.stack([v32.view(np.uint32).astype(np.uint64), ir.leaf_value[:, 0].view(np.uint64)], axis=1)
    keep, row_of = unique_rows(keys)
    right = np.where(is_leaf, row_of[np.where(is_leaf, ir.leaf, 0)], ir.right)
    out: list[tuple[bytes, npt.NDArray[Any]]] = [
        (b"ROOT", ir.roots),
        (b"FEAT", ir.feature),
        (b"MISS", ir.missing_left & ~is_leaf),
        (b"THRS", np.where(is_leaf, np.float32(0), ir.threshold)),
        (b"RGHT", right),
    ]
    if ir.is_classifier:
        out.append((b"PROB", np.ascontiguousarray(ir.leaf_value[keep]).reshape(-1)))
        if ir.n_trees == 1:
            out.append((b"LCLS", ir.leaf_class[keep]))
        labels = labels_json(ir.classes)
        if labels is not None:
            out.append((b"LABL", text_array(labels)))
    else:
        out.append((b"LVAL", ir.leaf_value[keep, 0].astype(np.float32)))
        out.append((b"LV64", ir.leaf_value[keep, 0]))
    out += text_sections(None, ir.feature_names, ir.source)  # LABL comes before the leaf values
    task = TASK_CLASSIFY if ir.is_classifier else TASK_REGRESS
    return Encoded(task, ir.n_features, ir.n_outputs, out)


def check_links(
    roots: npt.NDArray[Any], feature: npt.NDArray[Any], right: npt.NDArray[Any], n_leaves: int
) -> None:
    """Every node a leaf with a leaf row in range, or internal with i + 1 < right < end of its tree."""
    n_nodes = feature.size
    idx = np.arange(n_nodes, dtype=np.int64)
    tree_end = np.append(roots[1:], n_nodes)[np.searchsorted(roots, idx, side="right") - 1]
    is_leaf = feature == -1
    r = right.astype(np.int64)
    bad_leaf = is_leaf & ((r < 0) | (r >= n_leaves))
    bad_inner = ~is_leaf & ((r <= idx + 1) | (r >= tree_end))
    if np.any(bad_leaf):
        raise fail(f"node {int(np.flatnonzero(bad_leaf)[0])}: a leaf's row (RGHT at a leaf) is out of range")
    if np.any(bad_inner):
        raise fail(
            f"node {int(np.flatnonzero(bad_inner)[0])}: right child not after the left one inside its tree"
        )


def load(d: Decoded) -> TreeEnsemble:
    h = d.header
    a = d.arrays
    if b"BOST" in a:
        return boosting.load(d)
    extra = [t.decode() for t in boosting.BOOST_ONLY if t in a]
    if extra or h.task not in (TASK_CLASSIFY, TASK_REGRESS):
        raise fail(f"{', '.join(extra) or 'an anomaly score'} needs the BOST section (boosted trees)")
    classifier = h.task == TASK_CLASSIFY
    need = b"PROB" if classifier else b"LVAL"
    if need not in a:
        raise fail(f"required section {need.decode()} is missing")
    n_leaves = d.dims["n_leaves"]
    roots = a[b"ROOT"].astype(np.int32)
    feature = a[b"FEAT"].astype(np.int32)
    right = a[b"RGHT"].astype(np.int32)
    check_links(roots, feature, right, n_leaves)
    if classifier:
        leaf_value = a[b"PROB"].astype(np.float64).reshape(n_leaves, h.n_outputs)
        if b"LCLS" in a:
            leaf_class = a[b"LCLS"].astype(np.int32)
        elif roots.size == 1:
            raise fail("a single-tree classifier needs the LCLS section")
        else:
            leaf_class = np.argmax(leaf_value, axis=1).astype(np.int32)
    else:
        leaf_value = a.get(b"LV64", a[b"LVAL"]).astype(np.float64).reshape(-1, 1)
        leaf_class = np.zeros(n_leaves, dtype=np.int32)
    is_leaf = feature == -1
    idx = np.arange(feature.size, dtype=np.int32)
    labels = d.json(b"LABL")
    names = d.json(b"FNAM")
    try:
        return TreeEnsemble(
            kind="classifier" if classifier else "regressor",
            n_features=int(h.n_features),
            n_outputs=int(h.n_outputs),
            roots=roots,
            feature=feature,
            threshold=a[b"THRS"].astype(np.float32),
            left=np.where(is_leaf, -1, idx + 1).astype(np.int32),
            right=np.where(is_leaf, -1, right).astype(np.int32),
            missing_left=a[b"MISS"].astype(bool),
            leaf=np.where(is_leaf, right, -1).astype(np.int32),
            leaf_value=leaf_value,
            leaf_class=leaf_class,
            classes=None if labels is None else np.asarray(labels),
            source=d.text(b"SRCE") or "",
            feature_names=None if names is None else tuple(str(x) for x in names),
        )
    except ValueError as e:
        raise fail(str(e)) from e


register_family(code=TREES.code, ir_type=TreeEnsemble, dump=dump, load=load, schema=TREES)
