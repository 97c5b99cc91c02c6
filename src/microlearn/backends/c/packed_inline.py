"""The fast methods ("fast", "fast_u8", "fast_i8", "fast_i16"): every tree as nested if/else inside
predict, each leaf adding its vote on the spot.

A pure leaf adds one fixed-point unit to its class; an impure leaf adds its row's terms
(count * recip) >> shift as constants (counts, as in the packed methods; rows kept as float64 go
through NAME_vote_row); a regressor's leaf adds its value. The leaves record nothing else: the rare near
tie walks the packed node stream again (NAME_walk, the walk predict_proba uses) for the exact integer
replay of the packed methods (packed.classifier_parts), so the results are the same, bit for bit. The
margin test is written out class by class. The integer variants compare integer inputs with integer
thresholds (packed.int_threshold): one load, one compare, one branch per node on a Cortex-M.
"""

from __future__ import annotations

import numpy as np

from microlearn.backends.c.common import CSource, check_limits, f32, f32_key
from microlearn.backends.c.packed import (
    INPUTS,
    _classifier_leaves,
    _float_entry,
    _regressor_leaves,
    assemble,
    classifier_parts,
    exact_comment,
    int_threshold,
    walk_text,
)
from microlearn.backends.c.registry import register_method
from microlearn.ir import TreeEnsemble

METHODS = {"fast": "packed", "fast_u8": "packed_u8", "fast_i8": "packed_i8", "fast_i16": "packed_i16"}
SUMMARIES = {
    "fast": "if/else trees inside predict, votes added at the leaves as constants, counts + integer replay",
    "fast_u8": "fast, uint8 inputs (integer thresholds, exact for every uint8 value)",
    "fast_i8": "fast, int8 inputs (integer thresholds, exact for every int8 value)",
    "fast_i16": "fast, int16 inputs (integer thresholds, exact for every int16 value)",
}
MAX_NEST = 48  # deeper subtrees go to functions of their own (clang limits brace depth to 256)


def emit(ir: TreeEnsemble, name: str, command: str = "", method: str = "fast") -> CSource:
    check_limits(ir)
    inp = INPUTS[METHODS[method]]
    xt = inp.ctype
    sfx = f"_{inp.suffix}" if inp.suffix else ""
    nc, T = ir.n_outputs, ir.n_trees
    cls = ir.is_classifier
    leaves = _classifier_leaves(ir, name) if cls else _regressor_leaves(ir, name)
    code = leaves.code_of_leaf
    parts = classifier_parts(ir, name, leaves) if cls else None
    replay = cls and T > 1 and parts is not None and not parts.exact

    def condition(i: int) -> str:
        f = int(ir.feature[i])
        if inp.lo is None:
            macro = "ML_TREES_LE_NAN_LEFT" if ir.missing_left[i] else "ML_TREES_LE"
            t = ir.threshold[i]
            return f"{macro}(x[{f}], {f32(t)}, {f32_key(t)})"
        assert inp.hi is not None
        return f"x[{f}] <= {int_threshold(float(ir.threshold[i]), inp.lo, inp.hi)}"

    def leaf_stmt(i: int, t: int, pad: str, mode: str) -> list[str]:
        c = int(code[ir.leaf[i]])
        if mode == "value":
            return (
                [f"{pad}return {name}_leaf_value[{c}];"]
                if t < 0
                else [f"{pad}sum {'=' if t == 0 else '+='} {name}_leaf_value[{c}];"]
            )
        if mode == "class":
            return [f"{pad}return {int(ir.leaf_class[ir.leaf[i]])};"]
        if mode == "walk":
            return [f"{pad}w[{t}] = {c}u;"]
        if c < nc:
            return [f"{pad}sums[{c}] += {parts.one if parts else 0}u;"]
        if leaves.row_votes:  # the impure row's terms, as constants: no call, no division
            return [f"{pad}sums[{k}] += {v}u;" for k, v in leaves.row_votes[c - nc] if v]
        return [f"{pad}{name}_vote_row(sums, {c}u);"]

    subs: list[str] = []
    params = {
        "value": (f"const {xt} *x", "x", "float"),
        "class": (f"const {xt} *x", "x", "int32_t"),
        "walk": (f"const {xt} *x, uint32_t *w", "x, w", "void"),
        "vote": (f"const {xt} *x, uint32_t *sums", "x, sums", "void"),
    }

    def nest(i: int, t: int, depth: int, lines: list[str], base: int, mode: str, sub_t: int) -> None:
        pad = "    " * (depth + base)
        if ir.feature[i] < 0:
            lines.extend(leaf_stmt(i, sub_t, pad, mode))
            return
        if depth >= MAX_NEST:
            sub = f"{name}_{mode}_node_{i}"
            sub_lines: list[str] = []
            nest(i, t, 0, sub_lines, 1, mode, -1 if mode == "value" else t)
            prm, args, ret = params[mode]
            subs.append(f"static inline {ret} {sub}({prm})\n{{\n" + "\n".join(sub_lines) + "\n}\n")
            if mode == "value":
                lines.append(f"{pad}sum {'=' if t == 0 else '+='} {sub}({args});")
            elif mode == "class":
                lines.append(f"{pad}return {sub}({args});")
            else:
                lines.append(f"{pad}{sub}({args});")
            return
        if inp.lo is not None and inp.hi is not None:
            k = int_threshold(float(ir.threshold[i]), inp.lo, inp.hi)
            if k >= inp.hi or k < inp.lo:  # every value of the type goes the same way
                nest(int(ir.left[i] if k >= inp.hi else ir.right[i]), t, depth, lines, base, mode, sub_t)
                return
        lines.append(f"{pad}if ({condition(i)}) {{")
        nest(int(ir.left[i]), t, depth + 1, lines, base, mode, sub_t)
        lines.append(f"{pad}}} else {{")
        nest(int(ir.right[i]), t, depth + 1, lines, base, mode, sub_t)
        lines.append(f"{pad}}}")

    def all_trees(mode: str) -> str:
        body: list[str] = []
        for t, root in enumerate(ir.roots):
            body.append(f"    /* tree {t} */")
            nest(int(root), t, 0, body, 1, mode, t)
        return "\n".join(body) + "\n"

    walk_bytes = 0
    if not cls:
        api = (
            f"/* Predicted value for input x: the float32 sum of the trees' leaf values, in tree order,\n"
            f" * over the number of trees. */\n"
            f"static inline float {name}_predict{sfx}(const {xt} *x)\n{{\n"
            f"    float sum;\n{all_trees('value')}"
            + (f"    return sum / {f32(T)};\n" if T > 1 else "    return sum;\n")
            + "}\n"
        )
    else:
        assert parts is not None
        # predict_proba walks the compact node stream of the packed methods (compiled only if used)
        walk, walk_bytes = walk_text(ir, name, leaves, inp)
        if T == 1:
            pred = (
                f"/* Class index (0..{nc - 1}) of input x: scikit-learn's predict, exactly. */\n"
                f"static inline int32_t {name}_predict{sfx}(const {xt} *x)\n{{\n{all_trees('class')}}}\n\n"
            )
        else:
            zero = (
                "".join(f"    sums[{c}] = 0u;\n" for c in range(nc))
                if nc <= 16
                else f"    ml_pk_zero_u32(sums, {nc});\n"
            )
            if parts.exact:
                tail = exact_comment(leaves, int(np.log2(parts.one))) + (
                    _argmax_unrolled(nc) if nc <= 16 else f"    return ml_argmax_u32(sums, {nc});\n"
                )
            else:
                tail = (
                    _margin_unrolled(nc, parts.margin)
                    if nc <= 16
                    else f"    best = ml_pk_argmax_margin(sums, {nc}, {parts.margin}u);\n"
                    f"    if (best >= 0) {{\n        return best;\n    }}\n"
                ) + (
                    f"    /* a near tie: walk the trees again for their leaves and replay scikit-learn's\n"
                    f"     * float64 arithmetic */\n"
                    f"    {name}_walk{sfx}(x, w);\n    {name}_proba_bits(w, acc);\n"
                    f"    return ml_pk_argmax_u64(acc, {nc});\n"
                )
            decl = f"    uint32_t sums[{nc}];\n" + (
                f"    uint32_t w[{T}];\n    uint64_t acc[{nc}];\n"
                + ("    uint32_t s, top, second;\n" if nc <= 16 else "")
                + "    int32_t best;\n"
                if replay
                else ("    uint32_t top;\n    int32_t best;\n" if nc <= 16 else "")
            )
            pred = (
                f"/* Class index (0..{nc - 1}) of input x: scikit-learn's predict, exactly. The trees add\n"
                f" * fixed-point votes as they reach their leaves. */\n"
                f"static inline int32_t {name}_predict{sfx}(const {xt} *x)\n{{\n"
                f"{decl}{zero}{all_trees('vote')}{tail}}}\n\n"
            )
        api = (
            walk + pred + f"/* Class probabilities of input x into out[0..{nc - 1}]. */\n"
            f"static inline void {name}_predict_proba{sfx}(const {xt} *x, float *out)\n{{\n"
            f"    uint32_t w[{T}];\n    uint64_t acc[{nc}];\n    int32_t c;\n"
            f"    {name}_walk{sfx}(x, w);\n    {name}_proba_bits(w, acc);\n"
            f"    for (c = 0; c < {nc}; c++) {{\n        out[c] = ml_pk_f64_to_float(acc[c]);\n    }}\n}}\n"
        )
    text = leaves.text + ("\n" + parts.text if parts is not None else "") + "\n".join(subs) + "\n" + api
    if inp.lo is not None:
        text += _float_entry(ir, name, inp, sfx, leaves)
    return assemble(ir, name, method, command, leaves.nbytes + walk_bytes, text, inp)


def _argmax_unrolled(nc: int) -> str:
    """First index of the largest of sums[0..nc) (numpy's argmax), one compare per class."""
    out = "    top = sums[0];\n    best = 0;\n"
    for c in range(1, nc):
        out += f"    if (sums[{c}] > top) {{\n        top = sums[{c}];\n        best = {c};\n    }}\n"
    return out + "    return best;\n"


def _margin_unrolled(nc: int, margin: int) -> str:
    """ml_pk_argmax_margin over sums[0..nc) written out class by class (no loop counter): returns the
    first largest sum's index when it leads every other by more than ``margin``, else falls through."""
    out = "    top = sums[0];\n    second = 0u;\n    best = 0;\n"
    for c in range(1, nc):
        out += (
            f"    s = sums[{c}];\n"
            f"    if (s > top) {{\n        second = top;\n        top = s;\n        best = {c};\n"
            f"    }} else if (s > second) {{\n        second = s;\n    }}\n"
        )
    return out + f"    if (top - second > {margin}u) {{\n        return best;\n    }}\n"


def emitter(method: str):  # type: ignore[no-untyped-def]
    def _emit(ir: TreeEnsemble, name: str, command: str = "") -> CSource:
        return emit(ir, name, command, method)

    return _emit


for _m in METHODS:
    _inp = INPUTS[METHODS[_m]]
    register_method(
        TreeEnsemble, _m, SUMMARIES[_m], emitter(_m), inputs="float32" if _inp.lo is None else _inp.ctype
    )
