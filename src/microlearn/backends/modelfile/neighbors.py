"""The nearest-neighbour codec (family 4): stored examples, their class indices and how to vote.

``KNBR`` holds seven codes: k, the metric (0 euclidean, 1 manhattan, 2 chebyshev, 3 minkowski: its power p
in ``MNKP``), the kind (0 k nearest
neighbours, 1 nearest centroid), scikit-learn's algorithm (0 brute, 1 kd_tree, 2 ball_tree: the
reference's tie order), its leaf size, 1 when scikit-learn holds the examples as float32, and the
vote weights (0 uniform, 1 distance). The
header's n_outputs is the number of classes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from microlearn.backends.modelfile.container import (
    DT_F64,
    DT_I32,
    DT_U32,
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
    Index,
    Range,
    SectionSpec,
    text_specs,
)
from microlearn.errors import ModelFileError
from microlearn.ir.neighbors import ALGORITHMS, KINDS, MAX_P, METRICS, Neighbors

MAX_FEATURES = 65535
MAX_CLASSES = 65535  # labels are uint16
_C, _R = TASK_CLASSIFY, TASK_REGRESS

NEIGHBORS = FamilySchema(
    code=4,
    name="nearest neighbours",
    outputs={TASK_CLASSIFY: (2, MAX_CLASSES), TASK_REGRESS: (1, 1)},
    max_features=MAX_FEATURES,
    min_dims={"n_examples": 1},
    sections=(
        SectionSpec(b"EXMP", DT_F64, True, "n_examples*n_features", (_C, _R), True, (Finite(),),
                    "the stored examples (or centroids), one row of n_features each"),
        SectionSpec(b"EXLB", DT_I32, True, "n_examples", (_C,), True, (Index("n_outputs"),),
                    "class index of each example"),
        SectionSpec(b"KNBR", DT_U32, True, "7", (_C, _R), True, (),
                    "k, metric, kind, algorithm, leaf size, float32 examples, weights (see neighbors.py)"),
        SectionSpec(b"EXVL", DT_F64, True, "n_examples", (_R,), True, (Finite(),),
                    "a regressor's target of each example"),
        SectionSpec(b"MNKP", DT_F64, True, "1", (_C, _R), False, (Range(1.0, MAX_P),),
                    "minkowski's power p (metric 3 only)"),
        *text_specs((_C, _R), "the estimator, e.g. sklearn.neighbors.KNeighborsClassifier", labels=(_C,)),
    ),
)  # fmt: skip


def dump(ir: Neighbors) -> Encoded:
    if ir.n_features > MAX_FEATURES or ir.n_classes > MAX_CLASSES:
        raise ModelFileError(
            f"the model has {ir.n_features} features and {ir.n_classes} classes; a model file holds at most "
            f"{MAX_FEATURES} of each"
        )
    knbr = np.array(
        [
            ir.k,
            METRICS.index(ir.metric),
            KINDS.index(ir.kind),
            ALGORITHMS.index(ir.algorithm),
            ir.leaf_size,
            int(ir.float32),
            int(ir.weights == "distance"),
        ],
        dtype=np.uint32,
    )
    out: list[tuple[bytes, npt.NDArray[Any]]] = [(b"EXMP", np.ascontiguousarray(ir.examples).reshape(-1))]
    if ir.values is None:
        out.append((b"EXLB", ir.labels.astype(np.int32)))
    out.append((b"KNBR", knbr))
    if ir.values is not None:
        out.append((b"EXVL", ir.values))
    if ir.metric == "minkowski":
        if ir.p > MAX_P:
            raise ModelFileError(f"minkowski's p = {ir.p:g}; a model file holds 1 <= p <= {MAX_P:g}")
        out.append((b"MNKP", np.array([ir.p], dtype=np.float64)))
    out += text_sections(ir.classes, ir.feature_names, ir.source)
    return Encoded(TASK_CLASSIFY if ir.values is None else TASK_REGRESS, ir.n_features, ir.n_outputs, out)


def load(d: Decoded) -> Neighbors:
    h = d.header
    a = d.arrays
    m = d.dims["n_examples"]
    k, metric, kind, algo, leaf, f32, wd = (int(v) for v in a[b"KNBR"])
    if (
        metric >= len(METRICS)
        or kind >= len(KINDS)
        or algo >= len(ALGORITHMS)
        or f32 > 1
        or leaf < 1
        or wd > 1
    ):
        raise fail("KNBR holds a code out of range")
    labels = d.json(b"LABL")
    names = d.json(b"FNAM")
    reg = h.task == TASK_REGRESS
    has_p = b"MNKP" in a
    if has_p != (METRICS[metric] == "minkowski"):
        raise fail("MNKP (minkowski's p) is present exactly when KNBR's metric is 3")
    try:
        return Neighbors(
            examples=a[b"EXMP"].astype(np.float64).reshape(m, h.n_features),
            labels=np.zeros(m, dtype=np.int64) if reg else a[b"EXLB"].astype(np.int64),
            n_classes=h.n_outputs,
            k=k,
            metric=METRICS[metric],  # type: ignore[arg-type]
            kind=KINDS[kind],  # type: ignore[arg-type]
            algorithm=ALGORITHMS[algo],  # type: ignore[arg-type]
            leaf_size=leaf,
            float32=bool(f32),
            weights="distance" if wd else "uniform",
            p=float(a[b"MNKP"][0]) if has_p else 2.0,
            values=a[b"EXVL"].astype(np.float64) if reg else None,
            classes=None if reg else np.asarray(labels) if labels is not None else np.arange(h.n_outputs),
            source=d.text(b"SRCE") or "",
            feature_names=None if names is None else tuple(str(n) for n in names),
        )
    except ValueError as e:
        raise fail(f"inconsistent nearest-neighbour model: {e}") from e


register_family(code=NEIGHBORS.code, ir_type=Neighbors, dump=dump, load=load, schema=NEIGHBORS)
