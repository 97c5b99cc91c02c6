"""The Mahalanobis-distance codec (family 7): EllipticEnvelope and MinCovDet. Location, precision
matrix (scikit-learn's ``precision_``, row-major) and the decision offset, all float64; ``MODE`` says
which estimator (0 EllipticEnvelope, 1 MinCovDet). Task SCORE, one output (the score)."""

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
from microlearn.ir.mahalanobis import Mahalanobis

MAX_FEATURES = 1024
KINDS = ("elliptic", "mcd")
_S = TASK_SCORE

MAHALANOBIS = FamilySchema(
    code=7,
    name="Mahalanobis distance",
    outputs={TASK_SCORE: (1, 1)},
    max_features=MAX_FEATURES,
    sections=(
        SectionSpec(b"LOCN", DT_F64, True, "n_features", (_S,), True, (Finite(),), "location_"),
        SectionSpec(b"PREC", DT_F64, True, "n_features*n_features", (_S,), True, (Finite(),),
                    "precision matrix (precision_), row-major"),
        SectionSpec(b"OFFS", DT_F64, True, "1", (_S,), True, (Finite(),),
                    "offset: decision_function = -distance - offset"),
        SectionSpec(b"MODE", DT_U8, True, "1", (_S,), True, (OneOf((0, 1)),),
                    "0 EllipticEnvelope, 1 MinCovDet"),
        *text_specs((_S,), "the estimator, e.g. sklearn.covariance.EllipticEnvelope"),
    ),
)  # fmt: skip


def dump(ir: Mahalanobis) -> Encoded:
    if ir.n_features > MAX_FEATURES:
        raise ModelFileError(
            f"the model has {ir.n_features} features; a model file holds at most {MAX_FEATURES}"
        )
    out: list[tuple[bytes, npt.NDArray[Any]]] = [
        (b"LOCN", ir.location),
        (b"PREC", np.ascontiguousarray(ir.precision).reshape(-1)),
        (b"OFFS", np.array([ir.offset], dtype=np.float64)),
        (b"MODE", np.array([KINDS.index(ir.kind)], dtype=np.uint8)),
    ]
    out += text_sections(None, ir.feature_names, ir.source)
    return Encoded(TASK_SCORE, ir.n_features, 1, out)


def load(d: Decoded) -> Mahalanobis:
    a = d.arrays
    n = d.header.n_features
    names = d.json(b"FNAM")
    try:
        return Mahalanobis(
            location=a[b"LOCN"].astype(np.float64),
            precision=a[b"PREC"].astype(np.float64).reshape(n, n),
            offset=float(a[b"OFFS"][0]),
            kind=KINDS[int(a[b"MODE"][0])],  # type: ignore[arg-type]
            source=d.text(b"SRCE") or "",
            feature_names=None if names is None else tuple(str(f) for f in names),
        )
    except ValueError as e:
        raise fail(f"inconsistent Mahalanobis model: {e}") from e


register_family(code=MAHALANOBIS.code, ir_type=Mahalanobis, dump=dump, load=load, schema=MAHALANOBIS)
