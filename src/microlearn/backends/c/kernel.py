"""KernelExpansion IR (OneClassSVM) -> C (method "float64"): const tables and ml_kernel.h.

The kernel sum is computed in float64; the inlier/outlier decision equals scikit-learn's outside the
stated rounding bound, scores are float64 results rounded to float (docs/anomaly.md).
"""

from __future__ import annotations

from microlearn.backends.c.mahalanobis import arr, lit64
from microlearn.backends.c.registry import register_method
from microlearn.backends.c.writer import CFunction, CSource, check_c_name, header
from microlearn.errors import InvalidInputError
from microlearn.ir.kernel import KERNELS, KernelExpansion

MAX_FEATURES = 65535
MAX_VECTORS = 1 << 20


def emit(ir: KernelExpansion, name: str, command: str = "") -> CSource:
    check_c_name(name)
    n, m = ir.n_features, ir.m
    if n > MAX_FEATURES or m > MAX_VECTORS:
        raise InvalidInputError(
            f"the model has {n} features and {m} support vectors; too many for the C runtime"
        )
    parts = [
        arr("double", f"{name}_sv", [lit64(v) for v in ir.support.reshape(-1)], 4),
        arr("double", f"{name}_coef", [lit64(v) for v in ir.coef], 4),
        f"static const ml_kernel {name}_k = {{{n}, {m}, {KERNELS.index(ir.kernel)}, {ir.degree}, "
        f"{lit64(ir.gamma)}, {lit64(ir.coef0)}, {lit64(ir.rho)}, {name}_sv, {name}_coef}};\n",
    ]
    const_bytes = 8 * (m * n + m + 3) + 16 + 16
    body = "\n".join(parts) + "\n" + _api(name)
    notes = [
        "Link with -lm for the rbf and sigmoid kernels. predict equals scikit-learn's outside the rounding",
        "bound of docs/anomaly.md; scores are float64 results rounded to float.",
    ]
    return header(
        ir,
        name,
        "float64",
        body,
        api=[
            CFunction("score", "float"),
            CFunction("predict", "int32"),
            CFunction("decision_function", "float"),
        ],
        const_bytes=const_bytes,
        runtime_headers=("ml_kernel.h",),
        command=command,
        notes=notes,
    )


def _api(name: str) -> str:
    return (
        "/* scikit-learn's score_samples: sum_i coef_i K(sv_i, x). */\n"
        f"static inline float {name}_score(const float *x)\n{{\n"
        f"    return (float)ml_kernel_sum(&{name}_k, x);\n}}\n\n"
        "/* scikit-learn's decision_function: score - rho (> 0: inlier). */\n"
        f"static inline float {name}_decision_function(const float *x)\n{{\n"
        f"    return (float)(ml_kernel_sum(&{name}_k, x) - {name}_k.rho);\n}}\n\n"
        "/* scikit-learn's predict: 1 inlier, -1 outlier. */\n"
        f"static inline int32_t {name}_predict(const float *x)\n{{\n"
        f"    return ml_kernel_sum(&{name}_k, x) - {name}_k.rho > 0.0 ? 1 : -1;\n}}\n"
    )


register_method(
    KernelExpansion,
    "float64",
    "float64 kernel sum (libsvm's kernels), the decision within the stated rounding bound",
    emit,
    default=True,
)
