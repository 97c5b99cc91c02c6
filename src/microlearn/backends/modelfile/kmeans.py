"""The k-means codec (family 5): the centres, a MiniBatchKMeans's weight sums (for the online update) and
the dtype scikit-learn computes in. The header's task is CLUSTER and n_outputs the number of centres.
"""

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
    Range,
    SectionSpec,
    text_specs,
)
from microlearn.errors import ModelFileError
from microlearn.ir.kmeans import MAX_COUNT, KMeans

MAX_FEATURES = 65535
MAX_CLUSTERS = 65535
_K = TASK_CLUSTER

KMEANS = FamilySchema(
    code=5,
    name="k-means",
    outputs={TASK_CLUSTER: (1, MAX_CLUSTERS)},
    max_features=MAX_FEATURES,
    sections=(
        SectionSpec(b"CENT", DT_F64, True, "n_outputs*n_features", (_K,), True, (Finite(),),
                    "the cluster centres, one row of n_features each"),
        SectionSpec(b"MODE", DT_U8, True, "1", (_K,), True, (OneOf((0, 1)),),
                    "the dtype scikit-learn computes in: 0 float64, 1 float32"),
        SectionSpec(b"KMWS", DT_F64, False, "n_outputs", (_K,), False, (Range(0.0, MAX_COUNT),),
                    "a MiniBatchKMeans's weight sum of each centre (the online update starts from them)"),
        *text_specs((_K,), "the estimator, e.g. sklearn.cluster.MiniBatchKMeans"),
    ),
)  # fmt: skip


def dump(ir: KMeans) -> Encoded:
    if ir.n_features > MAX_FEATURES or ir.n_clusters > MAX_CLUSTERS:
        raise ModelFileError(
            f"the model has {ir.n_features} features and {ir.n_clusters} centres; a model file holds at most "
            f"{MAX_FEATURES} of each"
        )
    out: list[tuple[bytes, npt.NDArray[Any]]] = [
        (b"CENT", np.ascontiguousarray(ir.centers).reshape(-1)),
        (b"MODE", np.array([int(ir.float32)], dtype=np.uint8)),
    ]
    if ir.counts is not None:
        out.append((b"KMWS", ir.counts))
    out += text_sections(None, ir.feature_names, ir.source)
    return Encoded(TASK_CLUSTER, ir.n_features, ir.n_clusters, out)


def load(d: Decoded) -> KMeans:
    h = d.header
    a = d.arrays
    names = d.json(b"FNAM")
    try:
        return KMeans(
            centers=a[b"CENT"].astype(np.float64).reshape(h.n_outputs, h.n_features),
            counts=a[b"KMWS"].astype(np.float64) if b"KMWS" in a else None,
            float32=bool(a[b"MODE"][0]),
            source=d.text(b"SRCE") or "",
            feature_names=None if names is None else tuple(str(f) for f in names),
        )
    except ValueError as e:
        raise fail(f"inconsistent k-means model: {e}") from e


register_family(code=KMEANS.code, ir_type=KMeans, dump=dump, load=load, schema=KMEANS)
