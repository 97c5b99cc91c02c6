"""KMeans IR -> C (method "float"): the centres as a const float64 table and calls into ml_kmeans.h
(float64 distances, the lowest index among equal ones: docs/kmeans.md). A MiniBatchKMeans also gets its
weight sums, so that a program can start the online update (ml_kmeans_learn_init) from the fitted model."""

from __future__ import annotations

from microlearn.backends.c.registry import register_method
from microlearn.backends.c.writer import CFunction, CSource, array_lines, check_c_name, f64, header
from microlearn.ir.kmeans import KMeans


def emit(ir: KMeans, name: str, command: str = "") -> CSource:
    check_c_name(name)
    k, n = ir.n_clusters, ir.n_features
    cs = array_lines([f64(v) for v in ir.centers.reshape(-1)], 4)
    body = f"static const double {name}_centers[{k * n}] = {{\n{cs}\n}};\n"
    const_bytes = 8 * k * n + 24
    if ir.counts is not None:
        body += (
            "/* The weight sums of the fitted MiniBatchKMeans: pass them to ml_kmeans_learn_init. */\n"
            f"static const double {name}_counts[{k}] = {{\n"
            f"{array_lines([f64(v) for v in ir.counts], 4)}\n}};\n"
        )
        const_bytes += 8 * k
    body += (
        f"static const ml_kmeans {name}_model = {{{n}u, {k}u, {name}_centers, NULL, NULL}};\n\n"
        "/* Index of the nearest centre of x (scikit-learn's predict outside float64 near ties); a negative\n"
        " * ML_E_* code for NaN input. */\n"
        f"static inline int32_t {name}_predict(const float *x)\n{{\n"
        f"    return ml_kmeans_predict(&{name}_model, x);\n}}\n\n"
        f"/* The distance of x to each centre into out ({k} floats): scikit-learn's transform (-lm). */\n"
        f"static inline void {name}_transform(const float *x, float *out)\n{{\n"
        f"    (void)ml_kmeans_transform(&{name}_model, x, out);\n}}\n"
    )
    notes = [
        f"{k} centres; float64 distances (soft-float on cores without a double-precision FPU).",
        f"Online update: ml_kmeans_learn_init(&m, N_FEATURES, N_CLUSTERS, cbuf, wbuf, {name}_centers,",
        f"{name}_counts) into your float buffers, then ml_kmeans_partial_fit(&m, batch, rows, labels)",
        "(ml_kmeans_partial_fit_weighted with a sample weight per row).",
    ]
    return header(
        ir,
        name,
        "float",
        body,
        api=[CFunction("predict", "int32"), CFunction("transform", "void", k)],
        const_bytes=const_bytes,
        runtime_headers=("ml_kmeans.h",),
        command=command,
        notes=notes,
        extra_defines=[("N_CLUSTERS", k)],
    )


register_method(
    KMeans,
    "float",
    "float64 distances to a const table of centres; transform; online update",
    emit,
    default=True,
)
