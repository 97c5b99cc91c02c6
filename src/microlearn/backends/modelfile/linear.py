"""The linear-model codec (family 2): coefficients, intercepts and how scikit-learn evaluates them.

``MODE`` holds five small codes: the dtype scikit-learn scores in (0 float64, 1 float32), the intercept's
(0 float64, 1 float32, 2 a Python float), the product layout (0 vector, 1 matrix, 2 per class,
3 sequential: XGBoost's gblinear), the probability rule (0 none, 1 logistic, 2 softmax, 3 modified Huber)
and its normalisation (0 none, 1 ovr, 2 ovr where the sum is not zero). The header's n_outputs is the
number of classes (2 for one row of coefficients) or of regression outputs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from microlearn.backends.modelfile.container import (
    DT_F64,
    DT_U8,
    TASK_CLASSIFY,
    TASK_REGRESS,
    fail,
    text_sections,
)
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
from microlearn.ir.base import Task
from microlearn.ir.linear import LAYOUTS, NORMALIZES, PROBAS, Linear

MAX_FEATURES = 65535  # ml_linear.h's integer path sums 16-bit values of every feature in a uint32
MAX_ROWS = 65535
DTYPE_CODES = ("float64", "float32")
INTERCEPT_CODES = ("float64", "float32", "weak")
_C, _R = TASK_CLASSIFY, TASK_REGRESS

LINEAR = FamilySchema(
    code=2,
    name="linear model",
    outputs={TASK_CLASSIFY: (2, MAX_ROWS), TASK_REGRESS: (1, MAX_ROWS)},
    max_features=MAX_FEATURES,
    min_dims={"n_rows": 1},
    sections=(
        SectionSpec(b"COEF", DT_F64, True, "n_rows*n_features", (_C, _R), True, (Finite(),),
                    "coefficients, one row of n_features per class (or one row: binary) or output"),
        SectionSpec(b"INTC", DT_F64, True, "n_rows", (_C, _R), True, (Finite(),), "intercept of each row"),
        SectionSpec(b"MODE", DT_U8, True, "5", (_C, _R), True, (OneOf((0, 1, 2, 3)),),
                    "dtype, intercept dtype, layout, probability rule, normalisation (see linear.py)"),
        *text_specs((_C, _R), "the estimator, e.g. sklearn.linear_model.LogisticRegression", labels=(_C,)),
    ),
)  # fmt: skip


def dump(ir: Linear) -> Encoded:
    if ir.n_features > MAX_FEATURES or ir.k > MAX_ROWS:
        raise ModelFileError(
            f"the model has {ir.n_features} features and {ir.k} rows; a model file holds at most "
            f"{MAX_FEATURES} of each"
        )
    mode = np.array(
        [
            DTYPE_CODES.index(ir.dtype),
            INTERCEPT_CODES.index(ir.intercept_dtype),
            LAYOUTS.index(ir.layout),
            PROBAS.index(ir.proba),
            NORMALIZES.index(ir.normalize),
        ],
        dtype=np.uint8,
    )
    out: list[tuple[bytes, npt.NDArray[Any]]] = [
        (b"COEF", np.ascontiguousarray(ir.coef).reshape(-1)),
        (b"INTC", ir.intercept),
        (b"MODE", mode),
    ]
    out += text_sections(ir.classes, ir.feature_names, ir.source)
    task = TASK_CLASSIFY if ir.is_classifier else TASK_REGRESS
    return Encoded(task, ir.n_features, ir.n_outputs, out)


def load(d: Decoded) -> Linear:
    h = d.header
    a = d.arrays
    k = d.dims["n_rows"]
    mode = [int(v) for v in a[b"MODE"]]
    limits = (len(DTYPE_CODES), len(INTERCEPT_CODES), len(LAYOUTS), len(PROBAS), len(NORMALIZES))
    if any(m >= lim for m, lim in zip(mode, limits, strict=True)):
        raise fail("MODE holds a code out of range")
    classify = h.task == TASK_CLASSIFY
    want = (2 if k == 1 else k) if classify else k
    if h.n_outputs != want:
        raise fail(f"{k} rows of coefficients make {want} outputs, the header says {h.n_outputs}")
    labels = d.json(b"LABL")
    names = d.json(b"FNAM")
    try:
        return Linear(
            task=Task.CLASSIFY if classify else Task.REGRESS,
            coef=a[b"COEF"].astype(np.float64).reshape(k, h.n_features),
            intercept=a[b"INTC"].astype(np.float64),
            dtype=DTYPE_CODES[mode[0]],  # type: ignore[arg-type]
            intercept_dtype=INTERCEPT_CODES[mode[1]],  # type: ignore[arg-type]
            layout=LAYOUTS[mode[2]],  # type: ignore[arg-type]
            proba=PROBAS[mode[3]],  # type: ignore[arg-type]
            normalize=NORMALIZES[mode[4]],  # type: ignore[arg-type]
            classes=(np.asarray(labels) if labels is not None else np.arange(want)) if classify else None,
            source=d.text(b"SRCE") or "",
            feature_names=None if names is None else tuple(str(n) for n in names),
        )
    except ValueError as e:
        raise fail(f"inconsistent linear model: {e}") from e


register_family(code=LINEAR.code, ir_type=Linear, dump=dump, load=load, schema=LINEAR)
