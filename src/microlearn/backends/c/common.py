"""What the tree-ensemble C methods ("table", "inline") share: leaf tables, vote tables, the API.

The header itself is written by :mod:`microlearn.backends.c.writer`; the literals live there too (and
are re-exported here for the DSP generators that import them from this module)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from microlearn.backends.c.writer import CFunction, CSource, array_lines, check_c_name, f32, f64, header
from microlearn.errors import InvalidInputError
from microlearn.ir import TreeEnsemble
from microlearn.passes import votes
from microlearn.passes.leaves import float32_values, float_rows

__all__ = ["CSource", "array_lines", "check_c_name", "f32", "f32_key", "f64"]

MAX_CLASSES = 256  # ML_TREES_MAX_OUTPUTS in ml_trees.h
RUNTIME = ("ml_scores.h", "ml_trees.h")


def f32_key(v: float | np.floating) -> int:
    """ml_f32_key of a float32 (see ml_scores.h): integer keys that order exactly like the floats."""
    u = int(np.array([v], dtype=np.float32).view(np.uint32)[0])
    if (u & 0x7FFFFFFF) > 0x7F800000:
        raise InvalidInputError("a threshold cannot be NaN")
    if u & 0x80000000:
        return 0 if u == 0x80000000 else -(u & 0x7FFFFFFF)
    return u


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
        keep, row_of_leaf = float_rows(ir.leaf_value)
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
    keep, row_of_leaf = float32_values(v32)
    n = int(keep.size)
    literals = [f32(v) for v in v32[keep]]
    text = f"static const float {name}_leaf_value[{n}] = {{\n" + array_lines(literals, 6) + "\n};\n"
    return LeafTables(text, 4 * n, n, row_of_leaf)


def fixed_point_scale(n_trees: int) -> int:
    """Bits S of the fixed-point votes (passes.votes, the scheme mlrt uses too)."""
    return votes.scale_bits(n_trees)


def fixed_point_exact(ir: TreeEnsemble) -> bool:
    """Whether every leaf probability is exactly a multiple of 2**-S (passes.votes.exact)."""
    return votes.exact(ir.leaf_value, ir.n_trees)


def margin_q(n_trees: int) -> int:
    """Fixed-point lead that makes the fast path's class scikit-learn's class (passes.votes.margin)."""
    return votes.margin(n_trees)


def vote_tables(ir: TreeEnsemble, name: str, leaves: LeafTables) -> tuple[str, int, bool]:
    """Per leaf row: its class if the row is pure, else -(k + 1) for row k of a fixed-point table."""
    keep = np.unique(leaves.row_of_leaf, return_index=True)[1]
    rows = ir.leaf_value[keep[np.argsort(leaves.row_of_leaf[keep])]]
    vote: list[int] = []
    q_rows: list[str] = []
    for row in rows:
        nz = np.flatnonzero(row)
        if nz.size == 1 and row[nz[0]] == 1.0:
            vote.append(int(nz[0]))
        else:
            q = votes.quantize(row, ir.n_trees)
            q_rows.append("    {" + ", ".join(f"{int(v)}u" for v in q) + "}")
            vote.append(-len(q_rows))
    vtype = "int16_t" if len(q_rows) < 32767 else "int32_t"
    text = (
        f"/* Fast path: per leaf row, its class if pure,\n"
        f" * else -(k + 1) for row k of {name}_leaf_proba_q"
        f" (probabilities times 2^{fixed_point_scale(ir.n_trees)}). */\n"
        f"static const {vtype} {name}_leaf_vote[{len(vote)}] = {{\n"
        + array_lines([str(v) for v in vote], 16)
        + "\n};\n"
    )
    nbytes = len(vote) * (2 if vtype == "int16_t" else 4)
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
        first, row = float_rows(values[other])
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
            q = votes.quantize(rows, ir.n_trees)
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


def tree_api(ir: TreeEnsemble) -> tuple[CFunction, ...]:
    if ir.is_classifier:
        return (CFunction("predict", "int32"), CFunction("predict_proba", "void", ir.n_outputs))
    return (CFunction("predict", "float"),)


NOTES = (
    "NaN is a missing value, routed as scikit-learn routes it.",
    "Predictions equal scikit-learn's for every float32 input.",
    "Do not compile with -ffast-math (it breaks NaN handling).",
)


def assemble(ir: TreeEnsemble, name: str, method: str, command: str, const_bytes: int, body: str) -> CSource:
    return header(
        ir,
        name,
        method,
        body,
        api=tree_api(ir),
        const_bytes=const_bytes,
        runtime_headers=RUNTIME,
        command=command,
        notes=NOTES,
        extra_defines=(("N_TREES", ir.n_trees),),
    )
