"""Boosted trees in the tree-ensemble file (family 1): the BOST, BASE, TOUT, CSET, CLFT and CBIT sections.

A file with BOST holds a :class:`~microlearn.ir.boosting.BoostedTrees`: the node sections of a forest
(ROOT, FEAT, MISS, THRS, RGHT), one leaf value per leaf row (LVAL, and LV64 when the model sums in
float64), BASE, TOUT, and the categorical sections where there are categorical nodes. Every new section
is critical, so a reader that does not know boosted trees refuses the file instead of misreading it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import numpy.typing as npt

from microlearn.backends.modelfile.container import (
    TASK_CLASSIFY,
    TASK_REGRESS,
    TASK_SCORE,
    fail,
    labels_json,
    text_array,
    text_sections,
)
from microlearn.backends.modelfile.registry import Encoded
from microlearn.backends.modelfile.schema import BOOST_FIELDS, BOOST_POSTS, MAX_FEATURES, Decoded
from microlearn.errors import ModelFileError
from microlearn.ir.boosting import DECIDES, MAX_CAT_WORDS, BoostedTrees
from microlearn.ir.trees import unique_rows

BOOST_ONLY = (b"BASE", b"TOUT", b"CSET", b"CLFT", b"CBIT")
_AGG = ("sum", "mean")
_ACC = ("float64", "float32")
_DECIDE = DECIDES
_CAST = ("exact", "trunc")
_TASK = {"classifier": TASK_CLASSIFY, "regressor": TASK_REGRESS, "anomaly": TASK_SCORE}


def dump(ir: BoostedTrees) -> Encoded:
    if ir.n_features > MAX_FEATURES:
        raise ModelFileError(
            f"the model has {ir.n_features} features; a model file holds at most {MAX_FEATURES}"
        )
    if ir.n_raw > 256:
        raise ModelFileError(f"the model has {ir.n_raw} raw scores; a model file holds at most 256")
    if ir.tree_output is None and ir.n_raw > 1:
        ir = one_value_per_tree(ir)
    is_leaf = ir.feature < 0
    v64 = np.ascontiguousarray(ir.leaf_value[:, 0], dtype=np.float64)
    keep, row_of = unique_rows(v64.view(np.uint64).reshape(-1, 1))
    right = np.where(is_leaf, row_of[np.where(is_leaf, ir.leaf, 0)], ir.right)
    params = list(ir.post_params) + [0.0] * (2 - len(ir.post_params))
    if ir.post == "sigmoid" and ir.sigmoid_scale == 1.0:
        params[0] = 0.0  # the default scale is written as 0 (files without a scale read the same)
    bost = np.array(
        [
            ir.n_raw,
            _AGG.index(ir.aggregation),
            _ACC.index(ir.accumulate),
            BOOST_POSTS.index(ir.post),
            _DECIDE.index(ir.decide),
            _CAST.index(ir.cat_cast),
            ir.cat_words if ir.has_categorical else 0,
            *params,
            ir.tie_band,
        ],
        dtype=np.float64,
    )
    assert bost.size == BOOST_FIELDS
    tout = ir.tree_output if ir.tree_output is not None else np.zeros(ir.n_trees, dtype=np.int32)
    out: list[tuple[bytes, npt.NDArray[Any]]] = [
        (b"ROOT", ir.roots),
        (b"FEAT", ir.feature),
        (b"MISS", ir.missing_left & ~is_leaf),
        (b"THRS", np.where(is_leaf, np.float32(0), ir.threshold)),
        (b"RGHT", right),
    ]
    labels = labels_json(ir.classes) if ir.kind == "classifier" else None
    if labels is not None:
        out.append((b"LABL", text_array(labels)))
    out.append((b"LVAL", v64[keep].astype(np.float32)))
    if ir.accumulate == "float64":
        out.append((b"LV64", v64[keep]))
    out += text_sections(None, ir.feature_names, ir.source)
    out += [(b"BOST", bost), (b"BASE", ir.base_score.astype(np.float64)), (b"TOUT", tout.astype(np.int32))]
    if ir.has_categorical:
        assert ir.cat_set is not None and ir.cat_left is not None and ir.cat_bits is not None
        out += [
            (b"CSET", ir.cat_set.astype(np.int32)),
            (b"CLFT", (ir.cat_left & (ir.cat_set >= 0)).astype(np.uint8)),
            (b"CBIT", ir.cat_bits.reshape(-1).view(np.int32)),
        ]
    return Encoded(_TASK[ir.kind], ir.n_features, ir.n_outputs, out)


def one_value_per_tree(ir: BoostedTrees) -> BoostedTrees:
    """The same model with one leaf value per tree: a tree that adds a row of ``n_raw`` values becomes
    ``n_raw`` copies of itself, copy ``k`` adding column ``k`` to raw score ``k``.

    Each raw score is a sum of its own: it still starts at its base and adds the same values in the same
    tree order, so every sum (float32 or float64, "sum" or "mean") is unchanged bit for bit; only the
    node arrays grow ``n_raw`` times."""
    k = ir.n_raw
    n_leaves = ir.leaf_value.shape[0]
    roots, feature, threshold, missing, right, leaf, tout = [], [], [], [], [], [], []
    cat_set, cat_left = [], []
    base = 0
    for start, stop in ir.tree_slices():
        for c in range(k):
            sl = slice(start, stop)
            roots.append(base)
            feature.append(ir.feature[sl])
            threshold.append(ir.threshold[sl])
            missing.append(ir.missing_left[sl])
            is_leaf = ir.feature[sl] < 0
            right.append(np.where(is_leaf, -1, ir.right[sl] - start + base))
            leaf.append(np.where(is_leaf, ir.leaf[sl] + c * n_leaves, -1))
            if ir.cat_set is not None and ir.cat_left is not None:
                cat_set.append(ir.cat_set[sl])
                cat_left.append(ir.cat_left[sl])
            tout.append(c)
            base += stop - start
    feat = np.concatenate(feature).astype(np.int32)
    idx = np.arange(feat.size, dtype=np.int32)
    cat: dict[str, Any] = {}
    if ir.cat_set is not None:
        cat = {
            "cat_set": np.concatenate(cat_set),
            "cat_left": np.concatenate(cat_left),
            "cat_bits": ir.cat_bits,
        }
    return replace(
        ir,
        roots=np.asarray(roots, dtype=np.int32),
        feature=feat,
        threshold=np.concatenate(threshold).astype(np.float32),
        left=np.where(feat < 0, -1, idx + 1).astype(np.int32),
        right=np.concatenate(right).astype(np.int32),
        missing_left=np.concatenate(missing).astype(bool),
        leaf=np.concatenate(leaf).astype(np.int32),
        leaf_value=ir.leaf_value.T.reshape(-1, 1).copy(),  # column c's leaves at c * n_leaves + leaf
        leaf_class=np.zeros(k * n_leaves, dtype=np.int32),
        tree_output=np.asarray(tout, dtype=np.int32),
        **cat,
    )


def _code(v: float, names: tuple[str, ...], what: str) -> str:
    if v != int(v) or not 0 <= v < len(names):
        raise fail(f"BOST: {what} code {v!r} is not one of 0..{len(names) - 1}")
    return names[int(v)]


def _post_params(post: str, b: npt.NDArray[np.float64]) -> tuple[float, ...]:
    if post == "isolation":
        return (float(b[7]), float(b[8]))
    if post == "sigmoid" and b[7] != 0:
        return (float(b[7]),)
    return ()


def load(d: Decoded) -> BoostedTrees:
    from microlearn.backends.modelfile.trees import check_links

    h = d.header
    a = d.arrays
    b = a[b"BOST"]
    for tag in (b"BASE", b"TOUT", b"LVAL"):
        if tag not in a:
            raise fail(f"a boosted-trees file needs the {tag.decode()} section")
    n_raw = int(b[0]) if b[0] == int(b[0]) else -1
    if n_raw != a[b"BASE"].size:
        raise fail("BOST n_raw differs from the BASE count")
    roots = a[b"ROOT"].astype(np.int32)
    feature = a[b"FEAT"].astype(np.int32)
    right = a[b"RGHT"].astype(np.int32)
    n_leaves = a[b"LVAL"].size
    check_links(roots, feature, right, n_leaves)
    accumulate = _code(b[2], _ACC, "accumulate")
    if accumulate == "float64" and b"LV64" not in a:
        raise fail("a model summed in float64 needs the LV64 section")
    leaf_value = a.get(b"LV64", a[b"LVAL"]).astype(np.float64).reshape(-1, 1)
    words = int(b[6]) if b[6] == int(b[6]) else -1
    cat: dict[str, Any] = {}
    if b"CSET" in a:
        if b"CLFT" not in a or b"CBIT" not in a:
            raise fail("CSET needs CLFT and CBIT")
        if not 1 <= words <= MAX_CAT_WORDS or a[b"CBIT"].size % words:
            raise fail(f"CBIT does not hold sets of BOST words = {b[6]!r} (1..{MAX_CAT_WORDS})")
        bits = a[b"CBIT"].astype(np.int32).view(np.uint32).reshape(-1, words)
        cset = a[b"CSET"].astype(np.int32)
        if np.any(cset < -1) or np.any(cset >= bits.shape[0]) or np.any((cset >= 0) & (feature == -1)):
            raise fail("CSET holds a set out of range, or a leaf as a categorical node")
        cat = {"cat_set": cset, "cat_left": a[b"CLFT"].astype(bool) & (cset >= 0), "cat_bits": bits}
    elif b"CLFT" in a or b"CBIT" in a or words != 0:
        raise fail("CLFT, CBIT and BOST words need CSET")
    is_leaf = feature == -1
    idx = np.arange(feature.size, dtype=np.int32)
    kind = {TASK_CLASSIFY: "classifier", TASK_REGRESS: "regressor", TASK_SCORE: "anomaly"}[h.task]
    post = _code(b[3], BOOST_POSTS, "post-transform")
    labels = d.json(b"LABL")
    names = d.json(b"FNAM")
    try:
        return BoostedTrees(
            kind=kind,  # type: ignore[arg-type]
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
            leaf_class=np.zeros(n_leaves, dtype=np.int32),
            classes=None if labels is None else np.asarray(labels),
            source=d.text(b"SRCE") or "",
            feature_names=None if names is None else tuple(str(x) for x in names),
            n_raw=n_raw,
            base_score=a[b"BASE"].astype(np.float64),
            tree_output=a[b"TOUT"].astype(np.int32),
            aggregation=_code(b[1], _AGG, "aggregation"),  # type: ignore[arg-type]
            accumulate=accumulate,  # type: ignore[arg-type]
            post=post,  # type: ignore[arg-type]
            post_params=_post_params(post, b),
            decide=_code(b[4], _DECIDE, "decide"),  # type: ignore[arg-type]
            tie_band=float(b[9]),
            cat_cast=_code(b[5], _CAST, "category cast"),  # type: ignore[arg-type]
            **cat,
        )
    except ValueError as e:
        raise fail(str(e)) from e
