"""LocalOutlierFactor IR -> C (method "float64"): the training rows, densities and k-distances as const
tables, a float64 brute-force neighbour search (ml_lof.h); docs/anomaly.md states the bound."""

from __future__ import annotations

from microlearn.backends.c.mahalanobis import arr, lit64
from microlearn.backends.c.registry import register_method
from microlearn.backends.c.writer import CFunction, CSource, check_c_name, header
from microlearn.errors import InvalidInputError
from microlearn.ir.lof import LocalOutlierFactor

MAX_FEATURES = 65535
MAX_ROWS = 1 << 20
MAX_K = 1024


def emit(ir: LocalOutlierFactor, name: str, command: str = "") -> CSource:
    check_c_name(name)
    n, m, k = ir.n_features, ir.m, ir.k
    if n > MAX_FEATURES or m > MAX_ROWS or k > MAX_K:
        raise InvalidInputError(
            f"the model has {n} features, {m} training rows and k = {k}; the C runtime takes at most "
            f"{MAX_FEATURES}, {MAX_ROWS} and {MAX_K}"
        )
    parts = [
        arr("double", f"{name}_fit_x", [lit64(v) for v in ir.fit_x.reshape(-1)], 4),
        arr("double", f"{name}_lrd", [lit64(v) for v in ir.lrd], 4),
        arr("double", f"{name}_kdist", [lit64(v) for v in ir.kdist], 4),
        f"static const ml_lof {name}_lof = {{{n}, {m}, {k}, {name}_fit_x, {name}_lrd, {name}_kdist, "
        f"{lit64(ir.offset)}}};\n",
    ]
    const_bytes = 8 * (m * n + 2 * m + 1) + 12 + 24
    body = "\n".join(parts) + "\n" + _api(name, k)
    notes = [
        "Link with -lm (sqrt). predict equals scikit-learn's outside the bound of docs/anomaly.md; scores",
        "are float64 results rounded to float.",
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
        runtime_headers=("ml_lof.h",),
        command=command,
        notes=notes,
    )


def _api(name: str, k: int) -> str:
    return (
        "/* scikit-learn's score_samples (the opposite of the local outlier factor). */\n"
        f"static inline float {name}_score(const float *x)\n{{\n"
        f"    double bd[{k}];\n    int32_t bi[{k}];\n"
        f"    return (float)ml_lof_score(&{name}_lof, x, bd, bi);\n}}\n\n"
        "/* scikit-learn's decision_function: score - offset (>= 0: inlier). */\n"
        f"static inline float {name}_decision_function(const float *x)\n{{\n"
        f"    double bd[{k}];\n    int32_t bi[{k}];\n"
        f"    return (float)(ml_lof_score(&{name}_lof, x, bd, bi) - {name}_lof.offset);\n}}\n\n"
        "/* scikit-learn's predict: 1 inlier, -1 outlier. */\n"
        f"static inline int32_t {name}_predict(const float *x)\n{{\n"
        f"    double bd[{k}];\n    int32_t bi[{k}];\n"
        f"    return ml_lof_score(&{name}_lof, x, bd, bi) - {name}_lof.offset >= 0.0 ? 1 : -1;\n}}\n"
    )


register_method(
    LocalOutlierFactor,
    "float64",
    "float64 brute-force neighbours and densities (scikit-learn's arithmetic within the stated bound)",
    emit,
    default=True,
)
