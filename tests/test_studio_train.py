"""Training in mlrt (CART tree/forest, k-NN, logistic regression) and mlrt.writer: the files it writes are
accepted by the host loader (modelfile.loads), the C loader (ml_model.h) and mlrt, and all three predict
alike; the same training run in the real MicroPython writes the same bytes as in CPython."""

from __future__ import annotations

import ctypes
import json
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import datasets
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from microlearn import host
from microlearn import micropython as mp
from microlearn.backends import modelfile

sys.path.insert(0, str(mp.RUNTIME_DIR))
import mlrt
from mlrt import train, train_trees, writer

WRAPPER = r"""
#include <stddef.h>
#include "ml_model.h"
int ml_test_predict(const uint8_t *buf, size_t len, int32_t nf, int32_t nc, const float *X, int32_t n,
                    int32_t *cls);
/* a program written for a classifier of nf features and nc classes loads the file */
int ml_test_predict(const uint8_t *buf, size_t len, int32_t nf, int32_t nc, const float *X, int32_t n,
                    int32_t *cls)
{
    ml_trees m;
    int32_t i;
    int rc = ml_trees_load(buf, len, ML_TASK_CLASSIFY, nf, nc, &m);
    if (rc != ML_OK) return rc;
    for (i = 0; i < n; i++) cls[i] = ml_trees_predict_class(&m, X + (size_t)i * (size_t)nf);
    return 0;
}
int ml_test_pipeline(const uint8_t *buf, size_t len, int32_t n_raw, int32_t nf, int32_t nc, const float *F,
                     int32_t n, int32_t *cls);
/* a program built for this pipeline checks the file, then its final trees predict on features F */
int ml_test_pipeline(const uint8_t *buf, size_t len, int32_t n_raw, int32_t nf, int32_t nc, const float *F,
                     int32_t n, int32_t *cls)
{
    ml_pipeline p;
    int32_t i;
    int rc = ml_pipeline_open(buf, len, ML_TASK_CLASSIFY, n_raw, nc, &p);
    if (rc != ML_OK) return rc;
    for (i = 0; i < n; i++) cls[i] = ml_trees_predict_class(&p.final, F + (size_t)i * (size_t)nf);
    return 0;
}
"""


@pytest.fixture(scope="module")
def clib() -> ctypes.CDLL:
    lib = host.build({"wrap.c": WRAPPER})
    lib.ml_test_predict.restype = ctypes.c_int
    lib.ml_test_pipeline.restype = ctypes.c_int
    return lib


def c_predict(lib: ctypes.CDLL, data: bytes, X: np.ndarray, n_classes: int) -> np.ndarray:
    buf = np.zeros((len(data) + 15) // 8, dtype=np.uint64)  # 8-byte aligned, as the loader wants
    buf.view(np.uint8)[: len(data)] = np.frombuffer(data, dtype=np.uint8)
    X32 = np.ascontiguousarray(X, dtype=np.float32)
    out = np.zeros(len(X32), dtype=np.int32)
    rc = lib.ml_test_predict(
        ctypes.c_void_p(buf.ctypes.data),
        ctypes.c_size_t(len(data)),
        ctypes.c_int32(X32.shape[1]),
        ctypes.c_int32(n_classes),
        ctypes.c_void_p(X32.ctypes.data),
        ctypes.c_int32(len(X32)),
        ctypes.c_void_p(out.ctypes.data),
    )
    assert rc == 0, f"ml_trees_load rejected the file written by mlrt.writer (code {rc})"
    return out


def rows(X: np.ndarray) -> list[list[float]]:
    return [list(map(float, r)) for r in np.asarray(X, dtype=np.float32)]


def check_everywhere(
    lib: ctypes.CDLL, model: train_trees.TreeModel, X: np.ndarray, labels: list[str]
) -> None:
    data = model.to_file(labels, [f"f{i}" for i in range(X.shape[1])])
    ir = modelfile.loads(data)
    assert list(ir.classes) == labels
    m = mlrt.load(data)
    own = [model.predict(r) for r in rows(X)]
    via_mlrt = [m.predict(r) for r in rows(X)]
    assert own == via_mlrt
    assert ir.predict_index(X.astype(np.float32)).tolist() == own
    assert c_predict(lib, data, X, len(labels)).tolist() == own


@pytest.mark.parametrize("kind", ["tree", "forest"])
@pytest.mark.parametrize("name", ["iris", "wine", "breast_cancer"])
def test_trained_trees_file_read_alike_by_host_c_and_mlrt(clib: ctypes.CDLL, kind: str, name: str) -> None:
    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    nc = int(y.max()) + 1
    model = train.fit(kind, rows(X), y.tolist(), nc, {"n_trees": 5, "max_depth": 6, "seed": 3})
    check_everywhere(clib, model, X, [f"c{i}" for i in range(nc)])
    acc = np.mean([model.predict(r) == t for r, t in zip(rows(X), y, strict=True)])
    assert acc > 0.9  # a CART on its own training data


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(2, 40),
    nf=st.integers(1, 4),
    nc=st.integers(2, 4),
    seed=st.integers(0, 10_000),
    depth=st.integers(1, 6),
    n_trees=st.integers(1, 3),
)
def test_random_data_and_ties(
    clib: ctypes.CDLL, n: int, nf: int, nc: int, seed: int, depth: int, n_trees: int
) -> None:
    rng = np.random.default_rng(seed)
    # few distinct values (ties, duplicates), negative zero and tiny/huge magnitudes
    X = rng.choice(np.array([-1e30, -2.5, -0.0, 0.0, 1e-38, 0.1, 0.1000001, 3.0, 7e20]), size=(n, nf))
    y = rng.integers(0, nc, size=n)
    model = train_trees.fit(rows(X), y.tolist(), nc, n_trees=n_trees, max_depth=depth, seed=seed)
    probe = np.concatenate([X, rng.normal(size=(20, nf)) * 5])
    check_everywhere(clib, model, probe, [f"k{i}" for i in range(nc)])
    # splits separate the training rows exactly: a deep single tree fits every distinct row's majority
    if n_trees == 1 and depth == 6 and n <= 8:
        for r, t in zip(rows(X), y, strict=True):
            same = [int(c) for rr, c in zip(rows(X), y, strict=True) if rr == r]
            assert model.predict_proba(r)[t] == pytest.approx(same.count(int(t)) / len(same))


def test_writer_rejects_bad_trees() -> None:
    with pytest.raises(ValueError, match="malformed"):
        writer.trees_file(2, 2, [([0, -1, -1], [0.5, 0, 0], [5, 0, 1], [[1, 0], [0, 1]])])
    with pytest.raises(ValueError, match="probabilities"):
        writer.trees_file(2, 2, [([-1], [0.0], [0], [[1.0]])])
    with pytest.raises(ValueError, match="labels"):
        writer.trees_file(1, 2, [([-1], [0.0], [0], [[1.0, 0.0]])], labels=["a"])


def test_micropython_writes_the_same_bytes_as_cpython() -> None:
    X, y = datasets.load_iris(return_X_y=True)
    Xl = rows(X)
    code = (
        "import json\nfrom mlrt import train\n"
        "d = json.loads(open('/d.json').read())\n"
        "m = train.fit('forest', d['X'], d['y'], 3, {'n_trees': 4, 'max_depth': 5, 'seed': 7})\n"
        "open('/m.mlm', 'wb').write(m.to_file(['a', 'b', 'c']))\n"
    )
    files = {**mp.runtime_files(), "/d.json": json.dumps({"X": Xl, "y": y.tolist()}).encode()}
    got = mp.execute(code, files, outputs=["/m.mlm"]).outputs["/m.mlm"]
    want = train.fit("forest", Xl, y.tolist(), 3, {"n_trees": 4, "max_depth": 5, "seed": 7}).to_file(
        ["a", "b", "c"]
    )
    assert got == want
    assert (mp.run_model(got, X) == modelfile.loads(got).predict_index(X.astype(np.float32))).all()


def test_split_is_stratified_and_seeded() -> None:
    y = [0] * 40 + [1] * 20 + [2] * 4
    tr, va = train.split(len(y), 0.25, 5, y)
    assert sorted(tr + va) == list(range(len(y)))
    assert [sum(1 for i in va if y[i] == c) for c in range(3)] == [10, 5, 1]
    assert (tr, va) == train.split(len(y), 0.25, 5, y)
    assert train.split(len(y), 0.25, 6, y) != (tr, va)
    assert train.confusion([0, 1, 1], [0, 0, 1], 2) == [[1, 0], [1, 1]]


def test_knn_equals_scikit_learn_on_standardised_rows() -> None:
    X, y = datasets.load_wine(return_X_y=True)
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(X))
    tr, te = idx[:120], idx[120:]
    m = train.fit("knn", rows(X[tr]), y[tr].tolist(), 3, {"k": 1})
    Z = (X - np.asarray(m.mean)) / np.asarray(m.scale)
    ref = KNeighborsClassifier(n_neighbors=1).fit(Z[tr], y[tr]).predict(Z[te])
    assert [m.predict(r) for r in rows(X[te])] == ref.tolist()


def test_logistic_regression_close_to_scikit_learn() -> None:
    X, y = datasets.load_iris(return_X_y=True)
    m = train.fit("logistic", rows(X), y.tolist(), 3, {"iterations": 200})
    ours = np.array([m.predict(r) for r in rows(X)])
    Z = (X - np.asarray(m.mean)) / np.asarray(m.scale)
    ref = LogisticRegression(C=1.0, max_iter=1000).fit(Z, y).predict(Z)
    assert np.mean(ours == ref) >= 0.95
    assert np.mean(ours == y) >= 0.9
    W, b = m.coef()  # the raw-feature form a linear model file will hold
    raw = np.argmax(X @ np.asarray(W).T + np.asarray(b), axis=1)
    assert (raw == ours).all()


def test_training_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="label some windows"):
        train.fit("tree", [], [], 2)
    with pytest.raises(ValueError, match="NaN"):
        train.fit("tree", [[float("nan")], [1.0]], [0, 1], 2)
    with pytest.raises(ValueError, match="unknown model kind"):
        train.fit("svm", [[0.0], [1.0]], [0, 1], 2)


@pytest.mark.parametrize(("sr", "n_fft", "n_mels"), [(8000, 256, 24), (16000, 512, 40), (22050, 1024, 64)])
def test_studio_mel_filterbank_matches_librosa_definition(sr: int, n_fft: int, n_mels: int) -> None:
    """The page builds its mel filterbank in MicroPython (no host): the same weights as
    microlearn.dsp.audio.mel_filters (librosa's), in the file format mlrt.dsp_mel reads."""
    from microlearn.dsp import audio
    from microlearn.dsp._audio_mp import filterbank_from_bytes
    from microlearn.studio import STATIC_DIR

    sys.path.insert(0, str(STATIC_DIR / "py"))
    import studio_mp

    blob = studio_mp.mel_filterbank_bytes(float(sr), n_fft, n_mels)
    got = filterbank_from_bytes(blob)
    want = audio.mel_filters(sr, n_fft, n_mels)
    np.testing.assert_array_equal(got, want)  # bit for bit
    from mlrt.dsp_mel import MelFilterbank

    assert MelFilterbank(blob).n_mels == n_mels


@pytest.mark.parametrize("bands", [(), ((0.0, 5.0), (5.0, 25.0))])
def test_pipeline_file_from_mlrt_writer(clib: ctypes.CDLL, bands: tuple[tuple[float, float], ...]) -> None:
    """Feature stage + trees as one pipeline file (family 64), as the studio hands out a sensor model:
    the host loader, the C loader and mlrt accept it and predict alike on raw windows."""
    from microlearn.dsp.features import FeatureConfig, compute

    rng = np.random.default_rng(4)
    W = rng.normal(size=(60, 150)).astype(np.float32)
    W[30:] *= 3
    y = (np.arange(60) >= 30).astype(int)
    cfg = FeatureConfig(window=50, n_axes=3, sr=50, bands=bands)
    F = compute(cfg, W)
    model = train.fit("forest", rows(F), y.tolist(), 2, {"n_trees": 3, "max_depth": 4})
    fx = writer.features_file(50, 3, list(cfg.stats), True, 50.0, bands)
    data = writer.pipeline_file([fx], model.to_file(["quiet", "loud"]))
    ir = modelfile.loads(data)
    own = [model.predict(r) for r in rows(F)]
    assert ir.reference(W).outputs.tolist() == own
    assert [mlrt.load(data).predict(list(map(float, w))) for w in W] == own
    buf = np.zeros((len(data) + 15) // 8, dtype=np.uint64)
    buf.view(np.uint8)[: len(data)] = np.frombuffer(data, dtype=np.uint8)
    out = np.zeros(len(F), dtype=np.int32)
    F32 = np.ascontiguousarray(F, dtype=np.float32)
    rc = clib.ml_test_pipeline(
        ctypes.c_void_p(buf.ctypes.data), ctypes.c_size_t(len(data)), ctypes.c_int32(150),
        ctypes.c_int32(F.shape[1]), ctypes.c_int32(2), ctypes.c_void_p(F32.ctypes.data),
        ctypes.c_int32(len(F)), ctypes.c_void_p(out.ctypes.data),
    )  # fmt: skip
    assert rc == 0, f"ml_pipeline_open rejected the pipeline file (code {rc})"
    assert out.tolist() == own


def test_logistic_regression_file_read_alike_by_host_and_mlrt() -> None:
    X, y = datasets.load_wine(return_X_y=True)
    m = train.fit("logistic", rows(X), y.tolist(), 3, {"iterations": 60})
    data = m.to_file(["a", "b", "c"], [f"f{i}" for i in range(X.shape[1])])
    ir = modelfile.loads(data)
    assert type(ir).__name__ == "Linear" and list(ir.classes) == ["a", "b", "c"]
    host = ir.reference(X.astype(np.float32)).outputs.tolist()
    via_mlrt = [mlrt.load(data).predict(r) for r in rows(X)]
    assert host == via_mlrt
    own = [m.predict(r) for r in rows(X)]  # standardised arithmetic: equal but for rounding near ties
    assert np.mean(np.array(own) == np.array(host)) >= 0.99
    assert (mp.run_model(data, X) == np.array(host)).all()
    with pytest.raises(ValueError, match="one row"):
        writer.linear_file([[1.0, 2.0]], [0.0])


@pytest.mark.parametrize(("name", "k"), [("wine", 1), ("iris", 5), ("breast_cancer", 4)])
def test_knn_file_read_alike_by_host_mlrt_micropython_and_scikit_learn(name: str, k: int) -> None:
    """The studio's k-NN as a file: standardising stage + the stored rows (family 4). Host, mlrt and the
    real MicroPython predict what scikit-learn's KNeighborsClassifier predicts on the stage's rows (its
    vote ties go to the lowest class index: k = 4 makes 2-2 ties)."""
    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    rng = np.random.default_rng(1)
    idx = rng.permutation(len(X))
    tr, te = idx[: len(X) // 2], idx[len(X) // 2 :]
    nc = int(y.max()) + 1
    m = train.fit("knn", rows(X[tr]), y[tr].tolist(), nc, {"k": k})
    labels = [f"c{i}" for i in range(nc)]
    data = m.to_file(labels, [f"f{i}" for i in range(X.shape[1])])
    ir = modelfile.loads(data)
    assert type(ir).__name__ == "Pipeline" and type(ir.final).__name__ == "Neighbors"
    stage = mlrt.load(data).stages[0]
    Z = np.array([list(stage.transform(r)) for r in rows(X)], dtype=np.float32)
    ref = KNeighborsClassifier(n_neighbors=k, algorithm="brute").fit(Z[tr], y[tr]).predict(Z[te])
    host = ir.reference(X[te].astype(np.float32)).outputs
    assert host.tolist() == ref.tolist()
    assert [mlrt.load(data).predict(r) for r in rows(X[te])] == ref.tolist()
    assert (mp.run_model(data, X[te]) == ref).all()
    own = np.array([m.predict(r) for r in rows(X[te])])  # in RAM: float64 rows, its own tie rule
    assert np.mean(own == ref) >= 0.9


def test_knn_writer_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="k must be"):
        writer.neighbors_file([[0.0], [1.0]], [0, 1], 2, 3)
    with pytest.raises(ValueError, match="class index"):
        writer.neighbors_file([[0.0], [1.0]], [0, 2], 2, 1)
    with pytest.raises(ValueError, match="NaN"):
        writer.neighbors_file([[0.0], [float("nan")]], [0, 1], 2, 1)
    with pytest.raises(ValueError, match="zero"):
        writer.scaler_file([0.0, 1.0], [1.0, 0.0])
