"""mlrt in the real MicroPython (WebAssembly on Node) and in CPython: exact agreement with scikit-learn,
bad files rejected, the runner's behaviour, mpy-cross builds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn import datasets
from sklearn.ensemble import RandomForestClassifier

import microlearn
from microlearn import deploy
from microlearn import micropython as mpy
from modelfile_cases import corruptions
from test_trees_exact import CLF_DATA, REG_DATA, _classifiers, _regressors, near_threshold_rows

sys.path.insert(0, str(mpy.RUNTIME_DIR))
import mlrt


# ------------------------------------------------------------------------------------------ runner
def test_run_returns_stdout_and_files_are_in_place() -> None:
    out = mpy.run("print(open('/data/a/b.txt').read(), 6 * 7)", {"/data/a/b.txt": b"hello"})
    assert out == "hello 42\n"


def test_run_raises_with_micropython_traceback() -> None:
    with pytest.raises(mpy.MicroPythonError) as ei:
        mpy.run("print('before')\nx = 1\ny = x / 0\n")
    e = ei.value
    assert e.exc_type == "ZeroDivisionError"
    assert 'File "<stdin>", line 3' in e.traceback
    assert e.stdout == "before\n"


def test_runs_do_not_share_state() -> None:
    mpy.run("import mlrt\nleft_over = 1", mpy.runtime_files())
    assert mpy.run("print('left_over' in globals())") == "False\n"
    with pytest.raises(mpy.MicroPythonError, match="ImportError"):
        mpy.run("import mlrt")  # the files of the previous run are gone too


def test_it_is_micropython() -> None:
    assert mpy.run("import sys; print(sys.implementation.name, sys.platform)") == "micropython webassembly\n"


# ------------------------------------------------------------------------------------------ exactness
def _rows(model: microlearn.Model, X: np.ndarray) -> np.ndarray:
    X32 = np.asarray(X, dtype=np.float32)
    rows = np.concatenate([X32, near_threshold_rows(model, X, 60)])
    rows[::11, 0] = np.nan  # NaN routing
    return rows


CASES = [(f"{type(e).__name__}-{d}", e, d, True) for e in _classifiers() for d in CLF_DATA] + [
    (f"{type(e).__name__}-{d}", e, d, False) for e in _regressors() for d in REG_DATA
]


@pytest.mark.parametrize("name,est,dname,clf", CASES, ids=[c[0] for c in CASES])
def test_exact_in_micropython_and_cpython(name: str, est: object, dname: str, clf: bool) -> None:
    X, y = (CLF_DATA if clf else REG_DATA)[dname]
    est.fit(X, y)  # type: ignore[attr-defined]
    model = microlearn.convert(est)
    data = model.to_bytes()
    rows = _rows(model, X)
    got = mpy.run_model(data, rows)
    m = mlrt.load(data)
    cpy = np.array([m.predict(list(map(float, r))) for r in rows])
    if clf:
        ref = np.searchsorted(est.classes_, est.predict(rows))  # type: ignore[attr-defined]
        np.testing.assert_array_equal(got, ref)
        np.testing.assert_array_equal(cpy, ref)
        if dname in ("iris", "wine"):  # probabilities too, bit for bit (float64 sums as scikit-learn)
            pr = mpy.run_model(data, rows, proba=True)
            np.testing.assert_array_equal(pr, est.predict_proba(rows))  # type: ignore[attr-defined]
            np.testing.assert_array_equal([m.predict_proba(r) for r in rows], pr)
    else:
        ref = est.predict(rows)  # type: ignore[attr-defined]
        np.testing.assert_array_equal(got, ref)  # bit-exact: float64 leaf values (LV64), summed in order
        np.testing.assert_array_equal(cpy, ref)


def test_threshold_keys_order_as_float32() -> None:
    """key(v) <= key(t) exactly when v <= t in float32, for every kind of value (+-0, subnormals, inf)."""
    from array import array

    from mlrt._reader import to_array
    from mlrt.trees import _keys

    rng = np.random.default_rng(0)
    special = np.array([0.0, -0.0, 1e-45, -1e-45, 1.17549435e-38, np.inf, -np.inf, 1.0, -1.0], np.float32)
    scaled = rng.standard_normal(300) * 10.0 ** rng.integers(-40, 38, 300)
    v = np.concatenate([special, scaled.astype(np.float32)])
    k = np.array(_keys(to_array("i", array("f", v.tolist()).tobytes())))
    np.testing.assert_array_equal(k[:, None] <= k[None, :], v[:, None] <= v[None, :])


def test_near_ties_fall_back_to_exact_sums() -> None:
    """Fixed-point votes cannot split a tie of two trees; the float path does, as scikit-learn."""
    X, y = datasets.load_iris(return_X_y=True)
    est = RandomForestClassifier(n_estimators=2, random_state=2).fit(X, y)  # pure leaves: 1 vs 1
    data = microlearn.convert(est).to_bytes()
    m = mlrt.load(data)
    xb = [m._row(list(map(float, r))) for r in X]
    ties = sum(m._argmax_votes(r) < 0 for r in xb)
    assert ties > 0  # the case this test is about occurs
    ref = np.searchsorted(est.classes_, est.predict(X.astype(np.float32)))
    np.testing.assert_array_equal([m.predict(list(map(float, r))) for r in X], ref)
    np.testing.assert_array_equal(mpy.run_model(data, X), ref)


def test_forest_from_a_path_keeps_only_the_packed_nodes() -> None:
    """From a path, mlrt packs the node arrays block by block and leaves PROB in the file: it keeps 2 ints
    per node plus the vote records, reads PROB rows back for predict_proba (bit for bit as scikit-learn)
    and says so when the file changed under it."""
    X, y = datasets.load_digits(return_X_y=True)
    est = RandomForestClassifier(n_estimators=4, max_depth=6, random_state=0).fit(X, y)
    model = microlearn.convert(est)
    data = model.to_bytes()
    rows = X[:40].astype(np.float32)
    code = (
        "import mlrt\n"
        "from array import array\n"
        "m = mlrt.load('/m.mlm')\n"
        "raw = open('/x.bin', 'rb').read()\n"
        "rows = [array('f', raw[i * 256:(i + 1) * 256]) for i in range(len(raw) // 256)]\n"
        "print(m.nbytes, len(m._a), m.n_nodes)\n"
        "print(' '.join(str(m.predict(r)) for r in rows))\n"
        "print(' '.join(repr(p) for r in rows for p in m.predict_proba(r)))\n"
        "open('/m.mlm', 'wb').write(b'MLMF')\n"
        "try:\n"
        "    m.predict_proba(rows[0])\n"
        "except OSError as e:\n"
        "    print(e)\n"
    )
    out = mpy.run(code, {**mpy.runtime_files(), "/m.mlm": data, "/x.bin": rows.tobytes()}).splitlines()
    nbytes, n_a, n_nodes = map(int, out[0].split())
    assert n_nodes == model.ir.n_nodes
    assert nbytes == 4 * n_a  # nothing but the packed array: no PROB copy, no per-field arrays
    n_rows = len(np.unique(model.ir.leaf_value, axis=0))
    assert n_a <= 2 + 4 + 2 * n_nodes + n_rows * (2 + 10)
    ref = np.searchsorted(est.classes_, est.predict(rows))
    np.testing.assert_array_equal(np.array(out[1].split(), dtype=int), ref)
    proba = np.array([float(v) for v in out[2].split()]).reshape(len(rows), -1)
    np.testing.assert_array_equal(proba, est.predict_proba(rows))
    assert "changed after loading" in out[3]


def test_forest_from_bytes_keeps_a_copy_not_the_callers_buffer() -> None:
    X, y = datasets.load_iris(return_X_y=True)
    est = RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(X, y)
    data = bytearray(microlearn.convert(est).to_bytes())
    m = mlrt.load(data)
    want = [m.predict_proba(list(map(float, r))) for r in X[:20]]
    data[:] = bytes(len(data))  # the caller reuses its buffer
    assert [m.predict_proba(list(map(float, r))) for r in X[:20]] == want
    np.testing.assert_array_equal(want, est.predict_proba(X[:20].astype(np.float32)))


def test_tree_too_deep_for_the_packed_offsets_is_refused_clearly() -> None:
    """A right child more than 65,535 nodes after its parent does not fit mlrt's 16-bit offset."""
    from microlearn.backends import modelfile
    from microlearn.ir import TreeEnsemble

    depth = 33_000  # a left-leaning chain: node i's right leaf comes after the whole chain below it
    n = 2 * depth + 1
    feature = np.full(n, -1, np.int32)
    feature[:depth] = 0
    left = np.full(n, -1, np.int32)
    left[:depth] = np.arange(1, depth + 1)
    right = np.full(n, -1, np.int32)
    right[:depth] = 2 * depth - np.arange(depth)
    leaf = np.where(feature < 0, np.cumsum(feature < 0) - 1, -1).astype(np.int32)
    ir = TreeEnsemble(
        kind="regressor",
        n_features=1,
        n_outputs=1,
        roots=np.array([0], np.int32),
        feature=feature,
        threshold=np.where(feature < 0, 0, -np.arange(n)).astype(np.float32),
        left=left,
        right=right,
        missing_left=np.zeros(n, bool),
        leaf=leaf,
        leaf_value=np.arange(depth + 1, dtype=np.float64)[:, None],
        leaf_class=np.zeros(depth + 1, np.int32),
        classes=None,
        source="",
        feature_names=None,
    )
    with pytest.raises(ValueError, match="more than 65535 nodes after its parent"):
        mlrt.load(modelfile.dumps(ir))


def test_verify_target_micropython() -> None:
    X, y = datasets.load_iris(return_X_y=True)
    est = RandomForestClassifier(n_estimators=5, max_depth=4, random_state=0).fit(X, y)
    report = microlearn.verify(est, X, targets=["host", "micropython"])
    r = report["micropython"]
    assert r.agreement == 1.0
    assert r.flash_bytes == len(microlearn.convert(est).to_bytes())
    assert r.ram_bytes is not None and 0 < r.ram_bytes < r.flash_bytes


# ------------------------------------------------------------------------------------------ bad files
@pytest.fixture(scope="module")
def small_file() -> bytes:
    X, y = datasets.load_iris(return_X_y=True)
    est = RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(X, y)
    return microlearn.convert(est).to_bytes()


CHECK_ALL = """
import mlrt
n = 0
for i in range({n}):
    data = open('/bad/%d' % i, 'rb').read()
    try:
        mlrt.load(data)
    except ValueError as e:
        assert str(e).startswith('mlrt: '), e
        n += 1
    else:
        print('accepted', i)
    try:
        mlrt.load('/bad/%d' % i)  # the streaming path reader
    except ValueError:
        n += 1
print(n)
"""


def test_bad_files_rejected_in_micropython(small_file: bytes) -> None:
    bad = corruptions(small_file)
    files = {f"/bad/{i}": b for i, (_, b) in enumerate(bad)}
    out = mpy.run(CHECK_ALL.format(n=len(bad)), {**mpy.runtime_files(), **files})
    accepted = [bad[int(line.split()[1])][0] for line in out.splitlines() if line.startswith("accepted")]
    assert accepted == []
    assert out.splitlines()[-1] == str(2 * len(bad))


def test_bad_files_rejected_in_cpython(small_file: bytes) -> None:
    for what, b in corruptions(small_file):
        with pytest.raises(ValueError, match=r"^mlrt: "):
            mlrt.load(b)
        assert what


def test_clear_messages(small_file: bytes) -> None:
    with pytest.raises(ValueError, match="CRC-32 mismatch"):
        mlrt.load(small_file[:-1] + bytes([small_file[-1] ^ 1]))
    with pytest.raises(ValueError, match="bad magic"):
        mlrt.load(b"GIF89a" + small_file[6:])
    with pytest.raises(ValueError, match="expected 4 features, got 3"):
        mlrt.load(small_file).predict([1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match="path"):
        mlrt.load(12)  # type: ignore[arg-type]


def test_memory_error_is_explained(tmp_path: Path, small_file: bytes) -> None:
    """A real allocation failure (CPython under an address-space limit) becomes an explained MemoryError."""
    X, y = datasets.load_digits(return_X_y=True)
    big = microlearn.convert(RandomForestClassifier(n_estimators=40, random_state=0).fit(X, y)).to_bytes()
    path = tmp_path / "big.mlm"
    path.write_bytes(big)
    code = (
        "import resource, sys\n"
        f"sys.path.insert(0, {str(mpy.RUNTIME_DIR)!r})\n"
        "import mlrt, mlrt._reader, mlrt.trees\n"
        f"data = open({str(path)!r}, 'rb').read()\n"
        "vm = int(open('/proc/self/statm').read().split()[0]) * resource.getpagesize()\n"
        "resource.setrlimit(resource.RLIMIT_AS, (vm + 64 * 1024, resource.RLIM_INFINITY))\n"
        "try:\n    mlrt.load(data)\nexcept MemoryError as e:\n    print('MemoryError:', e)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "MemoryError: mlrt: not enough RAM to load the model" in res.stdout, res.stdout + res.stderr


# ------------------------------------------------------------------------------------------ mpy-cross
@pytest.mark.parametrize("march", ["armv6m", "armv7emsp", "xtensawin", "x64"])
def test_native_walker_compiles(tmp_path: Path, march: str) -> None:
    files = deploy.build_mpy(tmp_path, march)
    fast = tmp_path / "mlrt" / "_fast.mpy"
    assert fast in files
    assert fast.read_bytes()[:2] == b"M\x06"  # .mpy version 6


def test_compiled_mpy_runs_in_micropython(tmp_path: Path, small_file: bytes) -> None:
    """The deployable form: bytecode .mpy plus an x64 native walker the WebAssembly port must skip."""
    files = deploy.build_mpy(tmp_path, "x64")
    dev = {f"/lib/mlrt/{f.name}": f.read_bytes() for f in files}
    X, _ = datasets.load_iris(return_X_y=True)
    m = mlrt.load(small_file)
    code = "import mlrt\nm = mlrt.load('/m.mlm')\nprint(m._fast is None, [m.predict(r) for r in %r])" % [
        list(map(float, r)) for r in X[::10]
    ]
    out = mpy.run(code, {**dev, "/m.mlm": small_file})
    assert out == f"True {[m.predict(list(map(float, r))) for r in X[::10]]}\n"


def test_package_json_lists_every_module() -> None:
    import json

    shipped = json.loads((mpy.RUNTIME_DIR / "package.json").read_text())
    listed = {dest for dest, _ in shipped["urls"]}
    assert listed == {f"mlrt/{p.name}" for p in deploy.mlrt_sources()}  # mip installs what is listed
    for dest, url in shipped["urls"]:
        assert dest == url and (mpy.RUNTIME_DIR / url).is_file(), url
    assert shipped["version"] == deploy.mlrt_version()


@pytest.mark.parametrize("kind", ["no-proba classifier", "multi-output regressor", "lone stage"])
def test_the_micropython_target_follows_the_task(kind: str) -> None:
    """The micropython verify target asks mlrt for what the task has: classes without probabilities
    (LinearSVC), several values per row (multi-output Ridge), transformed rows (a lone scaler)."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import Ridge
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    X, y = load_iris(return_X_y=True)
    est = {
        "no-proba classifier": lambda: LinearSVC().fit(X, y),
        "multi-output regressor": lambda: Ridge().fit(X, np.c_[X[:, 0], X[:, 1]]),
        "lone stage": lambda: StandardScaler().fit(X),
    }[kind]()
    r = microlearn.verify(est, X[::10], targets=["micropython"])["micropython"]
    assert r.agreement == 1.0 and r.n_rows == 15
