"""mlrt's machine-code paths for nearest neighbours (_fast_knn.py, @micropython.viper: integer distances
over int8/int16 examples) and k-means (_fast_kmeans.py, @micropython.native): they compile with mpy-cross
for microcontroller CPUs; their results are the bytecode path's exactly. The WebAssembly MicroPython of
the test suite has no native code, so the checks run (1) the viper source in CPython with pointer shims
that read and write the arrays' bytes as viper does (the operations, not the machine code), (2) the
k-means native source against its bytecode twin as text, and (3) with a MicroPython unix port at hand
($MICROLEARN_UNIX_MICROPYTHON, x64), both paths as machine code on the same rows."""

from __future__ import annotations

import ast
import inspect
import os
import shutil
import subprocess
import sys
import types
from array import array
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.cluster import MiniBatchKMeans
from sklearn.datasets import load_digits, make_blobs
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

import microlearn
from microlearn import deploy
from microlearn import micropython as mpy
from mlrt_source import _Ptr, load_source

sys.path.insert(0, str(mpy.RUNTIME_DIR))
import mlrt
from mlrt import kmeans as mlrt_kmeans
from mlrt import neighbors as mlrt_neighbors
from mlrt import network_conv as mlrt_conv

MLRT = mpy.RUNTIME_DIR / "mlrt"
# MicroPython's native architecture codes, as .mpy headers record them (feature byte >> 2)
ARCH_CODE = {"x64": 2, "armv6m": 4, "armv7emsp": 7, "xtensawin": 10, "rv32imc": 11}


@pytest.mark.parametrize("march", sorted(ARCH_CODE))
def test_machine_code_modules_compile(tmp_path: Path, march: str) -> None:
    files = {f.name: f for f in deploy.build_mpy(tmp_path, march)}
    for name in ("_fast_knn.mpy", "_fast_kmeans.mpy", "_fast_conv.mpy"):
        head = files[name].read_bytes()[:4]
        assert head[:2] == b"M\x06" and head[2] >> 2 == ARCH_CODE[march]
    bytecode_only = {f.name for f in deploy.build_mpy(tmp_path / "bc")}
    assert "_fast_knn.mpy" not in bytecode_only and "_fast_conv.mpy" not in bytecode_only
    assert "network_conv.mpy" in bytecode_only


# ------------------------------------------------------------------------------ viper source in CPython
def _load_as_python(name: str) -> types.ModuleType:
    return load_source(MLRT / f"{name}.py")


def test_integer_reading_of_float32_rows() -> None:
    fast = _load_as_python("_fast_knn")
    cases = {
        0: ([0.0, -0.0, 127.0, -128.0, 5.0, -3.0], 129),
        1: ([0.0, -32768.0, 32767.0, 300.0, -1.0], 32769),
    }
    for wide, (vals, top) in cases.items():
        out = array("h" if wide else "b", bytes((1 + wide) * len(vals)))
        assert fast.ints(array("f", vals), len(vals), out, wide) == top
        assert list(out) == [int(v) for v in vals]
    bad = [128.0, -129.0, 0.5, -2.25, 1e10, float("nan"), float("inf"), 1e-30, 2.0**24 + 2]
    for v in bad:
        assert fast.ints(array("f", [1.0, v]), 2, array("b", bytes(2)), 0) == 0, v
    for v in (32768.0, -32769.0, 0.5, float("-inf")):
        assert fast.ints(array("f", [v]), 1, array("h", bytes(2)), 1) == 0, v


def _digits_int8(k: int = 5, **kw: Any) -> tuple[bytes, np.ndarray[Any, Any]]:
    X, y = load_digits(return_X_y=True)
    est = KNeighborsClassifier(k, **kw).fit(X[:200], y[:200])
    return microlearn.convert(est).to_bytes(), X[200:320].astype(np.float32)


def _int16(reg: bool = False, **kw: Any) -> tuple[bytes, np.ndarray[Any, Any]]:
    rng = np.random.default_rng(4)
    X = rng.integers(-3000, 3000, (150, 6)).astype(np.float64)
    X[::10] = X[1::10]  # duplicates: equal distances
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    est = (KNeighborsRegressor if reg else KNeighborsClassifier)(4, **kw).fit(X, X[:, 2] if reg else y)
    Q = np.vstack([X[:40], rng.integers(-3000, 3000, (40, 6)), X[:10] + 0.5, [[40000.0] * 6]])
    return microlearn.convert(est).to_bytes(), Q.astype(np.float32)


def _both_paths(m: Any, Q: np.ndarray[Any, Any], fast_mod: types.ModuleType) -> None:
    """predict and predict_proba with the viper source and with the bytecode path: the same."""
    saved = mlrt_neighbors._fast_knn
    try:
        for x in Q:
            xa = array("f", x.tobytes())
            mlrt_neighbors._fast_knn = fast_mod
            m._set_fast()
            a = (m.predict(xa), list(m._dist), m.predict_proba(xa) if m.classifier else None)
            mlrt_neighbors._fast_knn = None
            m._set_fast()
            b = (m.predict(xa), list(m._dist), m.predict_proba(xa) if m.classifier else None)
            assert a == b
    finally:
        mlrt_neighbors._fast_knn = saved
        m._set_fast()


CASES = {
    "int8 euclidean": lambda: _digits_int8(),
    "int8 manhattan": lambda: _digits_int8(metric="manhattan"),
    "int8 chebyshev": lambda: _digits_int8(3, metric="chebyshev"),
    "int8 distance weights": lambda: _digits_int8(weights="distance"),
    "int16 euclidean": lambda: _int16(),
    "int16 manhattan regressor": lambda: _int16(True, metric="manhattan"),
    "int16 distance-weighted regressor": lambda: _int16(True, weights="distance"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_viper_distances_are_the_bytecode_paths(case: str) -> None:
    fast = _load_as_python("_fast_knn")
    data, Q = CASES[case]()
    m = mlrt.load(data)
    assert m.storage == ("int8" if case.startswith("int8") else "int16")
    mlrt_neighbors._fast_knn, saved = fast, mlrt_neighbors._fast_knn
    try:
        m._set_fast()
        assert m._fast is not None
        calls: list[int] = []
        real = fast.nearest

        def counted(*a: Any) -> Any:
            calls.append(1)
            return real(*a)

        setattr(fast, "nearest", counted)  # noqa: B010
        for x in Q[:5]:
            m.predict(array("f", x.tobytes()))
        assert calls  # the integer path indeed ran
    finally:
        mlrt_neighbors._fast_knn = saved
    _both_paths(m, Q, fast)


def test_learning_keeps_both_paths_equal() -> None:
    """add (an int8 example, one that widens the storage to int16, then to float32, a new class) and
    remove: after every change both paths predict alike, and as a model fitted on the same examples."""
    fast = _load_as_python("_fast_knn")
    data, Q = _digits_int8(3)
    m = mlrt.load(data)
    X, y = load_digits(return_X_y=True)
    ex, lab = list(X[:200]), list(y[:200])
    steps: list[tuple[str, Any, int]] = [
        ("add", X[400], int(y[400])),
        ("add", np.full(64, 300.0), 3),  # int16 now
        ("remove", None, 0),
        ("add", np.full(64, 2.5), 10),  # float32 now, and a new class
        ("remove", None, 150),
    ]
    want_storage = ["int8", "int16", "int16", "float32", "float32"]
    for (op, x, v), st in zip(steps, want_storage, strict=True):
        if op == "add":
            m.add(array("f", np.asarray(x, np.float32).tobytes()), v)
            ex.append(np.asarray(x, np.float64))
            lab.append(v)
        else:
            m.remove(v)
            del ex[v], lab[v]
        assert m.storage == st
        _both_paths(m, Q[:30], fast)
        sk = KNeighborsClassifier(3, algorithm="brute").fit(np.array(ex), np.array(lab))
        got = [m.predict(array("f", q.tobytes())) for q in Q[:30]]
        classes = sorted(set(lab))
        assert [classes[g] if g < len(classes) else g for g in got] == list(
            sk.predict(Q[:30].astype(np.float64))
        )
    assert m.nbytes == 4 * len(m._x) + 2 * len(m._y)


def test_storage_follows_the_values() -> None:
    X, y = load_digits(return_X_y=True)
    for X_, want in ((X, "int8"), (X * 100, "int16"), (X / 4, "float32"), (X / 3, "float64")):
        m = mlrt.load(microlearn.convert(KNeighborsClassifier(3).fit(X_[:50], y[:50])).to_bytes())
        assert m.storage == want
        size = {"int8": 1, "int16": 2, "float32": 4, "float64": 8}[want]
        assert m.nbytes == size * 50 * 64 + 2 * 50


# ------------------------------------------------------------------------------------- k-means native
def _body(fn: Any) -> str:
    import textwrap

    f = ast.parse(textwrap.dedent(inspect.getsource(fn))).body[0]
    assert isinstance(f, ast.FunctionDef)
    f.decorator_list = []
    return ast.dump(f)


def test_kmeans_native_source_is_the_bytecode_source() -> None:
    fast = _load_as_python("_fast_kmeans")
    for name in ("dist2", "step"):
        assert _body(getattr(fast, name)) == _body(getattr(mlrt_kmeans._Py, name))


# ------------------------------------------------------------------- machine code: unix port, qemu port
UNIX = os.environ.get("MICROLEARN_UNIX_MICROPYTHON")
# firmware.elf of MicroPython's qemu port for board MPS2_AN385 (Cortex-M3, 32-bit words, single-precision
# floats), e.g. make -C ports/qemu BOARD=MPS2_AN385 FROZEN_MANIFEST= MICROPY_HEAP_SIZE=3145728
QEMU = os.environ.get("MICROLEARN_QEMU_MICROPYTHON")


def _need_unix() -> None:
    """The `ports` tests (pytest -m ports) fail with what to do when their port is missing."""
    if not UNIX or not Path(UNIX).exists():
        pytest.fail(
            "set $MICROLEARN_UNIX_MICROPYTHON to a MicroPython unix port (x64) binary: make -C ports/unix in "
            "a MicroPython checkout (the WebAssembly MicroPython of the default suite runs no native code)"
        )


def _need_qemu() -> None:
    if not QEMU or not Path(QEMU).exists() or shutil.which("qemu-system-arm") is None:
        pytest.fail(
            "set $MICROLEARN_QEMU_MICROPYTHON to the firmware.elf of MicroPython's qemu port (board "
            "MPS2_AN385) and install qemu-system-arm"
        )


DEVICE_CODE = """
import gc, sys
sys.path.insert(0, {d!r})
from array import array
import mlrt
from mlrt import neighbors, kmeans
def data(name):
    f = open({d!r} + '/' + name, 'rb')
    b = f.read()
    f.close()
    return b
fast_knn = neighbors._fast_knn
print(fast_knn is not None, kmeans._fast_kmeans is not None)
for name in ('i8', 'i16'):
    raw = data(name + '.bin')
    out = []
    for fast in (fast_knn, None):
        neighbors._fast_knn = fast
        gc.collect()
        m = mlrt.load(data(name + '.mlm'))
        n = m.n_features
        rows = [array('f', raw[4 * n * r:4 * n * (r + 1)]) for r in range(len(raw) // (4 * n))]
        out.append([(m.predict(x), m._dist) for x in rows])
        m.add(rows[0], 0)
        m.add(array('f', [300.0] * n), 1)
        m.remove(0)
        out.append([m.predict(x) for x in rows])
        out.append(m.storage)
    print(name, out[2], out[0] == out[3], out[1] == out[4])
kraw = data('kq.bin')
rows = [array('f', kraw[20 * r:20 * (r + 1)]) for r in range(len(kraw) // 20)]
res = []
for fast in (kmeans._fast_kmeans, None):
    kmeans._fast_kmeans = fast
    m = mlrt.load(data('km.mlm'))
    sw = [0.5 + (i % 5) for i in range(len(rows) - 40)]
    lab = m.partial_fit(rows[:40]) + m.partial_fit(rows[40:], sw)
    res.append(([m.predict(x) for x in rows], [m.transform(x) for x in rows], lab))
    res[-1] += (m.centers(), list(m.counts))
print('kmeans', res[0] == res[1])
"""

# a read-only file system in RAM for a port without one: os.mount(_FS(files), '/fs')
RAM_FS = """
import io, os
class _File(io.IOBase):
    def __init__(self, b):
        self.b = b
        self.off = 0
    def ioctl(self, req, arg):
        return 0
    def readinto(self, buf):
        n = min(len(buf), len(self.b) - self.off)
        buf[:n] = memoryview(self.b)[self.off:self.off + n]
        self.off += n
        return n
    def close(self):
        pass
    def read(self, n=-1):
        b = self.b[self.off:] if n < 0 else self.b[self.off:self.off + n]
        self.off += len(b)
        return b
class _FS:
    def __init__(self, files):
        self.files = files
    def mount(self, ro, mkfs):
        pass
    def umount(self):
        pass
    def chdir(self, p):
        pass
    def stat(self, p):
        if p in self.files:
            return (0x8000, 0, 0, 0, 0, 0, len(self.files[p]), 0, 0, 0)
        if p in ('/', '/mlrt'):
            return (0x4000, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        raise OSError(2)
    def open(self, p, mode):
        if p not in self.files:
            raise OSError(2)
        return _File(self.files[p])
os.mount(_FS({files!r}), '/fs')
"""


def _device_files(tmp_path: Path, march: str) -> dict[str, bytes]:
    """mlrt as deploy installs it for march, two kNN models (int8, int16) with rows, a MiniBatchKMeans."""
    d = tmp_path / "dev"
    files = {f"mlrt/{p.name}": p.read_bytes() for p in deploy.build_mpy(d, march)}
    X, y = load_digits(return_X_y=True)
    i8 = KNeighborsClassifier(5).fit(X[:80], y[:80])
    for name, (data, Q) in {"i8": (microlearn.convert(i8).to_bytes(), X[100:160]), "i16": _int16()}.items():
        files[f"{name}.mlm"] = data
        files[f"{name}.bin"] = np.asarray(Q, np.float32).tobytes()
    B, _ = make_blobs(300, n_features=5, centers=4, random_state=2)
    B32 = B.astype(np.float32)
    km = MiniBatchKMeans(4, n_init=1, random_state=0, batch_size=64, reassignment_ratio=0.0).fit(B32)
    files["km.mlm"] = microlearn.convert(km).to_bytes()
    files["kq.bin"] = B32[:100].tobytes()
    return files


def _check_device_output(out: str) -> None:
    lines = out.replace("\r", "").split("\n")
    assert lines[0] == "True True"  # the machine code loaded
    assert lines[1] == "i8 int16 True True"  # (the added example of 300s widened the storage)
    assert lines[2] == "i16 int16 True True"
    assert lines[3] == "kmeans True"


@pytest.mark.ports
def test_unix_port_machine_code_equals_bytecode(tmp_path: Path) -> None:
    _check_device_output(
        _run_unix(tmp_path, _device_files(tmp_path, "x64"), DEVICE_CODE.format(d=str(tmp_path)))
    )


def _run_unix(tmp_path: Path, files: dict[str, bytes], code: str) -> str:
    """Write files (paths relative to tmp_path) and run code in the unix port: its output."""
    _need_unix()
    assert UNIX is not None
    for name, data in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(data)
    (tmp_path / "t.py").write_text(code)
    res = subprocess.run([UNIX, "-X", "heapsize=16M", str(tmp_path / "t.py")], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def _qemu_raw_repl(elf: str, code: bytes, timeout: float = 600) -> str:
    """Run code in MicroPython's raw REPL on the qemu port's serial (stdio); its output (stderr raises)."""
    import select
    import time

    p = subprocess.Popen(
        ["qemu-system-arm", "-machine", "mps2-an385", "-nographic", "-monitor", "null", "-semihosting",
         "-serial", "stdio", "-kernel", elf],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    assert p.stdin is not None and p.stdout is not None
    fd = p.stdout.fileno()

    def until(tok: bytes) -> bytes:
        buf = b""
        end = time.monotonic() + timeout
        while not buf.endswith(tok):
            ready, _, _ = select.select([fd], [], [], max(0.0, end - time.monotonic()))
            chunk = os.read(fd, 4096) if ready else b""
            assert chunk, f"no reply from the qemu port; last output: {buf[-500:]!r}"
            buf += chunk
        return buf

    try:
        p.stdin.write(b"\r\x03\x03\x01")  # interrupt, raw REPL
        p.stdin.flush()
        until(b"raw REPL; CTRL-B to exit\r\n>")
        for i in range(0, len(code), 256):  # the UART takes it in pieces
            p.stdin.write(code[i : i + 256])
            p.stdin.flush()
            time.sleep(0.005)
        p.stdin.write(b"\x04")
        p.stdin.flush()
        res, err = until(b"\x04>").split(b"OK", 1)[1][:-2].split(b"\x04", 1)
    finally:
        p.kill()
        p.wait()
    assert not err, err.decode(errors="replace")
    return res.decode()


@pytest.mark.ports
def test_32_bit_port_machine_code_equals_bytecode(tmp_path: Path) -> None:
    """armv7m machine code with 32-bit words and single-precision floats (Cortex-M3 under QEMU)."""
    _need_qemu()
    assert QEMU is not None
    files = {"/" + k: v for k, v in _device_files(tmp_path, "armv7m").items()}
    code = RAM_FS.format(files=files) + DEVICE_CODE.format(d="/fs")
    _check_device_output(_qemu_raw_repl(QEMU, code.encode()))


# ------------------------------------------------------------------- convolution and pooling (_fast_conv)

# (input shape, kernel, strides, dilations, padding 0 valid / 1 same / 2 causal): odd sizes, strides and
# dilations, so that windows are cut by the padding on every side
GEOMETRIES = [
    ((7, 6, 3), (3, 3), (1, 1), (1, 1), 1),
    ((9, 8, 2), (3, 2), (2, 3), (1, 1), 1),
    ((8, 7, 4), (2, 3), (1, 2), (2, 1), 0),
    ((1, 13, 3), (1, 3), (1, 1), (1, 2), 2),
    ((5, 5, 1), (5, 5), (1, 1), (1, 1), 1),
]


def _geom(shape: tuple[int, int, int], k: Any, st: Any, dl: Any, pad: int, c_out: int) -> Any:
    h, w, _ = shape
    oh, _ = mlrt_conv._out(h, k[0], st[0], dl[0], pad)
    ow, _ = mlrt_conv._out(w, k[1], st[1], dl[1], pad)
    return mlrt_conv._Geom(shape, (oh, ow, c_out), k[0], k[1], st[0] * 65536 + st[1], dl[0] * 65536 + dl[1],
                           pad, c_out)  # fmt: skip


def _conv_layers(rng: np.random.Generator) -> list[Any]:
    """Convolutions and depthwise convolutions over every geometry, random float64 weights."""
    out = []
    for shape, k, st, dl, pad in GEOMETRIES:
        c = shape[2]
        for depthwise, n in ((False, 5), (True, 2)):
            c_out = c * n if depthwise else n
            g = _geom(shape, k, st, dl, pad, c_out)
            kern = array("d", rng.normal(size=k[0] * k[1] * c * n))
            bias = array("d", rng.normal(size=c_out))
            out.append((mlrt_conv.Depthwise if depthwise else mlrt_conv.Conv)(g, n, 3, kern, bias))
    return out


def _pool_layers() -> list[Any]:
    out = []
    for shape, k, st, _, pad in GEOMETRIES:
        if pad < 2:
            out += [mlrt_conv.Pool(_geom(shape, k, st, (1, 1), pad, shape[2]), op) for op in (0, 1)]
    return out


def test_conv_native_source_is_the_bytecode_source() -> None:
    fast = _load_as_python("_fast_conv")
    for name in ("conv", "depthwise", "pool"):
        assert _body(getattr(fast, name)) == _body(getattr(mlrt_conv, name))


def _with_fast(fast: Any, fn: Any, arg: Any) -> Any:
    """fn(arg) with network_conv's machine-code module set to fast (None: the bytecode path)."""
    saved = mlrt_conv._fast_conv
    mlrt_conv._fast_conv = fast
    try:
        return fn(arg)
    finally:
        mlrt_conv._fast_conv = saved


def test_float_windows_equal_on_both_paths() -> None:
    """The native functions read as Python give the bytecode path's floats (here CPython's doubles) on
    every geometry, and both equal the windows written out with _Geom.taps."""
    fast = _load_as_python("_fast_conv")
    rng = np.random.default_rng(5)
    for op in _conv_layers(rng) + _pool_layers():
        g = op.g
        x = array("f", rng.normal(size=g.h * g.w * g.c).astype(np.float32).tobytes())
        want = _with_fast(None, op.linear, x)
        assert _with_fast(fast, op.linear, x) == want
        c = g.c
        ref = []  # the definition, one output at a time
        for oy in range(g.oh):
            for ox in range(g.ow):
                taps = g.taps(oy, ox)
                for o in range(len(want) // (g.oh * g.ow)):
                    if isinstance(op, mlrt_conv.Pool):
                        vals = [x[p * c + o] for _, p in taps]
                        ref.append(max(vals) if op.op == 0 else sum(vals, 0.0) / len(vals))
                    elif isinstance(op, mlrt_conv.Conv):
                        prods = (
                            x[p * c + ch] * op.k[(t * c + ch) * op.f + o] for t, p in taps for ch in range(c)
                        )
                        ref.append(sum(prods, 0.0) + op.b[o])
                    else:
                        prods = (x[p * c + o // op.m] * op.k[t * c * op.m + o] for t, p in taps)
                        ref.append(sum(prods, 0.0) + op.b[o])
        assert np.allclose(want, ref, rtol=1e-12, atol=1e-12)


def test_int8_windows_equal_on_both_paths() -> None:
    """conv_q8 and pool_q8 (viper source with pointer shims) give the bytecode path's int8 codes on every
    geometry: random codes, weights, zero points, multipliers and shifts, clamps and a table."""
    fast = _load_as_python("_fast_conv")
    rng = np.random.default_rng(6)
    calls: list[str] = []
    shimmed = types.SimpleNamespace(
        conv_q8=lambda *a: calls.append("conv") or fast.conv_q8(*a),
        pool_q8=lambda *a: calls.append("pool") or fast.pool_q8(*a),
        out_q8=lambda *a: calls.append("out") or fast.out_q8(*a),
    )
    table = bytes(rng.integers(0, 256, 256, dtype=np.uint8))
    for i, op in enumerate(_conv_layers(rng)):
        n_out = len(op.b)
        w = array("b", rng.integers(-128, 128, len(op.k)).astype(np.int8).tobytes())
        b = [int(v) for v in rng.integers(-20000, 20000, n_out)]
        m = [int(v) for v in rng.integers(1 << 30, 1 << 31, n_out)]
        m[0] = 1 << 30  # with small shifts: exact halves, rounded away from zero
        sh = [int(v) for v in rng.integers(-2, 14, n_out)]  # from saturating to rounding to 0
        zx = int(rng.integers(-128, 128))
        run = mlrt_conv.ConvQ8(op, w, b, m, sh, zx, int(rng.integers(-20, 20)), -128 if i % 2 else 0,
                               table if i % 3 == 0 else None)  # fmt: skip
        assert run.fits
        for _ in range(3):
            q = bytearray(rng.integers(0, 256, op.g.h * op.g.w * op.g.c, dtype=np.uint8).tobytes())
            want = _with_fast(None, run, q)
            assert _with_fast(shimmed, run, q) == want
            ref = bytearray(len(want))  # each sum requantized by network.requant, one output at a time
            for o, a in enumerate(run.sums(q)):
                run.put(ref, o, run.b[o % n_out] + a, o % n_out)
            assert want == ref
    for op in _pool_layers():
        run = mlrt_conv.PoolQ8(op)
        for _ in range(3):
            q = bytearray(rng.integers(0, 256, op.g.h * op.g.w * op.g.c, dtype=np.uint8).tobytes())
            assert _with_fast(shimmed, run, q) == _with_fast(None, run, q)
    assert {"conv", "out", "pool"} <= set(calls)  # the viper source indeed ran


CONV_DEVICE_CODE = """
import sys, json
sys.path.insert(0, {d!r})
from array import array
from mlrt import network_conv as nc
FC = nc._fast_conv
print(FC is not None)
specs = json.load(open({d!r} + '/specs.json'))
same = True
ints = []
for s in specs:
    sh, k, st, dl = s['shape'], s['k'], s['st'], s['dl']
    g = nc._Geom(tuple(sh), tuple(s['out']), k[0], k[1], st[0] * 65536 + st[1], dl[0] * 65536 + dl[1],
                 s['pad'], s['out'][2])
    if s['kind'] == 'pool':
        op = nc.Pool(g, s['n'])
        run = nc.PoolQ8(op)
    else:
        cls = nc.Depthwise if s['kind'] == 'depthwise' else nc.Conv
        op = cls(g, s['n'], 3, array('d', s['kern']), array('d', s['bias']))
        run = nc.ConvQ8(op, array('b', s['w']), s['b'], s['m'], s['sh'], s['zx'], s['zero'], s['lo'],
                        None if s['table'] is None else bytes(s['table']))
    x = array('f', s['x'])
    q = bytearray(s['q'])
    res = []
    for fast in (FC, None):
        nc._fast_conv = fast
        res.append((op.linear(x), bytes(run(q))))
    same = same and res[0] == res[1]
    ints.append(res[0][1].hex())
print(same)
print(' '.join(ints))
"""


def _conv_specs() -> tuple[list[dict[str, Any]], list[str]]:
    """Every geometry's layers as data for CONV_DEVICE_CODE, and CPython's int8 codes for each."""
    rng = np.random.default_rng(7)
    specs, want = [], []
    layers = [
        (op, "depthwise" if isinstance(op, mlrt_conv.Depthwise) else "conv") for op in _conv_layers(rng)
    ]
    for op, kind in layers + [(op, "pool") for op in _pool_layers()]:
        g = op.g
        out_c = g.c if kind == "pool" else len(op.b)
        specs.append({"kind": kind, "shape": [g.h, g.w, g.c], "out": [g.oh, g.ow, out_c], "k": [g.kh, g.kw],
                      "st": [g.sh, g.sw], "dl": [g.dh, g.dw]})  # fmt: skip
        want.append(op)
    # the padding codes in the order _conv_layers and _pool_layers build the layers
    pads = [p for *_, p in GEOMETRIES for _ in (0, 1)] + [p for *_, p in GEOMETRIES if p < 2 for _ in (0, 1)]
    expect = []
    for s, op, pad in zip(specs, want, pads, strict=True):
        s["pad"] = pad
        g = op.g
        s["x"] = [float(v) for v in rng.normal(size=g.h * g.w * g.c).astype(np.float32)]
        s["q"] = [int(v) for v in rng.integers(0, 256, g.h * g.w * g.c)]
        if s["kind"] == "pool":
            s["n"] = op.op
            run = mlrt_conv.PoolQ8(op)
        else:
            n_out = len(op.b)
            s["n"] = op.m if s["kind"] == "depthwise" else op.f
            s["kern"], s["bias"] = list(op.k), list(op.b)
            s["w"] = [int(v) for v in rng.integers(-128, 128, len(op.k))]
            s["b"] = [int(v) for v in rng.integers(-20000, 20000, n_out)]
            s["m"] = [int(v) for v in rng.integers(1 << 30, 1 << 31, n_out)]
            s["sh"] = [int(v) for v in rng.integers(4, 12, n_out)]
            s["zx"], s["zero"], s["lo"] = int(rng.integers(-128, 128)), 3, -128
            s["table"] = [int(v) for v in rng.integers(0, 256, 256)] if len(expect) % 3 == 0 else None
            run = mlrt_conv.ConvQ8(op, array("b", s["w"]), s["b"], s["m"], s["sh"], s["zx"], 3, -128,
                                   None if s["table"] is None else bytes(s["table"]))  # fmt: skip
        expect.append(bytes(_with_fast(None, run, bytearray(s["q"]))).hex())
    return specs, expect


def _check_conv_output(out: str, expect: list[str]) -> None:
    lines = out.replace("\r", "").split("\n")
    assert lines[0] == "True"  # the machine code loaded
    assert lines[1] == "True"  # machine code == bytecode, float and int8
    assert lines[2].split(" ") == expect  # == CPython's int8 codes


@pytest.mark.ports
def test_unix_port_conv_machine_code_equals_bytecode(tmp_path: Path) -> None:
    """_fast_conv as x64 machine code: the float windows equal the bytecode path's bit for bit and the
    int8 codes equal both paths' and CPython's, on every geometry."""
    import json

    files = {f"mlrt/{f.name}": f.read_bytes() for f in deploy.build_mpy(tmp_path / "dev", "x64")}
    specs, expect = _conv_specs()
    files["specs.json"] = json.dumps(specs).encode()
    _check_conv_output(_run_unix(tmp_path, files, CONV_DEVICE_CODE.format(d=str(tmp_path))), expect)


@pytest.mark.ports
def test_32_bit_port_conv_machine_code_equals_bytecode(tmp_path: Path) -> None:
    """_fast_conv as armv7m machine code (32-bit words, single-precision floats) on every geometry."""
    _need_qemu()
    import json

    assert QEMU is not None
    files = {f"/mlrt/{f.name}": f.read_bytes() for f in deploy.build_mpy(tmp_path, "armv7m")}
    specs, expect = _conv_specs()
    files["/specs.json"] = json.dumps(specs).encode()
    code = RAM_FS.format(files=files) + CONV_DEVICE_CODE.format(d="/fs")
    _check_conv_output(_qemu_raw_repl(QEMU, code.encode()), expect)


# ------------------------------------------------------------------- int8 requantization (out_q8)
I32_EDGES = [-(1 << 31), -(1 << 31) + 1, -(1 << 30), -65537, -65536, -65535, -32769, -32768, -1, 0, 1, 32767,
             32768, 65535, 65536, 1 << 30, (1 << 31) - 2, (1 << 31) - 1]  # fmt: skip
MULTIPLIERS = [0, 1 << 30, (1 << 30) + 1, 1518500250, (1 << 31) - 2, (1 << 31) - 1]


def _requant_cases() -> tuple[list[int], list[int], list[int], list[int]]:
    """Sums and channels (biases, multipliers, shifts) for out_q8: every shift -30..31 with each edge
    multiplier, sums at the int32 edges and random ones, biases at the int32 edges (a sum plus its bias
    passes int32), and per shift 0..31 sums whose product with 2^30 is an exact half (2k + 1) 2^(30 + sh)."""
    rng = np.random.default_rng(11)
    b, m, sh = [], [], []
    for s in range(-30, 32):
        for i, mc in enumerate(MULTIPLIERS):
            b.append(I32_EDGES[(s + 7 * i) % len(I32_EDGES)] if i % 2 else int(rng.integers(-300, 300)))
            m.append(mc)
            sh.append(s)
    accs = I32_EDGES + [int(v) for v in rng.integers(-(1 << 31), 1 << 31, 12)]
    accs += [int(v) for v in rng.integers(-1 << 16, 1 << 16, 6)]
    for s in range(0, 32):  # a 2^30 / 2^(31 + s) = (2k + 1) / 2 at a = (2k + 1) 2^s (bias 0)
        b.append(0)
        m.append(1 << 30)
        sh.append(s)
        accs += [(2 * k + 1) << s for k in (0, 3) if (2 * k + 1) << s < 1 << 31]
        accs += [-((2 * k + 1) << s) for k in (0, 3) if (2 * k + 1) << s <= 1 << 31]
    return accs, b, m, sh


def _requant_want(accs: list[int], b: list[int], m: list[int], sh: list[int], zero: int, lo: int,
                  table: bytes | None) -> bytes:  # fmt: skip
    """network.requant's codes for every sum against every channel, rows of len(b)."""
    from mlrt.network import requant

    y = bytearray()
    for a in accs:
        for ch in range(len(b)):
            v = zero + requant(a + b[ch], m[ch], sh[ch])
            v = lo if v < lo else (127 if v > 127 else v)
            y.append((table[v + 128] if table is not None else v) & 0xFF)
    return bytes(y)


class _SignedPtr(_Ptr):
    """A ptr32 whose loads give the signed int32, as a 32-bit port's machine words hold it."""

    def __init__(self, obj: Any) -> None:
        _Ptr.__init__(self, obj, 4)

    def __getitem__(self, i: int) -> int:
        v = _Ptr.__getitem__(self, i)
        return v - (1 << 32) if v >= 1 << 31 else v


REQUANT_CONFIGS = [(0, -128, False), (-128, -128, False), (127, 0, True), (-5, -20, True)]


def test_int8_requantization_equals_network_requant() -> None:
    """out_q8 (viper source with pointer shims) gives network.requant's clamped codes on every shift,
    edge multipliers, sums and biases at the int32 edges and exact halves, with and without a table; no
    local of the function ever leaves int32 (the machine words of a 32-bit port)."""
    fast = _load_as_python("_fast_conv")
    accs, b, m, sh = _requant_cases()
    table = bytes((7 * i + 3) & 0xFF for i in range(256))
    widest = [0]

    def trace(frame: Any, event: str, arg: Any) -> Any:
        if frame.f_code.co_name != "out_q8":
            return None
        for k, v in frame.f_locals.items():
            if isinstance(v, int) and not isinstance(v, bool):  # (v: a loaded word, either reading)
                assert -(1 << 31) <= v < (1 << 32 if k == "v" else 1 << 31), (k, v)
                widest[0] = max(widest[0], abs(v))
        return trace

    def run(accs: list[int], b: list[int], m: list[int], sh: list[int], zero: int, lo: int, tab: bool,
            traced: bool) -> None:  # fmt: skip
        p = mlrt_conv.out_params(len(accs) * len(b), b, m, sh, zero, lo, table if tab else None)
        assert p is not None and min(p) >= 0
        acc = array("i", [a for a in accs for _ in b])
        want = _requant_want(accs, b, m, sh, zero, lo, table if tab else None)
        for signed in (False, True):  # ptr32 loads as x64 viper makes them (zero-extended), as 32-bit words
            y = bytearray(len(acc))
            if traced:
                sys.settrace(trace)
            try:
                assert fast.out_q8(_SignedPtr(acc) if signed else acc, y, p, table if tab else p) == len(acc)
            finally:
                sys.settrace(None)
            assert bytes(y) == want

    for zero, lo, tab in REQUANT_CONFIGS:
        run(accs, b, m, sh, zero, lo, tab, False)
    # the words, traced line by line (slow): the int32 edges against the largest multipliers
    big = [i for i in range(len(m)) if m[i] >= (1 << 31) - 2]
    run(I32_EDGES, [b[i] for i in big], [m[i] for i in big], [sh[i] for i in big], -128, -128, False, True)
    assert widest[0] > 1 << 30  # the check saw the function's words
    # out of out_q8's range: the bytecode requantization
    assert mlrt_conv.out_params(1, [0], [-1], [0], 0, -128, None) is None
    assert mlrt_conv.out_params(1, [0], [1 << 31], [0], 0, -128, None) is None
    assert mlrt_conv.out_params(1, [1 << 31], [1 << 30], [0], 0, -128, None) is None
    assert mlrt_conv.out_params(1, [0], [1 << 30], [32], 0, -128, None) is None


REQUANT_DEVICE_CODE = """
import sys, json
sys.path.insert(0, {d!r})
from array import array
from mlrt import network_conv as nc
print(nc._fast_conv is not None)
s = json.load(open({d!r} + '/rq.json'))
accs, b = s['accs'], s['b']
acc = array('i', [a for a in accs for _ in b])
tab = bytes(s['table'])
out = []
for zero, lo, t in s['configs']:
    p = nc.out_params(len(acc), b, s['m'], s['sh'], zero, lo, tab if t else None)
    y = bytearray(len(acc))
    nc._fast_conv.out_q8(acc, y, p, tab if t else p)
    out.append(y.hex())
print(' '.join(out))
"""


def _requant_device(tmp_path: Path, march: str, d: str) -> tuple[dict[str, bytes], str, list[str]]:
    import json

    accs, b, m, sh = _requant_cases()
    table = bytes((7 * i + 3) & 0xFF for i in range(256))
    files = {f"mlrt/{f.name}": f.read_bytes() for f in deploy.build_mpy(tmp_path / "dev", march)}
    files["rq.json"] = json.dumps({"accs": accs, "b": b, "m": m, "sh": sh, "table": list(table),
                                   "configs": REQUANT_CONFIGS}).encode()  # fmt: skip
    want = [_requant_want(accs, b, m, sh, z, lo, table if t else None).hex() for z, lo, t in REQUANT_CONFIGS]
    return files, REQUANT_DEVICE_CODE.format(d=d), want


def _check_requant_output(out: str, want: list[str]) -> None:
    lines = out.replace("\r", "").split("\n")
    assert lines[0] == "True"  # the machine code loaded
    got = lines[1].split(" ")
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g == w, next(i for i in range(len(w)) if g[i] != w[i]) // 2


@pytest.mark.ports
def test_unix_port_requantization_equals_network_requant(tmp_path: Path) -> None:
    """out_q8 as x64 machine code (64-bit words, ptr32 loads of negative int32s) on the edge cases."""
    files, code, want = _requant_device(tmp_path, "x64", str(tmp_path))
    _check_requant_output(_run_unix(tmp_path, files, code), want)


@pytest.mark.ports
def test_32_bit_port_requantization_equals_network_requant(tmp_path: Path) -> None:
    """out_q8 as armv7m machine code (32-bit words: every intermediate must fit) on the edge cases."""
    _need_qemu()
    assert QEMU is not None
    files, code, want = _requant_device(tmp_path, "armv7m", "/fs")
    files = {"/" + k: v for k, v in files.items()}
    _check_requant_output(_qemu_raw_repl(QEMU, (RAM_FS.format(files=files) + code).encode()), want)
