"""Neighbors IR -> C (method "float"): the examples as const float64 tables and a call into
ml_neighbors.h (float64 distances, the k nearest with the lower index kept among equal distances, the
lowest class among equal votes: docs/neighbors.md)."""

from __future__ import annotations

import numpy as np

from microlearn.backends.c.registry import register_method
from microlearn.backends.c.writer import CFunction, CSource, array_lines, check_c_name, f32, f64, header
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


# ---------------------------------------------------------------------------------------------- integers
INT_TYPES = {"int8": ("int8_t", -128, 127, "i8"), "int16": ("int16_t", -32768, 32767, "i16")}


def check_integer_examples(ir: Neighbors, method: str) -> None:
    """The integer methods store every example value exactly: each must be an integer in the type's range."""
    ctype, lo, hi, _ = INT_TYPES[method]
    if ir.metric == "minkowski":
        raise InvalidInputError(
            f"method {method!r} takes euclidean, manhattan or chebyshev; use method 'float'"
        )
    e = ir.examples
    bad = np.flatnonzero(np.any((e != np.round(e)) | (e < lo) | (e > hi), axis=0))
    if len(bad):
        f = int(bad[0])
        col = e[:, f]
        v = float(col[(col != np.round(col)) | (col < lo) | (col > hi)][0])
        raise InvalidInputError(
            f"method {method!r} stores the examples as {ctype}: every value must be an integer in "
            f"{lo}..{hi}, but feature {f} holds {v:g}. Use method 'float', or fit on integer (e.g. "
            "quantised) features"
        )


def _insert(k: str) -> str:
    """C statements keeping the k nearest (dist/idx, nearest first; equal distances keep index order)."""
    return (
        "        if (kept == K_ && !(s < dist[K_ - 1])) {\n            continue;\n        }\n"
        "        p = kept < K_ ? kept++ : K_ - 1;\n"
        "        while (p > 0 && s < dist[p - 1]) {\n"
        "            dist[p] = dist[p - 1];\n            idx[p] = idx[p - 1];\n            p--;\n        }\n"
        "        dist[p] = s;\n        idx[p] = j;\n"
    ).replace("K_", k)


def emit_int(ir: Neighbors, name: str, command: str, method: str) -> CSource:
    check_c_name(name)
    check_integer_examples(ir, method)
    ctype, lo, hi, sfx = INT_TYPES[method]
    m, n, k, nc = ir.n_examples, ir.n_features, ir.k, ir.n_classes
    up = name.upper()
    reg = ir.values is not None
    dist_w = ir.weights == "distance"
    amax = 255 if method == "int8" else 65535  # the largest |x_i - e_i| for inputs of the same type
    if ir.metric == "euclidean":
        acc = "uint32_t" if n * amax * amax < 2**32 else "uint64_t"
        term = f"s += ({acc})(a * a);"
    elif ir.metric == "manhattan":
        acc = "uint32_t" if n * amax < 2**32 else "uint64_t"
        term = "s += a;"
    else:
        acc = "uint32_t"
        term = "if (a > s) {\n                s = a;\n            }"
    xs = [str(int(v)) for v in ir.examples.reshape(-1)]
    ys = [str(int(v)) for v in ir.labels]
    body = f"#define {up}_K {k}\n"
    if ir.values is not None:
        body += (
            f"static const double {name}_v[{m}] = {{\n{array_lines([f64(v) for v in ir.values], 4)}\n}};\n"
        )
    body += (
        f"static const {ctype} {name}_x[{m * n}] = {{\n{array_lines(xs, 16)}\n}};\n"
        f"static const uint16_t {name}_y[{m}] = {{\n{array_lines(ys, 16)}\n}};\n"
        f"static const ml_neighbors {name}_model = {{{n}u, {nc}u, {k}u, {METRICS.index(ir.metric)}u, {m}u, "
        f"{m}u, NULL, {name}_y, {name + '_v' if reg else 'NULL'}, NULL, NULL, {f64(ir.p)}, NULL}};\n\n"
    )
    ret = "float" if reg else "int32_t"
    finish = (
        f"    for (j = 0; j < {up}_K; j++) {{\n        dd[j] = (double)dist[j];\n    }}\n"
        f"    c = ml_neighbors_finish(&{name}_model, dd, idx, {int(dist_w)}, score, &v);\n"
        + ("    return (float)v;\n" if reg else "    return c;\n")
    )
    decl = f"    uint32_t idx[{up}_K];\n    double dd[{up}_K], score[{nc}], v = 0.0;\n    int32_t c;\n"
    decl += "    uint32_t j, i, p, kept = 0;\n"
    if not reg and not dist_w:
        tail = (
            f"    uint32_t votes[{nc}] = {{0}};\n    uint32_t best = 0;\n"
            f"    for (j = 0; j < {up}_K; j++) {{\n        votes[{name}_y[idx[j]]]++;\n    }}\n"
            f"    for (j = 1; j < {nc}; j++) {{\n        if (votes[j] > votes[best]) {{\n"
            "            best = j;\n        }\n    }\n    return (int32_t)best;\n"
        )
        idecl = f"    uint32_t idx[{up}_K];\n    uint32_t j, i, p, kept = 0;\n"
    else:
        tail = finish
        idecl = decl
    loop_head = f"    for (j = 0; j < {m}u; j++, e += {n}) {{\n"
    what = "Value" if reg else "Class index"
    fast32 = ""
    if acc == "uint64_t":
        # once the k-th kept distance fits 32 bits, a 32-bit sum suffices: a carry out of it (or reaching
        # the k-th distance) means the example is farther, and it is skipped
        fast32 = (
            f"        uint64_t s;\n"
            f"        if (kept == {up}_K && dist[{up}_K - 1] <= 0xFFFFFFFFu) {{\n"
            f"            const uint32_t lim32 = (uint32_t)dist[{up}_K - 1];\n"
            "            uint32_t t = 0;\n"
            f"            for (i = 0; i < {n}u; i++) {{\n"
            "                const int32_t d = (int32_t)x[i] - (int32_t)e[i];\n"
            "                const uint32_t a = (uint32_t)(d < 0 ? -d : d);\n"
            "                const uint32_t q = a * a;\n"
            "                t += q;\n"
            "                if (t < q || t >= lim32) {\n                    break;\n                }\n"
            "            }\n"
            f"            if (i < {n}u) {{\n                continue;\n            }}\n"
            "            s = t;\n        } else {\n"
        )
    int_fn = (
        f"/* {what} of an input of {n} {ctype} values: exact integer distances. */\n"
        f"static inline {ret} {name}_predict_{sfx}(const {ctype} *x)\n{{\n"
        f"    {acc} dist[{up}_K];\n{idecl}    const {ctype} *e = {name}_x;\n"
        + loop_head
        + fast32
        + ("        s = 0;\n" if fast32 else f"        {acc} s = 0;\n")
        + f"        const {acc} lim = kept == {up}_K ? dist[{up}_K - 1] : ({acc})-1;\n"
        f"        for (i = 0; i < {n}u; i++) {{\n"
        "            const int32_t d = (int32_t)x[i] - (int32_t)e[i];\n"
        "            const uint32_t a = (uint32_t)(d < 0 ? -d : d);\n"
        f"            {term}\n"
        "            if (s >= lim) {\n                break; /* farther than the k-th kept already */\n"
        "            }\n        }\n"
        + ("        }\n" if fast32 else "")
        + _insert(f"{up}_K")
        + "    }\n"
        + (tail if tail is not finish else "")
    )
    if tail is finish:
        int_fn += f"    {{\n        double dd[{up}_K], score[{nc}], v = 0.0;\n        int32_t c;\n"
        int_fn += "".join("    " + ln + "\n" for ln in finish.splitlines()) + "    }\n"
    int_fn += "}\n\n"
    if ir.metric == "euclidean":
        fterm = "s += d * d;"
    elif ir.metric == "manhattan":
        fterm = "s += d < 0.0 ? -d : d;"
    else:
        fterm = (
            "{\n                const double a = d < 0.0 ? -d : d;\n"
            "                if (a > s) {\n                    s = a;\n                }\n            }"
        )
    nan = "(float)NAN" if reg else "ML_E_NAN"
    f64_fn = (
        f"/* float64 distances from a float input (the float method's rule) to the {ctype} examples. */\n"
        f"static inline {ret} {name}_predict_f64(const float *x)\n{{\n"
        f"    double dist[{up}_K];\n{decl}    const {ctype} *e = {name}_x;\n"
        + loop_head
        + "        double s = 0.0;\n"
        f"        const double lim = kept == {up}_K ? dist[{up}_K - 1] : HUGE_VAL;\n"
        f"        for (i = 0; i < {n}u; i++) {{\n"
        "            const double d = (double)x[i] - (double)e[i];\n"
        f"            {fterm}\n"
        "            if (s >= lim) {\n                break;\n            }\n        }\n"
        f"        if (s != s) {{\n            return {nan};\n        }}\n"
        + _insert(f"{up}_K")
        + "    }\n"
        + finish.replace("dd[j] = (double)dist[j];", "dd[j] = dist[j];")
        + "}\n\n"
    )
    entry = (
        f"/* {what} of input x ({n} floats): the integer path when every value is a {ctype}, else\n"
        " * float64 distances; scikit-learn's result outside near ties (docs/neighbors.md). */\n"
        f"static inline {ret} {name}_predict(const float *x)\n{{\n"
        f"    {ctype} v[{n}];\n    uint32_t i;\n"
        f"    for (i = 0; i < {n}u; i++) {{\n"
        f"        const float a = x[i];\n"
        f"        if (!(a >= {lo}.0f && a <= {hi}.0f)) {{\n"
        f"            return {name}_predict_f64(x);\n        }}\n"
        f"        v[i] = ({ctype})a;\n"
        f"        if ((float)v[i] != a) {{\n            return {name}_predict_f64(x);\n        }}\n"
        f"    }}\n    return {name}_predict_{sfx}(v);\n}}\n"
    )
    body += int_fn + f64_fn + entry
    size = {"int8": 1, "int16": 2}[method]
    const_bytes = size * m * n + 2 * m + 56 + (8 * m if reg else 0)
    notes = [
        f"{m} stored examples as {ctype} ({ir.metric}, k = {k}); {name}_predict_{sfx}(const {ctype} *x)",
        f"computes exact integer distances ({acc} sums): no floating point for uniform votes.",
    ]
    return header(
        ir,
        name,
        method,
        body,
        api=[CFunction("predict", "float" if reg else "int32")],
        const_bytes=const_bytes,
        runtime_headers=("ml_neighbors.h",),
        command=command,
        notes=notes,
        extra_defines=[("N_EXAMPLES", m)],
    )


for _m in INT_TYPES:
    register_method(
        Neighbors,
        _m,
        f"examples stored as {INT_TYPES[_m][0]} (integer-valued training data); exact integer distances for "
        f"{INT_TYPES[_m][0]} inputs, float64 otherwise",
        lambda ir, name, command="", _m=_m: emit_int(ir, name, command, _m),
    )


# ---------------------------------------------------------------------------------------------- float32
def fast_path_factor(n: int) -> float:
    """A (float32) such that ``d32[k] * A > d32[k-1]`` in float32 arithmetic proves that the k nearest by
    float32 distances are the k nearest by the float64 rule, with a strict gap: float32 and float64 sums
    of non-negative terms are within gamma32(n+2) and gamma64(n+2) relative of the exact ones (both
    operands float32, so each difference is one rounding), terms that underflow add at most n * 2^-149
    (below 2n * 2^-49 relative once d32[k] >= 2^-100), and the product itself rounds once."""
    from microlearn.ir.neighbors import gamma

    g32 = gamma(n + 2, 2.0**-24)
    g64 = gamma(n + 2)
    a = (1 - g32) * (1 - g64) * (1 - 2 * n * 2.0**-49) / ((1 + g32) * (1 + g64)) * (1 - 2.0**-23)
    a32 = np.float32(a)
    while float(a32) > a:
        a32 = np.nextafter(a32, np.float32(0))
    return float(a32)


def emit_f32(ir: Neighbors, name: str, command: str = "") -> CSource:
    check_c_name(name)
    if ir.metric == "minkowski":
        raise InvalidInputError(
            "method 'float32' takes euclidean, manhattan or chebyshev; use method 'float'"
        )
    e32 = ir.examples.astype(np.float32)
    if np.any(e32.astype(np.float64) != ir.examples):
        bad = np.argwhere(e32.astype(np.float64) != ir.examples)[0]
        raise InvalidInputError(
            f"method 'float32' stores the examples as float: every value must be a float32 value, but "
            f"example {bad[0]}, feature {bad[1]} holds {ir.examples[bad[0], bad[1]]!r}. Fit on float32 data "
            "(X.astype(np.float32)) or use method 'float'"
        )
    m, n, k, nc = ir.n_examples, ir.n_features, ir.k, ir.n_classes
    kp = min(k + 1, m)
    up = name.upper()
    reg = ir.values is not None
    dist_w = ir.weights == "distance"
    ret = "float" if reg else "int32_t"
    nan = "(float)NAN" if reg else "ML_E_NAN"
    if ir.metric == "euclidean":
        t32, t64 = "s += d * d;", "s += d * d;"
    elif ir.metric == "manhattan":
        t32, t64 = "s += fabsf(d);", "s += d < 0.0 ? -d : d;"
    else:
        keep = "\n                if (a > s) {\n                    s = a;\n                }\n            }"
        t32 = "{\n                const float a = fabsf(d);" + keep
        t64 = "{\n                const double a = d < 0.0 ? -d : d;" + keep
    xs = [f32(v) for v in ir.examples.reshape(-1)]
    ys = [str(int(v)) for v in ir.labels]
    body = f"#define {up}_K {k}\n#define {up}_KP {kp}\n"
    if reg:
        body += (
            f"static const double {name}_v[{m}] = {{\n{array_lines([f64(v) for v in ir.values], 4)}\n}};\n"  # type: ignore[union-attr]
        )
    body += (
        f"static const float {name}_x[{m * n}] = {{\n{array_lines(xs, 6)}\n}};\n"
        f"static const uint16_t {name}_y[{m}] = {{\n{array_lines(ys, 16)}\n}};\n"
        f"static const ml_neighbors {name}_model = {{{n}u, {nc}u, {k}u, {METRICS.index(ir.metric)}u, {m}u, "
        f"{m}u, NULL, {name}_y, {name + '_v' if reg else 'NULL'}, NULL, NULL, {f64(ir.p)}, NULL}};\n\n"
    )
    d64 = (
        "        double s = 0.0;\n"
        f"        for (i = 0; i < {n}u; i++) {{\n"
        "            const double d = (double)x[i] - (double)e[i];\n"
        f"            {t64}\n"
        "            if (s >= lim) {\n                break;\n            }\n        }\n"
    )
    finish = f"    c = ml_neighbors_finish(&{name}_model, dd, idx, {int(dist_w)}, score, &v);\n" + (
        "    return (float)v;\n" if reg else "    return c;\n"
    )
    body += (
        f"/* float64 distances (the rule of docs/neighbors.md): the replay of {name}_predict. */\n"
        f"static inline {ret} {name}_predict_f64(const float *x)\n{{\n"
        f"    double dd[{up}_K], score[{nc}], v = 0.0;\n    uint32_t idx[{up}_K];\n    int32_t c;\n"
        "    uint32_t j, i, p, kept = 0;\n"
        f"    const float *e = {name}_x;\n"
        f"    for (j = 0; j < {m}u; j++, e += {n}) {{\n"
        f"        const double lim = kept == {up}_K ? dd[{up}_K - 1] : HUGE_VAL;\n"
        + d64
        + f"        if (s != s) {{\n            return {nan};\n        }}\n"
        + _insert(f"{up}_K").replace("dist[", "dd[")
        + "    }\n"
        + finish
        + "}\n\n"
    )
    if not reg and not dist_w:
        decided = (
            f"        uint32_t votes[{nc}] = {{0}};\n        uint32_t best = 0;\n"
            f"        for (j = 0; j < {up}_K; j++) {{\n            votes[{name}_y[idx[j]]]++;\n        }}\n"
            f"        for (j = 1; j < {nc}; j++) {{\n            if (votes[j] > votes[best]) {{\n"
            "                best = j;\n            }\n        }\n        return (int32_t)best;\n"
        )
    else:
        # the set is the rule's: its float64 distances, in the rule's order (distance, then index)
        decided = (
            f"        double dd[{up}_K], score[{nc}], v = 0.0;\n        int32_t c;\n"
            f"        for (j = 0; j < {up}_K; j++) {{\n"
            f"            const float *e = {name}_x + (size_t)idx[j] * {n}u;\n"
            "            const double lim = HUGE_VAL;\n"
            + "".join("    " + ln + "\n" for ln in d64.splitlines())
            + "            p = j;\n"
            "            while (p > 0 && (s < dd[p - 1] || (s == dd[p - 1] && idx[j] < idx[p - 1]))) {\n"
            "                p--;\n            }\n"
            "            {\n                uint32_t q, id = idx[j];\n"
            "                for (q = j; q > p; q--) {\n"
            "                    dd[q] = dd[q - 1];\n"
            "                    idx[q] = idx[q - 1];\n                }\n"
            "                dd[p] = s;\n                idx[p] = id;\n            }\n        }\n"
            + "".join("    " + ln + "\n" for ln in finish.splitlines())
        )
    cond = (
        "1"
        if kp == k
        else (
            f"d32[{up}_K] >= 7.88860905e-31f && d32[{up}_K] <= 3.40282347e38f && "
            f"d32[{up}_K] * {f32(fast_path_factor(n))} > d32[{up}_K - 1]"
        )
    )
    body += (
        f"/* {'Value' if reg else 'Class index'} of input x ({n} floats): float32 distances to the k + 1\n"
        " * nearest; when the (k+1)-th is farther than the k-th by more than the rounding of float32 and\n"
        " * float64 sums\n"
        " * (a proven relative bound), the k nearest are the float64 rule's; otherwise the float64 replay.\n"
        " * scikit-learn's result outside near ties (docs/neighbors.md); NaN input: ML_E_NAN / NaN. */\n"
        f"static inline {ret} {name}_predict(const float *x)\n{{\n"
        f"    float d32[{up}_KP];\n    uint32_t idx[{up}_KP];\n    uint32_t j, i, p, kept = 0;\n"
        f"    const float *e = {name}_x;\n"
        f"    for (j = 0; j < {m}u; j++, e += {n}) {{\n"
        "        float s = 0.0f;\n"
        f"        const float lim = kept == {up}_KP ? d32[{up}_KP - 1] : HUGE_VALF;\n"
        f"        for (i = 0; i < {n}u; i++) {{\n"
        "            const float d = x[i] - e[i];\n"
        f"            {t32}\n"
        "            if (s >= lim) {\n                break;\n            }\n        }\n"
        f"        if (s != s) {{\n            return {nan};\n        }}\n"
        + _insert(f"{up}_KP").replace("dist[", "d32[")
        + "    }\n"
        f"    if ({cond}) {{\n" + decided + "    }\n"
        f"    return {name}_predict_f64(x);\n}}\n"
    )
    const_bytes = 4 * m * n + 2 * m + 56 + (8 * m if reg else 0)
    notes = [
        f"{m} stored examples as float ({ir.metric}, k = {k}); float32 distances decide where a proven bound",
        "allows, float64 replay otherwise.",
    ]
    return header(
        ir,
        name,
        "float32",
        body,
        api=[CFunction("predict", "float" if reg else "int32")],
        const_bytes=const_bytes,
        runtime_headers=("ml_neighbors.h",),
        command=command,
        notes=notes,
        extra_defines=[("N_EXAMPLES", m)],
    )


register_method(
    Neighbors,
    "float32",
    "examples stored as float (float32-valued training data); float32 distances with a proven bound, "
    "float64 replay near ties",
    emit_f32,
)


# ------------------------------------------------------------------------------------- float32_noreplay
def emit_f32_noreplay(ir: Neighbors, name: str, command: str = "") -> CSource:
    """The examples rounded to float32, float32 distances, the k nearest by them and their votes: no
    bound and no float64 code (a KNeighborsClassifier with uniform weights)."""
    check_c_name(name)
    if ir.values is not None or ir.weights != "uniform" or ir.metric == "minkowski":
        raise InvalidInputError(
            "method 'float32_noreplay' takes a KNeighborsClassifier with weights='uniform' and the "
            "euclidean, manhattan or chebyshev metric; use method 'float32' or 'float'"
        )
    m, n, k, nc = ir.n_examples, ir.n_features, ir.k, ir.n_classes
    if nc > MAX_CLASSES:
        raise InvalidInputError(f"the model has {nc} classes; the C runtime takes at most {MAX_CLASSES}")
    if np.any(np.abs(ir.examples) > float(np.finfo(np.float32).max)):
        raise InvalidInputError("an example exceeds the float32 range: scale the features and refit")
    up = name.upper()
    ytype, ybytes = ("uint8_t", 1) if nc <= 256 else ("uint16_t", 2)
    if ir.metric == "euclidean":
        term = "s += d * d;"
    elif ir.metric == "manhattan":
        term = "s += fabsf(d);"
    else:
        term = "{\n                const float a = fabsf(d);\n                if (a > s) {\n"
        term += "                    s = a;\n                }\n            }"
    xs = [f32(v) for v in ir.examples.astype(np.float32).reshape(-1)]
    ys = [str(int(v)) for v in ir.labels]
    body = (
        f"#define {up}_K {k}\n"
        f"static const float {name}_x[{m * n}] = {{\n{array_lines(xs, 6)}\n}};\n"
        f"static const {ytype} {name}_y[{m}] = {{\n{array_lines(ys, 16)}\n}};\n\n"
        f"/* Class index of input x ({n} floats): the most frequent class (the lowest among equal counts)\n"
        " * of the k nearest examples by float32 distances (the earlier example among equal distances).\n"
        " * scikit-learn's class wherever float32 rounding does not change the k nearest; NaN input:\n"
        " * ML_E_NAN. */\n"
        f"static inline int32_t {name}_predict(const float *x)\n{{\n"
        f"    float dist[{up}_K];\n    uint32_t idx[{up}_K];\n    uint32_t votes[{nc}] = {{0}};\n"
        "    uint32_t j, i, p, kept = 0, best = 0;\n"
        f"    const float *e = {name}_x;\n"
        f"    for (j = 0; j < {m}u; j++, e += {n}) {{\n"
        "        float s = 0.0f;\n"
        f"        const float lim = kept == {up}_K ? dist[{up}_K - 1] : HUGE_VALF;\n"
        f"        for (i = 0; i < {n}u; i++) {{\n"
        "            const float d = x[i] - e[i];\n"
        f"            {term}\n"
        "            if (s >= lim) {\n                break;\n            }\n        }\n"
        "        if (s != s) {\n            return ML_E_NAN;\n        }\n" + _insert(f"{up}_K") + "    }\n"
        f"    for (j = 0; j < kept; j++) {{\n        votes[{name}_y[idx[j]]]++;\n    }}\n"
        f"    for (j = 1; j < {nc}u; j++) {{\n        if (votes[j] > votes[best]) {{\n"
        "            best = j;\n        }\n    }\n    return (int32_t)best;\n}\n"
    )
    notes = [
        f"{m} stored examples as float ({ir.metric}, k = {k}); float32 distances only, no float64 replay:",
        "scikit-learn's class wherever float32 rounding does not reorder the k-th and (k+1)-th neighbours.",
    ]
    return header(
        ir,
        name,
        "float32_noreplay",
        body,
        api=[CFunction("predict", "int32")],
        const_bytes=4 * m * n + ybytes * m,
        runtime_headers=("ml_neighbors.h",),
        command=command,
        notes=notes,
        extra_defines=[("N_EXAMPLES", m)],
    )


register_method(
    Neighbors,
    "float32_noreplay",
    "examples rounded to float, float32 distances only (no bound, no float64 code); uniform-weight "
    "classifiers",
    emit_f32_noreplay,
    exact=False,
)
