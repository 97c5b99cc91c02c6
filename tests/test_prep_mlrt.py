"""mlrt/transform.py against the stage references: on CPython and in the real MicroPython (WebAssembly,
double floats), every scaler, the imputer and the max / l1 / l2 normalizer give scikit-learn's float32
bits; PCA stays within its bound. Stages go through their model files (family 33)."""

from __future__ import annotations

import importlib
import sys
import warnings
from array import array
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from sklearn.decomposition import PCA
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, Normalizer, RobustScaler, StandardScaler

from microlearn import micropython
from microlearn.backends import modelfile
from microlearn.frontends.registry import to_ir
from microlearn.ir.transform import Normalize, Project

TYPECODES = {
    np.dtype(np.uint8): "B",
    np.dtype(np.int32): "i",
    np.dtype(np.float32): "f",
    np.dtype(np.float64): "d",
}


def convert(est: Any) -> Any:
    return to_ir(est)


def same_bits(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> bool:
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a.view(np.uint8), b.view(np.uint8))


@pytest.fixture(scope="module")
def mlrt_transform() -> Any:
    sys.path.insert(0, str(micropython.RUNTIME_DIR))
    try:
        return importlib.import_module("mlrt.transform")
    finally:
        sys.path.remove(str(micropython.RUNTIME_DIR))


@pytest.fixture(scope="module")
def mlrt_mod() -> Any:
    sys.path.insert(0, str(micropython.RUNTIME_DIR))
    try:
        return importlib.import_module("mlrt")
    finally:
        sys.path.remove(str(micropython.RUNTIME_DIR))


def stages() -> list[tuple[str, Any, npt.NDArray[np.float32]]]:
    rng = np.random.default_rng(11)
    scale, shift = np.array([1, 10, 100, 1e-3, 1e5, 1.0]), np.array([0, 5, -3, 1e3, 7, 4])
    Xt = rng.normal(size=(200, 6)) * scale + shift
    Xt[:, 5] = 4.0
    X = (rng.normal(size=(300, 6)) * scale * 1.5 + shift).astype(np.float32)
    X[::37, 0] = 0.0
    X[::41, 1] = -0.0
    X[::43, 2] = np.float32(1e-42)
    X[::47, 4] = np.float32(3e38)
    X[::13, 3] = np.nan
    X[::53, 1] = np.inf
    out = []
    for est in [
        StandardScaler(),
        MinMaxScaler(),
        MinMaxScaler(feature_range=(-2, 3), clip=True),
        MaxAbsScaler(),
        RobustScaler(),
    ]:
        out.append((repr(est), convert(est.fit(Xt)), X))
    Xn = Xt.copy()
    Xn[rng.random(Xn.shape) < 0.2] = np.nan
    Xn[:, 2] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out.append(("imputer", convert(SimpleImputer(strategy="median").fit(Xn)), X))
    finite = np.nan_to_num(X, nan=1.0, posinf=2.0)
    finite[:, 4] = np.clip(finite[:, 4], -1e6, 1e6)
    wide = (rng.normal(size=(300, 20)) * rng.uniform(1e-2, 1e2, 20)).astype(np.float32)
    for norm in ("l1", "l2", "max"):
        out.append((f"normalizer-{norm}", convert(Normalizer(norm=norm).fit(wide)), wide))
    out.append(("pca", convert(PCA(n_components=3, whiten=True).fit(Xt @ rng.normal(size=(6, 6)))), finite))
    return out


STAGES = stages()


def stage_file(stage: Any) -> bytes:
    data: bytes = modelfile.dumps(stage)
    return data


def check(stage: Any, X: npt.NDArray[np.float32], got: npt.NDArray[np.float32]) -> None:
    ref = stage.reference(X)
    if isinstance(stage, Project) or (isinstance(stage, Normalize) and stage.norm == "l2"):
        assert ref.bound is not None
        assert np.all(np.abs(got.astype(np.float64) - ref.outputs) <= ref.bound[:, None])
        if isinstance(stage, Normalize):  # the same float32 operations as the C: the C's bits
            return
    else:
        assert same_bits(got, ref.outputs)


@pytest.mark.parametrize(("name", "stage", "X"), STAGES, ids=[s[0] for s in STAGES])
def test_mlrt_cpython(mlrt_mod: Any, name: str, stage: Any, X: npt.NDArray[np.float32]) -> None:
    data = stage_file(stage)
    back = modelfile.loads(data)  # the Python reader gives the same stage back
    assert np.array_equal(back.transform(X), stage.transform(X), equal_nan=True)
    st = mlrt_mod.load(data)
    got = np.array([list(st.transform(array("f", row.tobytes()))) for row in X], dtype=np.float32)
    check(stage, X, got)


_MP = """
from array import array
import mlrt
st = mlrt.load('/stage.mlm')
raw = open('/x.bin', 'rb').read()
n = %d
out = array('f')
for r in range(len(raw) // (4 * n)):
    y = st.transform(array('f', raw[4 * n * r:4 * n * (r + 1)]))
    for v in y:
        out.append(v)
open('/out.bin', 'wb').write(out)
"""


def test_mlrt_micropython_every_stage() -> None:
    for _name, stage, X in STAGES:
        X = X[:120]
        files = {
            **micropython.runtime_files(),
            "/stage.mlm": stage_file(stage),
            "/x.bin": X.astype("<f4").tobytes(),
        }
        res = micropython.execute(_MP % stage.n_inputs, files, outputs=["/out.bin"])
        got = np.frombuffer(res.outputs["/out.bin"] or b"", dtype="<f4").reshape(X.shape[0], stage.n_outputs)
        check(stage, X, got)


def test_mlrt_refuses_bad_records(mlrt_transform: Any) -> None:
    T = mlrt_transform
    with pytest.raises(ValueError, match="constants"):
        T.Elementwise(2, array("B", [1]), array("f", [1.0]), array("d"))
    with pytest.raises(ValueError, match="operation"):
        T.Elementwise(1, array("B", [9]), array("f", [1.0]), array("d"))
    with pytest.raises(ValueError, match="zero"):
        T.Elementwise(1, array("B", [4]), array("f", [0.0]), array("d"))
    with pytest.raises(ValueError, match="index"):
        T.Impute(2, array("i", [0, 5]), array("f", [1.0, 2.0]))
    with pytest.raises(ValueError, match="finite"):
        T.Normalize(2, 2).transform(array("f", [1.0, float("nan")]))
    with pytest.raises(ValueError, match="kind"):
        T.from_sections(99, 1, 1, {})


@pytest.mark.parametrize("pre", ["scaler", "imputer+scaler", "minmax", "pca"])
def test_pipeline_on_micropython_folded_and_not(pre: str) -> None:
    """[stages, RF] as one pipeline model file run by mlrt in the real MicroPython (verify's
    "micropython" target), and the folded forest alone: scikit-learn's class on every row."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline

    import microlearn
    from microlearn.passes.fold import fold_pipeline
    from microlearn.targets.base import Artifacts
    from microlearn.verify import TARGETS, register_targets

    rng = np.random.default_rng(31)
    Xt = rng.normal(size=(400, 4)) * [1, 1e4, 1e-3, 50] + [0, -3e4, 1e-3, 7]
    y = (Xt[:, 0] > 0).astype(np.int64) + (Xt[:, 1] > -3e4) + (Xt[:, 3] > 7)
    X = (rng.normal(size=(150, 4)) * [1.5, 1.5e4, 1.5e-3, 75] + [0, -3e4, 1e-3, 7]).astype(np.float32)
    steps: list[Any] = {
        "scaler": [StandardScaler()],
        "imputer+scaler": [SimpleImputer(strategy="median"), StandardScaler()],
        "minmax": [MinMaxScaler()],
        "pca": [StandardScaler(), PCA(n_components=3)],
    }[pre]
    if pre == "imputer+scaler":
        Xt[::7, 2] = np.nan
        X[::5, 0] = np.nan
    pipe = make_pipeline(*steps, RandomForestClassifier(n_estimators=5, max_depth=6, random_state=0))
    pipe.fit(Xt, y)
    rep = microlearn.verify(pipe, X, targets=("micropython",), fold=False)
    assert rep["micropython"].agreement == 1.0
    want = np.searchsorted(pipe.classes_, pipe.predict(X))
    folded = fold_pipeline(to_ir(pipe))
    register_targets()
    run = TARGETS["micropython"].run(Artifacts(folded, "table"), X)
    assert np.array_equal(np.asarray(run.outputs).astype(np.int64), want)
