"""Each model family's sections, declared once: tag, dtype, critical bit, count rule, value invariants.

``modelfile.loads`` checks a file against these declarations (``validate``); the C loader
(``ml_model.h``) and mlrt (``mlrt/<family>.py``, ``SECTIONS``) implement the same checks by hand, and
tests/test_modelfile_schema.py derives the tag/dtype/critical table from here and compares it with theirs,
and corrupts each invariant to see all three readers refuse it. docs/model-file.md renders these tables.

A count rule names the dimension a section's element count equals: ``"n_nodes"``, or a product with a
header field, ``"n_leaves*n_outputs"``. ``n_features`` and ``n_outputs`` come from the header; any other
dimension is fixed by the first section (in declaration order) that uses it, and every later section must
agree. ``"bytes"`` means any count (text and nested files), a number that exact count.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from microlearn.backends.modelfile.container import (
    DT_F32,
    DT_F64,
    DT_I16,
    DT_I32,
    DT_TEXT,
    DT_U8,
    DTYPES,
    TASK_CLASSIFY,
    TASK_CLUSTER,
    TASK_NAMES,
    TASK_REGRESS,
    TASK_SCORE,
    TASK_TRANSFORM,
    Container,
    fail,
)
from microlearn.errors import ModelFileError

# Rows of probabilities sum to 1 within n_outputs * ROW_SUM_TOL: far above float64 rounding (and above
# the float32 rounding of a single-float MicroPython port), far below any corrupted value.
ROW_SUM_TOL = 2.0**-20


# ---------------------------------------------------------------------------------------------- invariants
@dataclass(frozen=True)
class Finite:
    """No NaN, no infinity."""

    def describe(self) -> str:
        return "finite"


@dataclass(frozen=True)
class NotNaN:
    def describe(self) -> str:
        return "never NaN"


@dataclass(frozen=True)
class Range:
    """lo <= v <= hi (NaN fails)."""

    lo: float
    hi: float

    def describe(self) -> str:
        return f"in [{self.lo:g}, {self.hi:g}]"


@dataclass(frozen=True)
class OneOf:
    values: tuple[int, ...]

    def describe(self) -> str:
        return "one of " + ", ".join(str(v) for v in self.values)


@dataclass(frozen=True)
class Index:
    """0 <= v < dims[dim], or one of ``also`` (e.g. -1 for a leaf)."""

    dim: str
    also: tuple[int, ...] = ()

    def describe(self) -> str:
        extra = "".join(f" or {v}" for v in self.also)
        return f"in 0 .. {self.dim} - 1{extra}"


@dataclass(frozen=True)
class RowSums:
    """Rows of ``width`` values sum to ``total`` within width * ROW_SUM_TOL."""

    width: str
    total: float = 1.0

    def describe(self) -> str:
        return f"each row of {self.width} sums to {self.total:g} (within {self.width} x 2^-20)"


@dataclass(frozen=True)
class StartsAtZeroIncreasing:
    """v[0] = 0, strictly increasing, every value < dims[below]."""

    below: str

    def describe(self) -> str:
        return f"starts at 0, strictly increasing, below {self.below}"


@dataclass(frozen=True)
class Float32Of:
    """Equals the float32 rounding of section ``tag`` (where that section is present)."""

    tag: bytes

    def describe(self) -> str:
        return f"= {self.tag.decode()} rounded to float32"


@dataclass(frozen=True)
class JsonList:
    """UTF-8 JSON list of dims[dim] strings or ints."""

    dim: str

    def describe(self) -> str:
        return f"JSON list of {self.dim} items"


@dataclass(frozen=True)
class Utf8:
    def describe(self) -> str:
        return "UTF-8"


Invariant = (
    Finite | NotNaN | Range | OneOf | Index | RowSums | StartsAtZeroIncreasing | Float32Of | JsonList | Utf8
)


@dataclass(frozen=True)
class SectionSpec:
    tag: bytes
    dtype: int
    critical: bool
    count: str
    tasks: tuple[int, ...]  # tasks whose files may hold it
    required: bool  # must be present in files of those tasks
    checks: tuple[Invariant, ...] = ()
    doc: str = ""


def text_specs(
    tasks: tuple[int, ...], source_doc: str, labels: tuple[int, ...] = ()
) -> tuple[SectionSpec, ...]:
    """The optional text sections every family shares: LABL (the class labels, in files of the tasks
    ``labels``), FNAM (feature names) and SRCE (what the model was converted from, ``source_doc``)."""
    out: tuple[SectionSpec, ...] = ()
    if labels:
        out = (
            SectionSpec(b"LABL", DT_TEXT, False, "bytes", labels, False, (JsonList("n_outputs"),),
                        "JSON list of the class labels (ints or strings)"),
        )  # fmt: skip
    return (
        *out,
        SectionSpec(b"FNAM", DT_TEXT, False, "bytes", tasks, False, (JsonList("n_features"),),
                    "JSON list of feature names"),
        SectionSpec(b"SRCE", DT_TEXT, False, "bytes", tasks, False, (Utf8(),), source_doc),
    )  # fmt: skip


@dataclass(frozen=True)
class FamilySchema:
    code: int
    name: str
    outputs: Mapping[int, tuple[int, int]]  # task -> (min, max) n_outputs
    max_features: int
    sections: tuple[SectionSpec, ...]
    min_dims: Mapping[str, int] = field(default_factory=dict)

    def spec(self, tag: bytes) -> SectionSpec | None:
        for s in self.sections:
            if s.tag == tag:
                return s
        return None

    def table(self) -> list[tuple[bytes, int, bool]]:
        """(tag, dtype, critical) of every declared section: what the C and mlrt tables must equal."""
        return [(s.tag, s.dtype, s.critical) for s in self.sections]


# ---------------------------------------------------------------------------------------------- families
MAX_FEATURES = 32767  # feature indices are int16
MAX_CLASSES = 256  # ML_TREES_MAX_OUTPUTS in ml_trees.h
_C, _R = TASK_CLASSIFY, TASK_REGRESS
_TEXT = (Utf8(),)

_S = TASK_SCORE
# BOST fields (float64): n_raw, aggregation (0 sum, 1 mean), accumulate (0 float64, 1 float32), post-transform
# (BOOST_POSTS index), decide (0 raw >= 0, 1 raw > 0, 2 argmax proba, 3 raw > 0.5), categories (0 exact,
# 1 truncated), words per category set, the post-transform's two parameters (isolation: denominator,
# offset; sigmoid: its scale, 0 meaning 1; else 0), the tie band (BoostedTrees.tie_band)
BOOST_POSTS = ("none", "sigmoid", "exponential", "softmax", "exp", "isolation", "softplus")
BOOST_FIELDS = 10
TREES = FamilySchema(
    code=1,
    name="tree ensemble",
    outputs={TASK_CLASSIFY: (1, MAX_CLASSES), TASK_REGRESS: (1, 1), TASK_SCORE: (1, 1)},
    max_features=MAX_FEATURES,
    min_dims={"n_trees": 1, "n_leaves": 1},
    sections=(
        SectionSpec(b"ROOT", DT_I32, True, "n_trees", (_C, _R, _S), True,
                    (StartsAtZeroIncreasing("n_nodes"),), "first node of each tree"),
        SectionSpec(b"FEAT", DT_I16, True, "n_nodes", (_C, _R, _S), True, (Index("n_features", (-1,)),),
                    "feature index, -1 at a leaf"),
        SectionSpec(b"MISS", DT_U8, True, "n_nodes", (_C, _R, _S), True, (OneOf((0, 1)),),
                    "1: a NaN input goes left at this node, 0: right (0 at leaves)"),
        SectionSpec(b"THRS", DT_F32, True, "n_nodes", (_C, _R, _S), True, (NotNaN(),),
                    "go left when x <= THRS[i] (x rounded to float32); 0 at leaves and categorical nodes"),
        SectionSpec(b"RGHT", DT_I32, True, "n_nodes", (_C, _R, _S), True, (),
                    "internal node: right child, i + 1 < RGHT[i] < end of its tree; leaf: leaf row"),
        SectionSpec(b"PROB", DT_F64, True, "n_leaves*n_outputs", (_C,), False,
                    (Range(0.0, 1.0), RowSums("n_outputs")),
                    "per-tree class probabilities of each leaf row; required without BOST"),
        SectionSpec(b"LCLS", DT_I32, True, "n_leaves", (_C,), False, (Index("n_outputs"),),
                    "class a single tree predicts at each leaf row; required when n_trees = 1 (no BOST)"),
        SectionSpec(b"LVAL", DT_F32, True, "n_leaves", (_C, _R, _S), False, (Finite(), Float32Of(b"LV64")),
                    "leaf value rounded to float32 (what C sums); required in a regressor and with BOST"),
        SectionSpec(b"LV64", DT_F64, False, "n_leaves", (_C, _R, _S), False, (Finite(),),
                    "the exact float64 leaf value (double-precision runtimes sum these)"),
        SectionSpec(b"LABL", DT_TEXT, False, "bytes", (_C,), False, (JsonList("n_outputs"),),
                    "JSON list of the class labels (ints or strings)"),
        SectionSpec(b"FNAM", DT_TEXT, False, "bytes", (_C, _R, _S), False, (JsonList("n_features"),),
                    "JSON list of feature names"),
        SectionSpec(b"SRCE", DT_TEXT, False, "bytes", (_C, _R, _S), False, _TEXT,
                    "the estimator, e.g. sklearn.ensemble.RandomForestClassifier"),
        SectionSpec(b"BOST", DT_F64, True, str(BOOST_FIELDS), (_C, _R, _S), False, (Finite(),),
                    "boosted trees (docs/boosting.md): n_raw, aggregation, accumulate, post-transform, "
                    "decide, category cast, words per category set, two post-transform parameters, tie band; "
                    "required in an anomaly (score) file"),
        SectionSpec(b"BASE", DT_F64, True, "n_raw", (_C, _R, _S), False, (Finite(),),
                    "with BOST: the base score of each raw output"),
        SectionSpec(b"TOUT", DT_I32, True, "n_trees", (_C, _R, _S), False, (Index("n_raw"),),
                    "with BOST: the raw output each tree adds its leaf value to"),
        SectionSpec(b"CSET", DT_I32, True, "n_nodes", (_C, _R, _S), False, (),
                    "with BOST: category set of each categorical node, -1 at numerical nodes and leaves"),
        SectionSpec(b"CLFT", DT_U8, True, "n_nodes", (_C, _R, _S), False, (OneOf((0, 1)),),
                    "with CSET: 1 where the members of the set go left"),
        SectionSpec(b"CBIT", DT_I32, True, "bytes", (_C, _R, _S), False, (),
                    "with CSET: the category bitsets, BOST words (32 categories) per set"),
    ),
)  # fmt: skip

# The FeatureExtractor stage (microlearn.dsp.FeatureConfig): raw windows of WIND samples x AXES interleaved
# axes in (n_features = WIND x AXES), per channel (the axes, then the magnitude if MAGN) the statistics
# STAT then the band energies out (n_outputs = channels x (len(STAT) + n_bands)).
MAX_WINDOW = 1 << 15
N_STATS = 11  # len(microlearn.dsp.features.STATS), in that order
_T = (TASK_TRANSFORM,)
FEATURES = FamilySchema(
    code=32,
    name="feature extractor",
    outputs={TASK_TRANSFORM: (1, 16 * 17 * 4096)},
    max_features=MAX_WINDOW * 16,
    sections=(
        SectionSpec(b"WIND", DT_I32, True, "1", _T, True, (Range(2, MAX_WINDOW),), "samples per window"),
        SectionSpec(b"AXES", DT_I32, True, "1", _T, True, (Range(1, 16),), "interleaved axes per sample"),
        SectionSpec(b"MAGN", DT_U8, True, "1", _T, True, (OneOf((0, 1)),),
                    "1: a magnitude channel sqrt(sum of squares) follows the axes"),
        SectionSpec(b"STAT", DT_U8, True, "n_stats", _T, True, (Range(0, N_STATS - 1),),
                    "statistics per channel, in output order: indices into STATS, no repeats"),
        SectionSpec(b"BINS", DT_I32, True, "n_bands*2", _T, False, (Range(0, MAX_WINDOW // 2 + 1),),
                    "band energies: FFT bins [lo, hi) of each band, lo < hi <= WIND / 2 + 1"),
        SectionSpec(b"DCOS", DT_F32, True, "n_dft", _T, False, (Range(-1.0, 1.0),),
                    "with bands: cos(2 pi j / WIND) in float32, j < WIND"),
        SectionSpec(b"DSIN", DT_F32, True, "n_dft", _T, False, (Range(-1.0, 1.0),),
                    "with bands: sin(2 pi j / WIND) in float32, j < WIND"),
        SectionSpec(b"BAND", DT_F64, False, "n_bands*2", _T, False, (Finite(),), "the bands in Hz (lo, hi)"),
        SectionSpec(b"SRAT", DT_F64, False, "1", _T, False, (Range(0.0, 1e12),), "sample rate in Hz"),
        SectionSpec(b"SRCE", DT_TEXT, False, "bytes", _T, False, _TEXT, "what it was converted from"),
    ),
)  # fmt: skip

# A pipeline: transform stages then a final model, each a complete model file of its own family (stages
# in STGS, one after another, each padded with zeros to a multiple of 8 bytes; the final model in FINL).
# The header states the pipeline's input (n_features = the first stage's) and output (task and n_outputs =
# the final's).
MAX_STAGES = 8  # ML_PIPELINE_MAX_STAGES in ml_model.h
_ANY = (TASK_CLASSIFY, TASK_REGRESS, TASK_SCORE, TASK_CLUSTER, TASK_TRANSFORM)
PIPELINE = FamilySchema(
    code=64,
    name="pipeline",
    outputs={TASK_CLASSIFY: (1, MAX_CLASSES), TASK_REGRESS: (1, 1 << 16), TASK_SCORE: (1, 1),
             TASK_CLUSTER: (1, 1 << 16), TASK_TRANSFORM: (1, 1 << 20)},
    max_features=1 << 24,
    sections=(
        SectionSpec(b"STGS", DT_U8, True, "bytes", _ANY, True, (),
                    "the transform stages in order: complete model files, each zero-padded to 8 bytes"),
        SectionSpec(b"FINL", DT_U8, True, "bytes", _ANY, True, (), "the final model: a complete model file"),
        SectionSpec(b"FNAM", DT_TEXT, False, "bytes", _ANY, False, (JsonList("n_features"),),
                    "JSON list of the raw input's column names"),
        SectionSpec(b"SRCE", DT_TEXT, False, "bytes", _ANY, False, _TEXT, "e.g. sklearn.pipeline.Pipeline"),
    ),
)  # fmt: skip


# ---------------------------------------------------------------------------------------------- checking
@dataclass(frozen=True)
class Decoded:
    """A file that passed its family's schema: arrays by tag (only the declared, present ones) and the
    dimensions the count rules fixed."""

    container: Container
    arrays: dict[bytes, npt.NDArray[Any]]
    dims: dict[str, int]

    @property
    def header(self) -> Any:
        return self.container.header

    def text(self, tag: bytes) -> str | None:
        a = self.arrays.get(tag)
        return None if a is None else bytes(a).decode("utf-8")

    def json(self, tag: bytes) -> Any:
        t = self.text(tag)
        return None if t is None else json.loads(t)


def _count(rule: str, count: int, dims: dict[str, int], tag: bytes) -> None:
    if rule == "bytes":
        return
    if rule.isdigit():
        if count != int(rule):
            raise fail(f"section {tag.decode()} has {count} entries, not {rule}")
        return
    name, _, factor_name = rule.partition("*")
    factor = (int(factor_name) if factor_name.isdigit() else dims[factor_name]) if factor_name else 1
    if factor_name and (factor < 1 or count % factor):
        raise fail(f"section {tag.decode()} has {count} entries, not a multiple of {factor_name} = {factor}")
    n = count // factor
    if name in dims:
        if dims[name] != n:
            raise fail(f"section {tag.decode()} has {count} entries; {rule} = {dims[name] * factor}")
    else:
        dims[name] = n


def _check(inv: Invariant, a: npt.NDArray[Any], tag: bytes, d: Decoded) -> None:
    name = tag.decode()
    dims = d.dims
    if isinstance(inv, Finite):
        if not np.all(np.isfinite(a)):
            raise fail(f"{name} holds a NaN or infinite value")
    elif isinstance(inv, NotNaN):
        if np.any(np.isnan(a)):
            raise fail(f"{name} holds a NaN")
    elif isinstance(inv, Range):
        if not np.all((a >= inv.lo) & (a <= inv.hi)):
            raise fail(f"{name} holds a value outside [{inv.lo:g}, {inv.hi:g}]")
    elif isinstance(inv, OneOf):
        if not np.all(np.isin(a, inv.values)):
            raise fail(f"{name} holds a value other than {inv.describe()[7:]}")
    elif isinstance(inv, Index):
        ok = (a >= 0) & (a < dims[inv.dim])
        for v in inv.also:
            ok |= a == v
        if not np.all(ok):
            raise fail(f"{name} holds an index outside {inv.describe()[3:]}")
    elif isinstance(inv, RowSums):
        w = dims[inv.width]
        sums = a.astype(np.float64).reshape(-1, w).sum(axis=1)
        if np.any(np.abs(sums - inv.total) > w * ROW_SUM_TOL):
            raise fail(f"{name}: a row does not sum to {inv.total:g}")
    elif isinstance(inv, StartsAtZeroIncreasing):
        if a.size == 0 or a[0] != 0 or np.any(np.diff(a.astype(np.int64)) <= 0) or a[-1] >= dims[inv.below]:
            raise fail(f"{name} must start at 0 and increase strictly, below {inv.below}")
    elif isinstance(inv, Float32Of):
        other = d.arrays.get(inv.tag)
        if other is not None and not np.array_equal(other.astype(np.float32), a):
            raise fail(f"{name} must be {inv.tag.decode()} rounded to float32")
    elif isinstance(inv, Utf8 | JsonList):
        try:
            text = bytes(a).decode("utf-8")
            value = json.loads(text) if isinstance(inv, JsonList) else None
        except (UnicodeDecodeError, ValueError) as e:
            raise fail(f"{name} is not valid UTF-8{' JSON' if isinstance(inv, JsonList) else ''}: {e}") from e
        if isinstance(inv, JsonList) and (
            not isinstance(value, list)
            or len(value) != dims[inv.dim]
            or not all(isinstance(v, str | int) and not isinstance(v, bool) for v in value)
        ):
            raise fail(f"{name} must be a JSON list of {dims[inv.dim]} strings or integers")


def validate(schema: FamilySchema, c: Container) -> Decoded:
    """Check ``c`` against ``schema``: task and sizes, known sections and their dtypes, required and
    misplaced sections, count rules, value invariants. Structure that spans sections (tree links) is the
    codec's to check."""
    h = c.header
    if h.family != schema.code:
        raise fail(f"family {h.family} read as {schema.name}")
    if h.task not in schema.outputs:
        task = TASK_NAMES.get(h.task, str(h.task))
        raise fail(f"task {task} is not one a {schema.name} has")
    lo, hi = schema.outputs[h.task]
    if not 1 <= h.n_features <= schema.max_features:
        raise fail(f"n_features {h.n_features} outside 1..{schema.max_features}")
    if not lo <= h.n_outputs <= hi:
        raise fail(f"n_outputs {h.n_outputs} outside {lo}..{hi} for task {TASK_NAMES[h.task]}")
    arrays: dict[bytes, npt.NDArray[Any]] = {}
    for tag, s in c.sections.items():
        spec = schema.spec(tag)
        if spec is None:
            if s.critical:
                raise ModelFileError(
                    f"model file has a section {tag!r} this microlearn does not know and must not ignore: "
                    "upgrade microlearn"
                )
            continue  # an optional section from a later minor version
        if spec.dtype != s.dtype:
            raise fail(f"section {tag!r} has dtype {DTYPES[s.dtype][0]}, expected {DTYPES[spec.dtype][0]}")
        if h.task not in spec.tasks:
            raise fail(f"section {tag.decode()} does not belong in a {TASK_NAMES[h.task]} file")
        arrays[tag] = c.array(tag)
    dims = {"n_features": h.n_features, "n_outputs": h.n_outputs}
    for spec in schema.sections:
        if h.task not in spec.tasks:
            continue
        if spec.tag not in arrays:
            if spec.required:
                raise fail(f"required section {spec.tag.decode()} is missing")
            continue
        _count(spec.count, arrays[spec.tag].size, dims, spec.tag)
    for name, least in schema.min_dims.items():
        if name in dims and dims[name] < least:
            raise fail(f"{name} = {dims[name]} (at least {least})")
    d = Decoded(c, arrays, dims)
    for spec in schema.sections:
        if spec.tag in arrays:
            for inv in spec.checks:
                _check(inv, arrays[spec.tag], spec.tag, d)
    return d
