"""C for preprocessing stages (ir/transform.py): const tables plus calls into ml_transform.h.

Each stage becomes ``static inline int PREFIX_transform(const float *in, float *out)`` (0, or
``ML_E_NAN`` for an input the stage refuses) over ``PREFIX_N_IN`` inputs and ``PREFIX_N_OUT``
outputs. ``in`` and ``out`` must not overlap.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from microlearn.backends.c.registry import StageC, register_method, register_stage
from microlearn.backends.c.writer import CFunction, CSource, check_c_name, comment, f32, f64, header
from microlearn.errors import UnsupportedEstimatorError
from microlearn.ir.transform import Elementwise, Impute, Normalize, Project

RUNTIME = ("ml_common.h", "ml_transform.h")
MAX_FEATURES = 65535  # keep indices are uint16


def _stage(text: str, const_bytes: int) -> StageC:
    return StageC(text=text, runtime_headers=RUNTIME, const_bytes=const_bytes)


def _array(ctype: str, name: str, values: list[str]) -> str:
    lines = []
    for i in range(0, len(values), 6):
        lines.append("    " + ", ".join(values[i : i + 6]) + ",")
    body = "\n".join(lines)
    return f"static const {ctype} {name}[{len(values)}] = {{\n{body}\n}};\n"


def _floats(a: npt.NDArray[Any]) -> list[str]:
    return [f32(v) for v in np.asarray(a, dtype=np.float32)]


def _doubles(a: npt.NDArray[Any]) -> list[str]:
    return [f64(v) for v in np.asarray(a, dtype=np.float64)]


def _head(prefix: str, summary: list[str], n_in: int, n_out: int) -> str:
    up = prefix.upper()
    return f"{comment(summary)}\n#define {up}_N_IN {n_in}\n#define {up}_N_OUT {n_out}\n"


def emit_elementwise(st: Elementwise, prefix: str) -> StageC:
    n = st.n_features
    tables: list[str] = []
    calls: list[str] = [f"    ml_tf_copy(in, out, {n});"]
    nbytes = 0
    for k, op in enumerate(st.ops):
        name = f"{prefix}_{op.code}{k}"
        if op.code == "clip":
            assert op.hi is not None
            tables.append(_array("float", f"{name}_lo", _floats(op.c)))
            tables.append(_array("float", f"{name}_hi", _floats(op.hi)))
            calls.append(f"    ml_tf_clip(out, {name}_lo, {name}_hi, {n});")
            nbytes += 8 * n
        elif op.wide():
            tables.append(_array("double", name, _doubles(op.c)))
            calls.append(f"    ml_tf_{op.code}_d(out, {name}, {n});")
            nbytes += 8 * n
        else:
            tables.append(_array("float", name, _floats(op.c)))
            calls.append(f"    ml_tf_{op.code}_f(out, {name}, {n});")
            nbytes += 4 * n
    body = "\n".join(calls)
    fn = (
        f"static inline int {prefix}_transform(const float *in, float *out)\n{{\n"
        f"{body}\n    return ML_OK;\n}}\n"
    )
    code = _head(prefix, st.summary(), n, n) + "".join(tables) + fn
    return _stage(code, nbytes)


def emit_impute(st: Impute, prefix: str) -> StageC:
    if st.n_features > MAX_FEATURES:
        raise UnsupportedEstimatorError(f"an imputer of more than {MAX_FEATURES} features is not supported")
    k = st.n_outputs
    tables = _array("uint16_t", f"{prefix}_keep", [str(int(i)) for i in st.keep]) + _array(
        "float", f"{prefix}_fill", _floats(st.fill)
    )
    fn = (
        f"static inline int {prefix}_transform(const float *in, float *out)\n{{\n"
        f"    ml_tf_impute(in, out, {prefix}_keep, {prefix}_fill, {k});\n    return ML_OK;\n}}\n"
    )
    return _stage(_head(prefix, st.summary(), st.n_features, k) + tables + fn, 6 * k)


def emit_normalize(st: Normalize, prefix: str) -> StageC:
    n = st.n_features
    which = {"l1": "ML_TF_NORM_L1", "l2": "ML_TF_NORM_L2", "max": "ML_TF_NORM_MAX"}[st.norm]
    fn = (
        f"static inline int {prefix}_transform(const float *in, float *out)\n{{\n"
        f"    return ml_tf_normalize(in, out, {n}, {which});\n}}\n"
    )
    return _stage(_head(prefix, st.summary(), n, n) + fn, 0)


def emit_project(st: Project, prefix: str) -> StageC:
    d, k = st.n_inputs, st.n_outputs
    tables = _array("double", f"{prefix}_comp", _doubles(st.components.reshape(-1))) + _array(
        "double", f"{prefix}_offset", _doubles(st.offset)
    )
    scale = "0"
    if st.scale is not None:
        tables += _array("double", f"{prefix}_scale", _doubles(st.scale))
        scale = f"{prefix}_scale"
    fn = (
        f"static inline int {prefix}_transform(const float *in, float *out)\n{{\n"
        f"    return ml_tf_project(in, out, {prefix}_comp, {prefix}_offset, {scale}, {d}, {k});\n}}\n"
    )
    nbytes = 8 * (d * k + k + (k if st.scale is not None else 0))
    return _stage(_head(prefix, st.summary(), d, k) + tables + fn, nbytes)


def emit_stage(stage: Any, prefix: str) -> StageC:
    """The C of one stage IR under ``prefix`` (a C identifier)."""
    check_c_name(prefix)
    if isinstance(stage, Elementwise):
        return emit_elementwise(stage, prefix)
    if isinstance(stage, Impute):
        return emit_impute(stage, prefix)
    if isinstance(stage, Normalize):
        return emit_normalize(stage, prefix)
    if isinstance(stage, Project):
        return emit_project(stage, prefix)
    raise UnsupportedEstimatorError(f"no C for the stage {type(stage).__name__}")


def emit_standalone(stage: Any, name: str, command: str = "") -> CSource:
    """A stage converted on its own (``microlearn.convert(StandardScaler().fit(X))``): a header with
    ``int NAME_transform(const float *x, float *out)``."""
    sc = emit_stage(stage, name)
    return header(
        stage,
        name,
        METHOD,
        sc.text,
        api=[CFunction("transform", "status", stage.n_outputs)],
        const_bytes=sc.const_bytes,
        runtime_headers=sc.runtime_headers,
        command=command,
        notes=["Returns 0, or ML_E_NAN (and no output) for an input the stage refuses."],
    )


METHOD = "exact"
_SUMMARY = "the stage's float32 / float64 operations from const tables (ml_transform.h)"

for _t in (Elementwise, Impute, Normalize, Project):
    register_stage(_t, emit_stage)
    register_method(_t, METHOD, _SUMMARY, emit_standalone, default=True)
