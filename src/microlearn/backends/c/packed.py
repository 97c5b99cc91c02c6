"""The compact ("packed") methods: internal nodes as fixed-width records in a bit stream.

Layout (docs/trees.md, "Compact methods"):

* Only internal nodes are stored, in preorder, tree after tree. A node's record holds its kind (bit 0:
  the left child is a leaf, bit 1: the right child is a leaf), a NaN bit (only when some node sends
  NaN left), the feature index, the threshold (an index into a sorted table of the model's distinct
  thresholds, or the value itself, whichever is smaller) and one field F: the right child's offset
  when both children are internal (the left child is always the next record), else the leaf child's
  vote code, and when both children are leaves, both codes (or an index into a table of code pairs).
  Every width is sized for the model.
* A vote code (classifier) is the class of a pure leaf, or n_classes + k for the k-th distinct impure
  leaf row; a regressor's code is the row of its distinct float32 leaf values.
* Impure leaf rows are small integer class counts (passes/counts.py) when they can be recovered
  exactly: the fast fixed-point vote divides them, and the rare near-tie replay recomputes
  scikit-learn's float64 arithmetic from them with integer routines (ml_trees_packed.h). Otherwise the
  rows stay float64 (with their fixed-point copy) as in the other methods.

``packed`` takes float32 inputs and is exact for every float32 value (NaN and +-inf included);
``packed_u8``, ``packed_i8`` and ``packed_i16`` take integer inputs and store each threshold t as the
integer floor(t) (clamped to the type): for every value v of the type, v <= floor(t) exactly when
v <= t, so they decide exactly as the float model does on every input of their type.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from microlearn.backends.c.common import (
    NOTES,
    CSource,
    array_lines,
    check_limits,
    f32,
    f32_key,
    fixed_point_exact,
    fixed_point_scale,
    leaf_tables,
    margin_q,
    tree_api,
    vote_codes,
)
from microlearn.backends.c.registry import register_method
from microlearn.backends.c.writer import header
from microlearn.errors import InvalidInputError
from microlearn.ir import TreeEnsemble
from microlearn.passes.counts import leaf_counts

MAX_RECORD_BITS = 25  # ml_pk_bits reads 4 bytes at a byte offset


@dataclass(frozen=True)
class InputType:
    """The C type a method's predict takes, and the integer range of its values (None: float)."""

    suffix: str
    ctype: str
    lo: int | None
    hi: int | None


INPUTS = {
    "packed": InputType("", "float", None, None),
    "packed_u8": InputType("u8", "uint8_t", 0, 255),
    "packed_i8": InputType("i8", "int8_t", -128, 127),
    "packed_i16": InputType("i16", "int16_t", -32768, 32767),
}

SUMMARIES = {
    "packed": "bit-packed node records, threshold table, leaves as vote codes, impure leaves as counts",
    "packed_u8": "packed, uint8 inputs (thresholds as integers, exact for every uint8 value)",
    "packed_i8": "packed, int8 inputs (thresholds as integers, exact for every int8 value)",
    "packed_i16": "packed, int16 inputs (thresholds as integers, exact for every int16 value)",
}


def _bits(v: int) -> int:
    """Bits to hold 0..v."""
    return max(1, int(v).bit_length())


def _uint(v: int) -> str:
    return "uint8_t" if v < 256 else "uint16_t" if v < 65536 else "uint32_t"


def int_threshold(t: float, lo: int, hi: int) -> int:
    """floor(t) clamped to [lo - 1, hi]: for every integer v in [lo, hi], v <= t iff v <= the result."""
    if math.isinf(t):
        return hi if t > 0 else lo - 1
    return min(hi, max(lo - 1, math.floor(t)))


@dataclass
class Leaves:
    """Vote codes of the IR's leaves plus the C tables behind the codes."""

    code_of_leaf: npt.NDArray[np.int64]
    n_codes: int
    text: str
    nbytes: int
    counts: bool  # impure rows as counts (else float64 rows)
    n_rows: int  # impure rows (classifier) / distinct values (regressor)
    shift: int = 0  # counts: the fast vote adds (count * recip) >> shift
    margin: int = 0  # fixed-point lead that proves the class (see _reciprocals)
    exact: bool = False  # the fixed-point sums are the exact sums: no replay needed
    proven: bool = False  # argmax_proven: the sums' argmax is scikit-learn's for every leaf combination
    # counts: per impure row, the (class, (count * recip) >> shift) terms its fast vote adds
    row_votes: tuple[tuple[tuple[int, int], ...], ...] = ()


def _size(ctype: str) -> int:
    return {"uint8_t": 1, "int8_t": 1, "uint16_t": 2, "int16_t": 2, "uint32_t": 4, "int32_t": 4}[ctype]


def _reciprocals(rows: list[npt.NDArray[np.int64]], scale: int) -> tuple[int, list[int], Fraction]:
    """The fast vote's per-row reciprocals: recip = round(2**(scale + shift) / total) (computed as
    (2**(scale + shift) + total // 2) // total, the same in C), with the largest
    shift for which count * recip stays below 2**32 in every row, and the largest error, in units of
    2**-scale, of (count * recip) >> shift against the exact count * 2**scale / total.

    Each class sum then errs by at most n_trees * err units, so a lead of more than 2 * n_trees * err + 1
    units is a lead of more than one unit in exact arithmetic, which scikit-learn's float64 sums (off by
    less than n_trees**2 * 2**-52) cannot overturn: the same argument as common.margin_q."""
    shift = 31 - scale  # 2**(scale + shift) fits a uint32: cores with a divider compute recip at run time
    while shift > 0:
        ok = True
        for cnt in rows:
            total = int(cnt.sum())
            recip = ((1 << (scale + shift)) + total // 2) // total
            if int(cnt.max()) * recip >= 1 << 32:
                ok = False
                break
        if ok:
            break
        shift -= 1
    recips, err = [], Fraction(0)
    for cnt in rows:
        total = int(cnt.sum())
        recip = ((1 << (scale + shift)) + total // 2) // total
        recips.append(recip)
        for n in cnt:
            if n:
                got = (int(n) * recip) >> shift
                err = max(err, abs(Fraction(got) - Fraction(int(n) << scale, total)))
    return shift, recips, err


def _classifier_leaves(ir: TreeEnsemble, name: str) -> Leaves:
    nc = ir.n_outputs
    values = np.ascontiguousarray(ir.leaf_value)
    pure = (np.count_nonzero(values, axis=1) == 1) & (values.max(axis=1) == 1.0)
    impure = np.flatnonzero(~pure)
    counts = leaf_counts(values[impure]) if impure.size else []
    if all(c is not None for c in counts):
        code = np.argmax(values, axis=1).astype(np.int64)
        rows: dict[tuple[int, ...], int] = {}
        order: list[npt.NDArray[np.int64]] = []
        row_class: list[int] = []
        for leaf, cnt in zip(impure, counts, strict=True):
            assert cnt is not None
            key = tuple(int(v) for v in cnt)
            if key not in rows:
                rows[key] = len(order)
                order.append(cnt)
                row_class.append(int(ir.leaf_class[leaf]))
            code[leaf] = nc + rows[key]
        k = len(order)
        text, nbytes = "", 0
        S = fixed_point_scale(ir.n_trees)
        shift, margin, exact = 0, margin_q(ir.n_trees), True
        recip: list[int] = []
        if k:
            cbits = _bits(nc - 1)
            entries = [(int(n) << cbits) | c for cnt in order for c, n in enumerate(cnt) if n]
            etype = _uint(max(entries))
            starts = np.cumsum([0] + [int(np.count_nonzero(c)) for c in order])
            stype = _uint(int(starts[-1]))
            shift, recip, err = _reciprocals(order, S)
            exact = err == 0
            margin = math.ceil(2 * ir.n_trees * err) + 1
            text += (
                f"/* Impure leaf rows as class counts: row k is entries [start[k], start[k + 1]), each\n"
                f" * (count << {cbits}) | class; the leaf's probabilities are count / (the row's sum).\n"
                f" * recip[k] = round(2^{S + shift} / sum): (count * recip[k]) >> {shift} is the\n"
                f" * probability"
                f" times 2^{S} within {float(err):.3g}. */\n"
                f"static const {stype} {name}_row_start[{k + 1}] = {{\n"
                + array_lines([str(int(s)) for s in starts], 16)
                + f"\n}};\nstatic const {etype} {name}_row_entry[{len(entries)}] = {{\n"
                + array_lines([str(e) for e in entries], 12)
                + "\n};\n#if !ML_PK_HW_DIVIDE\n"
                + f"static const uint32_t {name}_row_recip[{k}] = {{\n"
                + array_lines([f"{r}u" for r in recip], 8)
                + "\n};\n#endif\n"
            )
            nbytes += (k + 1) * _size(stype) + len(entries) * _size(etype)  # + 4 * k without a divider
            if ir.n_trees == 1:
                text += (
                    f"static const {_uint(nc)} {name}_row_class[{k}] = {{\n"
                    + array_lines([str(c) for c in row_class], 16)
                    + "\n};\n"
                )
                nbytes += k * _size(_uint(nc))
        row_votes = (
            tuple(
                tuple((c, (int(n) * r) >> shift) for c, n in enumerate(cnt) if n)
                for cnt, r in zip(order, recip, strict=True)
            )
            if k
            else ()
        )
        leaves = Leaves(code, nc + k, text, nbytes, True, k, shift, margin, exact, row_votes=row_votes)
        if not exact and ir.n_trees > 1 and argmax_proven(ir, leaves, 1 << S):
            leaves.exact = leaves.proven = True
        return leaves
    vc = vote_codes(ir, name)
    code = np.where(vc.code_of_leaf >= 0, vc.code_of_leaf, nc - vc.code_of_leaf - 1)
    return Leaves(code.astype(np.int64), nc + vc.n_rows, vc.text, vc.nbytes, False, vc.n_rows)


MAX_COMBINATIONS = 1 << 21  # leaf combinations argmax_proven enumerates at most (x classes: 1 << 22)


def argmax_proven(ir: TreeEnsemble, leaves: Leaves, one: int) -> bool:
    """Whether the plain first argmax of the fixed-point sums equals scikit-learn's float64 argmax for
    every combination of one vote code per tree (a superset of the combinations inputs can reach).

    For small forests the combinations are few (a tree's pure leaves share n_classes codes): they are
    enumerated here, with scikit-learn's arithmetic in float64 (leaf values summed in tree order from
    0.0, divided by the number of trees, first maximum) beside the integer sums the C adds. When every
    combination agrees, predict needs neither the margin test nor the replay of near ties, and links
    none of the replay's integer float64 routines."""
    nc, T = ir.n_outputs, ir.n_trees
    if not leaves.counts:
        return False
    ends = [*(int(r) for r in ir.roots[1:]), ir.n_nodes]
    per_tree: list[npt.NDArray[np.int64]] = []
    total = 1
    for start, end in zip(ir.roots, ends, strict=True):
        lv = ir.leaf[int(start) : end]
        codes = np.unique(leaves.code_of_leaf[lv[lv >= 0]])
        per_tree.append(codes)
        total *= int(codes.size)
        if total > MAX_COMBINATIONS or total * nc > 2 * MAX_COMBINATIONS:
            return False
    # one float64 row and one fixed-point row per vote code
    f64 = np.zeros((leaves.n_codes, nc))
    fix = np.zeros((leaves.n_codes, nc), dtype=np.int64)
    f64[np.arange(nc), np.arange(nc)] = 1.0
    fix[np.arange(nc), np.arange(nc)] = one
    first = np.full(leaves.n_codes, -1)
    li = np.flatnonzero(ir.feature < 0)
    first[leaves.code_of_leaf[ir.leaf[li]]] = ir.leaf[li]
    for r, terms in enumerate(leaves.row_votes):
        f64[nc + r] = ir.leaf_value[first[nc + r]]
        for c, v in terms:
            fix[nc + r, c] = v
    acc = np.zeros((1, nc))
    acc_q = np.zeros((1, nc), dtype=np.int64)
    for codes in per_tree:
        acc = (acc[:, None, :] + f64[codes][None, :, :]).reshape(-1, nc)
        acc_q = (acc_q[:, None, :] + fix[codes][None, :, :]).reshape(-1, nc)
    return bool(np.array_equal(np.argmax(acc / float(T), axis=1), np.argmax(acc_q, axis=1)))


def _regressor_leaves(ir: TreeEnsemble, name: str) -> Leaves:
    lt = leaf_tables(ir, name)
    return Leaves(lt.row_of_leaf.astype(np.int64), lt.n_rows, lt.text, lt.nbytes, False, lt.n_rows)


@dataclass(frozen=True)
class CatNodes:
    """Categorical splits in a node stream (boosted trees): per node its set (-1: a numeric split) and
    whether the set's members go left. A categorical record sets the cat bit and holds
    ``set << 1 | members_left`` in its threshold field; ``call(xv, field, nan)`` is the C expression
    (0 or 1) that decides it from the input value, that field and the record's NaN bit."""

    set_of: npt.NDArray[np.int32]
    left_of: npt.NDArray[np.bool_]
    n_sets: int
    call: Callable[[str, str, str], str]


@dataclass
class Layout:
    """The packed node stream and the widths of its record fields."""

    text: str
    nbytes: int
    n_nodes: int
    macros: dict[str, int]
    thr_mode: str  # "table" (index into the distinct thresholds) or "node" (value per node)
    pairs: bool  # both-leaf nodes keep an index into a pair table
    nan_bit: bool
    walk: str  # C statements deciding go_left for node record w at node i
    n_thr: int = 0  # entries of the threshold table
    ranks: bool = False  # nodes compare rk[feature] (ml_pk_rank) with their threshold index


def _layout(
    ir: TreeEnsemble,
    name: str,
    code_of_leaf: npt.NDArray[np.int64] | None,
    n_codes: int,
    inp: InputType,
    cat: CatNodes | None = None,
    ranks: bool = False,
    table: bool = False,
) -> Layout:
    """The node stream of ``ir``. With ``code_of_leaf`` (a code per leaf row, ``n_codes`` of them) a leaf
    child's code sits in its parent's field; with None the leaves are implicit: numbered in preorder,
    and every record whose left child is internal holds the number of leaves (= records) of that left
    subtree, so a walk counts the leaves it skips (:func:`tree_text`). With ``ranks`` the thresholds
    are a table and a node compares ``rk[feature]``, the rank of the input value among them
    (:func:`ranks_text`), with its index: ``x <= thr[j]`` exactly when ``rk <= j``; ``table`` keeps the
    thresholds in a table without ranks (the same records as with ranks)."""
    f, L, R = ir.feature, ir.left, ir.right
    implicit = code_of_leaf is None
    assert cat is None or inp.lo is None, "categorical splits take float inputs"
    inner = np.flatnonzero(f >= 0)
    n = int(inner.size)
    pos = np.cumsum(f >= 0) - 1  # record index of every internal node
    code = np.full(ir.n_nodes, -1, dtype=np.int64)
    is_leaf = f < 0
    if code_of_leaf is not None:
        code[is_leaf] = code_of_leaf[ir.leaf[is_leaf]]
    kind = np.zeros(n, dtype=np.int64)
    kind |= is_leaf[L[inner]].astype(np.int64)
    kind |= is_leaf[R[inner]].astype(np.int64) << 1
    if implicit:  # records (and leaves) of the left subtree: right child's record - own, when both exist
        offsets = np.where((kind & 1) == 0, pos[R[inner] - 1] - pos[inner] + 1, 0)
    else:
        offsets = np.where(kind == 0, pos[R[inner]] - pos[inner], 0)
    cb = 0 if implicit else _bits(n_codes - 1)
    ob = _bits(int(offsets.max()) if n else 0)
    ll = np.flatnonzero(kind == 3)
    pair_list = [] if implicit else sorted({(int(code[L[inner[j]]]), int(code[R[inner[j]]])) for j in ll})
    pair_index = {p: k for k, p in enumerate(pair_list)}
    nan_any = inp.lo is None and bool(np.any(ir.missing_left[inner]))  # integers have no NaN
    is_cat = np.zeros(n, dtype=bool) if cat is None else cat.set_of[inner] >= 0
    cat_tb = 0 if cat is None else _bits(2 * cat.n_sets - 1)
    numeric = inner[~is_cat]
    # thresholds: as floats (the float method) or as integers of the input type
    if inp.lo is None:
        tvals = ir.threshold[numeric].astype(np.float32)
        tkeys = [int(v) for v in tvals.view(np.uint32)]
        distinct = sorted(set(tkeys), key=lambda u: f32_key(np.array([u], np.uint32).view(np.float32)[0]))
        if not distinct and cat is not None:
            distinct = [0]  # only categorical splits: one unused threshold keeps the table valid C
        index_of = {u: k for k, u in enumerate(distinct)}
        table_bits = _bits(len(distinct) - 1) if n else 1
        table_cost = 4 * len(distinct)
        node_bits, node_cost = 0, 4 * n
    else:
        assert inp.hi is not None
        ivals = [int_threshold(float(t), inp.lo, inp.hi) for t in ir.threshold[inner]]
        distinct_i = sorted(set(ivals))
        table_bits = _bits(len(distinct_i) - 1) if n else 1
        table_cost = 2 * len(distinct_i) if inp.hi > 127 else len(distinct_i)
        kmin = min(ivals) if ivals else 0
        node_bits = _bits(max(ivals) - kmin) if ivals else 1
        node_cost = 0
        lo_k, hi_k = (min(ivals), max(ivals)) if ivals else (0, 0)
        atype = (
            "int8_t"
            if lo_k >= -128 and hi_k <= 127
            else "int16_t"
            if lo_k >= -32768 and hi_k <= 32767
            else "int32_t"
        )
        array_cost = n * _size(atype)
    fb = _bits(ir.n_features - 1)
    head = 2 + int(nan_any) + int(cat is not None) + fb
    pb = _bits(len(pair_list) - 1) if pair_list else 0
    best: tuple[int, str, bool, int, int] | None = None
    modes = (
        ("table",) if ranks or table else ("table", "node") if inp.lo is None else ("table", "node", "array")
    )
    for thr_mode in modes:
        tb = max(cat_tb, {"table": table_bits, "node": node_bits, "array": 0}[thr_mode])
        for pairs in (False, True) if not implicit else (False,):
            fld = max(ob, cb, pb if pairs else 2 * cb) if n else 1
            w = head + tb + fld
            if w > MAX_RECORD_BITS:
                continue
            cost = (n * w + 7) // 8 + 3
            cost += table_cost if thr_mode == "table" else node_cost if thr_mode == "node" else array_cost
            if pairs:
                cost += 2 * len(pair_list) * (1 if cb <= 8 else 2 if cb <= 16 else 4)
            cand = (cost, thr_mode, pairs, tb, fld)
            if best is None or cand[0] < best[0]:
                best = cand
    if best is None:
        raise InvalidInputError(
            "this model is too large for the packed methods (a node record would exceed "
            f"{MAX_RECORD_BITS} bits): use method='table'"
        )
    _, thr_mode, pairs, tb, fb_field = best
    if inp.lo is None and thr_mode == "node":
        tb = cat_tb
    # record, from bit 0: kind (2) | nan (0/1) | cat (0/1) | feature | threshold (tb) | field
    s_nan = 2
    s_cat = 2 + int(nan_any)
    s_feat = s_cat + int(cat is not None)
    s_thr = s_feat + fb
    s_fld = s_thr + tb
    width = s_fld + fb_field
    recs = []
    for j, i in enumerate(inner):
        k = int(kind[j])
        if k == 0 or implicit:
            fld = int(offsets[j])
        elif k == 1:
            fld = int(code[L[i]])
        elif k == 2:
            fld = int(code[R[i]])
        elif pairs:
            fld = pair_index[(int(code[L[i]]), int(code[R[i]]))]
        else:
            fld = int(code[L[i]]) | (int(code[R[i]]) << cb)
        if is_cat[j]:
            assert cat is not None
            tfield = int(cat.set_of[i]) << 1 | int(cat.left_of[i])
        elif inp.lo is None:
            tv = int(ir.threshold[i : i + 1].view(np.uint32)[0])
            tfield = index_of[tv] if thr_mode == "table" else 0
        elif thr_mode == "table":
            tfield = distinct_i.index(ivals[j])
        elif thr_mode == "node":
            tfield = ivals[j] - kmin
        else:
            tfield = 0
        recs.append(
            k
            | (int(nan_any and ir.missing_left[i]) << s_nan)
            | (int(is_cat[j]) << s_cat)
            | (int(f[i]) << s_feat)
            | (tfield << s_thr)
            | (fld << s_fld)
        )
    nbytes_stream = (n * width + 7) // 8 + 3
    acc = 0
    for j, r in enumerate(recs):
        acc |= r << (j * width)
    stream = acc.to_bytes(nbytes_stream, "little")
    up = name.upper()
    text = (
        f"/* {n} internal nodes, {width}-bit records from bit 0: kind (2: left/right child is a leaf)"
        f"{' | NaN goes left (1)' if nan_any else ''}{' | categorical (1)' if cat else ''}"
        f" | feature ({fb}) | threshold ({tb}{', or set << 1 | members go left' if cat else ''})"
        + (
            f" | field ({fb_field})\n * (leaves of the left subtree when it is not a leaf: leaves are"
            " numbered in preorder). */\n"
            if implicit
            else f" | field ({fb_field})\n * (right offset, or the leaf's vote code"
            f"{', or a pair-table index' if pairs else ', or both codes'}). */\n"
        )
        + f"static const uint8_t {name}_nodes[{nbytes_stream}] = {{\n"
        + array_lines([str(b) for b in stream], 20)
        + "\n};\n"
    )
    nbytes = nbytes_stream
    macros = {
        f"{up}_PK_NODES": n,
        f"{up}_PK_WIDTH": width,
        f"{up}_PK_FEAT_SHIFT": s_feat,
        f"{up}_PK_FEAT_MASK": (1 << fb) - 1,
        f"{up}_PK_THR_SHIFT": s_thr,
        f"{up}_PK_THR_MASK": (1 << tb) - 1 if tb else 0,
        f"{up}_PK_FIELD_SHIFT": s_fld,
        f"{up}_PK_FIELD_MASK": (1 << fb_field) - 1,
        f"{up}_PK_CODE_BITS": cb,
        f"{up}_PK_CODE_MASK": (1 << cb) - 1,
    }
    if cat is not None:
        macros[f"{up}_PK_CAT_SHIFT"] = s_cat
    # thresholds and the comparison
    if inp.lo is None:
        if thr_mode == "table":
            fl = [np.array([u], np.uint32).view(np.float32)[0] for u in distinct]
            idx = f"(w >> {up}_PK_THR_SHIFT) & {up}_PK_THR_MASK"
            cnt = len(distinct)
        else:
            fl = list(ir.threshold[inner].astype(np.float32))
            idx = "i"
            cnt = n
        text += (
            "#if ML_TREES_INT_COMPARE\n"
            f"/* thresholds as ml_f32_key integers (cores without an FPU) */\n"
            f"static const int32_t {name}_thr[{cnt}] = {{\n"
            + array_lines([str(f32_key(v)) for v in fl], 8)
            + "\n};\n#else\n"
            f"static const float {name}_thr[{cnt}] = {{\n"
            + array_lines([f32(v) for v in fl], 6)
            + "\n};\n#endif\n"
        )
        nbytes += 4 * cnt
        xv = f"x[(w >> {up}_PK_FEAT_SHIFT) & {up}_PK_FEAT_MASK]"
        t = f"{name}_thr[{idx}]"
        rk = f"rk[(w >> {up}_PK_FEAT_SHIFT) & {up}_PK_FEAT_MASK]"
        if ranks:
            walk = f"        go_left = {rk} <= ({idx})" + (
                f"\n                  || (((w >> 2) & 1u) && {rk} > {cnt}u);\n" if nan_any else ";\n"
            )
        elif nan_any:
            walk = (
                "#if ML_TREES_INT_COMPARE\n"
                f"        go_left = ((w >> 2) & 1u) ? ml_f32_key_nan_low({xv}) <= {t}\n"
                f"                                  : ml_f32_key({xv}) <= {t};\n"
                "#else\n"
                f"        go_left = ((w >> 2) & 1u) ? !({xv} > {t}) : ({xv} <= {t});\n"
                "#endif\n"
            )
        else:
            walk = (
                "#if ML_TREES_INT_COMPARE\n"
                f"        go_left = ml_f32_key({xv}) <= {t};\n"
                "#else\n"
                f"        go_left = {xv} <= {t};\n"
                "#endif\n"
            )
        if cat is not None:
            nested = "".join(ln if ln.startswith("#") else "    " + ln for ln in walk.splitlines(True))
            fld_t = f"(w >> {up}_PK_THR_SHIFT) & {up}_PK_THR_MASK"
            walk = (
                f"        if ((w >> {up}_PK_CAT_SHIFT) & 1u) {{\n"
                f"            go_left = {cat.call(xv, fld_t, '(int)((w >> 2) & 1u)')};\n"
                f"        }} else {{\n{nested}        }}\n"
            )
    else:
        xv = f"(int32_t)x[(w >> {up}_PK_FEAT_SHIFT) & {up}_PK_FEAT_MASK]"
        if thr_mode == "table":
            ttype = "int16_t" if inp.hi is not None and inp.hi > 127 else "int8_t"
            if any(v < -128 or v > 127 for v in distinct_i):
                ttype = "int32_t" if any(v < -32768 or v > 32767 for v in distinct_i) else "int16_t"
            text += (
                f"static const {ttype} {name}_thr[{len(distinct_i)}] = {{\n"
                + array_lines([str(v) for v in distinct_i], 16)
                + "\n};\n"
            )
            nbytes += len(distinct_i) * np.dtype(ttype.replace("_t", "")).itemsize
            t = f"(int32_t){name}_thr[(w >> {up}_PK_THR_SHIFT) & {up}_PK_THR_MASK]"
        elif thr_mode == "node":
            t = f"((int32_t)((w >> {up}_PK_THR_SHIFT) & {up}_PK_THR_MASK) + ({kmin}))"
        else:  # one threshold per node, in an array beside the records
            text += (
                f"static const {atype} {name}_thr[{n}] = {{\n"
                + array_lines([str(v) for v in ivals], 16)
                + "\n};\n"
            )
            nbytes += array_cost
            t = f"(int32_t){name}_thr[i]"
        walk = f"        go_left = {xv} <= {t};\n"
    if pairs:
        ctype = "uint8_t" if cb <= 8 else "uint16_t" if cb <= 16 else "uint32_t"
        text += (
            f"/* vote codes of (left, right) leaf children of nodes whose children are both leaves */\n"
            f"static const {ctype} {name}_pairs[{2 * len(pair_list)}] = {{\n"
            + array_lines([str(v) for p in pair_list for v in p], 16)
            + "\n};\n"
        )
        nbytes += 2 * len(pair_list) * np.dtype(ctype.replace("_t", "")).itemsize
    n_thr = len(distinct) if inp.lo is None and thr_mode == "table" else 0
    return Layout(text, nbytes, n, macros, thr_mode, pairs, nan_any, walk, n_thr, ranks)


def _roots(ir: TreeEnsemble, name: str, code_of_leaf: npt.NDArray[np.int64], n: int) -> tuple[str, int]:
    """Record index of each tree's root, or n + code for a tree that is a single leaf."""
    pos = np.cumsum(ir.feature >= 0) - 1
    vals = []
    for r in ir.roots:
        r = int(r)
        vals.append(int(pos[r]) if ir.feature[r] >= 0 else n + int(code_of_leaf[ir.leaf[r]]))
    rtype = _uint(max(vals))
    text = (
        f"static const {rtype} {name}_roots[{len(vals)}] = {{\n"
        + array_lines([str(v) for v in vals], 16)
        + "\n};\n"
    )
    return text, len(vals) * np.dtype(rtype.replace("_t", "")).itemsize


def walk_text(ir: TreeEnsemble, name: str, leaves: Leaves, inp: InputType) -> tuple[str, int]:
    """The packed node stream, its tables and NAME_walk[_sfx](x, w) (each tree's vote code), with the
    bytes of const data they hold."""
    lay = _layout(ir, name, leaves.code_of_leaf, leaves.n_codes, inp)
    roots_text, roots_bytes = _roots(ir, name, leaves.code_of_leaf, lay.n_nodes)
    T = ir.n_trees
    xt = inp.ctype
    sfx = f"_{inp.suffix}" if inp.suffix else ""
    walk = (
        tree_text(name, lay, xt) + f"/* Each tree's vote code for input x. */\n"
        f"static inline void {name}_walk{sfx}(const {xt} *x, uint32_t *w)\n{{\n"
        f"    int32_t t;\n"
        f"    for (t = 0; t < {T}; t++) {{\n        w[t] = {name}_tree(x, {name}_roots[t]);\n    }}\n}}\n\n"
    )
    return stream_text(name, lay) + roots_text + "\n" + walk, lay.nbytes + roots_bytes


def stream_text(name: str, lay: Layout) -> str:
    """The stream's macros, records and tables."""
    return "".join(f"#define {k} {v}u\n" for k, v in lay.macros.items()) + "\n" + lay.text


def rank_type(lay: Layout) -> str:
    """The C type of a ranks method's rk[]: ranks go up to the table's size + 1 (NaN)."""
    return "uint8_t" if lay.n_thr + 1 < 256 else "uint16_t"


def ranks_text(name: str, lay: Layout, n_features: int) -> str:
    """``NAME_ranks(x, rk)``: every feature's rank among the thresholds, once per row."""
    rt = rank_type(lay)
    return (
        f"/* The rank of each input value among the sorted thresholds (ml_pk_rank): x[f] <= thr[j]\n"
        f" * exactly when rk[f] <= j; NaN ranks above every j. */\n"
        f"static inline void {name}_ranks(const float *x, {rt} *rk)\n{{\n"
        f"    int32_t f;\n    for (f = 0; f < {n_features}; f++) {{\n"
        f"        rk[f] = ({rt})ml_pk_rank({name}_thr, {lay.n_thr}u, x[f]);\n    }}\n}}\n\n"
    )


def tree_text(name: str, lay: Layout, xt: str, implicit: bool = False, uses_x: bool = True) -> str:
    """``uint32_t NAME_tree(const xt *x, uint32_t root)``: the vote code the tree at record ``root``
    reaches (a root >= the record count is a single leaf: root - count is its code); or, for implicit
    leaves, ``uint32_t NAME_leaf(const xt *x, uint32_t i, uint32_t l)``: the number of the leaf the tree
    whose root is record ``i`` and whose first leaf is ``l`` reaches. A ranks layout's function takes
    the row's ranks ``rk`` after ``x`` (``uses_x``: categorical nodes read x too)."""
    up = name.upper()
    rk = f", const {rank_type(lay)} *rk" if lay.ranks else ""
    unused = "    (void)x;\n" if lay.ranks and not uses_x else ""
    head = (
        f"        const uint32_t w = ml_pk_bits({name}_nodes, i * {up}_PK_WIDTH, 0x1FFFFFFu);\n"
        f"        const uint32_t fld = (w >> {up}_PK_FIELD_SHIFT) & {up}_PK_FIELD_MASK;\n"
        f"        int go_left;\n" + lay.walk
    )
    if implicit:
        return (
            f"/* The leaf, numbered in preorder from l, that the tree at record i reaches for input x:\n"
            f" * going right skips the left subtree's leaves (1 for a leaf, else the record's field). */\n"
            f"static inline uint32_t {name}_leaf(const {xt} *x{rk}, uint32_t i, uint32_t l)\n{{\n"
            f"{unused}    for (;;) {{\n{head}"
            "        if (go_left) {\n"
            "            if (w & 1u) {\n                return l;\n            }\n"
            "            i += 1u;\n"
            "        } else {\n"
            "            const uint32_t skip = (w & 1u) ? 1u : fld;\n"
            "            if (w & 2u) {\n                return l + skip;\n            }\n"
            "            i += skip;\n            l += skip;\n"
            "        }\n"
            "    }\n}\n\n"
        )
    pick = (
        (f"{name}_pairs[2u * fld]", f"{name}_pairs[2u * fld + 1u]")
        if lay.pairs
        else (f"(fld & {up}_PK_CODE_MASK)", f"(fld >> {up}_PK_CODE_BITS)")
    )
    return (
        f"/* The vote code tree `root` reaches for input x. */\n"
        f"static inline uint32_t {name}_tree(const {xt} *x{rk}, uint32_t root)\n{{\n"
        f"    uint32_t i = root;\n{unused}"
        f"    if (i >= {up}_PK_NODES) {{\n        return i - {up}_PK_NODES;\n    }}\n"
        f"    for (;;) {{\n{head}"
        "        if (go_left) {\n"
        "            if (w & 1u) {\n"
        f"                return (w & 2u) ? {pick[0]} : fld;\n"
        "            }\n"
        "            i += 1u;\n"
        "        } else {\n"
        "            if (w & 2u) {\n"
        f"                return (w & 1u) ? {pick[1]} : fld;\n"
        "            }\n"
        "            i += (w & 1u) ? 1u : fld;\n"
        "        }\n"
        "    }\n}\n\n"
    )


def emit(ir: TreeEnsemble, name: str, command: str = "", method: str = "packed") -> CSource:
    check_limits(ir)
    inp = INPUTS[method]
    sfx = f"_{inp.suffix}" if inp.suffix else ""
    leaves = _classifier_leaves(ir, name) if ir.is_classifier else _regressor_leaves(ir, name)
    walk, walk_bytes = walk_text(ir, name, leaves, inp)
    api = _api(ir, name, leaves, inp, sfx)
    body = leaves.text + walk + api
    if inp.lo is not None:
        body += _float_entry(ir, name, inp, sfx, leaves)
    nbytes = leaves.nbytes + walk_bytes
    return assemble(ir, name, method, command, nbytes, body, inp)


def _api(
    ir: TreeEnsemble,
    name: str,
    leaves: Leaves,
    inp: InputType,
    sfx: str,
    api: str = "",
    parts_text: bool = True,
) -> str:
    """predict (+ predict_proba) named ``api`` (default ``name``) over ``api``_walk; the tables are
    ``name``'s."""
    api = api or name
    nc, T = ir.n_outputs, ir.n_trees
    xt = inp.ctype
    if not ir.is_classifier:
        body = f"    uint32_t w[{T}];\n    float sum;\n    int32_t t;\n    {api}_walk{sfx}(x, w);\n"
        body += f"    sum = {name}_leaf_value[w[0]];\n"
        if T > 1:
            body += f"    for (t = 1; t < {T}; t++) {{\n        sum += {name}_leaf_value[w[t]];\n    }}\n"
            body += f"    return sum / {f32(T)};\n"
        else:
            body += "    (void)t;\n    return sum;\n"
        return (
            f"/* Predicted value for input x. */\n"
            f"static inline float {api}_predict{sfx}(const {xt} *x)\n{{\n{body}}}\n"
        )
    parts = classifier_parts(ir, name, leaves)
    k, one, S = leaves.n_rows, parts.one, fixed_point_scale(T)
    exact, margin = parts.exact, parts.margin
    if T == 1:
        pred = f"    uint32_t w[1];\n    {api}_walk{sfx}(x, w);\n" + (
            f"    return w[0] < {nc}u ? (int32_t)w[0] : (int32_t){name}_row_class[w[0] - {nc}u];\n"
            if leaves.counts and k
            else f"    return w[0] < {nc}u ? (int32_t)w[0] : (int32_t){name}_leaf_class[w[0] - {nc}u];\n"
            if k
            else "    return (int32_t)w[0];\n"
        )
    else:
        pred = (
            f"    uint32_t w[{T}];\n    uint32_t sums[{nc}];\n"
            + ("" if exact else f"    uint64_t acc[{nc}];\n    int32_t best;\n")
            + f"    int32_t t;\n    {api}_walk{sfx}(x, w);\n"
            f"    ml_pk_zero_u32(sums, {nc});\n"
            f"    for (t = 0; t < {T}; t++) {{\n"
            + (
                f"        if (w[t] < {nc}u) {{\n            sums[w[t]] += {one}u;\n        }} else {{\n"
                f"            {name}_vote_row(sums, w[t]);\n        }}\n    }}\n"
                if k
                else f"        sums[w[t]] += {one}u;\n    }}\n"
            )
        )
        if exact:
            pred += exact_comment(leaves, S) + f"    return ml_argmax_u32(sums, {nc});\n"
        else:
            pred += (
                f"    best = ml_argmax_margin_q(sums, {nc}, {margin}u);\n"
                f"    if (best >= 0) {{\n        return best;\n    }}\n"
                f"    /* a near tie: replay scikit-learn's float64 arithmetic */\n"
                f"    {name}_proba_bits(w, acc);\n"
                f"    return ml_pk_argmax_u64(acc, {nc});\n"
            )
    return (
        (parts.text if parts_text else "")
        + f"/* Class index (0..{nc - 1}) of input x: scikit-learn's predict, exactly. */\n"
        f"static inline int32_t {api}_predict{sfx}(const {xt} *x)\n{{\n{pred}}}\n\n"
        f"/* Class probabilities of input x into out[0..{nc - 1}]. */\n"
        f"static inline void {api}_predict_proba{sfx}(const {xt} *x, float *out)\n{{\n"
        f"    uint32_t w[{T}];\n    uint64_t acc[{nc}];\n    int32_t c;\n"
        f"    {api}_walk{sfx}(x, w);\n    {name}_proba_bits(w, acc);\n"
        f"    for (c = 0; c < {nc}; c++) {{\n        out[c] = ml_pk_f64_to_float(acc[c]);\n    }}\n}}\n"
    )


def exact_comment(leaves: Leaves, S: int) -> str:
    """Why the plain argmax of the fixed-point sums is scikit-learn's class."""
    if leaves.proven:
        return (
            "    /* checked for every combination of one leaf per tree when this code was generated:\n"
            "     * the first maximum of these sums is scikit-learn's class */\n"
        )
    return (
        f"    /* every leaf probability is a multiple of 2^-{S}: these sums are exact, and so is\n"
        f"     * their argmax */\n"
    )


@dataclass
class ClassifierParts:
    """What every packed classifier shares: NAME_proba_bits (the exact replay), NAME_vote_row (an
    impure leaf's fixed-point vote), and the constants of the fast vote."""

    text: str
    one: int
    exact: bool
    margin: int


def classifier_parts(ir: TreeEnsemble, name: str, leaves: Leaves) -> ClassifierParts:
    nc, T = ir.n_outputs, ir.n_trees
    k = leaves.n_rows
    S = fixed_point_scale(T)
    one = 1 << S
    cbits = _bits(nc - 1)
    # float64 probabilities (as bit patterns) from the walks, exactly as scikit-learn computes them
    if leaves.counts:
        add_row = (
            f"            const uint32_t r = w[t] - {nc}u;\n"
            f"            uint32_t e, total = 0u;\n"
            f"            for (e = {name}_row_start[r]; e < {name}_row_start[r + 1u]; e++) {{\n"
            f"                total += (uint32_t){name}_row_entry[e] >> {cbits};\n            }}\n"
            f"            for (e = {name}_row_start[r]; e < {name}_row_start[r + 1u]; e++) {{\n"
            f"                const uint32_t cls = (uint32_t){name}_row_entry[e] & {(1 << cbits) - 1}u;\n"
            f"                acc[cls] = ml_pk_add_f64(acc[cls], "
            f"ml_pk_ratio_f64((uint32_t){name}_row_entry[e] >> {cbits}, total));\n"
            f"            }}\n"
        )
        proba = (
            f"/* Class probabilities as float64 bit patterns from the walks, exactly as scikit-learn\n"
            f" * computes them (fl(count / total) per leaf, summed in tree order, divided by {T}),\n"
            f" * in integer arithmetic. */\n"
            f"static inline void {name}_proba_bits(const uint32_t *w, uint64_t *acc)\n{{\n"
            + ("    int32_t c, t;\n" if T > 1 else "    int32_t t;\n")
            + f"    ml_pk_zero_u64(acc, {nc});\n"
            f"    for (t = 0; t < {T}; t++) {{\n"
            + (
                f"        if (w[t] < {nc}u) {{\n"
                f"            acc[w[t]] = ml_pk_add_f64(acc[w[t]], ML_PK_F64_ONE);\n"
                f"        }} else {{\n{add_row}        }}\n    }}\n"
                if k
                else "        acc[w[t]] = ml_pk_add_f64(acc[w[t]], ML_PK_F64_ONE);\n    }\n"
            )
            + (
                f"    for (c = 0; c < {nc}; c++) {{\n"
                f"        acc[c] = ml_pk_div_f64_u32(acc[c], {T}u);\n    }}\n"
                if T > 1
                else ""
            )
            + "}\n\n"
        )
        vote_row = (
            f"            const uint32_t r = code - {nc}u;\n"
            f"            uint32_t e, recip;\n"
            "#if ML_PK_HW_DIVIDE\n"
            f"            uint32_t total = 0u;\n"
            f"            for (e = {name}_row_start[r]; e < {name}_row_start[r + 1u]; e++) {{\n"
            f"                total += (uint32_t){name}_row_entry[e] >> {cbits};\n            }}\n"
            f"            recip = ({1 << (S + leaves.shift)}u + (total >> 1)) / total;\n"
            "#else\n"
            f"            recip = {name}_row_recip[r];\n"
            "#endif\n"
            f"            for (e = {name}_row_start[r]; e < {name}_row_start[r + 1u]; e++) {{\n"
            f"                sums[{name}_row_entry[e] & {(1 << cbits) - 1}u] += "
            f"(((uint32_t){name}_row_entry[e] >> {cbits}) * recip) >> {leaves.shift};\n"
            f"            }}\n"
        )
    else:
        rows = f"{name}_leaf_proba[0]" if k else "NULL"
        proba = (
            f"/* Class probabilities as float64 bit patterns from the walks, exactly as scikit-learn\n"
            f" * computes them. */\n"
            f"static inline void {name}_proba_bits(const uint32_t *w, uint64_t *acc)\n{{\n"
            f"    double d[{nc}];\n    int32_t c, t;\n"
            f"    for (c = 0; c < {nc}; c++) {{\n        d[c] = 0.0;\n    }}\n"
            f"    for (t = 0; t < {T}; t++) {{\n"
            f"        ml_trees_add_vote_f64(d, w[t] < {nc}u ? (int32_t)w[t] : {nc - 1} - (int32_t)w[t],\n"
            f"                              {rows}, {nc});\n"
            f"    }}\n"
            + (f"    for (c = 0; c < {nc}; c++) {{\n        d[c] /= {float(T)!r};\n    }}\n" if T > 1 else "")
            + f"    for (c = 0; c < {nc}; c++) {{\n"
            f"        union {{\n            double d;\n            uint64_t u;\n        }} b;\n"
            f"        b.d = d[c];\n        acc[c] = b.u;\n    }}\n}}\n\n"
        )
        q = f"{name}_leaf_proba_q[0]" if k else "NULL"
        vote_row = f"            ml_trees_vote_q(sums, {nc - 1} - (int32_t)code, {q}, {nc}, {one}u);\n"
    exact = leaves.exact if leaves.counts else fixed_point_exact(ir)
    margin = leaves.margin if leaves.counts else margin_q(T)
    text = proba
    if k and T > 1:
        text += (
            f"/* Add the fixed-point vote of impure leaf `code` (>= {nc}) to sums. */\n"
            f"static inline void {name}_vote_row(uint32_t *sums, uint32_t code)\n{{\n"
            + vote_row.replace("\n            ", "\n    ").replace("            ", "    ", 1)
            + "}\n\n"
        )
    return ClassifierParts(text, one, exact, margin)


def _float_entry(ir: TreeEnsemble, name: str, inp: InputType, sfx: str, leaves: Leaves) -> str:
    """NAME_predict(const float *x) (and predict_proba) for an integer method, exact for every float32
    row: a row whose values all belong to the input type takes the typed path; any other row walks
    the float thresholds of the packed method (NAME_f_*), which a firmware that only calls the typed
    functions never links."""
    nf = ir.n_features
    assert inp.lo is not None and inp.hi is not None
    lo, hi = float(inp.lo), float(inp.hi)
    walk, _ = walk_text(ir, f"{name}_f", leaves, INPUTS["packed"])
    api = _api(ir, name, leaves, INPUTS["packed"], "", api=f"{name}_f", parts_text=False)
    conv = (
        f"/* 1 and v = x if every value of x is a {inp.ctype}, else 0. */\n"
        f"static inline int {name}_from_float(const float *x, {inp.ctype} *v)\n{{\n"
        f"    int32_t i;\n"
        f"    for (i = 0; i < {nf}; i++) {{\n"
        f"        const float a = x[i];\n"
        f"        if (!(a >= {lo!r}f && a <= {hi!r}f)) {{\n            return 0;\n        }}\n"
        f"        v[i] = ({inp.ctype})a;\n"
        f"        if ((float)v[i] != a) {{\n            return 0;\n        }}\n"
        f"    }}\n    return 1;\n}}\n\n"
    )
    head = (
        f"\n/* The float API: rows of {inp.ctype} values take the typed path above; any other row (host\n"
        f" * checks, pipelines) walks the float thresholds below: exact for every float32 row. */\n"
    )
    if ir.is_classifier:
        entry = (
            f"static inline int32_t {name}_predict(const float *x)\n{{\n"
            f"    {inp.ctype} v[{nf}];\n"
            f"    return {name}_from_float(x, v) ? {name}_predict{sfx}(v) : {name}_f_predict(x);\n}}\n\n"
            f"static inline void {name}_predict_proba(const float *x, float *out)\n{{\n"
            f"    {inp.ctype} v[{nf}];\n"
            f"    if ({name}_from_float(x, v)) {{\n        {name}_predict_proba{sfx}(v, out);\n"
            f"    }} else {{\n        {name}_f_predict_proba(x, out);\n    }}\n}}\n"
        )
    else:
        entry = (
            f"static inline float {name}_predict(const float *x)\n{{\n"
            f"    {inp.ctype} v[{nf}];\n"
            f"    return {name}_from_float(x, v) ? {name}_predict{sfx}(v) : {name}_f_predict(x);\n}}\n"
        )
    return head + walk + api + "\n" + conv + entry


def assemble(
    ir: TreeEnsemble, name: str, method: str, command: str, nbytes: int, body: str, inp: InputType
) -> CSource:
    """The header around ``body``, by the shared writer; integer methods name their typed entry."""
    notes: tuple[str, ...] = NOTES
    if inp.lo is not None:
        typed = f"{name}_predict_{inp.suffix}(const {inp.ctype} *x)"
        notes = (
            f"Firmware calls the typed functions, e.g. {typed}: thresholds are",
            "stored as integers (floor of the float threshold), so every decision equals the float model's",
            f"for every {inp.ctype} value. The float functions are exact for every float32 row too: rows of",
            f"{inp.ctype} values take the typed path, others walk float thresholds (linked only then).",
        )
    return header(
        ir,
        name,
        method,
        body,
        api=tree_api(ir),
        const_bytes=nbytes,
        runtime_headers=("ml_scores.h", "ml_trees.h", "ml_trees_packed.h"),
        command=command,
        notes=notes,
        extra_defines=(("N_TREES", ir.n_trees),),
    )


def emitter(method: str):  # type: ignore[no-untyped-def]
    def _emit(ir: TreeEnsemble, name: str, command: str = "") -> CSource:
        return emit(ir, name, command, method)

    return _emit


for _m in INPUTS:
    register_method(
        TreeEnsemble,
        _m,
        SUMMARIES[_m],
        emitter(_m),
        inputs="float32" if INPUTS[_m].lo is None else INPUTS[_m].ctype,
    )
