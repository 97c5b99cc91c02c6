"""Preprocessing stages in model files: family 33, task TRANSFORM (a pipeline file nests one such file per
stage). The header's n_features / n_outputs are the stage's inputs / outputs; KIND says which stage it is
and which sections it needs:

* KIND 1, per-feature operations (the scalers): OPS (u8, one code per operation: 1 sub, 2 add, 3 mul,
  4 div, 5 clip; +16 when it runs in float64), C32 (f32: constants of the float32 operations and clip
  bounds, n per operation, lo then hi for clip), C64 (f64: constants of the float64 operations).
* KIND 2, imputer: KEEP (i32: the input feature of each output), FILL (f32: the value NaN becomes).
* KIND 3, normalizer: NORM (u8: 1 l1, 2 l2, 3 max).
* KIND 4, PCA: COMP (f64, n_outputs x n_features, row-major), OFFS (f64: mean . components), SCAL (f64,
  optional: whitening).

mlrt/transform.py reads the same sections (``mlrt.load`` of a stage file, or a pipeline's stage record).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from microlearn.backends.modelfile.container import (
    DT_F32,
    DT_F64,
    DT_I32,
    DT_TEXT,
    DT_U8,
    TASK_TRANSFORM,
    fail,
)
from microlearn.backends.modelfile.registry import Encoded, register_family
from microlearn.backends.modelfile.schema import (
    Decoded,
    FamilySchema,
    Finite,
    Index,
    OneOf,
    SectionSpec,
    Utf8,
)
from microlearn.errors import ModelFileError
from microlearn.ir.transform import (
    ConstDtype,
    Elementwise,
    Impute,
    Normalize,
    Op,
    OpCode,
    Project,
    TransformStage,
)

FAMILY = 33
KIND_ELEMENTWISE, KIND_IMPUTE, KIND_NORMALIZE, KIND_PROJECT = 1, 2, 3, 4
OP_CODES: dict[str, int] = {"sub": 1, "add": 2, "mul": 3, "div": 4, "clip": 5}
WIDE = 16
NORM_CODES = {"l1": 1, "l2": 2, "max": 3}
MAX_FEATURES = 1 << 20

_T = (TASK_TRANSFORM,)
STAGE = FamilySchema(
    code=FAMILY,
    name="preprocessing stage",
    outputs={TASK_TRANSFORM: (1, MAX_FEATURES)},
    max_features=MAX_FEATURES,
    sections=(
        SectionSpec(b"KIND", DT_U8, True, "1", _T, True, (OneOf((1, 2, 3, 4)),),
                    "1 per-feature operations, 2 imputer, 3 normalizer, 4 PCA"),
        SectionSpec(b"OPS ", DT_U8, True, "n_ops", _T, False, (OneOf((1, 2, 3, 4, 5, 17, 18, 19, 20)),),
                    "KIND 1: operation codes, 1 sub 2 add 3 mul 4 div 5 clip, +16 in float64"),
        SectionSpec(b"C32 ", DT_F32, True, "bytes", _T, False, (Finite(),),
                    "KIND 1: float32 constants and clip bounds, n_features per operation"),
        SectionSpec(b"C64 ", DT_F64, True, "bytes", _T, False, (Finite(),),
                    "KIND 1: float64 constants, n_features per float64 operation"),
        SectionSpec(b"KEEP", DT_I32, True, "n_outputs", _T, False, (Index("n_features"),),
                    "KIND 2: the input feature of each output, increasing"),
        SectionSpec(b"FILL", DT_F32, True, "n_outputs", _T, False, (Finite(),), "KIND 2: what NaN becomes"),
        SectionSpec(b"NORM", DT_U8, True, "1", _T, False, (OneOf((1, 2, 3)),), "KIND 3: 1 l1, 2 l2, 3 max"),
        SectionSpec(b"COMP", DT_F64, True, "n_features*n_outputs", _T, False, (Finite(),),
                    "KIND 4: components, n_outputs rows of n_features"),
        SectionSpec(b"OFFS", DT_F64, True, "n_outputs", _T, False, (Finite(),), "KIND 4: mean . components"),
        SectionSpec(b"SCAL", DT_F64, True, "n_outputs", _T, False, (Finite(),),
                    "KIND 4, whitening: divisor of each component, positive"),
        SectionSpec(b"SRCE", DT_TEXT, False, "bytes", _T, False, (Utf8(),),
                    "e.g. sklearn.preprocessing.StandardScaler"),
    ),
)  # fmt: skip

Sections = list[tuple[bytes, npt.NDArray[Any]]]


def stage_sections(stage: Any) -> tuple[int, int, int, Sections]:
    """(KIND, n_inputs, n_outputs, [(tag, array)]) of a stage IR."""
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
        if c32:
            secs.append((b"C32 ", np.concatenate(c32)))
        if c64:
            secs.append((b"C64 ", np.concatenate(c64)))
        return KIND_ELEMENTWISE, stage.n_features, stage.n_features, secs
    if isinstance(stage, Impute):
        keep = stage.keep.astype(np.int32)
        return (
            KIND_IMPUTE,
            stage.n_inputs,
            stage.n_outputs,
            [(b"KEEP", keep), (b"FILL", stage.fill.astype(np.float32))],
        )
    if isinstance(stage, Normalize):
        return (
            KIND_NORMALIZE,
            stage.n_features,
            stage.n_features,
            [(b"NORM", np.array([NORM_CODES[stage.norm]], np.uint8))],
        )
    if isinstance(stage, Project):
        secs = [(b"COMP", stage.components.reshape(-1).copy()), (b"OFFS", stage.offset.copy())]
        if stage.scale is not None:
            secs.append((b"SCAL", stage.scale.copy()))
        return KIND_PROJECT, stage.n_inputs, stage.n_outputs, secs
    raise ModelFileError(f"no model-file record for the stage {type(stage).__name__}")


def stage_from_sections(kind: int, n_in: int, n_out: int, a: dict[bytes, npt.NDArray[Any]]) -> Any:
    """The stage IR of a record (ModelFileError for anything inconsistent)."""
    needs = {
        KIND_ELEMENTWISE: (b"OPS ",),
        KIND_IMPUTE: (b"KEEP", b"FILL"),
        KIND_NORMALIZE: (b"NORM",),
        KIND_PROJECT: (b"COMP", b"OFFS"),
    }
    if kind not in needs:
        raise fail(f"unknown stage kind {kind}")
    for tag in needs[kind]:
        if tag not in a:
            raise fail(f"a stage of kind {kind} needs section {tag.decode().strip()}")
    try:
        if kind == KIND_ELEMENTWISE:
            if n_in != n_out:
                raise fail("a per-feature stage has as many outputs as inputs")
            ops: list[Op] = []
            c32 = a[b"C32 "].astype(np.float64) if b"C32 " in a else np.zeros(0)
            c64 = a[b"C64 "].astype(np.float64) if b"C64 " in a else np.zeros(0)
            i32 = i64 = 0
            names = {v: k for k, v in OP_CODES.items()}
            for code in a[b"OPS "].tolist():
                name = names.get(code & 15)
                if name is None or code & ~31 or (code & WIDE and name == "clip"):
                    raise fail(f"unknown stage operation {code}")
                opname: OpCode = name  # type: ignore[assignment]
                if (c32.size if not code & WIDE else c64.size) < (i32 if not code & WIDE else i64) + n_in:
                    raise fail("stage constants do not match its operations")
                if name == "clip":
                    if c32.size < i32 + 2 * n_in:
                        raise fail("stage constants do not match its operations")
                    ops.append(Op("clip", c32[i32 : i32 + n_in], "x", hi=c32[i32 + n_in : i32 + 2 * n_in]))
                    i32 += 2 * n_in
                elif code & WIDE:
                    ops.append(Op(opname, c64[i64 : i64 + n_in], "f64"))
                    i64 += n_in
                else:
                    dt: ConstDtype = "f32"
                    ops.append(Op(opname, c32[i32 : i32 + n_in], dt))
                    i32 += n_in
            if i32 != c32.size or i64 != c64.size:
                raise fail("stage constants do not match its operations")
            return Elementwise(n_in, tuple(ops))
        if kind == KIND_IMPUTE:
            return Impute(n_in, a[b"KEEP"].astype(np.int32), a[b"FILL"].astype(np.float64))
        if kind == KIND_NORMALIZE:
            norms = {v: k for k, v in NORM_CODES.items()}
            if n_in != n_out:
                raise fail("a normalizer has as many outputs as inputs")
            return Normalize(n_in, norms[int(a[b"NORM"][0])])  # type: ignore[arg-type]
        comp = a[b"COMP"].astype(np.float64).reshape(n_out, n_in)
        scale = a[b"SCAL"].astype(np.float64) if b"SCAL" in a else None
        return Project(np.zeros(n_in), comp, a[b"OFFS"].astype(np.float64), scale)
    except ValueError as e:
        if isinstance(e, ModelFileError):
            raise
        raise fail(f"malformed stage: {e}") from e


def dump(stage: Any) -> Encoded:
    kind, n_in, n_out, secs = stage_sections(stage)
    out: Sections = [(b"KIND", np.array([kind], dtype=np.uint8)), *secs]
    if stage.source:
        out.append((b"SRCE", np.frombuffer(stage.source.encode(), dtype=np.uint8)))
    return Encoded(TASK_TRANSFORM, n_in, n_out, out)


def load(d: Decoded) -> Any:
    h = d.header
    return stage_from_sections(int(d.arrays[b"KIND"][0]), int(h.n_features), int(h.n_outputs), d.arrays)


register_family(code=FAMILY, ir_type=TransformStage, dump=dump, load=load, schema=STAGE)
