"""Preprocessing stages in model files: one family per stage IR, task TRANSFORM (a pipeline file holds
them as stage records). n_features / n_outputs of the header are the stage's inputs / outputs.

* 20 Elementwise: OPS (u8, one code per operation: 1 sub, 2 add, 3 mul, 4 div, 5 clip; +16 when it runs
  in float64), C32 (f32: constants of the float32 operations and clip bounds, n per operation, lo then
  hi for clip), C64 (f64: constants of the float64 operations).
* 21 Impute: KEEP (i32: the input feature of each output), FILL (f32: the value NaN becomes).
* 22 Normalize: NORM (u8: 1 l1, 2 l2, 3 max).
* 23 Project: COMP (f64, n_outputs x n_features, row-major), OFFS (f64: mean . components), SCAL (f64,
  optional: whitening).

mlrt/transform.py reads the same sections (``mlrt.transform.from_sections``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from microlearn.errors import ModelFileError
from microlearn.ir.transform import ConstDtype, Elementwise, Impute, Normalize, Op, OpCode, Project

FAMILY_ELEMENTWISE = 20
FAMILY_IMPUTE = 21
FAMILY_NORMALIZE = 22
FAMILY_PROJECT = 23

OP_CODES: dict[str, int] = {"sub": 1, "add": 2, "mul": 3, "div": 4, "clip": 5}
WIDE = 16
NORM_CODES = {"l1": 1, "l2": 2, "max": 3}

Sections = list[tuple[bytes, npt.NDArray[Any]]]


def stage_sections(stage: Any) -> tuple[int, int, int, Sections]:
    """(family, n_inputs, n_outputs, [(tag, array)]) of a stage IR."""
    if isinstance(stage, Elementwise):
        codes, c32, c64 = [], [], []
        for op in stage.ops:
            codes.append(OP_CODES[op.code] | (WIDE if op.wide() else 0))
            if op.code == "clip":
                assert op.hi is not None
                c32 += [op.c.astype(np.float32), op.hi.astype(np.float32)]
            elif op.wide():
                c64.append(op.c)
            else:
                c32.append(op.c.astype(np.float32))
        secs: Sections = [(b"OPS ", np.array(codes, dtype=np.uint8))]
        secs.append((b"C32 ", np.concatenate(c32) if c32 else np.zeros(0, np.float32)))
        secs.append((b"C64 ", np.concatenate(c64) if c64 else np.zeros(0, np.float64)))
        return FAMILY_ELEMENTWISE, stage.n_features, stage.n_features, secs
    if isinstance(stage, Impute):
        return (
            FAMILY_IMPUTE,
            stage.n_inputs,
            stage.n_outputs,
            [(b"KEEP", stage.keep.astype(np.int32)), (b"FILL", stage.fill.astype(np.float32))],
        )
    if isinstance(stage, Normalize):
        return (
            FAMILY_NORMALIZE,
            stage.n_features,
            stage.n_features,
            [(b"NORM", np.array([NORM_CODES[stage.norm]], np.uint8))],
        )
    if isinstance(stage, Project):
        secs = [(b"COMP", stage.components.reshape(-1).copy()), (b"OFFS", stage.offset.copy())]
        if stage.scale is not None:
            secs.append((b"SCAL", stage.scale.copy()))
        return FAMILY_PROJECT, stage.n_inputs, stage.n_outputs, secs
    raise ModelFileError(f"no model-file record for the stage {type(stage).__name__}")


def stage_from_sections(family: int, n_in: int, n_out: int, a: dict[bytes, npt.NDArray[Any]]) -> Any:
    """The stage IR of a record (raises ModelFileError for anything inconsistent)."""
    try:
        if family == FAMILY_ELEMENTWISE:
            if n_in != n_out:
                raise ModelFileError("a per-feature stage has as many outputs as inputs")
            ops: list[Op] = []
            c32, c64 = a[b"C32 "].astype(np.float64), a[b"C64 "].astype(np.float64)
            i32 = i64 = 0
            names = {v: k for k, v in OP_CODES.items()}
            for code in a[b"OPS "].tolist():
                name = names.get(code & 15)
                if name is None or code & ~31 or (code & WIDE and name == "clip"):
                    raise ModelFileError(f"unknown stage operation {code}")
                opname: OpCode = name  # type: ignore[assignment]
                if name == "clip":
                    lo, hi = c32[i32 : i32 + n_in], c32[i32 + n_in : i32 + 2 * n_in]
                    ops.append(Op("clip", lo, "x", hi=hi))
                    i32 += 2 * n_in
                elif code & WIDE:
                    ops.append(Op(opname, c64[i64 : i64 + n_in], "f64"))
                    i64 += n_in
                else:
                    dt: ConstDtype = "f32"
                    ops.append(Op(opname, c32[i32 : i32 + n_in], dt))
                    i32 += n_in
            if i32 != c32.size or i64 != c64.size:
                raise ModelFileError("stage constants do not match its operations")
            return Elementwise(n_in, tuple(ops))
        if family == FAMILY_IMPUTE:
            return Impute(n_in, a[b"KEEP"].astype(np.int32), a[b"FILL"].astype(np.float64))
        if family == FAMILY_NORMALIZE:
            norms = {v: k for k, v in NORM_CODES.items()}
            return Normalize(n_in, norms[int(a[b"NORM"][0])])  # type: ignore[arg-type]
        if family == FAMILY_PROJECT:
            comp = a[b"COMP"].astype(np.float64).reshape(n_out, n_in)
            scale = a[b"SCAL"].astype(np.float64) if b"SCAL" in a else None
            return Project(np.zeros(n_in), comp, a[b"OFFS"].astype(np.float64), scale)
    except (KeyError, IndexError, ValueError) as e:
        if isinstance(e, ModelFileError):
            raise
        raise ModelFileError(f"malformed stage record: {e}") from e
    raise ModelFileError(f"unknown stage family {family}")
