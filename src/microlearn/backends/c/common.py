"""Pieces every C strategy shares: names, literals, the header comment, the public API functions."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from microlearn._version import __version__
from microlearn.errors import InvalidInputError
from microlearn.ir import TreeEnsemble
from microlearn.ir.trees import unique_rows

C_KEYWORDS = frozenset(
    """auto break case char const continue default do double else enum extern float for goto if inline int
    long register restrict return short signed sizeof static struct switch typedef union unsigned void
    volatile while _Bool _Complex _Imaginary bool true false class new delete template this namespace
    operator private public protected virtual friend using typename""".split()
)
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_CLASSES = 256  # ML_TREES_MAX_OUTPUTS in ml_trees.h


@dataclass(frozen=True)
class CSource:
    """Generated C: the header text plus what the host and target builds need to know."""

    name: str
    header: str
    method: str
    kind: str
    n_features: int
    n_outputs: int
    const_bytes: int
    runtime_headers: tuple[str, ...] = field(default=("ml_trees.h",))

    @property
    def filename(self) -> str:
        return f"{self.name}.h"


def check_c_name(name: str) -> None:
    if not isinstance(name, str) or not _IDENT.match(name) or name in C_KEYWORDS:
        raise InvalidInputError(
            f"{name!r} is not a valid C identifier: use letters, digits and '_', not starting with a digit "
            "and not a C keyword (e.g. name='gesture')"
        )
    if name.startswith("ml_"):
        raise InvalidInputError(f"{name!r}: the prefix 'ml_' is reserved for the microlearn runtime")


def f32(v: float | np.floating) -> str:
    """A C float literal that parses to exactly this float32 value."""
    x = np.float32(v)
    if np.isinf(x):  # scikit-learn's "only NaN goes right" splits have threshold +inf
        return "INFINITY" if x > 0 else "-INFINITY"
    if np.isnan(x):
        raise InvalidInputError("cannot write NaN as a C float literal")
    pos = np.format_float_positional(x, unique=True, trim="0")
    sci = np.format_float_scientific(x, unique=True, trim="0").replace("+", "")
    return (pos if len(pos) <= len(sci) else sci) + "f"


def f32_key(v: float | np.floating) -> int:
    """ml_f32_key of a float32 (see ml_trees.h): integer keys that order exactly like the floats."""
    u = int(np.array([v], dtype=np.float32).view(np.uint32)[0])
    if (u & 0x7FFFFFFF) > 0x7F800000:
        raise InvalidInputError("a threshold cannot be NaN")
    if u & 0x80000000:
        return 0 if u == 0x80000000 else -(u & 0x7FFFFFFF)
    return u


def f64(v: float | np.floating) -> str:
    """A C double literal that parses to exactly this float64 value."""
    x = float(v)
    if not np.isfinite(x):
        raise InvalidInputError(f"cannot write non-finite double {x!r} as a C literal")
    s = repr(x)
    if "e" not in s and "." not in s:
        s += ".0"
    return s


def array_lines(items: list[str], per_line: int = 8, indent: str = "    ") -> str:
    rows = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
    return ",\n".join(indent + r for r in rows)


def header_comment(ir: TreeEnsemble, name: str, method: str, const_bytes: int, command: str) -> str:
    lines = [
        f"{name}.h - {ir.source.split('.')[-1] or 'tree model'} converted by microlearn {__version__}"
        f' (method "{method}")',
        f"features: {ir.n_features}",
    ]
    if ir.is_classifier:
        labels = [str(c) for c in (ir.classes if ir.classes is not None else range(ir.n_outputs))]
        shown = ", ".join(f"{i}={lab}" for i, lab in enumerate(labels[:16]))
        more = f", ... ({len(labels)} in all)" if len(labels) > 16 else ""
        lines.append(f"classes: {ir.n_outputs} ({shown}{more})")
    else:
        lines.append("output: one float (regression)")
    lines += [
        f"trees: {ir.n_trees}   nodes: {ir.n_nodes} ({ir.n_leaves} leaves)   max depth: {ir.max_depth()}",
        f"const data: {const_bytes} bytes",
    ]
    if command:
        lines.append(f"made by: {command}")
    lines += [
        "",
        "API (all functions static inline; include this header from any number of .c/.cpp files):",
    ]
    up = name.upper()
    if ir.is_classifier:
        lines += [
            f"  int32_t {name}_predict(const float *x);            class index 0..{up}_N_CLASSES-1",
            f"  void {name}_predict_proba(const float *x, float *out);   {up}_N_CLASSES probabilities",
        ]
    else:
        lines.append(f"  float {name}_predict(const float *x);")
    lines += [
        f"x points to {up}_N_FEATURES floats; NaN is a missing value, routed as scikit-learn routes it.",
        "Predictions equal scikit-learn's for every float32 input. Needs ml_trees.h on the include path.",
        "Do not compile with -ffast-math (it breaks NaN handling).",
    ]
    body = "\n".join((" * " + ln).rstrip() for ln in lines)
    return f"/*\n{body}\n */\n"


def guard(name: str) -> str:
    return f"ML_MODEL_{name.upper()}_H"


def defines(ir: TreeEnsemble, name: str) -> str:
    up = name.upper()
    out = [f"#define {up}_N_FEATURES {ir.n_features}"]
    if ir.is_classifier:
        out.append(f"#define {up}_N_CLASSES {ir.n_outputs}")
    out.append(f"#define {up}_N_TREES {ir.n_trees}")
    return "\n".join(out) + "\n"


def check_limits(ir: TreeEnsemble) -> None:
    if ir.is_classifier and ir.n_outputs > MAX_CLASSES:
        raise InvalidInputError(
            f"the model has {ir.n_outputs} classes; microlearn's C runtime supports at most {MAX_CLASSES}"
        )
    if ir.n_features > 32767:
        raise InvalidInputError(f"the model has {ir.n_features} features; at most 32767 are supported")


@dataclass(frozen=True)
class LeafTables:
    """The C leaf tables with identical rows stored once; ``row_of_leaf[ir.leaf[i]]`` is node i's row."""

    text: str
    nbytes: int
    n_rows: int
    row_of_leaf: npt.NDArray[np.int64]


def leaf_tables(ir: TreeEnsemble, name: str) -> LeafTables:
    """Classifier: float64 class probabilities (+ the class of each row for a single tree);
    regressor: float32 values. Rows are compared bit for bit, so sharing them changes no output."""
    if ir.is_classifier:
        keep, row_of_leaf = unique_rows(np.ascontiguousarray(ir.leaf_value).view(np.uint64))
        vals = ir.leaf_value[keep]
        n = int(keep.size)
        rows = ["    {" + ", ".join(f64(v) for v in row) + "}" for row in vals]
        text = (
            f"static const double {name}_leaf_proba[{n}][{ir.n_outputs}] = {{\n" + ",\n".join(rows) + "\n};\n"
        )
        nbytes = 8 * vals.size
        if ir.n_trees == 1:
            text += (
                f"static const int32_t {name}_leaf_class[{n}] = {{\n"
                + array_lines([str(int(c)) for c in ir.leaf_class[keep]], 16)
                + "\n};\n"
            )
            nbytes += 4 * n
        return LeafTables(text, nbytes, n, row_of_leaf)
    v32 = ir.leaf_value[:, 0].astype(np.float32)
    keep, row_of_leaf = unique_rows(v32.view(np.uint32).reshape(-1, 1))
    n = int(keep.size)
    literals = [f32(v) for v in v32[keep]]
    text = f"static const float {name}_leaf_value[{n}] = {{\n" + array_lines(literals, 6) + "\n};\n"
    return LeafTables(text, 4 * n, n, row_of_leaf)


def fixed_point_scale(n_trees: int) -> int:
    """Bits of the fixed-point fast path: probabilities are rounded to multiples of 2**-S, with
    n_trees * 2**S < 2**31, so the sums of all trees fit a uint32 without overflow."""
    return min(24, 31 - int(n_trees).bit_length())


def fixed_point_exact(ir: TreeEnsemble) -> bool:
    """Whether every leaf probability is exactly a multiple of 2**-S (S = fixed_point_scale)."""
    scale = 2.0 ** fixed_point_scale(ir.n_trees)
    scaled = ir.leaf_value * scale
    return bool(np.all(np.rint(scaled) == scaled))


def margin_q(n_trees: int) -> int:
    """Fixed-point lead (in units of 2**-S) that makes the fast path's class scikit-learn's class.

    Rounding each tree's probability to a multiple of 2**-S errs by at most half a unit, so each class
    sum is off by at most T/2 units and a lead of more than T + 1 units is a lead of more than one unit
    in exact arithmetic. scikit-learn's float64 sums err by less than T**2 * 2**-52 (far below a unit
    while T < 2**14), so the lead stays strict in float64, and also after dividing by T."""
    return n_trees + 1


def vote_tables(ir: TreeEnsemble, name: str, leaves: LeafTables) -> tuple[str, int, bool]:
    """Per leaf row: its class if the row is pure, else -(k + 1) for row k of a fixed-point table."""
    keep = np.unique(leaves.row_of_leaf, return_index=True)[1]
    rows = ir.leaf_value[keep[np.argsort(leaves.row_of_leaf[keep])]]
    scale = 2.0 ** fixed_point_scale(ir.n_trees)
    votes: list[int] = []
    q_rows: list[str] = []
    for row in rows:
        nz = np.flatnonzero(row)
        if nz.size == 1 and row[nz[0]] == 1.0:
            votes.append(int(nz[0]))
        else:
            q = np.rint(row * scale).astype(np.int64)
            q_rows.append("    {" + ", ".join(f"{int(v)}u" for v in q) + "}")
            votes.append(-len(q_rows))
    vtype = "int16_t" if len(q_rows) < 32767 else "int32_t"
    text = (
        f"/* Fast path: per leaf row, its class if pure,\n"
        f" * else -(k + 1) for row k of {name}_leaf_proba_q"
        f" (probabilities times 2^{fixed_point_scale(ir.n_trees)}). */\n"
        f"static const {vtype} {name}_leaf_vote[{len(votes)}] = {{\n"
        + array_lines([str(v) for v in votes], 16)
        + "\n};\n"
    )
    nbytes = len(votes) * (2 if vtype == "int16_t" else 4)
    if q_rows:
        text += (
            f"static const uint32_t {name}_leaf_proba_q[{len(q_rows)}][{ir.n_outputs}] = {{\n"
            + ",\n".join(q_rows)
            + "\n};\n"
        )
        nbytes += 4 * len(q_rows) * ir.n_outputs
    return text, nbytes, bool(q_rows)


def _classifier_api(
    ir: TreeEnsemble,
    name: str,
    walk_exprs: list[str],
    *,
    add_f64: str,
    vote: str,
    one_tree: str,
    q_rows: str,
    q_exact: bool,
) -> str:
    """The classifier functions, whatever each tree's walk yields into w[t] (a leaf row or a vote code):
    ``add_f64`` adds tree t's float64 probabilities to acc, ``vote`` is tree t's vote code, ``one_tree``
    the class a single tree predicts from w[0]; ``q_rows`` is the fixed-point table (or NULL).
    ``q_exact``: every leaf probability is a multiple of 2**-S (pure leaves, halves, quarters ...), so
    the fixed-point sums are the exact sums, equal to scikit-learn's float64 ones (no rounding in either,
    and distinct sums stay distinct after the division by T): then the argmax needs no replay and the
    model no double arithmetic at all."""
    nc, T = ir.n_outputs, ir.n_trees
    walks = "".join(f"    w[{t}] = {e};\n" for t, e in enumerate(walk_exprs))
    mean = f"    for (c = 0; c < {nc}; c++) {{\n        acc[c] /= {f64(T)};\n    }}\n" if T > 1 else ""
    if T == 1:
        body = f"    int32_t w[1];\n    {name}_walk(x, w);\n    return {one_tree};\n"
    elif q_exact:
        body = (
            f"    int32_t w[{T}];\n    uint32_t sums[{nc}];\n    int32_t c, t;\n"
            f"    {name}_walk(x, w);\n"
            f"    for (c = 0; c < {nc}; c++) {{\n        sums[c] = 0u;\n    }}\n"
            f"    for (t = 0; t < {T}; t++) {{\n"
            f"        ml_trees_vote_q(sums, {vote}, {q_rows}, {nc}, {2 ** fixed_point_scale(T)}u);\n    }}\n"
            f"    /* every leaf probability is a multiple of 2^-{fixed_point_scale(T)}:\n"
            f"     * these sums are exact, and so is their argmax */\n"
            f"    return ml_argmax_u32(sums, {nc});\n"
        )
    else:
        body = (
            f"    int32_t w[{T}];\n    uint32_t sums[{nc}];\n    double acc[{nc}];\n"
            f"    int32_t c, t, best;\n"
            f"    {name}_walk(x, w);\n"
            f"    for (c = 0; c < {nc}; c++) {{\n        sums[c] = 0u;\n    }}\n"
            f"    for (t = 0; t < {T}; t++) {{\n"
            f"        ml_trees_vote_q(sums, {vote}, {q_rows}, {nc}, {2 ** fixed_point_scale(T)}u);\n    }}\n"
            f"    best = ml_argmax_margin_q(sums, {nc}, {margin_q(T)}u);\n"
            f"    if (best >= 0) {{\n        return best;\n    }}\n"
            f"    /* a near tie: replay scikit-learn's float64 arithmetic */\n"
            f"    {name}_proba_walk_f64(w, acc);\n"
            f"    return ml_argmax_f64(acc, {nc});\n"
        )
    return (
        f"/* What each tree's walk yields for input x. */\n"
        f"static inline void {name}_walk(const float *x, int32_t *w)\n{{\n{walks}}}\n\n"
        f"/* Class probabilities in float64 from the walks, as scikit-learn computes them. */\n"
        f"static inline void {name}_proba_walk_f64(const int32_t *w, double *acc)\n{{\n"
        f"    int32_t c, t;\n"
        f"    for (c = 0; c < {nc}; c++) {{\n        acc[c] = 0.0;\n    }}\n"
        f"    for (t = 0; t < {T}; t++) {{\n        {add_f64};\n    }}\n"
        f"{mean}}}\n\n"
        f"/* Class probabilities in float64, exactly as scikit-learn computes them. */\n"
        f"static inline void {name}_proba_f64(const float *x, double *acc)\n{{\n"
        f"    int32_t w[{T}];\n    {name}_walk(x, w);\n"
        f"    {name}_proba_walk_f64(w, acc);\n}}\n\n"
        f"/* Class index (0..{nc - 1}) of input x: scikit-learn's predict, exactly. A fixed-point vote\n"
        f" * decides unless two classes are within rounding of a tie; then float64 is replayed. */\n"
        f"static inline int32_t {name}_predict(const float *x)\n{{\n{body}}}\n\n"
        f"/* Class probabilities of input x into out[0..{nc - 1}]. */\n"
        f"static inline void {name}_predict_proba(const float *x, float *out)\n{{\n"
        f"    double acc[{nc}];\n"
        f"    int32_t c;\n"
        f"    {name}_proba_f64(x, acc);\n"
        f"    for (c = 0; c < {nc}; c++) {{\n        out[c] = (float)acc[c];\n    }}\n}}\n"
    )


def api_functions(
    ir: TreeEnsemble, name: str, leaf_of_tree: list[str], leaves: LeafTables
) -> tuple[str, int]:
    """The public functions (and the bytes of the tables they add), given a C expression for the leaf
    row each tree reaches (it may use `x`)."""
    nc = ir.n_outputs
    T = ir.n_trees
    if ir.is_classifier:
        extra, q_rows = 0, "NULL"
        votes_text = ""
        if T > 1:
            votes_text, extra, has_q = vote_tables(ir, name, leaves)
            votes_text += "\n"
            q_rows = f"{name}_leaf_proba_q[0]" if has_q else "NULL"
        api = _classifier_api(
            ir,
            name,
            leaf_of_tree,
            add_f64=f"ml_trees_add_f64(acc, {name}_leaf_proba[w[t]], {nc})",
            vote=f"{name}_leaf_vote[w[t]]",
            one_tree=f"{name}_leaf_class[w[0]]",
            q_rows=q_rows,
            q_exact=fixed_point_exact(ir),
        )
        return votes_text + api, extra
    terms = [f"{name}_leaf_value[{leaf}]" for leaf in leaf_of_tree]
    if T == 1:
        body = f"    return {terms[0]};\n"
    else:
        body = "    float sum = " + terms[0] + ";\n"
        body += "".join(f"    sum += {t};\n" for t in terms[1:])
        body += f"    return sum / {f32(T)};\n"
    return (
        f"/* Predicted value for input x. */\n"
        f"static inline float {name}_predict(const float *x)\n{{\n{body}}}\n",
        0,
    )


@dataclass(frozen=True)
class VoteCodes:
    """Classifier leaves as vote codes: a pure leaf's code is its class (probability 1, exact in any
    arithmetic); any other leaf's code is -(k + 1) for row k of the tables in ``text``, which hold
    only such rows (float64 for the exact replay, fixed point for the fast vote, classes for one tree)."""

    code_of_leaf: npt.NDArray[np.int64]
    text: str
    nbytes: int
    n_rows: int


def vote_codes(ir: TreeEnsemble, name: str) -> VoteCodes:
    values = np.ascontiguousarray(ir.leaf_value)
    pure = (np.count_nonzero(values, axis=1) == 1) & (values.max(axis=1) == 1.0)
    code = np.argmax(values, axis=1).astype(np.int64)
    other = np.flatnonzero(~pure)
    if other.size:
        first, row = unique_rows(values[other].view(np.uint64))
        code[other] = -(row + 1)
        rows = values[other][first]
        cls = ir.leaf_class[other][first]
    else:
        rows = np.zeros((0, ir.n_outputs))
        cls = np.zeros(0, dtype=np.int32)
    k, nc = rows.shape[0], ir.n_outputs
    text, nbytes = "", 0
    if k:
        text += (
            f"static const double {name}_leaf_proba[{k}][{nc}] = {{\n"
            + ",\n".join("    {" + ", ".join(f64(v) for v in r) + "}" for r in rows)
            + "\n};\n"
        )
        nbytes += 8 * k * nc
        if ir.n_trees == 1:
            text += (
                f"static const int32_t {name}_leaf_class[{k}] = {{\n"
                + array_lines([str(int(c)) for c in cls], 16)
                + "\n};\n"
            )
            nbytes += 4 * k
        else:
            scale = 2.0 ** fixed_point_scale(ir.n_trees)
            q = np.rint(rows * scale).astype(np.int64)
            text += (
                f"static const uint32_t {name}_leaf_proba_q[{k}][{nc}] = {{\n"
                + ",\n".join("    {" + ", ".join(f"{int(v)}u" for v in r) + "}" for r in q)
                + "\n};\n"
            )
            nbytes += 4 * k * nc
    return VoteCodes(code, text, nbytes, k)


def api_functions_codes(ir: TreeEnsemble, name: str, code_of_tree: list[str], codes: VoteCodes) -> str:
    """Classifier API over trees that return vote codes (see VoteCodes)."""
    k = codes.n_rows
    f64_rows = f"{name}_leaf_proba[0]" if k else "NULL"
    return _classifier_api(
        ir,
        name,
        code_of_tree,
        add_f64=f"ml_trees_add_vote_f64(acc, w[t], {f64_rows}, {ir.n_outputs})",
        vote="w[t]",
        one_tree=f"w[0] >= 0 ? w[0] : {name + '_leaf_class[-w[0] - 1]' if k else '0'}",
        q_rows=f"{name}_leaf_proba_q[0]" if k else "NULL",
        q_exact=fixed_point_exact(ir),
    )


def assemble(ir: TreeEnsemble, name: str, method: str, command: str, const_bytes: int, body: str) -> str:
    g = guard(name)
    math = "#include <math.h> /* INFINITY */\n" if "INFINITY" in body else ""
    return (
        header_comment(ir, name, method, const_bytes, command)
        + f"#ifndef {g}\n#define {g}\n\n"
        + f'#include <stddef.h>\n#include <stdint.h>\n{math}#include "ml_trees.h"\n\n'
        + '#ifdef __cplusplus\nextern "C" {\n#endif\n\n'
        + defines(ir, name)
        + "\n"
        + body
        + "\n#ifdef __cplusplus\n}\n#endif\n\n"
        + f"#endif /* {g} */\n"
    )
