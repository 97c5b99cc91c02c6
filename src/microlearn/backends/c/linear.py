"""Linear IR -> C (method "float"): const tables in flash and calls into ml_linear.h.

Classes: a fast path with a proven error bound (float32 on cores with an FPU, integers on the float bits
on cores without, chosen by ``ML_LINEAR_INT``) and a float64 replay when the bound does not separate the
top two scores. Values (regression, decision_function) and probabilities in float32 within the bounds
of docs/linear.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from microlearn.backends.c.registry import register_method
from microlearn.backends.c.writer import CFunction, CSource, array_lines, check_c_name, f32, f64, header
from microlearn.errors import InvalidInputError
from microlearn.ir.base import Task
from microlearn.ir.linear import U32, Linear, gamma

MAX_FEATURES = 65535  # the integer path's sum of |x| fits a uint32
MAX_ROWS = 65535
Q_MAX = 32767  # integer weights are int16
GRID = 141  # a float32 with biased exponent E is on the grid 2^(E - 141) (15 bits below its leading bit)
SLACK = 1.0 + 2.0**-20  # covers the float32 roundings of computing the bound itself (docs/linear.md)


def _up32(v: float) -> np.float32:
    """The smallest float32 not below v (v >= 0)."""
    x = np.float32(v)
    if float(x) < v:
        x = np.nextafter(x, np.float32(np.inf))
    return np.float32(x)


@dataclass(frozen=True)
class FastBound:
    """Per row of coef: |float32 score - exact score| <= max_i |x_i| * a[c] + b[c] (docs/linear.md)."""

    a: npt.NDArray[np.float32]
    b: npt.NDArray[np.float32]


def fast_bound(ir: Linear) -> FastBound:
    n = ir.n_features
    w, b = ir.coef, ir.intercept
    w32 = w.astype(np.float32).astype(np.float64)
    b32 = b.astype(np.float32).astype(np.float64)
    g = gamma(n + 1, U32)
    A = np.abs(w32 - w).sum(axis=1) + g * np.abs(w32).sum(axis=1)
    B = np.abs(b32 - b) + g * np.abs(b32) + n * 2.0**-149
    a = np.array([_up32(v * SLACK) for v in A], dtype=np.float32)
    bb = np.array([_up32(max(v * SLACK, 2.0**-120)) for v in B], dtype=np.float32)
    return FastBound(a, bb)


@dataclass(frozen=True)
class IntTables:
    """The integer path's tables (ml_linear_q): w ~ wq * 2^-S, intercept = bm * 2^(bt - 141 - S)."""

    S: int
    wq: npt.NDArray[np.int64]
    rq: list[int]
    bm: list[int]
    bt: list[int]
    btmax: list[int]


def int_tables(ir: Linear) -> IntTables:
    w = ir.coef
    mx = float(np.max(np.abs(w)))
    if mx == 0.0:
        S = 0
    else:
        S = min(200, Q_MAX.bit_length() - math.frexp(mx)[1])  # mx * 2^S < 2^15
        while round(math.ldexp(mx, S)) > Q_MAX:
            S -= 1
        while S < 200 and round(math.ldexp(mx, S + 1)) <= Q_MAX:
            S += 1
    wq = np.array([[round(math.ldexp(float(v), S)) for v in row] for row in w], dtype=np.int64)
    rq = []
    for row in w:
        tot = sum((Fraction(abs(float(v))) for v in row), Fraction(0)) * Fraction(2) ** S
        rq.append(math.ceil(tot))
    bm, bt, btmax = [], [], []
    for v in ir.intercept:
        f, e = math.frexp(float(v))
        m = int(math.ldexp(f, 53))
        kb = e - 53
        bm.append(m)
        bt.append(kb + GRID + S)
        btmax.append(60 - abs(m).bit_length())
    return IntTables(S, wq, rq, bm, bt, btmax)


def _arr(ctype: str, name: str, items: list[str], per_line: int) -> str:
    return f"static const {ctype} {name}[{len(items)}] = {{\n" + array_lines(items, per_line) + "\n};\n"


def emit(ir: Linear, name: str, command: str = "") -> CSource:
    check_c_name(name)
    n, k = ir.n_features, ir.k
    if n > MAX_FEATURES or k > MAX_ROWS:
        raise InvalidInputError(
            f"the model has {n} features and {k} rows of coefficients; the C runtime takes at most "
            f"{MAX_FEATURES} of each"
        )
    cls = ir.task == Task.CLASSIFY
    w32 = ir.coef.astype(np.float32)
    b32 = ir.intercept.astype(np.float32)
    parts: list[str] = []
    nbytes = 0
    parts.append(_arr("float", f"{name}_w", [f32(v) for v in w32.reshape(-1)], 6))
    parts.append(_arr("float", f"{name}_b", [f32(v) for v in b32], 6))
    nbytes += 4 * (w32.size + k)
    err = "NULL, NULL"
    if cls:
        fb = fast_bound(ir)
        parts.append(_arr("float", f"{name}_err_a", [f32(v) for v in fb.a], 6))
        parts.append(_arr("float", f"{name}_err_b", [f32(v) for v in fb.b], 6))
        err = f"{name}_err_a, {name}_err_b"
        nbytes += 8 * k
    parts.append(f"static const ml_linear_f32 {name}_f32 = {{{n}, {k}, {name}_w, {name}_b, {err}}};\n")
    replay_bytes = q_bytes = 0
    if cls:
        if ir.exact32:
            replay = f"ml_linear_scores_f64_w32(&{name}_f32, x, d)"
        else:
            parts.append(_arr("double", f"{name}_w64", [f64(v) for v in ir.coef.reshape(-1)], 4))
            parts.append(_arr("double", f"{name}_b64", [f64(v) for v in ir.intercept], 4))
            parts.append(f"static const ml_linear_f64 {name}_f64 = {{{n}, {k}, {name}_w64, {name}_b64}};\n")
            replay = f"ml_linear_scores_f64(&{name}_f64, x, d)"
            replay_bytes = 8 * (ir.coef.size + k)
        t = int_tables(ir)
        q = [
            "#if ML_LINEAR_INT",
            f"/* integer path: weights times 2^{t.S} (int16); intercepts as mantissa and shift */",
            _arr("int16_t", f"{name}_wq", [str(int(v)) for v in t.wq.reshape(-1)], 12).rstrip("\n"),
            _arr("int64_t", f"{name}_rq", [f"INT64_C({v})" for v in t.rq], 4).rstrip("\n"),
            _arr("int64_t", f"{name}_bm", [f"INT64_C({v})" for v in t.bm], 3).rstrip("\n"),
            _arr("int32_t", f"{name}_bt", [str(v) for v in t.bt], 12).rstrip("\n"),
            _arr("int32_t", f"{name}_btmax", [str(v) for v in t.btmax], 12).rstrip("\n"),
            f"static const ml_linear_q {name}_q = {{{n}, {k}, {name}_wq, {name}_rq, {name}_bm, {name}_bt, "
            f"{name}_btmax}};",
            "#endif",
        ]
        parts.append("\n".join(q) + "\n")
        q_bytes = 2 * t.wq.size + 24 * k
    body = "\n".join(parts) + "\n" + _api(ir, name, replay if cls else "")
    const_bytes = nbytes + replay_bytes
    int_bytes = nbytes - 4 * w32.size - 8 * k + replay_bytes + q_bytes if cls else nbytes
    notes = [
        "Link with -lm (expf, predict_proba only). Classes equal scikit-learn's; values within the bounds",
        f"of docs/linear.md. predict without an FPU (ML_LINEAR_INT) uses {int_bytes} bytes of tables.",
    ]
    extra = [("N_SCORES", k)] if cls else []
    return header(
        ir,
        name,
        "float",
        body,
        api=_api_functions(ir),
        const_bytes=const_bytes,
        runtime_headers=("ml_linear.h",),
        command=command,
        notes=notes,
        extra_defines=extra,
    )


def _api_functions(ir: Linear) -> list[CFunction]:
    if ir.task == Task.CLASSIFY:
        out = [CFunction("predict", "int32")]
        if ir.has_proba:
            out.append(CFunction("predict_proba", "void", ir.n_outputs))
        out.append(CFunction("decision_function", "void", ir.k))
        return out
    if ir.k == 1:
        return [CFunction("predict", "float")]
    return [CFunction("predict_values", "void", ir.k)]


def _api(ir: Linear, name: str, replay: str) -> str:
    k, n = ir.k, ir.n_features
    if ir.task == Task.REGRESS:
        if k == 1:
            return (
                "/* Predicted value of input x (float32 arithmetic; bound in docs/linear.md). */\n"
                f"static inline float {name}_predict(const float *x)\n{{\n"
                f"    float s[1];\n    ml_linear_scores_f32(&{name}_f32, x, s);\n    return s[0];\n}}\n"
            )
        return (
            f"/* The {k} predicted values of input x into out. */\n"
            f"static inline void {name}_predict_values(const float *x, float *out)\n{{\n"
            f"    ml_linear_scores_f32(&{name}_f32, x, out);\n}}\n"
        )
    kind = {"logistic": 1, "softmax": 2, "modified_huber": 3}.get(ir.proba, 0)
    norm = {"none": 0, "ovr": 1, "ovr_nonzero": 2}[ir.normalize]
    # scikit-learn's expit (scipy) is 0 from about -709.7827 (float64) or -88.72284 (float32) down
    zero_below = "-88.72284f" if ir.dtype == "float32" else "-709.7827f"
    text = (
        "/* Class index of input x: scikit-learn's predict. A fast path with a proven error bound decides\n"
        " * unless the top two scores are within it; then scikit-learn's float64 arithmetic is\n"
        " * replayed. */\n"
        f"static inline int32_t {name}_predict(const float *x)\n{{\n"
        f"    double d[{k}];\n"
        f"#if ML_LINEAR_INT\n"
        f"    int32_t xq[{n}];\n    int64_t v[{k}];\n"
        f"    const int32_t c = ml_linear_class_q(&{name}_q, x, xq, v);\n"
        f"#else\n"
        f"    float s[{k}];\n"
        f"    const int32_t c = ml_linear_class_f32(&{name}_f32, x, s);\n"
        f"#endif\n"
        f"    if (c >= 0) {{\n        return c;\n    }}\n"
        f"    {replay};\n"
        f"    return ml_linear_decide_f64(d, {k});\n}}\n\n"
        f"/* decision_function: the {k} score{'s' if k > 1 else ''} of input x in float32. */\n"
        f"static inline void {name}_decision_function(const float *x, float *out)\n{{\n"
        f"    ml_linear_scores_f32(&{name}_f32, x, out);\n}}\n"
    )
    if ir.has_proba:
        text += (
            f"\n/* Class probabilities of input x into out[0..{ir.n_outputs - 1}] (float32). */\n"
            f"static inline void {name}_predict_proba(const float *x, float *out)\n{{\n"
            f"    float s[{k}];\n"
            f"    ml_linear_scores_f32(&{name}_f32, x, s);\n"
            f"    ml_linear_proba(s, {k}, {kind}, {norm}, {zero_below}, out);\n}}\n"
        )
    return text


register_method(
    Linear,
    "float",
    "float32 dot products under a proven error bound (integers without an FPU), float64 replay of near ties",
    emit,
    default=True,
)
