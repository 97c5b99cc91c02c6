"""Pipeline model files (family 64: stage records + the final model): the Python codec, mlrt running the
FeatureExtractor stage and the trees in the real MicroPython against scikit-learn on raw windows, and the C
loader checking every stage record."""

from __future__ import annotations

import ctypes
import struct
import sys

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.pipeline import Pipeline as SkPipeline

import microlearn
from microlearn import host
from microlearn import micropython as mpy
from microlearn.backends import modelfile as mf
from microlearn.backends.modelfile import container
from microlearn.dsp.features import FeatureExtractor
from microlearn.frontends.registry import to_ir
from microlearn.ir.features import FeatureStage
from microlearn.ir.pipeline import Pipeline
from modelfile_cases import ML_E, fix_crc

sys.path.insert(0, str(mpy.RUNTIME_DIR))
import mlrt

WINDOW, AXES = 32, 3


def _windows(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    scale = rng.uniform(0.2, 2.0, size=(n, 1))
    W = (rng.standard_normal((n, WINDOW * AXES)) * scale).astype(np.float32)
    t = np.arange(WINDOW)
    W[: n // 2, 0::3] += np.sin(2 * np.pi * 6 * t / 50).astype(np.float32)  # a 6 Hz tone on x
    y = (scale[:, 0] > 1.0).astype(int) + 2 * (np.arange(n) < n // 2)
    return W, y


@pytest.fixture(scope="module")
def fitted() -> dict[str, SkPipeline]:
    W, y = _windows(240, 0)
    fx = dict(window=WINDOW, n_axes=AXES, sr=50.0, bands=((0.0, 4.0), (4.0, 10.0), (10.0, 25.0)))
    forest = RandomForestClassifier(6, max_depth=6, random_state=0)
    clf = SkPipeline([("f", FeatureExtractor(**fx)), ("m", forest)])
    reg = SkPipeline(
        [("f", FeatureExtractor(window=WINDOW, n_axes=AXES, stats=("mean", "std", "max"), magnitude=False)),
         ("m", RandomForestRegressor(4, max_depth=5, random_state=0))]
    )  # fmt: skip
    return {"classifier": clf.fit(W, y), "regressor": reg.fit(W, W[:, 0] * 3)}


def _bytes(p: SkPipeline) -> bytes:
    ir = to_ir(p)
    assert isinstance(ir, Pipeline) and isinstance(ir.stages[0], FeatureStage)
    return mf.dumps(ir)


def test_round_trip_and_stable_bytes(fitted: dict[str, SkPipeline]) -> None:
    W, _ = _windows(50, 1)
    for p in fitted.values():
        data = _bytes(p)
        assert data == _bytes(p) == microlearn.convert(p).to_bytes()  # model.save writes these bytes
        back = mf.loads(data)
        assert isinstance(back, Pipeline) and mf.dumps(back) == data
        assert back.stages[0] == to_ir(p).stages[0]
        np.testing.assert_array_equal(back.reference(W).outputs, to_ir(p).reference(W).outputs)
        head = struct.unpack_from("<4sHHHHIIIII", data)
        assert head[3] == 64 and head[5] == WINDOW * AXES and head[6] == back.n_outputs


def test_mlrt_pipeline_equals_sklearn_in_real_micropython(fitted: dict[str, SkPipeline]) -> None:
    W, _ = _windows(40, 2)
    p = fitted["classifier"]
    data = _bytes(p)
    k = WINDOW * AXES
    code = (
        "import mlrt\nfrom array import array\nm = mlrt.load('/p.mlm')\n"
        f"raw = open('/w.bin', 'rb').read()\nn = len(raw) // (4 * {k})\nout = []\n"
        f"for i in range(n):\n    w = array('f', raw[4 * {k} * i : 4 * {k} * (i + 1)])\n"
        "    out.append(m.predict(w))\nprint(out)\nprint(m.classes)\n"
    )
    out = mpy.run(code, {**mpy.runtime_files(), "/p.mlm": data, "/w.bin": W.astype("<f4").tobytes()})
    pred_line, classes_line = out.splitlines()
    got = np.array(eval(pred_line))  # a list of ints printed by MicroPython
    classes = np.array(eval(classes_line))
    np.testing.assert_array_equal(classes[got], p.predict(W))
    # the same through mlrt on CPython, also for the regressor (float64 sums of the exact leaf values)
    m = mlrt.load(data)
    assert [m.predict(list(map(float, w))) for w in W] == list(got)
    r = fitted["regressor"]
    mr = mlrt.load(_bytes(r))
    np.testing.assert_allclose([mr.predict(list(map(float, w))) for w in W], r.predict(W), rtol=1e-12)
    # the MicroPython target's runner takes a pipeline file like any model file
    np.testing.assert_allclose(mpy.run_model(_bytes(r), W[:8]), r.predict(W[:8]), rtol=1e-12)


C_PROGRAM = r"""
#include "ml_model.h"
int ml_test_pipe(const uint8_t *buf, size_t len, int task, int32_t nf, int32_t no, int32_t *info);
int ml_test_pipe(const uint8_t *buf, size_t len, int task, int32_t nf, int32_t no, int32_t *info)
{
    ml_pipeline p;
    int rc = ml_pipeline_open(buf, len, task, nf, no, &p);
    info[0] = p.n_stages;
    info[1] = rc == ML_OK ? p.final.n_trees : 0;
    info[2] = rc == ML_OK ? p.stages[0].n_outputs : 0;
    return rc;
}
"""


@pytest.fixture(scope="module")
def clib() -> ctypes.CDLL:
    lib = host.build({"pipe_test.c": C_PROGRAM})
    lib.ml_test_pipe.restype = ctypes.c_int
    i32 = ctypes.c_int32
    lib.ml_test_pipe.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, i32, i32, ctypes.c_void_p]
    return lib


def c_open(lib: ctypes.CDLL, data: bytes, task: int, nf: int, no: int) -> tuple[int, list[int]]:
    buf = np.zeros((len(data) + 15) // 8, dtype=np.uint64)
    buf.view(np.uint8)[: len(data)] = np.frombuffer(data, dtype=np.uint8)
    info = np.zeros(3, dtype=np.int32)
    rc = lib.ml_test_pipe(buf.ctypes.data, len(data), task, nf, no, info.ctypes.data)
    return int(rc), info.tolist()


def test_c_checks_stage_records_and_shape(clib: ctypes.CDLL, fitted: dict[str, SkPipeline]) -> None:
    p = fitted["classifier"]
    data = _bytes(p)
    ir = to_ir(p)
    n_feat = ir.stages[0].n_outputs
    assert c_open(clib, data, 1, WINDOW * AXES, 4) == (ML_E["ML_OK"], [1, 6, n_feat])
    assert c_open(clib, data, 1, WINDOW * AXES, 3)[0] == ML_E["ML_E_SHAPE"]
    assert c_open(clib, data, 1, 64, 4)[0] == ML_E["ML_E_SHAPE"]
    assert c_open(clib, data, 2, WINDOW * AXES, 1)[0] == ML_E["ML_E_SHAPE"]
    tree_file = mf.dumps(ir.final)
    assert c_open(clib, tree_file, 1, n_feat, 4)[0] == ML_E["ML_E_FAMILY"]


def _stage_edits(data: bytes) -> list[tuple[str, bytes]]:
    """Pipeline files with one stage-record field broken (the nested CRC and the outer CRC repaired)."""
    c = container.unpack(data)
    s = c.sections[b"STGS"]
    rec_off = s.offset
    rec = container.unpack(data[rec_off : rec_off + struct.unpack_from("<I", data, rec_off + 24)[0]])
    out = []

    def edit(what: str, tag: bytes, fmt: str, index: int, value: object) -> None:
        b = bytearray(data)
        sec = rec.sections[tag]
        struct.pack_into(fmt, b, rec_off + sec.offset + index * struct.calcsize(fmt), value)
        size = len(rec.data)
        nested = fix_crc(bytearray(b[rec_off : rec_off + size]))
        b[rec_off : rec_off + size] = nested
        out.append((what, fix_crc(b)))

    edit("window 1", b"WIND", "<i", 0, 1)
    edit("axes 0", b"AXES", "<i", 0, 0)
    edit("magnitude 2", b"MAGN", "<B", 0, 2)
    edit("unknown statistic", b"STAT", "<B", 0, 11)
    edit("statistic repeated", b"STAT", "<B", 1, int(rec.array(b"STAT")[0]))
    edit("band bins reversed", b"BINS", "<i", 1, 0)
    edit("band past the spectrum", b"BINS", "<i", 5, WINDOW)
    edit("DFT value outside [-1, 1]", b"DCOS", "<f", 3, 1.5)
    edit("NaN sample rate", b"SRAT", "<d", 0, float("nan"))
    b = bytearray(data)
    b[rec_off + 40] ^= 0x01  # inside the nested section table, nested CRC not repaired
    out.append(("stage record corrupted", fix_crc(b)))
    return out


def test_every_reader_refuses_a_broken_stage_record(clib: ctypes.CDLL, fitted: dict[str, SkPipeline]) -> None:
    data = _bytes(fitted["classifier"])
    cases = _stage_edits(data)
    assert len(cases) == 10
    for what, bad in cases:
        with pytest.raises(microlearn.ModelFileError):
            mf.loads(bad)
        with pytest.raises(ValueError, match="mlrt"):
            mlrt.load(bad)
        rc, _ = c_open(clib, bad, 1, WINDOW * AXES, 4)
        assert rc < 0, what


def test_pipeline_files_do_not_nest(fitted: dict[str, SkPipeline]) -> None:
    ir = to_ir(fitted["classifier"])
    inner = Pipeline(stages=ir.stages, final=ir.final)
    with pytest.raises((microlearn.ModelFileError, ValueError)):
        mf.dumps(Pipeline(stages=ir.stages, final=inner))  # type: ignore[arg-type]


def test_preprocessing_stage_records(clib: ctypes.CDLL) -> None:
    """A [SimpleImputer, StandardScaler, forest] pipeline file: its stage records (family 33) are checked
    by the C loader, and mlrt runs it as scikit-learn does."""
    from sklearn import datasets
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = datasets.load_wine(return_X_y=True)
    X = X.copy()
    X[::6, 2] = np.nan
    p = make_pipeline(
        SimpleImputer(), StandardScaler(), RandomForestClassifier(4, max_depth=4, random_state=0)
    )
    p.fit(X, y)
    data = _bytes_any(p)
    assert c_open(clib, data, 1, X.shape[1], 3)[:2] == (ML_E["ML_OK"], [2, 4, X.shape[1]])
    m = mlrt.load(data)
    X32 = X.astype(np.float32)
    assert [m.predict(list(map(float, r))) for r in X32] == list(p.predict(X32))


def _bytes_any(p: SkPipeline) -> bytes:
    ir = to_ir(p)
    assert isinstance(ir, Pipeline)
    return mf.dumps(ir)


def test_pipeline_of_an_unknown_task_is_refused(clib: ctypes.CDLL, fitted: dict[str, SkPipeline]) -> None:
    """Found by the fuzzer: a pipeline header whose task no section belongs to made no section required,
    and the C loader walked a NULL STGS (mlrt: KeyError). Now a format error in all three readers."""
    data = _bytes(fitted["classifier"])
    for task in (0, 6, 256):
        b = bytearray(data)
        struct.pack_into("<H", b, 10, task)
        bad = fix_crc(b)
        with pytest.raises(microlearn.ModelFileError):
            mf.loads(bad)
        with pytest.raises(ValueError, match="mlrt: not a valid model file"):
            mlrt.load(bad)
        assert c_open(clib, bad, task, WINDOW * AXES, 4)[0] == ML_E["ML_E_FORMAT"]
