"""Mahalanobis IR -> C: const tables in flash and calls into ml_mahalanobis.h.

Distances and scores are float32 evaluations within the bound the IR states (``Reference.bound``).
Method "float" (the default): ``predict`` decides in float32 under a proven bound and replays
scikit-learn's float64 arithmetic only near the threshold. Method "float32": ``predict`` is the sign of
the float32 decision value alone, no float64 code (docs/anomaly.md).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from microlearn.backends.c.common import f32_key
from microlearn.backends.c.registry import register_method
from microlearn.backends.c.writer import CFunction, CSource, array_lines, check_c_name, f32, header
from microlearn.errors import InvalidInputError
from microlearn.ir.mahalanobis import Mahalanobis

MAX_FEATURES = 1024
SLACK = 1.0 + 2.0**-18
RUNTIME = ("ml_scores.h", "ml_mahalanobis.h")


def up32(v: float) -> np.float32:
    """The smallest float32 not below v."""
    x = np.float32(v)
    if float(x) < v:
        x = np.nextafter(x, np.float32(np.inf))
    return np.float32(x)


def down32(v: float) -> np.float32:
    x = np.float32(v)
    if float(x) > v:
        x = np.nextafter(x, np.float32(-np.inf))
    return np.float32(x)


def lit64(v: float) -> str:
    if v == -math.inf:
        return "-INFINITY"
    s = repr(float(v))
    return s if ("e" in s or "." in s or "n" in s) else s + ".0"


def arr(ctype: str, name: str, items: list[str], per_line: int) -> str:
    return f"static const {ctype} {name}[{len(items)}] = {{\n" + array_lines(items, per_line) + "\n};\n"


def _packed(ir: Mahalanobis, name: str) -> npt.NDArray[np.float64]:
    check_c_name(name)
    n = ir.n_features
    if n > MAX_FEATURES:
        raise InvalidInputError(f"the model has {n} features; the C runtime takes at most {MAX_FEATURES}")
    packed = ir.packed()
    if np.any(np.abs(packed) > float(np.finfo(np.float32).max)):
        raise InvalidInputError("a precision value exceeds the float32 range: scale the features and refit")
    return packed


def _f32_parts(ir: Mahalanobis, name: str, packed: npt.NDArray[np.float64]) -> list[str]:
    """The float32 tables both methods share: the negated location and the packed precision."""
    return [
        arr("float", f"{name}_neg_loc32", [f32(-v) for v in ir.location.astype(np.float32)], 6),
        arr("float", f"{name}_p32", [f32(v) for v in packed.astype(np.float32)], 6),
    ]


def emit(ir: Mahalanobis, name: str, command: str = "") -> CSource:
    packed = _packed(ir, name)
    n = ir.n_features
    a, b, c = ir.f32_constants()
    thr = ir.threshold
    parts = [
        *_f32_parts(ir, name, packed),
        arr("float", f"{name}_w32", [f32(v) for v in ir.weights.astype(np.float32)], 6),
        f"static const ml_mah_f32 {name}_f32 = {{{n}, {name}_neg_loc32, {name}_p32, {name}_w32, "
        f"{f32(up32(a * SLACK))}, {f32(up32(b * SLACK))}, {f32(up32(c * SLACK))}, "
        f"{f32(down32(thr))}, {f32(up32(thr))}}};\n",
        arr("double", f"{name}_neg_loc", [lit64(-v) for v in ir.location], 4),
        arr("double", f"{name}_p", [lit64(v) for v in packed], 4),
        f"static const ml_mah_f64 {name}_f64 = {{{n}, {name}_neg_loc, {name}_p, {lit64(thr)}}};\n",
    ]
    m = len(packed)
    const_bytes = 4 * (2 * n + m + 5) + 8 * (n + m + 1) + 2 * 8
    body = "\n".join(parts) + "\n" + _api(name, n, np.float32(-ir.offset), "float")
    est = "EllipticEnvelope" if ir.kind == "elliptic" else "MinCovDet"
    notes = [
        f"Values are float32 evaluations of {est}'s within the bound of docs/anomaly.md; predict equals",
        "scikit-learn's decision (a float64 replay near the threshold).",
    ]
    return _header(ir, name, "float", body, const_bytes, notes, command)


def _header(
    ir: Mahalanobis, name: str, method: str, body: str, const_bytes: int, notes: list[str], command: str
) -> CSource:
    return header(
        ir,
        name,
        method,
        body,
        api=[
            CFunction("score", "float"),
            CFunction("predict", "int32"),
            CFunction("decision_function", "float"),
            CFunction("mahalanobis", "float"),
        ],
        const_bytes=const_bytes,
        runtime_headers=RUNTIME,
        command=command,
        notes=notes,
    )


def emit_float32(ir: Mahalanobis, name: str, command: str = "") -> CSource:
    packed = _packed(ir, name)
    n = ir.n_features
    thr32 = np.float32(-ir.offset)
    parts = [
        *_f32_parts(ir, name, packed),
        f"static const ml_mah_lite {name}_lite = {{{n}, {name}_neg_loc32, {name}_p32, {f32_key(thr32)}}};\n",
    ]
    body = "\n".join(parts) + "\n" + _api(name, n, thr32, "float32")
    notes = [
        "float32 arithmetic only: values within the bound of docs/anomaly.md; predict is the sign of the",
        "float32 decision value, scikit-learn's wherever the float32 bound decides. No libm.",
    ]
    return _header(ir, name, "float32", body, 4 * (n + len(packed)) + 12, notes, command)


def _api(name: str, n: int, thr32: np.float32, method: str) -> str:
    if method == "float32":
        dist = f"    float d[{n}];\n    return ml_mah_q_f32({n}, {name}_neg_loc32, {name}_p32, x, d);\n"
        predict = (
            "/* scikit-learn's predict where the float32 bound decides: 1 inlier (decision_function >= 0),\n"
            " * -1 outlier. */\n"
            f"static inline int32_t {name}_predict(const float *x)\n{{\n"
            f"    float d[{n}];\n    return ml_mah_predict_lite(&{name}_lite, x, d);\n}}\n"
        )
    else:
        dist = f"    float d[{n}], r;\n    return ml_mah_dist_f32(&{name}_f32, x, d, &r);\n"
        predict = (
            "/* scikit-learn's predict: 1 inlier, -1 outlier (float32 under a proven bound, float64 near\n"
            " * the threshold). */\n"
            f"static inline int32_t {name}_predict(const float *x)\n{{\n"
            f"    float d[{n}];\n    return ml_mah_predict(&{name}_f32, &{name}_f64, x, d);\n}}\n"
        )
    return (
        "/* Squared Mahalanobis distance of x (float32 arithmetic). */\n"
        f"static inline float {name}_mahalanobis(const float *x)\n{{\n{dist}}}\n\n"
        "/* scikit-learn's score_samples: -distance. */\n"
        f"static inline float {name}_score(const float *x)\n{{\n"
        f"    return -{name}_mahalanobis(x);\n}}\n\n"
        "/* scikit-learn's decision_function: score - offset (>= 0: inlier). */\n"
        f"static inline float {name}_decision_function(const float *x)\n{{\n"
        f"    return {f32(thr32)} - {name}_mahalanobis(x);\n}}\n\n" + predict
    )


register_method(
    Mahalanobis,
    "float",
    "float32 quadratic form under a proven bound, float64 replay near the threshold",
    emit,
    default=True,
)
register_method(
    Mahalanobis,
    "float32",
    "float32 quadratic form only (no float64 replay): decisions exact where the float32 bound decides",
    emit_float32,
    exact=False,
)
