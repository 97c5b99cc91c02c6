"""GaussianNB IR -> C: const tables in flash and calls into ml_naive_bayes.h.

Method "float" (the default): a float32 fast path with a proven error bound, a float64 replay of
scikit-learn's arithmetic when the bound does not separate the top two joint log-likelihoods;
probabilities and log-probabilities from the float64 replay. Method "float32": the fast path's float32
joint log-likelihoods alone (no bound, no float64 code), its largest decides (docs/naive_bayes.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from microlearn.backends.c.mahalanobis import arr, lit64, up32
from microlearn.backends.c.registry import register_method
from microlearn.backends.c.writer import CFunction, CSource, check_c_name, f32, header
from microlearn.errors import InvalidInputError
from microlearn.ir.linear import U32, gamma
from microlearn.ir.naive_bayes import GaussianNB

MAX_FEATURES = 65535
MAX_CLASSES = 65535
VAR_RANGE = (2.0**-120, 2.0**120)  # 1 / (2 var) stays a normal float32
RUNTIME = ("ml_scores.h", "ml_naive_bayes.h")
SLACK = 1.0 + 2.0**-18  # covers the float32 roundings of computing the bound on the device (docs)


@dataclass(frozen=True)
class FastTables:
    """The float32 fast path's tables and its bound |s[c] - jll[c]| <= b[c] + g * q[c]
    (docs/naive_bayes.md, "The float32 fast path")."""

    theta: npt.NDArray[np.float32]
    w: npt.NDArray[np.float32]
    k32: npt.NDArray[np.float32]
    b: npt.NDArray[np.float32]
    g: np.float32


def fast_tables(ir: GaussianNB) -> FastTables:
    n, u = ir.n_features, U32
    th32 = ir.theta.astype(np.float32)
    w32 = (0.5 / ir.var).astype(np.float32)
    lp, nm = ir.log_prior, ir.norm
    k64 = lp + nm  # rounded here; the bound uses the exact sum (kappa below)
    k32 = np.array([np.float32(v) if np.isfinite(lp[c]) else np.float32(-np.inf) for c, v in enumerate(k64)])
    b = []
    for c in range(ir.k):
        w = 0.5 / ir.var[c]
        # C = sum theta^2 w, rounded up generously (float64 sum of n non-negative terms)
        C = float(np.sum(ir.theta[c] ** 2 * w)) * (1 + 2.0**-52 * (n + 8))
        if np.isfinite(lp[c]):
            exact = Fraction(float(lp[c])) + Fraction(float(nm[c]))
            kappa = float(abs(Fraction(float(k32[c])) - exact)) * (1 + 2.0**-50)
            kb = u * abs(float(k32[c]))
        else:
            kappa = kb = 0.0
        # underflow: each d * d and each product with w may lose up to 2^-150 absolutely
        wmax = float(np.max(w)) * (1 + u)
        tiny = (2 * n * (wmax + 1) + 3 * (n + 2)) * 2.0**-148
        b.append(up32((64 * u * C + kappa + kb + tiny) * SLACK + 2.0**-140))
    g = up32((gamma(n + 1, u) + 40 * u) * SLACK)
    return FastTables(th32, w32, k32, np.array(b, np.float32), g)


def _check(ir: GaussianNB, name: str) -> None:
    check_c_name(name)
    n, k = ir.n_features, ir.k
    if n > MAX_FEATURES or k > MAX_CLASSES:
        raise InvalidInputError(
            f"the model has {n} features and {k} classes; the C runtime takes at most {MAX_FEATURES} of each"
        )
    lo, hi = VAR_RANGE
    if np.any(ir.var < lo) or np.any(ir.var > hi):
        raise InvalidInputError(
            "a GaussianNB variance lies outside 2^-120 .. 2^120, beyond what the float32 fast path "
            "represents: scale the features (e.g. StandardScaler) and refit"
        )


def _lite(name: str, ir: GaussianNB, t: FastTables) -> list[str]:
    """The float32 tables both methods share (negated means and constants, 1 / (2 var)) and their
    ``ml_gnb_lite`` initializer, last."""
    return [
        arr("float", f"{name}_neg_theta32", [f32(-v) for v in t.theta.reshape(-1)], 6),
        arr("float", f"{name}_w32", [f32(v) for v in t.w.reshape(-1)], 6),
        arr("float", f"{name}_neg_k32", [f32(-v) for v in t.k32], 6),
        f"{{{ir.n_features}, {ir.k}, {name}_neg_theta32, {name}_w32, {name}_neg_k32}}",
    ]


def emit(ir: GaussianNB, name: str, command: str = "") -> CSource:
    _check(ir, name)
    n, k = ir.n_features, ir.k
    t = fast_tables(ir)
    *tables, lite = _lite(name, ir, t)
    parts = [
        *tables,
        arr("float", f"{name}_err_b", [f32(v) for v in t.b], 6),
        f"static const ml_gnb_f32 {name}_f32 = {{{lite}, {name}_err_b, {f32(t.g)}}};\n",
        arr("double", f"{name}_neg_theta", [lit64(-v) for v in ir.theta.reshape(-1)], 4),
        arr("double", f"{name}_neg_var", [lit64(-v) for v in ir.var.reshape(-1)], 4),
        arr("double", f"{name}_log_prior", [lit64(v) for v in ir.log_prior], 4),
        arr("double", f"{name}_norm", [lit64(v) for v in ir.norm], 4),
        f"static const ml_gnb_f64 {name}_f64 = {{{n}, {k}, {name}_neg_theta, {name}_neg_var, "
        f"{name}_log_prior, {name}_norm}};\n",
    ]
    const_bytes = 4 * (2 * n * k + 2 * k + 1) + 8 * (2 * n * k + 2 * k)
    body = "\n".join(parts) + "\n" + _api(name, k)
    notes = [
        "Link with -lm (exp, log: predict_proba and predict_log_proba only). Classes equal scikit-learn's",
        "(docs/naive_bayes.md); probabilities from scikit-learn's float64 arithmetic, rounded to float.",
    ]
    return header(
        ir,
        name,
        "float",
        body,
        api=[
            CFunction("predict", "int32"),
            CFunction("predict_proba", "void", k),
            CFunction("predict_log_proba", "void", k),
        ],
        const_bytes=const_bytes,
        runtime_headers=RUNTIME,
        command=command,
        notes=notes,
        extra_defines=[("N_SCORES", k)],
    )


def emit_float32(ir: GaussianNB, name: str, command: str = "") -> CSource:
    _check(ir, name)
    n, k = ir.n_features, ir.k
    t = fast_tables(ir)
    *tables, lite = _lite(name, ir, t)
    parts = [*tables, f"static const ml_gnb_lite {name}_lite = {lite};\n"]
    body = (
        "\n".join(parts)
        + "\n/* Class index of input x: the largest float32 joint log-likelihood (no float64 replay; equal\n"
        " * to scikit-learn's class wherever the \"float\" method's error bound separates the classes). */\n"
        f"static inline int32_t {name}_predict(const float *x)\n{{\n"
        f"    float t[{k}];\n    return ml_gnb_class_lite(&{name}_lite, x, t);\n}}\n"
    )
    notes = [
        "float32 arithmetic only: classes equal scikit-learn's wherever the float32 error bound separates",
        "the top two classes (docs/naive_bayes.md); nearer ties may differ. No libm.",
    ]
    return header(
        ir,
        name,
        "float32",
        body,
        api=[CFunction("predict", "int32")],
        const_bytes=4 * (2 * n * k + k),
        runtime_headers=RUNTIME,
        command=command,
        notes=notes,
        extra_defines=[("N_SCORES", k)],
    )


def _api(name: str, k: int) -> str:
    return (
        "/* Class index of input x: scikit-learn's predict. A float32 fast path with a proven error bound\n"
        " * decides unless the top two joint log-likelihoods are within it; then scikit-learn's float64\n"
        " * arithmetic is replayed. */\n"
        f"static inline int32_t {name}_predict(const float *x)\n{{\n"
        f"    float t[{k}], q[{k}];\n    double d[{k}];\n"
        f"    const int32_t c = ml_gnb_class_f32(&{name}_f32, x, t, q);\n"
        f"    if (c >= 0) {{\n        return c;\n    }}\n"
        f"    ml_gnb_jll_f64(&{name}_f64, x, d);\n"
        f"    return ml_argmax_f64(d, {k});\n}}\n\n"
        f"/* Class log-probabilities of input x into out[0..{k - 1}] (float64 arithmetic, float out). */\n"
        f"static inline void {name}_predict_log_proba(const float *x, float *out)\n{{\n"
        f"    double d[{k}];\n    int32_t c;\n"
        f"    ml_gnb_jll_f64(&{name}_f64, x, d);\n    (void)ml_log_softmax_f64(d, {k});\n"
        f"    for (c = 0; c < {k}; c++) {{\n        out[c] = (float)d[c];\n    }}\n}}\n\n"
        f"/* Class probabilities of input x into out[0..{k - 1}]. */\n"
        f"static inline void {name}_predict_proba(const float *x, float *out)\n{{\n"
        f"    double d[{k}];\n    int32_t c;\n"
        f"    ml_gnb_jll_f64(&{name}_f64, x, d);\n    (void)ml_log_softmax_f64(d, {k});\n"
        f"    for (c = 0; c < {k}; c++) {{\n        out[c] = (float)exp(d[c]);\n    }}\n}}\n"
    )


register_method(
    GaussianNB,
    "float",
    "float32 joint log-likelihoods under a proven error bound, float64 replay of near ties",
    emit,
    default=True,
)
register_method(
    GaussianNB,
    "float32",
    "float32 joint log-likelihoods only (no float64 replay, 8 bytes per mean/variance pair): classes "
    "exact where the float32 bound separates them",
    emit_float32,
    exact=False,
)
