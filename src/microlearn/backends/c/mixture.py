"""GaussianMixture IR -> C (method "float64"): const tables in flash and calls into ml_mixture.h.

The weighted log-probabilities are computed in float64; the component equals scikit-learn's outside the
stated rounding bound of a tie, probabilities and score_samples are float64 results rounded to float
(docs/anomaly.md).
"""

from __future__ import annotations

import numpy as np

from microlearn.backends.c.mahalanobis import arr, lit64
from microlearn.backends.c.registry import register_method
from microlearn.backends.c.writer import CFunction, CSource, check_c_name, header
from microlearn.errors import InvalidInputError
from microlearn.ir.mixture import COV_TYPES, GaussianMixture

MAX_FEATURES = 1024
MAX_COMPONENTS = 65535


def emit(ir: GaussianMixture, name: str, command: str = "") -> CSource:
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
    chol = ir.prec_chol.reshape(-1)
    parts = [
        arr("double", f"{name}_means", [lit64(v) for v in ir.means.reshape(-1)], 4),
        arr("double", f"{name}_chol", [lit64(v) for v in chol], 4),
        arr("double", f"{name}_cst", [lit64(v) for v in ir.const], 4),
        f"static const ml_gmm {name}_gmm = {{{n}, {k}, {COV_TYPES.index(ir.covariance_type)}, "
        f"{name}_means, {name}_chol, {name}_cst}};\n",
    ]
    const_bytes = 8 * (ir.means.size + chol.size + k) + 24
    body = "\n".join(parts) + "\n" + _api(name, k)
    notes = [
        "Link with -lm (exp, log: predict_proba and score only). Components equal scikit-learn's",
        "outside the rounding bound of docs/anomaly.md; probabilities and scores are float64 results",
        "rounded to float.",
    ]
    return header(
        ir,
        name,
        "float64",
        body,
        api=[
            CFunction("predict", "int32"),
            CFunction("predict_proba", "void", k),
            CFunction("score", "float"),
        ],
        const_bytes=const_bytes,
        runtime_headers=("ml_mixture.h",),
        command=command,
        notes=notes,
    )


def _api(name: str, k: int) -> str:
    return (
        "/* Component of input x: scikit-learn's predict. */\n"
        f"static inline int32_t {name}_predict(const float *x)\n{{\n"
        f"    double w[{k}];\n    ml_gmm_wlp(&{name}_gmm, x, w);\n    return ml_gmm_argmax(w, {k});\n}}\n\n"
        f"/* Component probabilities of x into out[0..{k - 1}]: scikit-learn's predict_proba. */\n"
        f"static inline void {name}_predict_proba(const float *x, float *out)\n{{\n"
        f"    double w[{k}];\n    int32_t c;\n    ml_gmm_wlp(&{name}_gmm, x, w);\n"
        f"    (void)ml_gmm_lse(w, {k});\n"
        f"    for (c = 0; c < {k}; c++) {{\n        out[c] = (float)exp(w[c]);\n    }}\n}}\n\n"
        "/* Log-likelihood of x: scikit-learn's score_samples. */\n"
        f"static inline float {name}_score(const float *x)\n{{\n"
        f"    double w[{k}];\n    ml_gmm_wlp(&{name}_gmm, x, w);\n"
        f"    return (float)ml_gmm_lse(w, {k});\n}}\n"
    )


register_method(
    GaussianMixture,
    "float64",
    "float64 weighted log-probabilities (scikit-learn's arithmetic, any order within the stated bound)",
    emit,
    default=True,
)
