"""mlrt/transform.py against the stage references: on CPython and in the real MicroPython (WebAssembly,
double floats), every scaler, the imputer and the max / l1 / l2 normalizer give scikit-learn's float32
bits; PCA stays within its bound. Stages are built from their model-file records (stage_sections)."""

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
from microlearn.frontends.sklearn.preprocessing import CONVERTERS
from microlearn.ir.transform import Normalize, Project


def _codec() -> Any:
    try:
        return importlib.import_module("microlearn.backends.modelfile.transform")
    except ImportError:  # backends/modelfile still a single module: load the stage codec by its path
        from importlib import util
        from pathlib import Path

        import microlearn

        path = Path(microlearn.__file__).parent / "backends" / "modelfile" / "transform.py"
        spec = util.spec_from_file_location("microlearn_stage_codec", path)
        assert spec is not None and spec.loader is not None
        mod = util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod


stage_sections = _codec().stage_sections

TYPECODES = {
    np.dtype(np.uint8): "B",
    np.dtype(np.int32): "i",
    np.dtype(np.float32): "f",
    np.dtype(np.float64): "d",
}


def convert(est: Any) -> Any:
    mod = type(est).__module__.split(".")[1]
    return CONVERTERS[f"sklearn.{mod}.{type(est).__name__}"](est)


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


def records(stage: Any) -> tuple[int, int, int, dict[bytes, npt.NDArray[Any]]]:
    fam, n_in, n_out, secs = stage_sections(stage)
    return fam, n_in, n_out, dict(secs)


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
def test_mlrt_cpython(mlrt_transform: Any, name: str, stage: Any, X: npt.NDArray[np.float32]) -> None:
    fam, n_in, n_out, secs = records(stage)
    st = mlrt_transform.from_sections(
        fam, n_in, n_out, {t: array(TYPECODES[a.dtype], a.tobytes()) for t, a in secs.items()}
    )
    got = np.array([list(st.transform(array("f", row.tobytes()))) for row in X], dtype=np.float32)
    check(stage, X, got)


_MP = """
from array import array
from mlrt import transform as T
import os
sec = {}
for name in os.listdir('/sec'):
    tc = name[4]
    sec[name[:4].replace('_', ' ').encode()] = array(tc, open('/sec/' + name, 'rb').read())
st = T.from_sections(%d, %d, %d, sec)
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
    if micropython.find_node() is None:  # pragma: no cover - find_node raises with what to install
        pytest.fail("node missing")
    for _name, stage, X in STAGES:
        fam, n_in, n_out, secs = records(stage)
        X = X[:120]
        files = {
            f"/sec/{t.decode().replace(' ', '_')}{TYPECODES[a.dtype]}": a.tobytes() for t, a in secs.items()
        }
        files = {**micropython.runtime_files(), **files, "/x.bin": X.astype("<f4").tobytes()}
        res = micropython.execute(_MP % (fam, n_in, n_out, n_in), files, outputs=["/out.bin"])
        got = np.frombuffer(res.outputs["/out.bin"] or b"", dtype="<f4").reshape(X.shape[0], n_out)
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
    with pytest.raises(ValueError, match="family"):
        T.from_sections(99, 1, 1, {})


_MP_PIPE = """
from array import array
import mlrt, os
from mlrt import transform as T
stages = []
for k in range(%d):
    sec = {}
    for name in os.listdir('/s%%d' %% k):
        sec[name[:4].replace('_', ' ').encode()] = array(name[4], open('/s%%d/%%s' %% (k, name), 'rb').read())
    fam, n_in, n_out = [int(v) for v in open('/s%%d.hdr' %% k).read().split()]
    stages.append(T.from_sections(fam, n_in, n_out, sec))
m = mlrt.load('/model.mlm')
raw = open('/x.bin', 'rb').read()
n = %d
out = array('i')
for r in range(len(raw) // (4 * n)):
    x = array('f', raw[4 * n * r:4 * n * (r + 1)])
    for st in stages:
        x = st.transform(x)
    out.append(m.predict(x))
open('/out.bin', 'wb').write(out)
"""


@pytest.mark.parametrize("pre", ["scaler", "imputer+scaler", "minmax"])
def test_mlrt_pipeline_micropython_folded_and_not(pre: str) -> None:
    """[stages, RF] in the real MicroPython: mlrt stages feeding mlrt's forest, and the folded forest
    alone, both predict scikit-learn's class on every row."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline

    from microlearn.frontends.sklearn import to_ir
    from microlearn.model import Model
    from microlearn.passes.fold import fold_stages

    rng = np.random.default_rng(31)
    Xt = rng.normal(size=(400, 4)) * [1, 1e4, 1e-3, 50] + [0, -3e4, 1e-3, 7]
    y = (Xt[:, 0] > 0).astype(np.int64) + (Xt[:, 1] > -3e4) + (Xt[:, 3] > 7)
    X = (rng.normal(size=(150, 4)) * [1.5, 1.5e4, 1.5e-3, 75] + [0, -3e4, 1e-3, 7]).astype(np.float32)
    steps: list[Any] = {
        "scaler": [StandardScaler()],
        "imputer+scaler": [SimpleImputer(strategy="median"), StandardScaler()],
        "minmax": [MinMaxScaler()],
    }[pre]
    if pre == "imputer+scaler":
        Xt[::7, 2] = np.nan
        X[::5, 0] = np.nan
    pipe = make_pipeline(*steps, RandomForestClassifier(n_estimators=5, max_depth=6, random_state=0))
    pipe.fit(Xt, y)
    want = np.searchsorted(pipe.classes_, pipe.predict(X))
    stages = [convert(s) for _, s in pipe.steps[:-1]]
    trees = to_ir(pipe.steps[-1][1])
    rest, folded = fold_stages(stages, trees)
    assert rest == ()
    for st, forest in ((stages, trees), ([], folded)):
        files = {**micropython.runtime_files(), "/model.mlm": Model(forest).to_bytes(), "/x.bin": X.tobytes()}
        for k, s in enumerate(st):
            fam, n_in, n_out, secs = records(s)
            files[f"/s{k}.hdr"] = f"{fam} {n_in} {n_out}".encode()
            for t, a in secs.items():
                files[f"/s{k}/{t.decode().replace(' ', '_')}{TYPECODES[a.dtype]}"] = a.tobytes()
        res = micropython.execute(_MP_PIPE % (len(st), X.shape[1]), files, outputs=["/out.bin"])
        got = np.frombuffer(res.outputs["/out.bin"] or b"", dtype="<i4")
        assert np.array_equal(got, want)
