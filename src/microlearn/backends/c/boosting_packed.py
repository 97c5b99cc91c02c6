"""C method "packed" for :class:`~microlearn.ir.boosting.BoostedTrees`: the forests' compact node stream
(``packed.py``: bit-packed internal nodes, thresholds as indices into the model's sorted table, integer
keys of the float bits on cores without an FPU) walked by the fast path and the replay of
``boosting.py``, with a compact leaf store.

Leaves, whichever of two layouts takes fewer bytes for the model:

* *implicit*: every leaf once, numbered in preorder; a record whose left child is internal holds the
  number of leaves of that subtree, so the walk counts the leaves it skips and the records need no leaf
  field (boosted trees rarely share leaf values);
* *codes*: the model's distinct leaf rows (compared bit for bit) stored once, each leaf's row number in
  its parent's record, as the forests' vote codes (isolation forests, whose leaves are few depths).

A leaf value v is stored as its float32 rounding h, which the fast path adds as the other methods do,
and, where a decision replays the library's float64 sum (classifiers, isolation forests), the
integer distance d from h's float64 bit pattern to v's
(``split_f64``; ``ml_boost_f64_of`` rebuilds v from h and d with integer operations): 8 bytes instead
of 12 (4 + 8), the replay still the library's float64 sum, bit for bit. |d| <= 2^28 whenever h is a
normal float32, so d takes 4 bytes (8 for a model with a leaf below float32's normal range).

Everything above the raw scores (decisions with the proven bound, probabilities, scores) is
``boosting.api``: the method is exact as ``table`` and ``inline`` are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from microlearn.backends.c.boosting import RUNTIME, assemble, base_tables, cat_table, check
from microlearn.backends.c.packed import (
    INPUTS,
    CatNodes,
    Layout,
    _layout,
    _roots,
    _uint,
    rank_type,
    ranks_text,
    stream_text,
    tree_text,
)
from microlearn.backends.c.registry import register_method
from microlearn.backends.c.writer import CSource, array_lines, f32
from microlearn.errors import InvalidInputError
from microlearn.ir.boosting import BoostedTrees
from microlearn.passes.leaves import float_rows

METHOD_RUNTIME = (*RUNTIME, "ml_trees_packed.h")
_SIZES = {"uint8_t": 1, "uint16_t": 2, "uint32_t": 4}


def split_f64(v: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """(h, d): h = float32(v) (round to nearest), d = |v|'s float64 bits - |h|'s as ml_boost_f64_of
    reads them (0 for a zero or subnormal h). The signs agree, so ml_boost_f64_of(h, d) is v, bit
    for bit (checked here)."""
    v = np.ascontiguousarray(v, dtype=np.float64)
    with np.errstate(over="ignore"):  # beyond float32: h is inf, d the rest
        h = v.astype(np.float32)
    u = h.view(np.uint32).astype(np.int64)
    e = (u >> 23) & 0xFF
    mag_h = np.where(e == 0, 0, ((e + 896) << 52) | ((u & 0x7FFFFF) << 29))
    mag_v = (v.view(np.uint64) & np.uint64((1 << 63) - 1)).astype(np.int64)
    d = mag_v - mag_h
    back = ((u >> 31).astype(np.uint64) << np.uint64(63)) | (mag_h + d).astype(np.uint64)
    if not np.array_equal(back, v.view(np.uint64)):
        raise InvalidInputError("a leaf value cannot be stored as float32 + residual: use method='table'")
    return h, d


@dataclass(frozen=True)
class ValueTables:
    """NAME_leaf_f32 (and NAME_leaf_res) holding ``values`` row after row."""

    text: str
    nbytes: int


def replays(ir: BoostedTrees) -> bool:
    """Whether the model needs its float64 leaf values: a decision (class, inlier) the library takes on
    float64 sums; a regressor's value comes from the float32 sum within its bound."""
    return ir.accumulate == "float64" and ir.kind != "regressor"


def value_tables(ir: BoostedTrees, name: str, values: npt.NDArray[np.float64]) -> ValueTables:
    flat = values.reshape(-1)
    n = flat.size
    h, d = split_f64(flat)
    text = f"static const float {name}_leaf_f32[{n}] = {{\n" + array_lines([f32(v) for v in h], 6) + "\n};\n"
    nbytes = 4 * n
    if replays(ir):
        wide = bool(np.any(np.abs(d) >= 1 << 31))
        dtype = "int64_t" if wide else "int32_t"
        text += (
            f"/* the float64 leaf values: leaf_f32 moved by leaf_res float64 units in the last place\n"
            f" * (ml_boost_f64_of) */\n"
            f"static const {dtype} {name}_leaf_res[{n}] = {{\n"
            + array_lines([str(int(x)) for x in d], 8)
            + "\n};\n"
        )
        nbytes += (8 if wide else 4) * n
    return ValueTables(text, nbytes)


@dataclass(frozen=True)
class Walk:
    """How raw_* find tree t's leaf row on one kind of build: the functions, the declarations and
    statements of the tree loop, and what comes before it (the row's ranks)."""

    text: str
    decl: str
    row: str
    first: str = ""


@dataclass(frozen=True)
class Store:
    """One leaf layout: its tables and the walk of builds with an FPU and of integer-key builds."""

    text: str
    nbytes: int
    walk_fpu: Walk
    walk_int: Walk


# Instructions per row, measured on the digits and breast-cancer models (Cortex-M4F / M0+, gcc -Os): a
# node that compares its feature's rank with its threshold index saves a float compare and a table load
# (about 3.5), or on a core without an FPU the integer key of the input value too (about 12); ranking
# one feature costs about 7 per step of the binary search over the thresholds, plus 10.
SAVED_PER_NODE = {"fpu": 3.5, "int": 12.0}
RANK_STEP, RANK_FEATURE = 7.0, 10.0
RANKS: bool | None = None  # None: ranks where they pay (use_ranks); tests may force them either way


def nodes_visited(ir: BoostedTrees) -> float:
    """Nodes a row visits, taking each tree's mean leaf depth."""
    depth = np.zeros(ir.n_nodes, dtype=np.int64)
    for i in range(ir.n_nodes):
        if ir.feature[i] >= 0:
            depth[ir.left[i]] = depth[ir.right[i]] = depth[i] + 1
    return float(sum(depth[a:b][ir.feature[a:b] < 0].mean() for a, b in ir.tree_slices()))


def use_ranks(ir: BoostedTrees, n_thr: int, build: str) -> bool:
    """Whether ranking every feature once per row costs fewer instructions than the nodes a row visits
    save on ``build`` ("fpu" or "int": cores that compare integer keys)."""
    if RANKS is not None:
        return RANKS
    cost = ir.n_features * (RANK_STEP * max(1, n_thr).bit_length() + RANK_FEATURE)
    return nodes_visited(ir) * SAVED_PER_NODE[build] > cost


def _walk(ir: BoostedTrees, name: str, lay: Layout, cat: CatNodes | None, implicit: bool) -> Walk:
    rarg = ", rk" if lay.ranks else ""
    text = ranks_text(name, lay, ir.n_features) if lay.ranks else ""
    text += tree_text(name, lay, "float", implicit=implicit, uses_x=cat is not None)
    decl = f"    {rank_type(lay)} rk[{ir.n_features}];\n" if lay.ranks else ""
    first = f"    {name}_ranks(x, rk);\n" if lay.ranks else ""
    if implicit:
        decl = "    uint32_t i = 0u, n, r;\n" + decl
        row = (
            f"        n = {name}_size[t];\n"
            f"        r = n ? {name}_leaf(x{rarg}, i, i + (uint32_t)t) : i + (uint32_t)t;\n"
            f"        i += n;\n"
        )
    else:
        decl = "    uint32_t r;\n" + decl
        row = f"        r = {name}_tree(x{rarg}, {name}_roots[t]);\n"
    return Walk(text, decl, row, first)


def _layouts(
    ir: BoostedTrees,
    name: str,
    codes: npt.NDArray[np.int64] | None,
    n_codes: int,
    cat: CatNodes | None,
) -> tuple[Layout, Layout]:
    """The layouts of FPU and integer-key builds: the same records, each with its walk (ranks where
    they pay, and only where the smallest records index a threshold table anyway: flash first; the
    other build then compares with that table directly)."""
    inp = INPUTS["packed"]
    n_thr = _n_thr(ir, cat)
    want = {b: use_ranks(ir, n_thr, b) for b in ("fpu", "int")}
    lay = _layout(ir, name, codes, n_codes, inp, cat)
    if not any(want.values()) or (lay.thr_mode != "table" and RANKS is None):
        return lay, lay
    ranked = _layout(ir, name, codes, n_codes, inp, cat, ranks=True)
    if all(want.values()):
        return ranked, ranked
    direct = _layout(ir, name, codes, n_codes, inp, cat, table=True)
    assert direct.text == ranked.text  # the same stream and table
    return (ranked if want["fpu"] else direct), (ranked if want["int"] else direct)


def _implicit(ir: BoostedTrees, name: str, cat: CatNodes | None) -> Store:
    fpu, key = _layouts(ir, name, None, 0, cat)
    leaves = np.flatnonzero(ir.feature < 0)  # preorder, tree after tree
    vt = value_tables(ir, name, ir.leaf_value[ir.leaf[leaves]])
    sizes = [int(np.count_nonzero(ir.feature[a:b] >= 0)) for a, b in ir.tree_slices()]
    st = _uint(max(sizes))
    text = (
        stream_text(name, fpu)
        + f"/* internal nodes (records) of each tree: tree t starts at the sum of those before it */\n"
        f"static const {st} {name}_size[{ir.n_trees}] = {{\n"
        + array_lines([str(v) for v in sizes], 16)
        + "\n};\n"
        + vt.text
    )
    nbytes = fpu.nbytes + _SIZES[st] * ir.n_trees + vt.nbytes
    return Store(text, nbytes, _walk(ir, name, fpu, cat, True), _walk(ir, name, key, cat, True))


def _codes(ir: BoostedTrees, name: str, cat: CatNodes | None) -> Store:
    keep, row_of = float_rows(ir.leaf_value)
    fpu, key = _layouts(ir, name, row_of, len(keep), cat)
    vt = value_tables(ir, name, ir.leaf_value[keep])
    roots_text, roots_bytes = _roots(ir, name, row_of, fpu.n_nodes)
    text = stream_text(name, fpu) + roots_text + vt.text
    nbytes = fpu.nbytes + roots_bytes + vt.nbytes
    return Store(text, nbytes, _walk(ir, name, fpu, cat, False), _walk(ir, name, key, cat, False))


def _store(ir: BoostedTrees, name: str, cat: CatNodes | None) -> Store:
    """The smaller of the two leaf layouts that fit the records."""
    options = []
    for build in (_implicit, _codes):
        try:
            options.append(build(ir, name, cat))
        except InvalidInputError:
            continue
    if not options:
        raise InvalidInputError(
            "this model is too large for the packed method (a node record would exceed 25 bits): "
            "use method='table'"
        )
    return min(options, key=lambda s: s.nbytes)


def _n_thr(ir: BoostedTrees, cat: CatNodes | None) -> int:
    """Distinct float32 thresholds of the numeric splits (the size of a ranks layout's table)."""
    numeric = ir.feature >= 0
    if cat is not None:
        numeric &= cat.set_of < 0
    return int(np.unique(ir.threshold[numeric].astype(np.float32).view(np.uint32)).size)


def _outputs(ir: BoostedTrees, name: str) -> tuple[str, str, str, int]:
    """(declaration, raw index of tree t, statement after tree t, const bytes) for models whose trees add
    one value each: one constant output, outputs in turn (t mod n_raw), or a table."""
    to = ir.tree_output
    assert to is not None
    if np.all(to == to[0]):
        return "", str(int(to[0])), "", 0
    if np.array_equal(to, np.arange(ir.n_trees) % ir.n_raw):
        step = f"        if (++o == {ir.n_raw}u) {{\n            o = 0u;\n        }}\n"
        return "    uint32_t o = 0u;\n", "o", step, 0
    ot = _uint(int(to.max()))
    text = f"{name}_tree_output[t]"
    return f"TABLE:{ot}", text, "", _SIZES[ot] * ir.n_trees


@dataclass(frozen=True)
class Fixed:
    """The fixed-point sums of a classifier's predict on cores without an FPU: leaves as
    ml_boost_fixed(h, shift), the base rounded, summed from ``base`` (the rounded base + 2^30, so every
    sum is a uint32 below 2^31 ordered as the signed sums); within ``margin`` units of the library's
    float64 sums."""

    shift: int
    margin: int
    base: tuple[int, ...]


def fixed_point(ir: BoostedTrees) -> Fixed | None:
    """Fixed-point sums for a float64-summed classifier (None where they do not apply).

    With S the largest |base| + sum over trees of the largest |leaf| (``static_sums``) and
    s = 29 - ceil(log2 S), every |sum| stays below 2^30: offset by 2^30, the sums are uint32 values
    below 2^31 (added modulo 2^32, exactly) that order as the sums do.
    In units of 2^-s a sum differs from the exact one by less than T + 1/2 (truncating each of T
    float32 leaves, rounding the base) + 32 (each float32 leaf within 2^-24 of its value: 2^-24 S 2^s)
    and from the library's float64 sum by less than T 2^-24 more (T additions, each within 2^-53 S):
    below ``margin`` = T + 34 for T < 2^23 trees per output. A lead of more than the margin (two
    margins between two classes) is therefore the library's decision."""
    if ir.kind != "classifier" or ir.accumulate != "float64" or ir.aggregation != "sum":
        return None
    smax = float(ir.static_sums().max())
    with np.errstate(over="ignore"):
        finite = bool(np.all(np.isfinite(ir.leaf_value.astype(np.float32))))
    T = int(ir.trees_per_output().max())
    if not (finite and math.isfinite(smax) and smax > 0 and T < 1 << 23):
        return None
    shift = 29 - math.ceil(math.log2(smax))
    if shift > 100:  # leaves below 2^-70: ml_boost_fixed's range
        return None
    scale = Fraction(2) ** shift
    base = tuple(round(Fraction(float(b)) * scale) + (1 << 30) for b in ir.base_score)
    return Fixed(shift, T + 34, base)


def _raw(
    ir: BoostedTrees, name: str, walk: Walk, ctype: str, out: tuple[str, str, str], shift: int = 0
) -> str:
    """NAME_raw_f32 / NAME_raw_f64 / NAME_raw_q (int32_t: fixed point): base, then each tree's leaf
    row added in tree order."""
    f64 = ctype == "double"
    fixed = ctype == "uint32_t"
    sfx = "f64" if f64 else "q" if fixed else "f32"
    mean = ir.aggregation == "mean"
    n = ir.n_raw
    o_decl, o_idx, o_step = out

    def val(j: str) -> str:
        if f64:
            return f"ml_boost_f64_of({name}_leaf_f32[{j}], {name}_leaf_res[{j}])"
        if fixed:
            return f"(uint32_t)ml_boost_fixed({name}_leaf_f32[{j}], {shift})"
        return f"{name}_leaf_f32[{j}]"

    start = ("0.0" if f64 else "0.0f") if mean else f"{name}_base_{sfx}[k]"
    body = walk.first + f"    for (k = 0; k < {n}; k++) {{\n        raw[k] = {start};\n    }}\n"
    body += f"    for (t = 0; t < {ir.n_trees}; t++) {{\n" + walk.row
    if ir.tree_output is None:
        body += f"        for (k = 0; k < {n}; k++) {{\n"
        body += f"            raw[k] += {val(f'r * {n}u + (uint32_t)k')};\n        }}\n"
    else:
        body += f"        raw[{o_idx}] += {val('r')};\n" + o_step
    body += "    }\n"
    if mean:
        cnt = f"(double){name}_count[k]" if f64 else f"{name}_count[k]"
        body += (
            f"    for (k = 0; k < {n}; k++) {{\n"
            f"        raw[k] = raw[k] / {cnt} + {name}_base_{sfx}[k];\n    }}\n"
        )
    what = (
        "Raw scores of input x in float64, as the library sums them (leaves rebuilt from h and d)"
        if f64
        else f"Raw scores of input x in fixed point (units of 2^-{shift}, plus 2^30), for decisions"
        if fixed
        else "Raw scores of input x: the float32 fast path"
    )
    return (
        f"/* {what}. */\n"
        f"static inline void {name}_raw_{sfx}(const float *x, {ctype} *raw)\n{{\n"
        f"{walk.decl}{o_decl}    int32_t k, t;\n{body}}}\n"
    )


def _functions(ir: BoostedTrees, name: str, walk: Walk, out: tuple[str, str, str], fx: Fixed | None) -> str:
    text = walk.text + _raw(ir, name, walk, "float", out)
    if replays(ir):
        text += "\n" + _raw(ir, name, walk, "double", out)
    if fx is not None:
        base = ", ".join(f"{b}u" for b in fx.base)
        text += (
            "\n#if ML_BOOST_FIXED\n"
            f"static const uint32_t {name}_base_q[{ir.n_raw}] = {{{base}}};\n\n"
            + _raw(ir, name, walk, "uint32_t", out, fx.shift)
            + "#endif\n"
        )
    return text


def emit_packed(ir: BoostedTrees, name: str, command: str = "") -> CSource:
    check(ir)
    cats, cat_bytes = cat_table(ir, name)
    cat = None
    if ir.has_categorical:
        assert ir.cat_set is not None and ir.cat_left is not None and ir.cat_bits is not None
        w, trunc = ir.cat_words, int(ir.cat_cast == "trunc")
        cat = CatNodes(
            ir.cat_set,
            ir.cat_left,
            int(ir.cat_bits.shape[0]),
            lambda xv, s, nan: (
                f"ml_boost_cat_left({name}_cat_bits + ((({s}) >> 1) * {w}u), {w}, {xv}, {trunc}, {nan}, "
                f"(int)(({s}) & 1u))"
            ),
        )
    store = _store(ir, name, cat)
    out: tuple[str, str, str] = ("", "", "")
    extra, out_bytes = "", 0
    if ir.tree_output is not None:
        decl, idx, step, out_bytes = _outputs(ir, name)
        if decl.startswith("TABLE:"):
            extra = (
                f"static const {decl[6:]} {name}_tree_output[{ir.n_trees}] = {{\n"
                + array_lines([str(int(k)) for k in ir.tree_output], 16)
                + "\n};\n"
            )
            decl = ""
        out = (decl, idx, step)
    base_text, base_bytes = base_tables(ir, name, replays(ir))
    fx = fixed_point(ir)
    fpu = _functions(ir, name, store.walk_fpu, out, fx)
    key = _functions(ir, name, store.walk_int, out, fx)
    if fpu == key:
        functions = fpu
    else:
        functions = (
            "#if ML_TREES_INT_COMPARE\n/* cores without an FPU: */\n"
            + key
            + "#else\n"
            + fpu
            + "#endif /* ML_TREES_INT_COMPARE */\n"
        )
    body = cats + store.text + base_text + extra + "\n" + functions
    nbytes = store.nbytes + cat_bytes + base_bytes + out_bytes
    margin = fx.margin if fx is not None else None
    return assemble(ir, name, "packed", command, nbytes, body, METHOD_RUNTIME, margin)


register_method(
    BoostedTrees,
    "packed",
    "bit-packed node records, threshold table, leaves as float32 + float64 residual",
    emit_packed,
)
