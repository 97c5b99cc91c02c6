"""The three model-file readers (modelfile.loads, ml_model.h, mlrt) against the one declaration in
schema.py: the same section tables, and every declared value invariant, once broken (CRC repaired),
refused by all three."""

from __future__ import annotations

import ctypes
import struct
import sys
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn import datasets
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.tree import DecisionTreeClassifier

import microlearn
from microlearn import host
from microlearn import micropython as mpy
from microlearn.backends import modelfile as mf
from microlearn.backends.modelfile import schema
from microlearn.backends.modelfile.container import DTYPES, Header
from microlearn.backends.modelfile.registry import families
from microlearn.dsp._audio_mp import mel_filterbank_bytes
from modelfile_cases import ML_E, fix_crc

sys.path.insert(0, str(mpy.RUNTIME_DIR))
import mlrt
from mlrt import _reader

# family code -> the C function that returns its declared sections
C_TABLES = {
    1: "ml_trees_sections",
    2: "ml_linear_sections",
    3: "ml_naive_bayes_sections",
    4: "ml_neighbors_sections",
    6: "ml_network_sections",
    5: "ml_kmeans_sections",
    7: "ml_mahalanobis_sections",
    8: "ml_mixture_sections",
    9: "ml_kernel_sections",
    10: "ml_lof_sections",
    32: "ml_features_sections",
    33: "ml_transform_sections",
    64: "ml_pipeline_sections",
}

C_PROGRAM = r"""
#include <stdio.h>
#include "ml_model.h"
#include "ml_neighbors_file.h"
#include "ml_network_file.h"
#include "ml_kmeans_file.h"
int ml_test_tables(char *out, int cap);
int ml_test_load(const uint8_t *buf, size_t len);
int ml_test_tables(char *out, int cap)
{
    int n = 0;
    uint32_t k, count;
    const ml_model_section_spec *s;
%s
    return n;
}
int ml_test_load(const uint8_t *buf, size_t len)
{
    ml_model_file f;
    ml_trees m;
    int rc = ml_model_open(buf, len, &f);
    if (rc != ML_OK) return rc;
    if (f.family == ML_FAMILY_TREES) {
        ml_boost_file b;
        rc = ml_trees_load(buf, len, f.task, f.n_features, f.n_outputs, &m);
        if (rc != ML_E_FAMILY) return rc;
        return ml_boost_load(buf, len, f.task, f.n_features, f.n_outputs, &b);
    }
    if (f.family == ML_FAMILY_FEATURES) return ml_features_stage_check(&f);
    if (f.family == ML_FAMILY_LINEAR) return ml_linear_file_check(&f);
    if (f.family == ML_FAMILY_NAIVE_BAYES) return ml_naive_bayes_file_check(&f);
    if (f.family == ML_FAMILY_NEIGHBORS) return ml_neighbors_file_check(&f);
    if (f.family == ML_FAMILY_NETWORK) return ml_network_file_check(&f);
    if (f.family == ML_FAMILY_KMEANS) return ml_kmeans_file_check(&f, NULL, NULL);
    if (f.family == ML_FAMILY_MAHALANOBIS) return ml_mahalanobis_file_check(&f);
    if (f.family == ML_FAMILY_MIXTURE) return ml_mixture_file_check(&f);
    if (f.family == ML_FAMILY_KERNEL) return ml_kernel_file_check(&f);
    if (f.family == ML_FAMILY_LOF) return ml_lof_file_check(&f);
    if (f.family == ML_FAMILY_TRANSFORM) return ml_transform_stage_check(&f);
    return ML_E_FAMILY;
}
"""


def _table_code() -> str:
    out = []
    for code, fn in C_TABLES.items():
        out.append(
            f"    s = {fn}(&count);\n    for (k = 0; k < count; k++) {{\n"
            f'        n += snprintf(out + n, (size_t)(cap - n), "{code}|%.4s|%u|%u|%u|%u\\n", s[k].tag,\n'
            "                      (unsigned)s[k].dtype, (unsigned)s[k].critical, (unsigned)s[k].tasks,\n"
            "                      (unsigned)s[k].required);\n    }"
        )
    return "\n".join(out)


@pytest.fixture(scope="module")
def clib() -> ctypes.CDLL:
    lib = host.build({"schema_test.c": C_PROGRAM % _table_code()})
    lib.ml_test_load.restype = ctypes.c_int
    lib.ml_test_load.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    return lib


def c_load(lib: ctypes.CDLL, data: bytes) -> int:
    buf = np.zeros((len(data) + 15) // 8, dtype=np.uint64)
    buf.view(np.uint8)[: len(data)] = np.frombuffer(data, dtype=np.uint8)
    return int(lib.ml_test_load(buf.ctypes.data, len(data)))


def declared(s: schema.FamilySchema) -> list[tuple[bytes, int, int, int, int]]:
    """(tag, dtype, critical, tasks bit mask, required) of each declared section."""
    return [
        (x.tag, x.dtype, int(x.critical), sum(1 << t for t in x.tasks), int(x.required)) for x in s.sections
    ]


# ---------------------------------------------------------------------------------------------- tables
def test_every_family_is_declared_alike_in_c_and_mlrt(clib: ctypes.CDLL) -> None:
    buf = ctypes.create_string_buffer(1 << 14)
    clib.ml_test_tables(buf, len(buf))
    c_rows: dict[int, list[tuple[bytes, int, int, int, int]]] = {}
    for line in buf.value.decode().splitlines():
        code, tag, *nums = line.split("|")
        c_rows.setdefault(int(code), []).append((tag.encode(), *map(int, nums)))  # type: ignore[arg-type]
    fams = families()
    assert set(fams) == set(mlrt.FAMILIES), "mlrt.FAMILIES must list every registered family"
    for code, fam in fams.items():
        want = declared(fam.schema)
        mod = _reader.family_module(mlrt.FAMILIES, code)
        got = [(tag, *spec) for tag, spec in _reader.family_sections(mod, code).items()]
        assert sorted(got) == sorted(want), f"mlrt.{mlrt.FAMILIES[code]}.SECTIONS differs from schema.py"
        if code in C_TABLES:
            assert c_rows[code] == want, f"{C_TABLES[code]}() in ml_model.h differs from schema.py"
    assert set(C_TABLES) == set(fams), "every family needs its ml_<family>_sections() table in ml_model.h"


def test_docs_table_matches_schema() -> None:
    """docs/model-file.md's tree-section table says what schema.TREES declares."""
    from pathlib import Path

    doc = (Path(__file__).parents[1] / "docs" / "model-file.md").read_text()
    rows = {}
    for line in doc.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and cells[0].startswith("`") and len(cells[0]) == 6:
            rows.setdefault(cells[0].strip("`").encode(), (cells[1], cells[3]))
    for s in schema.TREES.sections:
        assert rows[s.tag] == (DTYPES[s.dtype][0], "yes" if s.critical else "no"), s.tag


# ---------------------------------------------------------------------------------------------- invariants
X, y = datasets.load_iris(return_X_y=True)


def _files() -> dict[str, bytes]:
    from sklearn.cluster import MiniBatchKMeans
    from sklearn.covariance import EllipticEnvelope
    from sklearn.decomposition import PCA
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.mixture import GaussianMixture
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor, LocalOutlierFactor
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import MinMaxScaler, Normalizer, StandardScaler
    from sklearn.svm import OneClassSVM

    from microlearn.dsp.features import FeatureConfig
    from microlearn.frontends.registry import to_ir
    from microlearn.ir.features import FeatureStage

    bands = FeatureConfig(window=16, n_axes=2, stats=("mean", "max"), sr=16.0, bands=((0.0, 3.0), (3.0, 8.0)))
    Xn = X.copy()
    Xn[::5, 1] = np.nan
    Xc = Xn.copy()
    Xc[:, 0] = np.arange(len(X)) % 5  # a categorical feature: the boosted file has CSET, CLFT, CBIT
    from sklearn.ensemble import HistGradientBoostingClassifier, IsolationForest

    return {
        "feature stage": mf.dumps(FeatureStage(bands)),
        "linear classifier": microlearn.convert(LogisticRegression(max_iter=500).fit(X, y)).to_bytes(),
        "linear regressor": microlearn.convert(Ridge().fit(X, X[:, 0])).to_bytes(),
        "naive bayes": microlearn.convert(GaussianNB().fit(X, y)).to_bytes(),
        "scaler stage": mf.dumps(to_ir(StandardScaler().fit(X))),
        "imputer stage": mf.dumps(to_ir(SimpleImputer().fit(Xn))),
        "pca stage": mf.dumps(to_ir(PCA(2, whiten=True).fit(X))),
        "min-max stage": mf.dumps(to_ir(MinMaxScaler().fit(X))),
        "normalizer stage": mf.dumps(to_ir(Normalizer().fit(X))),
        "forest": microlearn.convert(
            RandomForestClassifier(4, max_depth=4, random_state=0).fit(X, y)
        ).to_bytes(),
        "knn": microlearn.convert(KNeighborsClassifier(3).fit(X, y)).to_bytes(),
        "mlp": microlearn.convert(MLPClassifier((4,), max_iter=20, random_state=0).fit(X, y)).to_bytes(),
        "elliptic envelope": microlearn.convert(EllipticEnvelope(random_state=0).fit(X)).to_bytes(),
        "mixture diag": microlearn.convert(
            GaussianMixture(n_components=2, covariance_type="diag", random_state=0).fit(X)
        ).to_bytes(),
        "mixture full": microlearn.convert(GaussianMixture(n_components=2, random_state=0).fit(X)).to_bytes(),
        "one-class svm": microlearn.convert(OneClassSVM(kernel="poly", nu=0.3).fit(X)).to_bytes(),
        "lof": microlearn.convert(LocalOutlierFactor(n_neighbors=5, novelty=True).fit(X[:40])).to_bytes(),
        "knn regressor": microlearn.convert(KNeighborsRegressor(3).fit(X, X[:, 0])).to_bytes(),
        "knn minkowski": microlearn.convert(KNeighborsClassifier(3, p=3).fit(X, y)).to_bytes(),
        "mini-batch k-means": microlearn.convert(
            MiniBatchKMeans(3, random_state=0, n_init=1).fit(X)
        ).to_bytes(),
        "tree": microlearn.convert(DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)).to_bytes(),
        "regressor": microlearn.convert(
            RandomForestRegressor(3, max_depth=3, random_state=0).fit(X, y)
        ).to_bytes(),
        "boosted": microlearn.convert(
            HistGradientBoostingClassifier(max_iter=3, max_depth=2, categorical_features=[0]).fit(Xc, y)
        ).to_bytes(),
        "isolation": microlearn.convert(IsolationForest(n_estimators=3, random_state=0).fit(X)).to_bytes(),
    }


def _violations(data: bytes) -> Iterator[tuple[str, bytes, bool, str]]:
    """(what, file, checked by C) for each declared invariant of each present section, broken in one
    element with the CRC repaired. C does not read the optional text sections."""
    c = mf.container.unpack(data)
    fam = families()[c.header.family]
    dims = {"n_raw": c.array(b"BASE").size} if b"BASE" in c.sections else {}
    for spec in fam.schema.sections:
        s = c.sections.get(spec.tag)
        if s is None or s.count == 0:
            continue
        a = c.array(spec.tag)
        fmt = "<" + {1: "B", 2: "b", 3: "H", 4: "h", 5: "I", 6: "i", 7: "f", 8: "d", 9: "B"}[s.dtype]
        size = struct.calcsize(fmt)

        def put(i: int, v: object, s: mf.container.Section = s, fmt: str = fmt, size: int = size) -> bytes:
            b = bytearray(data)
            struct.pack_into(fmt, b, s.offset + i * size, v)
            return fix_crc(b)

        name = spec.tag.decode()
        for inv in spec.checks:
            for what, bad, in_c in _break(inv, name, a, put, c.header, dims):
                yield what, bad, in_c, type(inv).__name__


def _break(
    inv: schema.Invariant,
    name: str,
    a: np.ndarray,
    put: Callable[[int, object], bytes],
    h: Header,
    dims: dict[str, int],
) -> Iterator[tuple[str, bytes, bool]]:
    integer = a.dtype.kind in "iu"
    if isinstance(inv, schema.Range):
        i = int(np.flatnonzero(a > 0)[0]) if np.any(a > 0) else 0
        neg = -float(a[i])
        if a.dtype.kind != "u" and not inv.lo <= neg <= inv.hi:
            yield (
                f"{name}: sign of {a[i]} flipped (sign bit)",
                put(i, int(neg) if integer else -float(a[i])),
                True,
            )
        yield f"{name}: above {inv.hi:g}", put(i, int(inv.hi) + 1 if integer else inv.hi + 0.5), True
    elif isinstance(inv, schema.RowSums):
        i = int(np.flatnonzero((a > 0) & (a < 1))[0]) if np.any((a > 0) & (a < 1)) else 0
        yield f"{name}: a row scaled", put(i, float(a[i]) * 0.75), True
    elif isinstance(inv, schema.Finite):
        yield f"{name}: infinity", put(0, float("inf")), True
        yield f"{name}: NaN", put(0, float("nan")), True
    elif isinstance(inv, schema.NotNaN):
        yield f"{name}: NaN", put(0, float("nan")), True
    elif isinstance(inv, schema.OneOf):
        yield f"{name}: {max(inv.values) + 1}", put(0, max(inv.values) + 1), True
    elif isinstance(inv, schema.Index):
        bound = {"n_features": h.n_features, "n_outputs": h.n_outputs, "n_raw": dims.get("n_raw", 0)}[inv.dim]
        i = int(np.flatnonzero(a >= 0)[0])
        yield f"{name}: index = {inv.dim}", put(i, bound), True
        yield f"{name}: index -2", put(i, -2), True
    elif isinstance(inv, schema.StartsAtZeroIncreasing):
        yield f"{name}: first not 0", put(0, 1), True
        if a.size > 1:
            yield f"{name}: not increasing", put(1, 0), True
    elif isinstance(inv, schema.Float32Of):
        yield f"{name}: not {inv.tag.decode()} in float32", put(0, float(np.nextafter(a[0], np.inf))), True
    elif isinstance(inv, schema.JsonList):
        yield f"{name}: not JSON", put(0, ord("{")), False
        if a.size > 2:
            yield f"{name}: list cut short", put(int(a.size) - 1, ord(" ")), False
    elif isinstance(inv, schema.Utf8):
        yield f"{name}: not UTF-8", put(0, 0xFF), False


ALL = [
    (f"{kind}: {what}", bad, in_c, inv)
    for kind, data in _files().items()
    for what, bad, in_c, inv in _violations(data)
]
CASES = [case[:3] for case in ALL]


def test_every_invariant_is_broken_somewhere() -> None:
    """The cases below break every declared invariant of every family (pipelines: their records are
    files of these families)."""
    declared = {
        (s.tag.decode(), type(inv).__name__)
        for fam in (f.schema for f in families().values() if f.code != schema.PIPELINE.code)
        for s in fam.sections
        for inv in s.checks
    }
    broken = {(case[0].split(": ")[1], case[3]) for case in ALL}
    assert declared - broken <= {("FNAM", "JsonList")}, declared - broken  # no file here has FNAM


@pytest.mark.parametrize("what,bad,in_c", CASES, ids=[c[0] for c in CASES])
def test_all_three_readers_refuse(clib: ctypes.CDLL, what: str, bad: bytes, in_c: bool) -> None:
    with pytest.raises(microlearn.ModelFileError):
        mf.loads(bad)
    with pytest.raises(ValueError, match="mlrt"):
        mlrt.load(bad)
    if in_c:
        assert c_load(clib, bad) in (ML_E["ML_E_VALUE"], ML_E["ML_E_FORMAT"]), what


def test_sign_flipped_probability_refused_in_real_micropython() -> None:
    """The report that started this: a leaf probability's sign bit flipped (CRC repaired) gave IndexError,
    OverflowError or a silently wrong class in mlrt."""
    bads = [bad for what, bad, _ in CASES if "PROB: sign of" in what][:2]
    assert bads
    files = {**mpy.runtime_files(), **{f"/b{i}.mlm": b for i, b in enumerate(bads)}}
    code = (
        f"import mlrt\nfor i in range({len(bads)}):\n    try:\n        mlrt.load('/b' + str(i) + '.mlm')\n"
        "        print('loaded')\n    except ValueError as e:\n"
        "        print('refused', 'outside [0, 1]' in str(e))\n"
    )
    assert mpy.run(code, files) == "refused True\n" * len(bads)


def test_corrupt_size_is_a_format_error_not_memory(tmp_path: object) -> None:
    """A section count and file size corrupted together: a format error, never 'not enough RAM'."""
    data = bytearray(_files()["forest"])
    head, _ = mf.read_sections(bytes(data))
    names = [bytes(data[32 + 16 * k : 36 + 16 * k]) for k in range(head[7])]
    struct.pack_into("<I", data, 32 + 16 * names.index(b"PROB") + 12, 50_000_000)
    struct.pack_into("<I", data, 24, 400_000_008)
    bad = fix_crc(data)
    with pytest.raises(microlearn.ModelFileError):
        mf.loads(bad)
    with pytest.raises(ValueError, match="not a valid model file"):
        mlrt.load(bad)
    out = mpy.run(
        "import mlrt\ntry:\n    mlrt.load('/m.mlm')\nexcept ValueError as e:\n    print('ValueError', e)\n",
        {**mpy.runtime_files(), "/m.mlm": bad},
    )
    assert out.startswith("ValueError mlrt: not a valid model file")


# ---------------------------------------------------------------------------------------------- other files
def test_filterbank_file_is_named_by_every_model_loader(clib: ctypes.CDLL) -> None:
    fb = mel_filterbank_bytes(16000, 512, n_mels=8)
    assert fb[:4] == b"MLFB"
    with pytest.raises(microlearn.ModelFileError, match="mel filterbank"):
        mf.loads(fb)
    with pytest.raises(ValueError, match="mel filterbank"):
        mlrt.load(fb)
    assert c_load(clib, fb) == ML_E["ML_E_NOT_MODEL"]
    out = mpy.run(
        "import mlrt\ntry:\n    mlrt.load('/fb.bin')\nexcept ValueError as e:\n    print(e)\n",
        {**mpy.runtime_files(), "/fb.bin": fb},
    )
    assert "mel filterbank" in out
    from mlrt.dsp_mel import MelFilterbank

    with pytest.raises(ValueError, match="model file"):
        MelFilterbank(_files()["tree"])


# ---------------------------------------------------------------------------------------------- votes
def test_mlrt_and_c_use_the_one_vote_scheme() -> None:
    """mlrt computes the votes of passes/votes.py from PROB: the same scale and margin as the generated C,
    and the same integer vote for every leaf row."""
    import re

    from mlrt import trees as mtrees

    from microlearn.passes import votes

    for t in [*range(1, 300), 511, 512, 4096, 65535, 1 << 20]:
        assert mtrees.scale_bits(t) == votes.scale_bits(t), t
        assert mtrees.margin(t) == votes.margin(t), t
    Xd, yd = datasets.load_digits(return_X_y=True)
    for n_trees in (3, 40):
        model = microlearn.convert(RandomForestClassifier(n_trees, max_depth=6, random_state=0).fit(Xd, yd))
        text = model.to_c("vt")
        s = votes.scale_bits(n_trees)
        assert f"times 2^{s})" in text
        assert re.search(rf"ml_argmax_margin_q\(sums, 10, {votes.margin(n_trees)}u\)", text)
        m = mlrt.load(model.to_bytes())
        a, nc = m._a, m.n_outputs
        proba = np.frombuffer(m._prob.data, dtype="<f8").reshape(-1, nc)
        want = votes.quantize(proba, n_trees)
        base = 2 + m.n_trees
        seen = set()
        for i in range(m.n_nodes):  # every leaf: its votes are the non-zero quantized row
            o = base + 2 * i
            if a[o + 1] == -1:
                r = a[o]
                row = a[r]
                seen.add(row)
                got = {v & 0xFF: v >> 8 for v in a[r + 2 : a[r + 1]]}
                assert got == {c: int(q) for c, q in enumerate(want[row]) if q}, (n_trees, row)
        assert seen == set(range(proba.shape[0]))


# ---------------------------------------------------------------------------------------------- random damage
FILES = _files()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    which=st.sampled_from(sorted(FILES)),
    edits=st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), min_size=1, max_size=3),
)
def test_random_damage_gives_the_readers_own_errors(which: str, edits: list[tuple[int, int]]) -> None:
    """Bytes changed anywhere (CRC repaired): modelfile.loads raises ModelFileError or loads, mlrt raises
    ValueError("mlrt: ...") or loads, never IndexError, KeyError, OverflowError ...; for tree files the
    two agree on whether the file is valid."""
    b = bytearray(FILES[which])
    for pos, val in edits:
        b[pos % (len(b) - 4)] = val
    bad = fix_crc(b)
    py_ok = mlrt_ok = True
    try:
        mf.loads(bad)
    except microlearn.ModelFileError:
        py_ok = False
    try:
        mlrt.load(bad)
    except ValueError as e:
        assert str(e).startswith("mlrt:"), e
        mlrt_ok = False
    if which in ("forest", "tree", "regressor"):
        assert py_ok == mlrt_ok
