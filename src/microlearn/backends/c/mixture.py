"""GaussianMixture IR -> C: const tables in flash and calls into ml_mixture.h.

Method "float" (the default): the component from a float32 fast path under a proven bound, a float64
replay of near ties (equal to scikit-learn's outside the stated rounding bound of a tie); probabilities
and score_samples are float64 results rounded to float. Method "float32": the fast path's float32
weighted log-probabilities alone, its largest decides (docs/anomaly.md).
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
from microlearn.ir.linear import U32, U64, gamma
from microlearn.ir.mixture import COV_TYPES, GaussianMixture

F32_MAX = float(np.finfo(np.float32).max)
SLACK = 1.0 + 2.0**-16  # covers the float32 roundings of evaluating the bound on the device


@dataclass(frozen=True)
class FastTables:
    """The float32 fast path's tables and its per-component bound err_a r + err_b + err_c q of
    |fast wlp - scikit-learn's wlp| (docs/anomaly.md, "Gaussian mixtures")."""

    means: npt.NDArray[np.float32]
    chol: npt.NDArray[np.float32]
    w: npt.NDArray[np.float32]
    k32: npt.NDArray[np.float32]
    a: npt.NDArray[np.float32]
    b: npt.NDArray[np.float32]
    c: np.float32


def _packed(C: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    n = C.shape[0]
    return np.concatenate([C[i, i:] for i in range(n)])


def fast_tables(ir: GaussianMixture) -> FastTables:
    n, K, u = ir.n_features, ir.k, U32
    g = gamma(n + 2, u)
    g1 = gamma(n + 3, u)
    g2 = 1.0001 * u
    alpha = gamma(n + 1, u) * (1 + g) ** 2 + 2 * (1 + g) * g1 + (1 + g) * g2 + 2 * g1 * g1
    beta = (1 + g) * g2 + 2 * g2 * g2
    G = 3.1 * gamma(2 * n + 4, U64) + gamma(n + 3, u)  # scikit-learn's own error per unit of W
    ws, a_s, b_s, k32 = [], [], [], []
    for k in range(K):
        C = ir.chol(k)
        mu = ir.means[k]
        w = np.sum(C * C, axis=1)
        if np.any(w <= 0):
            raise InvalidInputError("a precision factor has a zero row: refit the mixture")
        A = np.abs(C) / np.sqrt(w)[:, None]
        M2 = float(np.max(A.sum(axis=1)) * np.max(A.sum(axis=0))) * (1 + 2.0**-40)
        if ir.covariance_type in ("diag", "spherical"):
            M2 = 1.0
        R2 = float(np.sum((np.abs(mu) @ np.abs(C)) ** 2)) * (1 + 2.0**-40)
        L = float(np.sum(w * mu * mu)) * (1 + 2.0**-40)
        cst = float(ir.const[k])
        kk = np.float32(cst)
        kappa = float(abs(Fraction(float(kk)) - Fraction(cst))) * (1 + 2.0**-40)
        q_const = 2.1 * u * 1.84 * n + 8 * U64 * (abs(cst) + 1.84 * n)
        a = 0.5 * (alpha * M2 * (1 + gamma(n + 2, u)) + 2 * M2 * G) * (1 + 8 * u)
        b = 0.5 * (beta * R2 + 8.001 * G * M2 * L + q_const) * (1 + 8 * u) + kappa + u * abs(float(kk))
        b += (n * n + 4 * n) * 2.0**-140 * (1.0 + float(np.max(np.abs(C))) ** 2 + float(np.max(w)))
        ws.append(w)
        a_s.append(a * SLACK)
        b_s.append(b * SLACK)
        k32.append(kk)
    c = (0.5 * (2.1 * u + 8 * U64) + 0.5 * u) * (1 + 8 * u) * SLACK
    chol = _packed_chol(ir)
    W = np.asarray(ws)
    for name, v in (("means", ir.means), ("precision factors", chol), ("bound weights", W)):
        if np.any(np.abs(v) > F32_MAX / 4):
            raise InvalidInputError(
                f"the mixture's {name} exceed the float32 range of the fast path: scale the features "
                "and refit"
            )
    up = np.vectorize(lambda v: up32(float(v)), otypes=[np.float32])
    return FastTables(
        means=ir.means.astype(np.float32),
        chol=chol.astype(np.float32),
        w=up(W).astype(np.float32),
        k32=np.asarray(k32, dtype=np.float32),
        a=up(np.asarray(a_s)).astype(np.float32),
        b=up(np.asarray(b_s)).astype(np.float32),
        c=up32(c),
    )


MAX_FEATURES = 1024
MAX_COMPONENTS = 65535
RUNTIME = ("ml_scores.h", "ml_mixture.h")


def _check(ir: GaussianMixture, name: str) -> None:
    check_c_name(name)
    n, k = ir.n_features, ir.k
    if n > MAX_FEATURES or k > MAX_COMPONENTS:
        raise InvalidInputError(
            f"the model has {n} features and {k} components; the C runtime takes at most {MAX_FEATURES} "
            f"features and {MAX_COMPONENTS} components"
        )
    if ir.covariance_type in ("full", "tied"):
        mats = ir.prec_chol.reshape(-1, n, n)
        if any(np.any(np.tril(m, -1) != 0) for m in mats):
            raise InvalidInputError("precisions_cholesky_ is not upper triangular: refit the mixture")


def _packed_chol(ir: GaussianMixture) -> npt.NDArray[np.float64]:
    """precisions_cholesky_ as the C tables hold it: packed upper triangles for full and tied."""
    if ir.covariance_type == "full":
        return np.concatenate([_packed(ir.prec_chol[k]) for k in range(ir.k)])
    if ir.covariance_type == "tied":
        return _packed(ir.prec_chol)
    return ir.prec_chol.reshape(-1)


def _lite(name: str, ir: GaussianMixture, t: FastTables) -> list[str]:
    """The float32 tables both methods share (negated means and constants, the packed factors) and
    their ``ml_gmm_lite`` initializer, last."""
    cov = COV_TYPES.index(ir.covariance_type)
    return [
        arr("float", f"{name}_neg_means32", [f32(-v) for v in t.means.reshape(-1)], 6),
        arr("float", f"{name}_chol32", [f32(v) for v in t.chol], 6),
        arr("float", f"{name}_neg_k32", [f32(-v) for v in t.k32], 6),
        f"{{{ir.n_features}, {ir.k}, {cov}, {name}_neg_means32, {name}_chol32, {name}_neg_k32}}",
    ]


def emit(ir: GaussianMixture, name: str, command: str = "") -> CSource:
    _check(ir, name)
    n, k = ir.n_features, ir.k
    chol = _packed_chol(ir)
    t = fast_tables(ir)
    cov = COV_TYPES.index(ir.covariance_type)
    *tables, lite = _lite(name, ir, t)
    parts = [
        *tables,
        arr("float", f"{name}_w32", [f32(v) for v in t.w.reshape(-1)], 6),
        arr("float", f"{name}_err_a", [f32(v) for v in t.a], 6),
        arr("float", f"{name}_err_b", [f32(v) for v in t.b], 6),
        f"static const ml_gmm_f32 {name}_f32 = {{{lite}, {name}_w32, {name}_err_a, {name}_err_b, "
        f"{f32(t.c)}}};\n",
        arr("double", f"{name}_neg_means", [lit64(-v) for v in ir.means.reshape(-1)], 4),
        arr("double", f"{name}_chol", [lit64(v) for v in chol], 4),
        arr("double", f"{name}_neg_cst", [lit64(-v) for v in ir.const], 4),
        f"static const ml_gmm {name}_gmm = {{{n}, {k}, {cov}, {name}_neg_means, {name}_chol, "
        f"{name}_neg_cst}};\n",
    ]
    const_bytes = (
        8 * (ir.means.size + chol.size + k) + 24 + 4 * (2 * t.means.size + t.chol.size + 3 * k + 1) + 40
    )
    body = "\n".join(parts) + "\n" + _api(name, k)
    notes = [
        "Link with -lm (exp, log: predict_proba and score only). Components equal scikit-learn's",
        "outside the rounding bound of docs/anomaly.md; probabilities and scores are float64 results",
        "rounded to float.",
    ]
    return header(
        ir,
        name,
        "float",
        body,
        api=[
            CFunction("predict", "int32"),
            CFunction("predict_proba", "void", k),
            CFunction("score", "float"),
        ],
        const_bytes=const_bytes,
        runtime_headers=RUNTIME,
        command=command,
        notes=notes,
    )


def emit_float32(ir: GaussianMixture, name: str, command: str = "") -> CSource:
    _check(ir, name)
    k = ir.k
    t = fast_tables(ir)
    *tables, lite = _lite(name, ir, t)
    parts = [*tables, f"static const ml_gmm_lite {name}_lite = {lite};\n"]
    body = (
        "\n".join(parts)
        + "\n/* Component of input x: the largest float32 weighted log-probability (no float64 replay;\n"
        " * scikit-learn's component wherever the \"float\" method's error bound separates it). */\n"
        f"static inline int32_t {name}_predict(const float *x)\n{{\n"
        f"    float t[{k}];\n    return ml_gmm_class_lite(&{name}_lite, x, t);\n}}\n"
    )
    notes = [
        "float32 arithmetic only: components equal scikit-learn's wherever the float32 error bound",
        "separates the top two (docs/anomaly.md); nearer ties may differ. No libm.",
    ]
    return header(
        ir,
        name,
        "float32",
        body,
        api=[CFunction("predict", "int32")],
        const_bytes=4 * (t.means.size + t.chol.size + k) + 24,
        runtime_headers=RUNTIME,
        command=command,
        notes=notes,
    )


def _api(name: str, k: int) -> str:
    return (
        "/* Component of input x: scikit-learn's predict. A float32 fast path with a proven error bound\n"
        " * decides unless the top two weighted log-probabilities are within it; then scikit-learn's\n"
        " * arithmetic is replayed in float64. */\n"
        f"static inline int32_t {name}_predict(const float *x)\n{{\n"
        f"    float t[{k}], q[{k}], r[{k}];\n    double w[{k}];\n"
        f"    const int32_t c = ml_gmm_class_f32(&{name}_f32, x, t, q, r);\n"
        f"    if (c >= 0) {{\n        return c;\n    }}\n"
        f"    ml_gmm_wlp(&{name}_gmm, x, w);\n    return ml_argmax_f64(w, {k});\n}}\n\n"
        f"/* Component probabilities of x into out[0..{k - 1}]: scikit-learn's predict_proba. */\n"
        f"static inline void {name}_predict_proba(const float *x, float *out)\n{{\n"
        f"    double w[{k}];\n    int32_t c;\n    ml_gmm_wlp(&{name}_gmm, x, w);\n"
        f"    (void)ml_log_softmax_f64(w, {k});\n"
        f"    for (c = 0; c < {k}; c++) {{\n        out[c] = (float)exp(w[c]);\n    }}\n}}\n\n"
        "/* Log-likelihood of x: scikit-learn's score_samples. */\n"
        f"static inline float {name}_score(const float *x)\n{{\n"
        f"    double w[{k}];\n    ml_gmm_wlp(&{name}_gmm, x, w);\n"
        f"    return (float)ml_log_softmax_f64(w, {k});\n}}\n"
    )


register_method(
    GaussianMixture,
    "float",
    "float32 weighted log-probabilities under a proven bound, float64 replay of near ties",
    emit,
    default=True,
)
register_method(
    GaussianMixture,
    "float32",
    "float32 weighted log-probabilities only (no float64 replay): components exact where the float32 "
    "bound separates them",
    emit_float32,
    exact=False,
)
