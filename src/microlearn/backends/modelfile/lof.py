"""The local-outlier-factor codec (family 10): LocalOutlierFactor(novelty=True), euclidean. Training rows
(``FITX``, m x n), their densities (``LRDS``, > 0) and k-distances (``KDST``, >= 0), ``PARM`` = (k, offset).
Task SCORE, one output."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from microlearn.backends.modelfile.container import DT_F64, TASK_SCORE, fail, text_sections
from microlearn.backends.modelfile.registry import Encoded, register_family
from microlearn.backends.modelfile.schema import (
    Decoded,
    FamilySchema,
    Finite,
    Range,
    SectionSpec,
    text_specs,
)
from microlearn.errors import ModelFileError
from microlearn.ir.lof import LocalOutlierFactor

MAX_FEATURES = 65535
_S = TASK_SCORE

LOF = FamilySchema(
    code=10,
    name="local outlier factor",
    outputs={TASK_SCORE: (1, 1)},
    max_features=MAX_FEATURES,
    sections=(
        SectionSpec(b"FITX", DT_F64, True, "n_rows*n_features", (_S,), True, (Finite(),),
                    "training rows, row-major"),
        SectionSpec(b"LRDS", DT_F64, True, "n_rows", (_S,), True, (Range(2.0**-1022, 2.0**50),),
                    "local reachability density of each training row (> 0, at most 1e10)"),
        SectionSpec(b"KDST", DT_F64, True, "n_rows", (_S,), True, (Range(0.0, 2.0**50),),
                    "each training row's distance to its k-th neighbour (0 .. 2^50)"),
        SectionSpec(b"PARM", DT_F64, True, "2", (_S,), True, (Finite(),),
                    "k (an integer 1 .. n_rows - 1), offset_"),
        *text_specs((_S,), "the estimator, sklearn.neighbors.LocalOutlierFactor"),
    ),
    min_dims={"n_rows": 2},
)  # fmt: skip


def dump(ir: LocalOutlierFactor) -> Encoded:
    if ir.n_features > MAX_FEATURES:
        raise ModelFileError(
            f"the model has {ir.n_features} features; a model file holds at most {MAX_FEATURES}"
        )
    out: list[tuple[bytes, npt.NDArray[Any]]] = [
        (b"FITX", np.ascontiguousarray(ir.fit_x).reshape(-1)),
        (b"LRDS", ir.lrd),
        (b"KDST", ir.kdist),
        (b"PARM", np.array([float(ir.k), ir.offset], dtype=np.float64)),
    ]
    out += text_sections(None, ir.feature_names, ir.source)
    return Encoded(TASK_SCORE, ir.n_features, 1, out)


def load(d: Decoded) -> LocalOutlierFactor:
    a = d.arrays
    n = d.header.n_features
    p = a[b"PARM"].astype(np.float64)
    m = d.dims["n_rows"]
    if not (1 <= p[0] < m and p[0] == int(p[0])):
        raise fail("PARM[0] (k) must be an integer 1 .. n_rows - 1")
    names = d.json(b"FNAM")
    try:
        return LocalOutlierFactor(
            fit_x=a[b"FITX"].astype(np.float64).reshape(-1, n),
            lrd=a[b"LRDS"].astype(np.float64),
            kdist=a[b"KDST"].astype(np.float64),
            k=int(p[0]),
            offset=float(p[1]),
            source=d.text(b"SRCE") or "",
            feature_names=None if names is None else tuple(str(f) for f in names),
        )
    except ValueError as e:
        raise fail(f"inconsistent local outlier factor: {e}") from e


register_family(code=LOF.code, ir_type=LocalOutlierFactor, dump=dump, load=load, schema=LOF)
