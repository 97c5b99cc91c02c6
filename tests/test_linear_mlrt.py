"""Linear models in model files: the round trip through modelfile, and mlrt in the real MicroPython
(WebAssembly) and in CPython giving scikit-learn's classes, probabilities and values."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from linear_cases import MULTI_OUTPUT, classifiers, fitted, near_ties, regressors, rows_near
from microlearn import micropython as mp
from microlearn.backends import modelfile as mf
from microlearn.errors import ModelFileError
from microlearn.frontends.sklearn.linear import convert
from microlearn.ir.base import Task
from microlearn.ir.linear import Linear, proba_bound
from modelfile_cases import fix_crc

sys.path.insert(0, str(mp.RUNTIME_DIR))
import mlrt

_SCRIPT = """
import mlrt
from array import array
m = mlrt.load('/model.mlm')
nf = m.n_features
raw = open('/x.bin', 'rb').read()
mv = memoryview(raw)
out = array('d')
for r in range(len(raw) // (4 * nf)):
    x = array('f', bytes(mv[r * 4 * nf:(r + 1) * 4 * nf]))
    v = m.predict(x)
    if isinstance(v, list):
        for a in v:
            out.append(a)
    else:
        out.append(v)
    if {proba}:
        for p in m.predict_proba(x):
            out.append(p)
open('/out.bin', 'wb').write(out)
print('exact', m.exact_rows if m.classifier else 0)
"""


def run_mlrt(ir: Linear, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, int]:  # type: ignore[type-arg]
    """(predictions, probabilities or None, rows decided by the exact replay) from mlrt in MicroPython."""
    data = mf.dumps(ir)
    X32 = np.ascontiguousarray(X, dtype="<f4")
    proba = ir.has_proba
    files = {**mp.runtime_files(), "/model.mlm": data, "/x.bin": X32.tobytes()}
    res = mp.execute(_SCRIPT.format(proba=proba), files, outputs=["/out.bin"])
    vals = np.frombuffer(res.outputs["/out.bin"] or b"", dtype="<f8").reshape(X32.shape[0], -1)
    width = 1 if ir.is_classifier else ir.k
    pred = vals[:, :width]
    exact = int(res.stdout.split()[1])
    return (pred[:, 0] if width == 1 else pred), (vals[:, width:] if proba else None), exact


CASES = (
    [(n, d) for n in sorted(classifiers()) for d in ("binary", "digits")]
    + [(n, "regression") for n in sorted(regressors())]
    + [(n, "regression2") for n in MULTI_OUTPUT]
)


@pytest.mark.parametrize(("name", "data"), CASES)
def test_model_file_round_trip(name: str, data: str) -> None:
    ir = convert(fitted(name, data, "float64"))
    back = mf.loads(mf.dumps(ir))
    assert isinstance(back, Linear)
    for f in ("task", "dtype", "intercept_dtype", "layout", "proba", "normalize", "source", "feature_names"):
        assert getattr(back, f) == getattr(ir, f), f
    assert np.array_equal(back.coef, ir.coef) and np.array_equal(back.intercept, ir.intercept)
    X = rows_near(data)
    a, b = ir.reference(X), back.reference(X)
    assert np.array_equal(a.outputs, b.outputs)


def test_model_file_float32_and_labels() -> None:
    ir = convert(fitted("sgd_mhuber", "binary", "float32"))
    back = mf.loads(mf.dumps(ir))
    assert back.dtype == "float32" and back.intercept_dtype == "float64"
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    X = pd.DataFrame(rows_near("multiclass").astype(np.float64), columns=list("abcdef"))
    y = np.array(["cat", "dog", "émeu"])[np.arange(120) % 3]
    ir2 = convert(LogisticRegression().fit(X, y))
    back2 = mf.loads(mf.dumps(ir2))
    assert list(back2.classes) == ["cat", "dog", "émeu"] and back2.feature_names == tuple("abcdef")


def test_model_file_rejects_inconsistent() -> None:
    ir = convert(fitted("logreg", "digits", "float64"))
    data = bytearray(mf.dumps(ir))
    c = mf.container.unpack(bytes(data))
    mode = c.sections[b"MODE"]
    bad = bytearray(data)
    bad[mode.offset + 3] = 0  # softmax -> none: fine; then logistic with normalize none on 10 rows is fine
    bad[mode.offset + 2] = 0  # layout "vector" with 10 rows: inconsistent
    with pytest.raises(ModelFileError, match="inconsistent"):
        mf.loads(fix_crc(bad))
    coef = c.sections[b"COEF"]
    bad = bytearray(data)
    bad[coef.offset : coef.offset + 8] = np.float64(np.inf).tobytes()
    with pytest.raises(ModelFileError):
        mf.loads(fix_crc(bad))
    with pytest.raises(ValueError, match="NaN or infinite"):
        mlrt.load(fix_crc(bad))


def test_mlrt_cpython_agrees() -> None:
    ir = convert(fitted("ovr_mhuber", "digits", "float64"))
    m = mlrt.load(mf.dumps(ir))
    X = np.vstack([rows_near("digits"), near_ties(ir, 30)])
    ref = ir.reference(X)
    pred = np.array([m.predict(r) for r in X])
    assert ref.ambiguous is not None and np.all((pred == ref.outputs) | ref.ambiguous)
    assert m.classes == list(range(10))
    with pytest.raises(ValueError, match="features"):
        m.predict([1.0, 2.0])


@pytest.mark.parametrize("data", ["binary", "multiclass", "digits"])
@pytest.mark.parametrize("name", ["logreg", "sgd_log", "sgd_mhuber", "ovr_logreg", "linearsvc", "ridgec"])
def test_mlrt_micropython_classifiers(name: str, data: str) -> None:
    ir = convert(fitted(name, data, "float64"))
    X = np.vstack([rows_near(data, 60), near_ties(ir, 20)])
    pred, proba, _ = run_mlrt(ir, X)
    ref = ir.reference(X)
    assert ref.ambiguous is not None
    assert np.all((pred.astype(np.int64) == ref.outputs) | ref.ambiguous)
    if ir.has_proba:
        assert proba is not None and ref.proba is not None
        # the WebAssembly port computes in float64: far inside the float32 bound of the C code
        assert np.all(np.abs(proba - ref.proba).max(axis=1) <= proba_bound(ir, X) * 1e-6 + 1e-12)


@pytest.mark.parametrize(
    ("name", "data"), [("ridge", "regression2"), ("huber", "regression"), ("sgdr", "regression")]
)
def test_mlrt_micropython_regressors(name: str, data: str) -> None:
    ir = convert(fitted(name, data, "float64"))
    X = rows_near(data, 60)
    pred, _, _ = run_mlrt(ir, X)
    ref = ir.reference(X)
    assert ref.bound is not None
    assert np.all(
        np.abs(pred.reshape(ref.outputs.shape) - ref.outputs) <= ir.value_bound(X).reshape(ref.outputs.shape)
    )


def test_mlrt_exact_replay_on_exact_ties() -> None:
    """Integer coefficients and inputs: many rows tie exactly, in every arithmetic. scikit-learn then
    takes the first class (binary: class 0); the fast path cannot decide and the exact integer replay
    must give the same."""
    W = np.array([[1.0, 2.0, -1.0], [2.0, 1.0, 0.0], [0.0, 3.0, 1.0]])
    b = np.array([0.5, 0.5, -0.5])
    rng = np.random.default_rng(0)
    X = rng.integers(-3, 4, size=(200, 3)).astype(np.float32)
    for ir in (
        Linear(Task.CLASSIFY, W, b, classes=np.arange(3), proba="softmax"),
        Linear(Task.CLASSIFY, W[:1], np.array([0.0]), classes=np.arange(2), proba="logistic"),
    ):
        ref = ir.reference(X)
        s = np.sort(ir.decision(X), axis=1)
        ties = int(np.sum(s[:, -1] == (s[:, -2] if ir.k > 1 else 0.0)))
        pred, _, exact = run_mlrt(ir, X)
        assert ties >= 5 and exact >= ties  # every exact tie went through the exact replay
        assert np.array_equal(pred.astype(np.int64), ref.outputs)
