"""The pipeline codec (family 64): stage records then the final model, each a complete model file of its
own family, nested (schema.PIPELINE). Nesting keeps every family's codec, schema and runtime reader as
they are: a pipeline reader only checks that the records chain (each stage's outputs are the next one's
inputs) and hands each record to the reader of its family.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import numpy.typing as npt

from microlearn.backends.modelfile import container
from microlearn.backends.modelfile.container import TASK_TRANSFORM, fail, pad8, text_sections
from microlearn.backends.modelfile.registry import Encoded, dumps, loads, register_family
from microlearn.backends.modelfile.schema import MAX_STAGES, PIPELINE, Decoded
from microlearn.errors import ModelFileError
from microlearn.ir.pipeline import Pipeline

TASK_CODES = {"classify": 1, "regress": 2, "score": 3, "cluster": 4, "transform": 5}


def dump(p: Pipeline) -> Encoded:
    if len(p.stages) > MAX_STAGES:
        raise ModelFileError(f"{len(p.stages)} pipeline stages; a model file holds at most {MAX_STAGES}")
    stages = b""
    for st in p.stages:
        blob = dumps(st)
        stages += blob + bytes(pad8(len(blob)) - len(blob))
    final = dumps(p.final)
    out: list[tuple[bytes, npt.NDArray[Any]]] = [
        (b"STGS", np.frombuffer(stages, dtype=np.uint8)),
        (b"FINL", np.frombuffer(final, dtype=np.uint8)),
    ]
    out += text_sections(None, p.feature_names, p.source)
    return Encoded(TASK_CODES[p.task.value], p.n_inputs, p.n_outputs, out)


def records(blob: bytes) -> list[bytes]:
    """The nested files of a STGS section (each padded to 8 bytes)."""
    out = []
    off = 0
    while off < len(blob):
        if len(blob) - off < container.HEADER.size + container.CRC_BYTES:
            raise fail("STGS ends inside a stage record")
        (size,) = struct.unpack_from("<I", blob, off + 24)
        end = off + pad8(size)
        if size < container.HEADER.size + container.CRC_BYTES or end > len(blob):
            raise fail("a stage record's size runs past STGS")
        if any(blob[off + size : end]):
            raise fail("the padding after a stage record is not zero")
        out.append(blob[off : off + size])
        off = end
        if len(out) > MAX_STAGES:
            raise fail(f"more than {MAX_STAGES} stages")
    return out


def _nested(blob: bytes, what: str) -> Any:
    c = container.unpack(blob)
    if c.header.family == PIPELINE.code:
        raise fail(f"{what} is itself a pipeline (pipelines do not nest)")
    return c, loads(blob)


def load(d: Decoded) -> Pipeline:
    h = d.header
    stage_files = records(bytes(d.arrays[b"STGS"]))
    if not stage_files:
        raise fail("a pipeline has at least one stage")
    stages = []
    n_in = h.n_features
    for k, blob in enumerate(stage_files):
        c, ir = _nested(blob, f"stage {k}")
        if c.header.task != TASK_TRANSFORM:
            raise fail(f"stage {k} is not a transform")
        if c.header.n_features != n_in:
            raise fail(f"stage {k} takes {c.header.n_features} values but gets {n_in}")
        n_in = c.header.n_outputs
        stages.append(ir)
    c, final = _nested(bytes(d.arrays[b"FINL"]), "the final model")
    if c.header.n_features != n_in:
        raise fail(f"the final model takes {c.header.n_features} values but the stages make {n_in}")
    if (c.header.task, c.header.n_outputs) != (h.task, h.n_outputs):
        raise fail("the pipeline header's task and outputs are not the final model's")
    names = d.json(b"FNAM")
    try:
        return Pipeline(
            stages=tuple(stages),
            final=final,
            source=d.text(b"SRCE") or "",
            feature_names=None if names is None else tuple(str(x) for x in names),
        )
    except ValueError as e:
        raise fail(str(e)) from e


register_family(code=PIPELINE.code, ir_type=Pipeline, dump=dump, load=load, schema=PIPELINE)
