"""The kernel-expansion codec (family 9): OneClassSVM. Support vectors (m x n, ``SVEC``), dual
coefficients (``DCOF``), ``PARM`` = (gamma, coef0, rho, degree) and ``MODE`` = the kernel (0 linear,
1 poly, 2 rbf, 3 sigmoid). Task SCORE, one output."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from microlearn.backends.modelfile.container import DT_F64, DT_U8, TASK_SCORE, fail, text_sections
from microlearn.backends.modelfile.registry import Encoded, register_family
from microlearn.backends.modelfile.schema import (
    Decoded,
    FamilySchema,
    Finite,
    OneOf,
    SectionSpec,
    text_specs,
)
from microlearn.errors import ModelFileError
from microlearn.ir.kernel import KERNELS, KernelExpansion

MAX_FEATURES = 65535
_S = TASK_SCORE

KERNEL = FamilySchema(
    code=9,
    name="kernel expansion",
    outputs={TASK_SCORE: (1, 1)},
    max_features=MAX_FEATURES,
    sections=(
        SectionSpec(b"SVEC", DT_F64, True, "n_sv*n_features", (_S,), True, (Finite(),),
                    "support vectors, row-major"),
        SectionSpec(b"DCOF", DT_F64, True, "n_sv", (_S,), True, (Finite(),), "dual coefficients"),
        SectionSpec(b"PARM", DT_F64, True, "4", (_S,), True, (Finite(),),
                    "gamma, coef0, rho (the offset), degree (an integer 0 .. 64)"),
        SectionSpec(b"MODE", DT_U8, True, "1", (_S,), True, (OneOf((0, 1, 2, 3)),),
                    "kernel: 0 linear, 1 poly, 2 rbf, 3 sigmoid"),
        *text_specs((_S,), "the estimator, e.g. sklearn.svm.OneClassSVM"),
    ),
)  # fmt: skip


def dump(ir: KernelExpansion) -> Encoded:
    if ir.n_features > MAX_FEATURES:
        raise ModelFileError(
            f"the model has {ir.n_features} features; a model file holds at most {MAX_FEATURES}"
        )
    out: list[tuple[bytes, npt.NDArray[Any]]] = [
        (b"SVEC", np.ascontiguousarray(ir.support).reshape(-1)),
        (b"DCOF", ir.coef),
        (b"PARM", np.array([ir.gamma, ir.coef0, ir.rho, float(ir.degree)], dtype=np.float64)),
        (b"MODE", np.array([KERNELS.index(ir.kernel)], dtype=np.uint8)),
    ]
    out += text_sections(None, ir.feature_names, ir.source)
    return Encoded(TASK_SCORE, ir.n_features, 1, out)


def load(d: Decoded) -> KernelExpansion:
    a = d.arrays
    n = d.header.n_features
    p = a[b"PARM"].astype(np.float64)
    if not (0 <= p[3] <= 64 and p[3] == int(p[3])):
        raise fail("PARM[3] (degree) must be an integer 0 .. 64")
    names = d.json(b"FNAM")
    try:
        return KernelExpansion(
            support=a[b"SVEC"].astype(np.float64).reshape(-1, n),
            coef=a[b"DCOF"].astype(np.float64),
            rho=float(p[2]),
            kernel=KERNELS[int(a[b"MODE"][0])],
            gamma=float(p[0]),
            coef0=float(p[1]),
            degree=int(p[3]),
            source=d.text(b"SRCE") or "",
            feature_names=None if names is None else tuple(str(f) for f in names),
        )
    except ValueError as e:
        raise fail(f"inconsistent kernel expansion: {e}") from e


register_family(code=KERNEL.code, ir_type=KernelExpansion, dump=dump, load=load, schema=KERNEL)
