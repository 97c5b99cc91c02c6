"""The Gaussian mixture codec (family 8): GaussianMixture and BayesianGaussianMixture. Means (K x n),
the precision Cholesky factors (``PCHL``: K*n*n full, n*n tied, K*n diag, K spherical), the per-component
constants scikit-learn adds to -0.5 Q (``CNST``), ``MODE`` = (covariance type 0 full, 1 tied, 2 diag,
3 spherical; 1 for a Bayesian mixture). Task CLUSTER, n_outputs = components."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from microlearn.backends.modelfile.container import DT_F64, DT_U8, TASK_CLUSTER, fail, text_sections
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
from microlearn.ir.mixture import COV_TYPES, GaussianMixture

MAX_FEATURES = 1024
MAX_COMPONENTS = 65535
_K = TASK_CLUSTER

MIXTURE = FamilySchema(
    code=8,
    name="Gaussian mixture",
    outputs={TASK_CLUSTER: (1, MAX_COMPONENTS)},
    max_features=MAX_FEATURES,
    sections=(
        SectionSpec(b"MEAN", DT_F64, True, "n_outputs*n_features", (_K,), True, (Finite(),),
                    "per component, the mean (means_)"),
        SectionSpec(b"PCHL", DT_F64, True, "n_chol", (_K,), True, (Finite(),),
                    "precisions_cholesky_: K*n*n full, n*n tied, K*n diag (> 0), K spherical (> 0)"),
        SectionSpec(b"CNST", DT_F64, True, "n_outputs", (_K,), True, (Finite(),),
                    "per component, the constant added to -0.5 |(x - mean) C|^2"),
        SectionSpec(b"MODE", DT_U8, True, "2", (_K,), True, (OneOf((0, 1, 2, 3)),),
                    "covariance type (0 full, 1 tied, 2 diag, 3 spherical), 1 for a Bayesian mixture"),
        *text_specs((_K,), "the estimator, e.g. sklearn.mixture.GaussianMixture"),
    ),
)  # fmt: skip


def chol_count(cov: str, k: int, n: int) -> int:
    return {"full": k * n * n, "tied": n * n, "diag": k * n, "spherical": k}[cov]


def dump(ir: GaussianMixture) -> Encoded:
    if ir.n_features > MAX_FEATURES or ir.k > MAX_COMPONENTS:
        raise ModelFileError(
            f"the model has {ir.n_features} features and {ir.k} components; a model file holds at most "
            f"{MAX_FEATURES} features and {MAX_COMPONENTS} components"
        )
    out: list[tuple[bytes, npt.NDArray[Any]]] = [
        (b"MEAN", np.ascontiguousarray(ir.means).reshape(-1)),
        (b"PCHL", np.ascontiguousarray(ir.prec_chol).reshape(-1)),
        (b"CNST", ir.const),
        (b"MODE", np.array([COV_TYPES.index(ir.covariance_type), int(ir.bayesian)], dtype=np.uint8)),
    ]
    out += text_sections(None, ir.feature_names, ir.source)
    return Encoded(TASK_CLUSTER, ir.n_features, ir.k, out)


def load(d: Decoded) -> GaussianMixture:
    a = d.arrays
    k, n = d.header.n_outputs, d.header.n_features
    mode = a[b"MODE"]
    if int(mode[1]) > 1:
        raise fail("MODE[1] (Bayesian) must be 0 or 1")
    cov = COV_TYPES[int(mode[0])]
    pc = a[b"PCHL"].astype(np.float64)
    if pc.size != chol_count(cov, k, n):
        raise fail(f"PCHL holds {pc.size} values; a {cov} mixture of {k} x {n} needs {chol_count(cov, k, n)}")
    if cov in ("diag", "spherical") and np.any(pc <= 0):
        raise fail("PCHL of a diag or spherical mixture must be > 0")
    shape = {"full": (k, n, n), "tied": (n, n), "diag": (k, n), "spherical": (k,)}[cov]
    names = d.json(b"FNAM")
    try:
        return GaussianMixture(
            means=a[b"MEAN"].astype(np.float64).reshape(k, n),
            prec_chol=pc.reshape(shape),
            const=a[b"CNST"].astype(np.float64),
            covariance_type=cov,
            bayesian=bool(mode[1]),
            source=d.text(b"SRCE") or "",
            feature_names=None if names is None else tuple(str(f) for f in names),
        )
    except ValueError as e:
        raise fail(f"inconsistent Gaussian mixture: {e}") from e


register_family(code=MIXTURE.code, ir_type=GaussianMixture, dump=dump, load=load, schema=MIXTURE)
