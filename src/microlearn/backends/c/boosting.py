"""C methods for :class:`~microlearn.ir.boosting.BoostedTrees`: "table" (const node arrays walked by
``ml_boost.h``) and "inline" (one C function of nested if/else per tree).

Both methods write two functions, ``NAME_raw_f32`` (the fast path: float32 copies of the leaf values summed
in float32) and, for models the library sums in float64, ``NAME_raw_f64`` (the library's float64 sum in its
order); the API on top (:func:`api`) is shared. A decision (class, inlier) is taken from the float32 sum
when its margin exceeds the proven bound :meth:`BoostedTrees.static_bound` (a constant per model), else
from the float64 replay, which is the library's arithmetic: so classes and inlier decisions equal the
library's on every input, up to the library's own rounding of its link function (``Reference.ambiguous``).
Values (regression, scores, probabilities) come from the float32 sum, within the stated bounds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from microlearn.backends.c.common import f32_key
from microlearn.backends.c.inline import tree_functions
from microlearn.backends.c.registry import register_method
from microlearn.backends.c.table import node_arrays
from microlearn.backends.c.writer import CFunction, CSource, array_lines, f32, f64, header
from microlearn.errors import InvalidInputError
from microlearn.ir.boosting import BoostedTrees
from microlearn.ir.trees import EPS32
from microlearn.passes.leaves import float_rows

RUNTIME = ("ml_scores.h", "ml_trees.h", "ml_boost.h")
MAX_RAW = 256  # ML_TREES_MAX_OUTPUTS
NOTES = (
    "NaN is a missing value, routed as the library routes it.",
    "Classes and inlier decisions equal the library's; values are within the bounds in docs/boosting.md.",
    "Do not compile with -ffast-math (it breaks NaN handling and the float32 rounding bounds).",
)


def check(ir: BoostedTrees) -> None:
    if ir.n_raw > MAX_RAW:
        raise InvalidInputError(
            f"the model has {ir.n_raw} raw scores; the C runtime supports at most {MAX_RAW}"
        )
    if ir.n_features > 32767:
        raise InvalidInputError(f"the model has {ir.n_features} features; at most 32767 are supported")


def f32_up(v: float) -> str:
    """A float literal not below ``v`` (bounds are rounded up)."""
    x = np.float32(v)
    if float(x) < v:
        x = np.nextafter(x, np.float32(np.inf))
    return f32(x)


@dataclass(frozen=True)
class Leaves:
    """Distinct leaf rows (compared bit for bit) as float32 and, for float64 models, float64 tables."""

    text: str
    nbytes: int
    row_of_leaf: npt.NDArray[np.int64]
    width: int
    f64: bool


def leaf_tables(ir: BoostedTrees, name: str) -> Leaves:
    keep, row_of = float_rows(ir.leaf_value)
    rows = ir.leaf_value[keep]
    width = rows.shape[1]
    flat = rows.reshape(-1)
    n = flat.size
    text = (
        f"static const float {name}_leaf_f32[{n}] = {{\n" + array_lines([f32(v) for v in flat], 6) + "\n};\n"
    )
    nbytes = 4 * n
    f64_needed = ir.accumulate == "float64"
    if f64_needed:
        text += (
            f"static const double {name}_leaf_f64[{n}] = {{\n"
            + array_lines([f64(v) for v in flat], 4)
            + "\n};\n"
        )
        nbytes += 8 * n
    base_text, base_bytes = base_tables(ir, name)
    return Leaves(text + base_text, nbytes + base_bytes, row_of, width, f64_needed)


def base_tables(ir: BoostedTrees, name: str, wide: bool | None = None) -> tuple[str, int]:
    """NAME_base_f32, NAME_base_f64 (``wide``; default: models summed in float64) and NAME_count (mean
    models)."""
    base32 = [f32(v) for v in ir.base_score.astype(np.float32)]
    text = f"static const float {name}_base_f32[{ir.n_raw}] = {{{', '.join(base32)}}};\n"
    nbytes = 4 * ir.n_raw
    if ir.accumulate == "float64" if wide is None else wide:
        b64 = ", ".join(f64(v) for v in ir.base_score)
        text += f"static const double {name}_base_f64[{ir.n_raw}] = {{{b64}}};\n"
        nbytes += 8 * ir.n_raw
    if ir.aggregation == "mean":
        cnt = [f32(float(c)) for c in ir.trees_per_output()]
        text += f"static const float {name}_count[{ir.n_raw}] = {{{', '.join(cnt)}}};\n"
        nbytes += 4 * ir.n_raw
    return text, nbytes


def cat_table(ir: BoostedTrees, name: str) -> tuple[str, int]:
    if not ir.has_categorical or ir.cat_bits is None:
        return "", 0
    bits = ir.cat_bits
    rows = ["    " + ", ".join(f"{int(w)}u" for w in r) for r in bits]
    text = f"static const uint32_t {name}_cat_bits[{bits.size}] = {{\n" + ",\n".join(rows) + "\n};\n"
    return text, 4 * bits.size


def _accumulate(ir: BoostedTrees, name: str, lv: Leaves, rows: list[str], ctype: str) -> str:
    """Body of NAME_raw_<ctype>(x, raw): ``rows[t]`` is the C expression of tree t's leaf row."""
    sfx = "f32" if ctype == "float" else "f64"
    mean = ir.aggregation == "mean"
    zero = "0.0f" if ctype == "float" else "0.0"
    out = [f"    raw[{k}] = {zero if mean else f'{name}_base_{sfx}[{k}]'};\n" for k in range(ir.n_raw)]
    for t, r in enumerate(rows):
        if lv.width == 1:
            k = 0 if ir.tree_output is None else int(ir.tree_output[t])
            out.append(f"    raw[{k}] += {name}_leaf_{sfx}[{r}];\n")
        else:
            adds = "".join(
                f"        raw[{k}] += {name}_leaf_{sfx}[r * {lv.width} + {k}];\n" for k in range(lv.width)
            )
            out.append(f"    {{\n        const int32_t r = {r};\n{adds}    }}\n")
    if mean:
        cnt = f"{name}_count[k]" if ctype == "float" else f"(double){name}_count[k]"
        out.append(
            f"    for (k = 0; k < {ir.n_raw}; k++) {{\n"
            f"        raw[k] = raw[k] / {cnt} + {name}_base_{sfx}[k];\n    }}\n"
        )
    decl = "    int32_t k;\n" if mean else ""
    return decl + "".join(out)


def _scaled(ir: BoostedTrees, z: str) -> str:
    """``z`` times the sigmoid's scale (``z`` itself for the default scale 1)."""
    s = ir.sigmoid_scale
    return z if s == 1.0 else f"{f32(s)} * {z}"


def api(ir: BoostedTrees, name: str, fixed_margin: int | None = None) -> tuple[str, tuple[CFunction, ...]]:
    """The public functions over NAME_raw_f32 / NAME_raw_f64; with ``fixed_margin``, a classifier's
    predict on ML_BOOST_FIXED builds decides from NAME_raw_q's fixed-point sums (offset by 2^30 into
    uint32), which are within that many units of the library's float64 sums
    (``boosting_packed.fixed_point``), before any replay."""
    n = ir.n_raw
    B = ir.static_bound()
    exact32 = ir.accumulate == "float32"
    parts: list[str] = []
    if ir.kind == "classifier":
        nc = ir.n_outputs
        parts.append(
            f"/* Raw scores (decision_function) of input x into out[0..{n - 1}], float32 sum. */\n"
            f"static inline void {name}_decision_function(const float *x, float *out)\n{{\n"
            f"    {name}_raw_f32(x, out);\n}}\n"
        )
        strict = ir.decide in ("raw_strict", "proba", "margin_half")
        if n == 1:
            op = ">" if strict else ">="
            if exact32:
                th = "0.5f" if ir.decide == "margin_half" else "0.0f"  # margin_half: float32 models only
                body = (
                    f"    float raw[1];\n    {name}_raw_f32(x, raw);\n    return raw[0] {op} {th} ? 1 : 0;\n"
                )
            else:
                bnd = f32_up(float(B[0]))
                body = (
                    f"    float raw[1];\n    double r[1];\n    {name}_raw_f32(x, raw);\n"
                    f"    if (raw[0] > {bnd}) {{\n        return 1;\n    }}\n"
                    f"    if (raw[0] < -{bnd}) {{\n        return 0;\n    }}\n"
                    f"    /* within rounding of the decision: replay the library's float64 sum */\n"
                    f"    {name}_raw_f64(x, r);\n    return r[0] {op} 0.0 ? 1 : 0;\n"
                )
        elif exact32:
            body = f"    float raw[{n}];\n    {name}_raw_f32(x, raw);\n"
            body += f"    return ml_boost_argmax_f32(raw, {n});\n"
        else:
            bnd = f32_up(2 * float(B.max()) * (1 + 2.0**-20))
            body = (
                f"    float raw[{n}];\n    double r[{n}];\n    int32_t best;\n    {name}_raw_f32(x, raw);\n"
                f"    best = ml_boost_argmax_margin(raw, {n}, {bnd});\n"
                f"    if (best >= 0) {{\n        return best;\n    }}\n"
                f"    /* a near tie: replay the library's float64 sum */\n"
                f"    {name}_raw_f64(x, r);\n    return ml_argmax_f64(r, {n});\n"
            )
        if fixed_margin is not None and not exact32:
            M = fixed_margin
            if n == 1:
                qbody = (
                    f"    uint32_t q[1];\n    double r[1];\n    {name}_raw_q(x, q);\n"
                    f"    if (q[0] > {(1 << 30) + M}u) {{\n        return 1;\n    }}\n"
                    f"    if (q[0] < {(1 << 30) - M}u) {{\n        return 0;\n    }}\n"
                    f"    /* within rounding of the decision: replay the library's float64 sum */\n"
                    f"    {name}_raw_f64(x, r);\n    return r[0] {op} 0.0 ? 1 : 0;\n"
                )
            else:
                qbody = (
                    f"    uint32_t q[{n}];\n    double r[{n}];\n    int32_t best;\n    {name}_raw_q(x, q);\n"
                    f"    best = ml_pk_argmax_margin(q, {n}, {2 * M}u);\n"
                    f"    if (best >= 0) {{\n        return best;\n    }}\n"
                    f"    /* a near tie: replay the library's float64 sum */\n"
                    f"    {name}_raw_f64(x, r);\n    return ml_argmax_f64(r, {n});\n"
                )
            body = (
                "#if ML_BOOST_FIXED\n    /* fixed-point sums, within a proven margin of the library's */\n"
                + qbody
                + "#else\n"
                + body
                + "#endif\n"
            )
        parts.append(
            f"/* Class index (0..{nc - 1}) of input x: the library's predict. */\n"
            f"static inline int32_t {name}_predict(const float *x)\n{{\n{body}}}\n"
        )
        fns = [CFunction("predict", "int32")]
        if ir.post != "none":
            if n == 1:
                z = "2.0f * raw[0]" if ir.post == "exponential" else _scaled(ir, "raw[0]")
                pbody = (
                    f"    float raw[1];\n    {name}_raw_f32(x, raw);\n"
                    f"    out[1] = ml_boost_sigmoid({z});\n    out[0] = 1.0f - out[1];\n"
                )
            elif ir.post == "sigmoid":  # one-vs-all: a sigmoid per class, not normalised
                pbody = f"    float raw[{n}];\n    int32_t k;\n    {name}_raw_f32(x, raw);\n"
                z = _scaled(ir, "raw[k]")
                pbody += f"    for (k = 0; k < {n}; k++) {{\n        out[k] = ml_boost_sigmoid({z});\n"
                pbody += "    }\n"
            else:
                pbody = f"    float raw[{n}];\n    {name}_raw_f32(x, raw);\n"
                pbody += f"    ml_boost_softmax(raw, {n}, out);\n"
            parts.append(
                f"/* Class probabilities of input x into out[0..{nc - 1}]. */\n"
                f"static inline void {name}_predict_proba(const float *x, float *out)\n{{\n{pbody}}}\n"
            )
            fns.append(CFunction("predict_proba", "void", nc))
        fns.append(CFunction("decision_function", "void", n))
        return "\n".join(parts), tuple(fns)
    if ir.kind == "regressor":
        v = {
            "exp": "expf(raw[0])",
            "sigmoid": f"ml_boost_sigmoid({_scaled(ir, 'raw[0]')})",
            "softplus": "ml_boost_softplus(raw[0])",
        }.get(ir.post, "raw[0]")
        parts.append(
            f"/* Predicted value for input x. */\n"
            f"static inline float {name}_predict(const float *x)\n{{\n"
            f"    float raw[1];\n    {name}_raw_f32(x, raw);\n    return {v};\n}}\n"
        )
        return "\n".join(parts), (CFunction("predict", "float"),)
    denom, offset = ir.post_params
    if denom == 0:
        score_expr = "-0.5f"
        dec_bound = 4 * EPS32 * (1 + abs(offset))
    else:
        score_expr = f"ml_boost_isolation(raw[0], {f32(1.0 / denom)}, 0.0f)"
        xmax = float(ir.static_sums()[0]) / denom
        dd = float(B[0]) / denom + 3 * EPS32 * xmax
        dec_bound = float(
            np.expm1(np.log(2.0) * dd) * (1 + 2.0**-20) + 16 * EPS32 + 4 * EPS32 * (1 + abs(offset))
        )
    parts.append(
        f"/* Anomaly score of input x: scikit-learn's score_samples (larger: more normal). */\n"
        f"static inline float {name}_score(const float *x)\n{{\n"
        f"    float raw[1];\n    {name}_raw_f32(x, raw);\n    (void)raw;\n    return {score_expr};\n}}\n"
    )
    parts.append(
        f"/* scikit-learn's decision_function: score_samples - offset_ (negative: outlier). */\n"
        f"static inline float {name}_decision_function(const float *x)\n{{\n"
        f"    return {name}_score(x) - {f32(offset)};\n}}\n"
    )
    replay = (
        f"    {name}_raw_f64(x, r);\n"
        f"    return ml_boost_isolation_f64(r[0], {f64(denom)}, {f64(offset)}) < 0.0 ? -1 : 1;\n"
    )
    parts.append(
        f"/* 1 (inlier) or -1 (outlier): scikit-learn's predict; the float64 depth sum is replayed when the\n"
        f" * float32 score is within its rounding bound of the threshold. */\n"
        f"static inline int32_t {name}_predict(const float *x)\n{{\n"
        f"    const float s = {name}_decision_function(x);\n    double r[1];\n"
        f"    if (s > {f32_up(dec_bound)}) {{\n        return 1;\n    }}\n"
        f"    if (s < -{f32_up(dec_bound)}) {{\n        return -1;\n    }}\n{replay}}}\n"
    )
    score_fns = (
        CFunction("score", "float"),
        CFunction("predict", "int32"),
        CFunction("decision_function", "float"),
    )
    return "\n".join(parts), score_fns


def assemble(
    ir: BoostedTrees,
    name: str,
    method: str,
    command: str,
    nbytes: int,
    body: str,
    runtime: tuple[str, ...] = RUNTIME,
    fixed_margin: int | None = None,
) -> CSource:
    text, fns = api(ir, name, fixed_margin)
    return header(
        ir,
        name,
        method,
        body + "\n" + text,
        api=fns,
        const_bytes=nbytes,
        runtime_headers=runtime,
        command=command,
        notes=NOTES,
        extra_defines=(("N_TREES", ir.n_trees), ("N_RAW", ir.n_raw)),
    )


# --------------------------------------------------------------------------------------------- table
def emit_table(ir: BoostedTrees, name: str, command: str = "") -> CSource:
    check(ir)
    n = ir.n_nodes
    lv = leaf_tables(ir, name)
    cats, cat_bytes = cat_table(ir, name)
    cat = ir.cat_set if ir.cat_set is not None else np.full(n, -1, np.int32)
    cl = ir.cat_left if ir.cat_left is not None else np.zeros(n, bool)
    parts, node_bytes = node_arrays(ir, name, lv.row_of_leaf)
    nbytes = node_bytes + lv.nbytes + cat_bytes
    if ir.has_categorical:
        parts.append(
            f"static const int32_t {name}_cat_set[{n}] = {{\n"
            + array_lines([str(int(c)) for c in cat], 16)
            + "\n};\n"
            + f"static const uint8_t {name}_cat_left[{n}] = {{\n"
            + array_lines([str(int(c)) for c in cl], 24)
            + "\n};\n"
        )
        nbytes += 5 * n
    if lv.width == 1 and ir.tree_output is not None:
        parts.append(
            f"static const int32_t {name}_tree_output[{ir.n_trees}] = {{\n"
            + array_lines([str(int(k)) for k in ir.tree_output], 16)
            + "\n};\n"
        )
        nbytes += 4 * ir.n_trees
    null = "NULL"
    has_cat = ir.has_categorical
    tout = lv.width == 1 and ir.tree_output is not None
    model = (
        f"static const ml_boost {name}_model = {{\n"
        f"    {ir.n_features}, {ir.n_raw}, {ir.n_trees}, {n}, {int(lv.row_of_leaf.max()) + 1}, {lv.width}, "
        f"{int(ir.aggregation == 'mean')}, {ir.cat_words if has_cat else 0}, {int(ir.cat_cast == 'trunc')},\n"
        f"    {name}_roots, {name}_feature, {name}_missing_left, {name}_threshold, {name}_right,\n"
        f"    {name + '_cat_set' if has_cat else null}, {name + '_cat_left' if has_cat else null}, "
        f"{name + '_cat_bits' if has_cat else null},\n"
        f"    {name + '_tree_output' if tout else null},\n"
        f"    {name}_leaf_f32, {name + '_leaf_f64' if lv.f64 else null}, {name}_base_f32, "
        f"{name + '_base_f64' if lv.f64 else null}, {name + '_count' if ir.aggregation == 'mean' else null}\n"
        "};\n"
    )
    raw = (
        f"/* Raw scores of input x: the float32 fast path. */\n"
        f"static inline void {name}_raw_f32(const float *x, float *raw)\n{{\n"
        f"    ml_boost_raw_f32(&{name}_model, x, raw);\n}}\n"
    )
    if lv.f64:
        raw += (
            f"\n/* Raw scores of input x in float64, as the library sums them. */\n"
            f"static inline void {name}_raw_f64(const float *x, double *raw)\n{{\n"
            f"    ml_boost_raw_f64(&{name}_model, x, raw);\n}}\n"
        )
    body = "".join(parts) + lv.text + cats + "\n" + model + "\n" + raw
    return assemble(ir, name, "table", command, nbytes, body)


# --------------------------------------------------------------------------------------------- inline


def _condition(ir: BoostedTrees, name: str, i: int) -> str:
    f = int(ir.feature[i])
    if ir.cat_set is not None and ir.cat_left is not None and ir.cat_set[i] >= 0:
        s = int(ir.cat_set[i])
        w = ir.cat_words
        return (
            f"ml_boost_cat_left({name}_cat_bits + {s * w}, {w}, x[{f}], {int(ir.cat_cast == 'trunc')}, "
            f"{int(ir.missing_left[i])}, {int(ir.cat_left[i])})"
        )
    t = ir.threshold[i]
    macro = "ML_TREES_LE_NAN_LEFT" if ir.missing_left[i] else "ML_TREES_LE"
    return f"{macro}(x[{f}], {f32(t)}, {f32_key(t)})"


def emit_inline(ir: BoostedTrees, name: str, command: str = "") -> CSource:
    check(ir)
    lv = leaf_tables(ir, name)
    cats, cat_bytes = cat_table(ir, name)
    functions = tree_functions(ir, name, lv.row_of_leaf, lambda i: _condition(ir, name, i))
    rows = [f"{name}_tree_{t}(x)" for t in range(ir.n_trees)]
    raw = (
        f"/* Raw scores of input x: the float32 fast path. */\n"
        f"static inline void {name}_raw_f32(const float *x, float *raw)\n{{\n"
        + _accumulate(ir, name, lv, rows, "float")
        + "}\n"
    )
    if lv.f64:
        raw += (
            f"\n/* Raw scores of input x in float64, as the library sums them. */\n"
            f"static inline void {name}_raw_f64(const float *x, double *raw)\n{{\n"
            + _accumulate(ir, name, lv, rows, "double")
            + "}\n"
        )
    body = (
        lv.text
        + cats
        + "\n/* Each tree returns the row of the leaf tables that input x reaches. */\n"
        + "\n".join(functions)
        + "\n"
        + raw
    )
    return assemble(ir, name, "inline", command, lv.nbytes + cat_bytes, body)


register_method(
    BoostedTrees,
    "table",
    "const node arrays in flash, walked by the loop in ml_boost.h",
    emit_table,
    default=True,
)
register_method(BoostedTrees, "inline", "one C function of nested if/else per tree", emit_inline)
