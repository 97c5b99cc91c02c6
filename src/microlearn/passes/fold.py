"""Fold per-feature monotone preprocessing stages into the thresholds of the tree ensemble that follows.

A tree node tests ``g(x)[j] <= t`` where ``g`` is the stage. When output j of the stage is a
non-decreasing float32 function ``g_j`` of input ``i = src(j)`` alone, the set of float32 ``x`` with
``g_j(x) <= t`` is a prefix of the ordered float32 values, so it equals ``{x : x <= t'}`` with
``t' = max{x : g_j(x) <= t}``: the node can test the raw input against ``t'`` instead, and the stage
costs nothing on the device. NaN: a scaler maps NaN to NaN, so the node's NaN direction stays; the
imputer maps NaN to its fill value ``v``, so the folded node sends NaN left exactly when ``v <= t``.
docs/preprocessing.md has the proof; ``t'`` is found by bisection over the float32 order, evaluating
``g_j`` with the stage's own reference arithmetic, so it holds for the exact map scikit-learn applies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import numpy.typing as npt

from microlearn.ir.transform import Elementwise, Impute
from microlearn.ir.trees import LEAF, TreeEnsemble

KEY_INF = 0x7F800000  # order key of +inf (see f32_key)


def f32_key(x: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Integer keys that order float32 values as ``<=`` does: -0 and +0 share key 0, -inf is -KEY_INF,
    +inf KEY_INF. (NaN has no place in the order; callers keep it out.)"""
    b = np.asarray(x, dtype=np.float32).view(np.int32).astype(np.int64)
    return np.where(b < 0, -(b & 0x7FFFFFFF), b)


def f32_from_key(k: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """The float32 value of each key (key 0 gives +0)."""
    k64 = np.asarray(k, dtype=np.int64)
    bits = np.where(k64 < 0, (-k64) | 0x80000000, k64).astype(np.uint32)
    out: npt.NDArray[np.float32] = bits.view(np.float32)
    return out


def preimage_threshold(g: Any, t: npt.NDArray[np.float32]) -> npt.NDArray[np.float32] | None:
    """For a non-decreasing float32 map ``g`` (vectorised, NaN-free on non-NaN input) and float32
    thresholds ``t``: ``t'`` with ``x <= t'  <=>  g(x) <= t`` for every non-NaN float32 x; None when
    some ``t`` is below ``g(-inf)`` (then no x passes and no float32 ``t'`` can say so)."""
    t = np.asarray(t, dtype=np.float32)
    if t.size == 0:
        return t.copy()
    lo = np.full(t.shape, -KEY_INF, dtype=np.int64)
    hi = np.full(t.shape, KEY_INF, dtype=np.int64)
    if not np.all(g(f32_from_key(lo)) <= t):
        return None
    top = g(f32_from_key(hi)) <= t
    # invariant for the others: g(lo) <= t < g(hi)
    while True:
        open_ = ~top & (hi - lo > 1)
        if not open_.any():
            break
        mid = (lo + hi) // 2
        ok = g(f32_from_key(mid)) <= t
        lo = np.where(open_ & ok, mid, lo)
        hi = np.where(open_ & ~ok, mid, hi)
    return f32_from_key(np.where(top, hi, lo))


def _internal(trees: TreeEnsemble) -> npt.NDArray[np.bool_]:
    mask: npt.NDArray[np.bool_] = trees.feature != LEAF
    return mask


def fold_elementwise(stage: Elementwise, trees: TreeEnsemble) -> TreeEnsemble | None:
    """``trees`` taking ``stage``'s input, or None when the stage is not monotone non-decreasing (a
    negative or zero multiplier) or a threshold lies below the stage's image."""
    if stage.n_outputs != trees.n_features or not stage.monotone():
        return None
    thr = trees.threshold.copy()
    internal = _internal(trees)
    for j in np.unique(trees.feature[internal]):
        nodes = np.flatnonzero(internal & (trees.feature == j))
        col = int(j)
        nan_out = stage.column(col, np.array([np.nan], dtype=np.float32))
        if not np.isnan(nan_out[0]):
            return None  # NaN must stay NaN for the node's NaN direction to stand
        new = preimage_threshold(lambda x, c=col: stage.column(c, x), thr[nodes])
        if new is None:
            return None
        thr[nodes] = new
    return replace(trees, threshold=thr, feature_names=stage.feature_names or trees.feature_names)


def fold_impute(stage: Impute, trees: TreeEnsemble) -> TreeEnsemble | None:
    """``trees`` taking the imputer's input: feature j becomes input ``keep[j]``, thresholds stay (the
    imputer is the identity on non-NaN values), and NaN goes left exactly where the fill value does."""
    if stage.n_outputs != trees.n_features:
        return None
    internal = _internal(trees)
    feat = trees.feature.copy()
    miss = trees.missing_left.copy()
    fill32 = stage.fill.astype(np.float32)
    f = trees.feature[internal]
    feat[internal] = stage.keep[f]
    miss[internal] = fill32[f] <= trees.threshold[internal]
    return replace(
        trees,
        n_features=stage.n_inputs,
        feature=feat.astype(np.int32),
        missing_left=miss,
        feature_names=stage.feature_names,
    )


def fold_stage(stage: Any, trees: TreeEnsemble) -> TreeEnsemble | None:
    """Fold one stage into the tree ensemble after it, or None if that stage cannot be folded."""
    if isinstance(stage, Elementwise):
        return fold_elementwise(stage, trees)
    if isinstance(stage, Impute):
        return fold_impute(stage, trees)
    return None


def fold_stages(stages: Sequence[Any], final: Any) -> tuple[tuple[Any, ...], Any]:
    """Fold stages into a final tree ensemble from the last one backwards, while they fold.

    Returns the stages left to run and the (possibly rewritten) final model; a final that is not a
    tree ensemble is returned unchanged with every stage."""
    rest = list(stages)
    if not isinstance(final, TreeEnsemble) or getattr(final, "has_categorical", False):
        return tuple(rest), final  # a category value is not a threshold: stages before it stay
    while rest:
        folded = fold_stage(rest[-1], final)
        if folded is None:
            break
        final = folded
        rest.pop()
    return tuple(rest), final


def fold_pipeline(ir: Any) -> Any:
    """A ``Pipeline`` IR with its trailing foldable stages folded into a tree-ensemble final model: a
    Pipeline of the stages left, or the rewritten tree ensemble alone when every stage folded. Any other
    IR is returned unchanged. The result decides every float32 input as ``ir`` does
    (docs/preprocessing.md)."""
    from microlearn.ir.pipeline import Pipeline

    if not isinstance(ir, Pipeline):
        return ir
    rest, final = fold_stages(ir.stages, ir.final)
    if final is ir.final:
        return ir
    if not rest:
        names = ir.feature_names if ir.feature_names is not None else final.feature_names
        return replace(final, feature_names=names)
    return Pipeline(rest, final, source=ir.source, feature_names=ir.feature_names)
