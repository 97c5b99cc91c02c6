"""Neighbors IR -> C (method "float"): the examples as const float64 tables and a call into
ml_neighbors.h (float64 distances, the k nearest with the lower index kept among equal distances, the
lowest class among equal votes: docs/neighbors.md)."""

from __future__ import annotations

from microlearn.backends.c.registry import register_method
from microlearn.backends.c.writer import CFunction, CSource, array_lines, check_c_name, f64, header
from microlearn.errors import InvalidInputError
from microlearn.ir.neighbors import METRICS, Neighbors

MAX_CLASSES = 65535  # labels are uint16


def emit(ir: Neighbors, name: str, command: str = "") -> CSource:
    check_c_name(name)
    if ir.n_classes > MAX_CLASSES:
        raise InvalidInputError(
            f"the model has {ir.n_classes} classes; the C runtime takes at most {MAX_CLASSES}"
        )
    m, n, k, nc = ir.n_examples, ir.n_features, ir.k, ir.n_classes
    xs = [f64(v) for v in ir.examples.reshape(-1)]
    ys = [str(int(v)) for v in ir.labels]
    reg = ir.values is not None
    vals = ""
    if ir.values is not None:
        vals = f"static const double {name}_v[{m}] = {{\n{array_lines([f64(v) for v in ir.values], 4)}\n}};\n"
    body = vals + (
        f"static const double {name}_x[{m * n}] = {{\n{array_lines(xs, 4)}\n}};\n"
        f"static const uint16_t {name}_y[{m}] = {{\n{array_lines(ys, 16)}\n}};\n"
        f"static const ml_neighbors {name}_model = {{{n}u, {nc}u, {k}u, {METRICS.index(ir.metric)}u, {m}u, "
        f"{m}u, {name}_x, {name}_y, {name + '_v' if reg else 'NULL'}, NULL, NULL, {f64(ir.p)}, NULL}};\n\n"
    )
    if reg:
        how = "mean" if ir.weights == "uniform" else "1/distance-weighted mean"
        fn = "ml_neighbors_regress" if ir.weights == "uniform" else "ml_neighbors_regress_distance"
        body += (
            f"/* Predicted value of input x: the {how} of the k nearest targets (float64, rounded to\n"
            " * float); NaN for NaN input. */\n"
            f"static inline float {name}_predict(const float *x)\n{{\n"
            f"    double dist[{k}];\n    uint32_t idx[{k}];\n    double v;\n"
            f"    if ({fn}(&{name}_model, x, dist, idx, &v) != ML_OK) {{\n"
            "        return (float)NAN;\n    }\n    return (float)v;\n}\n"
        )
    elif ir.weights == "distance":
        body += (
            "/* Class index of input x: scikit-learn's predict (weights='distance') outside float64\n"
            " * near ties (docs/neighbors.md); a negative ML_E_* code for NaN input. Needs sqrt (-lm). */\n"
            f"static inline int32_t {name}_predict(const float *x)\n{{\n"
            f"    double dist[{k}];\n    uint32_t idx[{k}];\n    double score[{nc}];\n"
            f"    return ml_neighbors_classify_distance(&{name}_model, x, dist, idx, score);\n}}\n"
        )
    else:
        body += (
            "/* Class index of input x: scikit-learn's predict outside float64 ties of the k-th neighbour\n"
            " * distance (docs/neighbors.md); a negative ML_E_* code for NaN input. */\n"
            f"static inline int32_t {name}_predict(const float *x)\n{{\n"
            f"    double dist[{k}];\n    uint32_t idx[{k}];\n    uint32_t votes[{nc}];\n"
            f"    return ml_neighbors_classify(&{name}_model, x, dist, idx, votes);\n}}\n"
        )
    const_bytes = 8 * m * n + 2 * m + 56 + (8 * m if reg else 0)
    metric = ir.metric if ir.metric != "minkowski" else f"minkowski p={ir.p:g}"
    notes = [
        f"{m} stored examples ({metric}, k = {k}); float64 distances (soft-float on cores without a",
        "double-precision FPU). To learn on the device, copy the examples into your own buffers with",
        "ml_neighbors_init and call ml_neighbors_add / ml_neighbors_remove (ml_neighbors.h).",
    ]
    return header(
        ir,
        name,
        "float",
        body,
        api=[CFunction("predict", "float" if reg else "int32")],
        const_bytes=const_bytes,
        runtime_headers=("ml_neighbors.h",),
        command=command,
        notes=notes,
        extra_defines=[("N_EXAMPLES", m), ("K", k)],
    )


register_method(
    Neighbors,
    "float",
    "float64 distances to const example tables, k nearest with scikit-learn's tie-free decision",
    emit,
    default=True,
)
