"""The Gaussian naive Bayes codec (family 3): means, variances and priors, and the two row-independent
terms scikit-learn computes from them (``LPRI`` = log(prior), ``NORM`` = -0.5 * sum(log(2 pi var))), so
that a device never takes a logarithm. The loader recomputes both and refuses a file where they differ.
``MODE`` holds one code: the dtype scikit-learn computes in (0 float64, 1 float32). n_outputs = classes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from microlearn.backends.modelfile.container import DT_F64, DT_U8, TASK_CLASSIFY, fail, text_sections
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
from microlearn.ir.naive_bayes import GaussianNB

MAX_FEATURES = 65535
MAX_CLASSES = 65535
DTYPE_CODES = ("float64", "float32")
_C = TASK_CLASSIFY

NAIVE_BAYES = FamilySchema(
    code=3,
    name="Gaussian naive Bayes",
    outputs={TASK_CLASSIFY: (2, MAX_CLASSES)},
    max_features=MAX_FEATURES,
    sections=(
        SectionSpec(b"THET", DT_F64, True, "n_outputs*n_features", (_C,), True, (Finite(),),
                    "per class, the mean of each feature (theta_)"),
        SectionSpec(b"VARS", DT_F64, True, "n_outputs*n_features", (_C,), True, (Finite(),),
                    "per class, the variance of each feature (var_, > 0)"),
        SectionSpec(b"PRIO", DT_F64, True, "n_outputs", (_C,), True, (Finite(),), "class priors"),
        SectionSpec(b"LPRI", DT_F64, True, "n_outputs", (_C,), True, (),
                    "log of each prior as scikit-learn computes it (-inf for 0)"),
        SectionSpec(b"NORM", DT_F64, True, "n_outputs", (_C,), True, (Finite(),),
                    "-0.5 * sum(log(2 pi var)) of each class as scikit-learn computes it"),
        SectionSpec(b"MODE", DT_U8, True, "1", (_C,), True, (OneOf((0, 1)),),
                    "the dtype scikit-learn computes in: 0 float64, 1 float32"),
        *text_specs((_C,), "the estimator, e.g. sklearn.naive_bayes.GaussianNB", labels=(_C,)),
    ),
)  # fmt: skip


def dump(ir: GaussianNB) -> Encoded:
    if ir.n_features > MAX_FEATURES or ir.k > MAX_CLASSES:
        raise ModelFileError(
            f"the model has {ir.n_features} features and {ir.k} classes; a model file holds at most "
            f"{MAX_FEATURES} of each"
        )
    out: list[tuple[bytes, npt.NDArray[Any]]] = [
        (b"THET", np.ascontiguousarray(ir.theta).reshape(-1)),
        (b"VARS", np.ascontiguousarray(ir.var).reshape(-1)),
        (b"PRIO", ir.prior),
        (b"LPRI", ir.log_prior),
        (b"NORM", ir.norm),
        (b"MODE", np.array([DTYPE_CODES.index(ir.dtype)], dtype=np.uint8)),
    ]
    out += text_sections(ir.classes, ir.feature_names, ir.source)
    return Encoded(TASK_CLASSIFY, ir.n_features, ir.k, out)


def load(d: Decoded) -> GaussianNB:
    h = d.header
    a = d.arrays
    k, n = h.n_outputs, h.n_features
    labels = d.json(b"LABL")
    names = d.json(b"FNAM")
    try:
        ir = GaussianNB(
            theta=a[b"THET"].astype(np.float64).reshape(k, n),
            var=a[b"VARS"].astype(np.float64).reshape(k, n),
            prior=a[b"PRIO"].astype(np.float64),
            dtype=DTYPE_CODES[int(a[b"MODE"][0])],  # type: ignore[arg-type]
            classes=np.asarray(labels) if labels is not None else np.arange(k),
            source=d.text(b"SRCE") or "",
            feature_names=None if names is None else tuple(str(f) for f in names),
        )
    except ValueError as e:
        raise fail(f"inconsistent GaussianNB model: {e}") from e
    lp = a[b"LPRI"].astype(np.float64)
    nm = a[b"NORM"].astype(np.float64)
    if not (np.array_equal(lp, ir.log_prior) and np.array_equal(nm, ir.norm)):
        raise fail("LPRI or NORM differ from the log-priors and normalisers of PRIO and VARS")
    return ir


register_family(code=NAIVE_BAYES.code, ir_type=GaussianNB, dump=dump, load=load, schema=NAIVE_BAYES)
