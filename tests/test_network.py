"""MLPClassifier / MLPRegressor: the Network IR's reference is scikit-learn's arithmetic bit for bit; the
float C method decides every non-ambiguous row as scikit-learn does (float32 under a running bound, float64
replay of near ties); the int8 method equals its numpy integer model bit for bit and links no floating
point on FPU-less cores; model file, mlrt and every target through verify."""

from __future__ import annotations

import ctypes
import warnings
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_digits, make_classification, make_regression
from sklearn.neural_network import MLPClassifier, MLPRegressor

import microlearn
from microlearn import host
from microlearn.backends import modelfile
from microlearn.backends.c.network import emit_float, emit_int8
from microlearn.errors import InvalidInputError, NotFittedError, UnsupportedEstimatorError
from microlearn.frontends.registry import to_ir
from microlearn.ir.base import Task
from microlearn.ir.network import Dense, Network
from microlearn.passes.quantize import predict_int8, quantize

MCUS = ["cortex-m4f", "cortex-m0plus", "rv32imc"]
ACTS = ["identity", "logistic", "tanh", "relu"]
STRICT = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Wpedantic", "-Wconversion", "-Wshadow",
          "-Wdouble-promotion", "-Werror", "-fPIC", "-shared")  # fmt: skip


def _fit(est: Any, X: Any, y: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: a few iterations are enough here
        return est.fit(X, y)


def digits() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


@pytest.fixture(scope="module")
def models() -> dict[str, Any]:
    X, y = digits()
    out: dict[str, Any] = {}
    for act in ACTS:
        out[act] = _fit(
            MLPClassifier(hidden_layer_sizes=(12, 8), activation=act, max_iter=40, random_state=0),
            X[:600],
            y[:600],
        )
    Xb, yb = make_classification(300, 6, random_state=0)
    out["binary"] = _fit(MLPClassifier(hidden_layer_sizes=(5,), max_iter=200, random_state=0), Xb, yb)
    out["binary_f32"] = _fit(
        MLPClassifier(hidden_layer_sizes=(5,), max_iter=50, random_state=0), Xb.astype(np.float32), yb
    )
    Xr, yr = make_regression(200, 5, random_state=0)
    out["regressor"] = _fit(
        MLPRegressor(hidden_layer_sizes=(7,), activation="tanh", max_iter=300, random_state=0), Xr, yr / 100
    )
    Yr = np.stack([yr, -0.5 * yr + Xr[:, 0]], axis=1) / 100
    out["regressor2"] = _fit(
        MLPRegressor(hidden_layer_sizes=(6, 4), activation="relu", max_iter=300, random_state=0), Xr, Yr
    )
    return out


def rows(name: str, n: int = 200, seed: int = 0) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    if name in ACTS:
        X = digits()[0][600:]
        return X[rng.choice(len(X), n, replace=False)].astype(np.float32)
    if name.startswith("binary"):
        return make_classification(n, 6, random_state=seed + 1)[0].astype(np.float32)
    return make_regression(n, 5, random_state=seed + 1)[0].astype(np.float32)


# ---------------------------------------------------------------------------------------------- reference
@pytest.mark.parametrize("name", [*ACTS, "binary", "binary_f32"])
def test_reference_is_scikit_learns_arithmetic(models: dict[str, Any], name: str) -> None:
    est = models[name]
    ir = to_ir(est)
    X = rows(name)
    ref = ir.reference(X)
    assert ref.proba is not None and ref.ambiguous is not None
    assert np.array_equal(ref.proba, est.predict_proba(X))  # bit for bit
    assert np.array_equal(np.asarray(ir.classes)[ref.outputs], est.predict(X))
    assert ir.dtype == ("float32" if name.endswith("f32") else "float64")
    assert not ref.ambiguous.any()


@pytest.mark.parametrize("name", ["regressor", "regressor2"])
def test_reference_regressor(models: dict[str, Any], name: str) -> None:
    est = models[name]
    ir = to_ir(est)
    X = rows(name)
    ref = ir.reference(X)
    assert np.array_equal(ref.outputs, est.predict(X))
    assert ref.bound is not None and np.all(ref.bound > 0) and np.all(ref.bound < 1e-3)


def test_network_shapes_and_summary(models: dict[str, Any]) -> None:
    ir = to_ir(models["tanh"])
    assert isinstance(ir, Network)
    assert ir.shapes == ((64,), (12,), (8,), (10,))
    assert ir.max_tensor == 64 and ir.n_outputs == 10 and ir.decision == "argmax"
    assert any("dense 64 -> 12, tanh" in line for line in ir.summary())
    with pytest.raises(ValueError, match="layer 1"):
        bad = (Dense(np.ones((3, 2)), np.zeros(2)), Dense(np.ones((4, 1)), np.zeros(1)))
        Network(Task.REGRESS, (3,), bad, decision="none")


# ---------------------------------------------------------------------------------------------- host C
WRAP = """#include <stdint.h>
#include "{name}.h"
void b_predict(const float *x, int32_t n, int32_t *out) {{
    int32_t r;
    for (r = 0; r < n; r++) out[r] = {name}_predict(x + (size_t)r * {up}_N_FEATURES);
}}
void b_fast(const float *x, int32_t n, int32_t *out) {{
    int32_t r;
    for (r = 0; r < n; r++) {{
        float arena[{up}_ARENA_BYTES / 4];
        ml_nn_bound st;
        const float *z = {name}_forward_f32(x + (size_t)r * {up}_N_FEATURES, arena, &st);
        out[r] = ml_nn_decide_f32(z, {k}, st.e);
    }}
}}
void b_proba(const float *x, int32_t n, float *out) {{
    int32_t r;
    for (r = 0; r < n; r++)
        {name}_predict_proba(x + (size_t)r * {up}_N_FEATURES, out + (size_t)r * {up}_N_CLASSES);
}}
"""


class HostNet:
    def __init__(self, ir: Network, name: str = "nn") -> None:
        self.ir = ir
        self.lib = host.build(
            {
                f"{name}.h": emit_float(ir, name).header,
                "wrap.c": WRAP.format(name=name, up=name.upper(), k=ir.n_values),
            },
            cflags=STRICT,
        )

    def call(self, fn: str, X: npt.ArrayLike, width: int, dtype: Any) -> npt.NDArray[Any]:
        X32 = np.ascontiguousarray(X, dtype=np.float32)
        out = np.zeros((X32.shape[0], width), dtype=dtype)
        getattr(self.lib, fn)(
            X32.ctypes.data_as(ctypes.c_void_p), ctypes.c_int32(len(X32)), out.ctypes.data_as(ctypes.c_void_p)
        )
        return out


def near_tie(est: Any, eps: float = 1e-9) -> Network:
    """The classifier with its second output unit a copy of the first plus ``eps`` times noise: the logits
    of classes 0 and 1 differ by ~eps, beyond float32's reach but far above float64 rounding."""
    ir = to_ir(est)
    last = ir.layers[-1]
    w = last.weight.copy()
    b = last.bias.copy()
    rng = np.random.default_rng(3)
    w[:, 1] = w[:, 0] + eps * rng.standard_normal(w.shape[0])
    b[1] = b[0] + 2 * eps
    w[:, 0] += 3.0  # make the pair lead on most rows
    w[:, 1] += 3.0
    return Network(ir.task, ir.input_shape, (*ir.layers[:-1], Dense(w, b, last.activation)),
                   classes=ir.classes, source=ir.source)  # fmt: skip


@pytest.mark.parametrize("name", ACTS)
def test_host_float_classes_fast_path_and_replay(models: dict[str, Any], name: str) -> None:
    est = models[name]
    ir = to_ir(est)
    hn = HostNet(ir)
    X = rows(name)
    ref = ir.reference(X)
    assert np.array_equal(hn.call("b_predict", X, 1, np.int32)[:, 0], ref.outputs)
    fast = hn.call("b_fast", X, 1, np.int32)[:, 0]
    assert fast.min() >= 0 or np.all(fast[fast >= 0] == ref.outputs[fast >= 0])
    assert np.mean(fast >= 0) > 0.9  # the float32 path decides ordinary rows
    p = hn.call("b_proba", X, 10, np.float32).astype(np.float64)
    assert ref.proba is not None and np.max(np.abs(p - ref.proba)) < 1e-5


def test_host_float_near_ties_go_through_the_replay(models: dict[str, Any]) -> None:
    ir = near_tie(models["tanh"])
    hn = HostNet(ir, "tie")
    X = rows("tanh")
    ref = ir.reference(X)
    assert ref.ambiguous is not None
    firm = ~ref.ambiguous
    pair = np.isin(ref.outputs, (0, 1)) & firm
    assert pair.sum() > 50 and firm.mean() > 0.9
    fast = hn.call("b_fast", X, 1, np.int32)[:, 0]
    assert np.all(fast[pair] == -1)  # float32 cannot separate classes 0 and 1: the replay decides
    assert np.all(fast[fast >= 0] == ref.outputs[fast >= 0])
    got = hn.call("b_predict", X, 1, np.int32)[:, 0]
    assert np.array_equal(got[firm], ref.outputs[firm])
    assert len(set(got[pair])) == 2  # both classes occur: the replay really separates them


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31 - 1), act=st.sampled_from(ACTS), binary=st.booleans())
def test_random_networks_host(seed: int, act: str, binary: bool) -> None:
    rng = np.random.default_rng(seed)
    n_in, h = int(rng.integers(1, 9)), int(rng.integers(1, 7))
    k = 1 if binary else int(rng.integers(2, 6))
    layers = (
        Dense(rng.standard_normal((n_in, h)) * 2, rng.standard_normal(h), act),
        Dense(rng.standard_normal((h, k)), rng.standard_normal(k) * 0.1, "logistic" if binary else "softmax"),
    )
    ir = Network(Task.CLASSIFY, (n_in,), layers, decision="threshold" if binary else "argmax")
    X = (rng.standard_normal((64, n_in)) * 3).astype(np.float32)
    X[:4] = 0.0
    ref = ir.reference(X)
    assert ref.ambiguous is not None
    got = HostNet(ir, "rnd").call("b_predict", X, 1, np.int32)[:, 0]
    assert np.all((got == ref.outputs) | ref.ambiguous)


# ---------------------------------------------------------------------------------------------- int8
@pytest.fixture(scope="module")
def int8_models(models: dict[str, Any]) -> dict[str, Any]:
    X = digits()[0][:600]
    return {a: microlearn.convert(models[a], method="int8", calibration=X) for a in ACTS}


@pytest.mark.parametrize("name", ACTS)
def test_int8_c_equals_its_integer_model(int8_models: dict[str, Any], name: str) -> None:
    model = int8_models[name]
    X = rows(name, 300, seed=4)
    got = model.predict_index(X)
    want = predict_int8(model.ir, X)
    assert np.array_equal(got, want)  # the C's integer arithmetic is the numpy model's, bit for bit
    agreement = float(np.mean(want == model.ir.reference(X).outputs))
    assert agreement > 0.95, agreement  # measured (docs/networks.md reports it), not assumed exact


def test_int8_header_compiles_strictly(int8_models: dict[str, Any]) -> None:
    for name in ("tanh", "relu"):
        text = emit_int8(int8_models[name].ir, "q").header
        glue = '#include "q.h"\nint32_t w(const float *x) { return q_predict(x); }\n'
        host.build({"q.h": text, "w.c": glue}, cflags=STRICT)


def test_int8_regressor_and_binary(models: dict[str, Any]) -> None:
    Xr = rows("regressor", 100, seed=3)
    m = microlearn.convert(models["regressor"], method="int8", calibration=rows("regressor", 200, seed=0))
    assert np.array_equal(m.predict(Xr), predict_int8(m.ir, Xr))
    assert np.max(np.abs(m.predict(Xr) - models["regressor"].predict(Xr))) < 0.05 * np.std(
        models["regressor"].predict(Xr)
    )
    Xb = rows("binary", 200, seed=5)
    report = microlearn.verify(models["binary"], Xb, method="int8", calibration=rows("binary", 200))
    assert report["host"].agreement > 0.95


def test_int8_input_quantization_from_bits() -> None:
    from microlearn.passes.quantize import multiplier, quantize_bits

    m, sh = multiplier(1 / 0.05)
    x = np.array([0.0, -0.0, 0.025, -0.025, 0.0749, 1e-30, 3.0, -7.0, np.inf, -np.inf, np.nan, 1e30],
                 dtype=np.float32)  # fmt: skip
    got = quantize_bits(x, m, sh, 3)
    want = [3, 3, 4, 2, 4, 3, 63, -128, 127, -128, 3, 127]  # 0.025 / 0.05 = 0.5 rounds away from zero
    assert list(got) == want


def test_int8_needs_calibration_and_networks(models: dict[str, Any]) -> None:
    with pytest.raises(InvalidInputError, match="calibration"):
        microlearn.convert(models["relu"], method="int8").to_c()
    from sklearn.linear_model import LogisticRegression

    X, y = digits()
    with pytest.raises(InvalidInputError, match="networks"):
        microlearn.convert(LogisticRegression(max_iter=50).fit(X[:100], y[:100]), calibration=X[:10])
    with pytest.raises(InvalidInputError):
        quantize(to_ir(models["relu"]), np.zeros((0, 64)))


# ---------------------------------------------------------------------------------------------- file, mlrt
@pytest.mark.parametrize("name", ["tanh", "binary_f32", "regressor2"])
def test_model_file_round_trip_and_mlrt(models: dict[str, Any], name: str) -> None:
    import sys

    from microlearn import micropython as mpy

    sys.path.insert(0, str(mpy.RUNTIME_DIR))
    import mlrt

    ir = to_ir(models[name])
    data = modelfile.dumps(ir)
    back = modelfile.loads(data)
    assert isinstance(back, Network) and back.shapes == ir.shapes and back.dtype == ir.dtype
    X = rows(name, 40)
    a, b = ir.reference(X), back.reference(X)
    assert np.array_equal(a.outputs, b.outputs)
    m = mlrt.load(data)  # CPython: float64, the replay's arithmetic
    got = np.array([m.predict([float(v) for v in r]) for r in X])
    if ir.task == Task.CLASSIFY:
        assert a.ambiguous is not None
        assert np.array_equal(got[~a.ambiguous], a.outputs[~a.ambiguous])
        p = np.array([m.predict_proba([float(v) for v in r]) for r in X])
        assert a.proba is not None and np.max(np.abs(p - a.proba)) < 1e-6
    else:
        assert np.max(np.abs(got - a.outputs)) < 1e-9


def test_errors() -> None:
    with pytest.raises(NotFittedError):
        to_ir(MLPClassifier())
    X, _ = digits()
    Y = (np.arange(200)[:, None] % np.array([2, 3]) == 0).astype(int)
    est = _fit(MLPClassifier(hidden_layer_sizes=(3,), max_iter=5), X[:200], Y)
    with pytest.raises(UnsupportedEstimatorError, match="multilabel"):
        to_ir(est)


# ---------------------------------------------------------------------------------------------- targets
def test_verify_every_target_float(models: dict[str, Any]) -> None:
    est = models["tanh"]
    X = rows("tanh", 40, seed=9)
    report = microlearn.verify(est, X, targets=["host", *MCUS, "micropython"])
    for t, r in report.items():
        assert r.agreement == 1.0, (t, r)
    for t in MCUS:
        assert report[t].instructions_mean and report[t].flash_bytes and report[t].stack_bytes
    # the arena column: the generated C's NAME_ARENA_BYTES (the float32 halves), within the peak stack
    header = microlearn.convert(est).c_source("m").header
    floats = 2 * max(12, 8, 64)  # two halves of the largest tensor (the 64-pixel input)
    assert f"#define M_ARENA_BYTES {4 * floats}\n" in header and f"float arena[{floats}];" in header
    for t in ("host", *MCUS):
        assert report[t].arena_bytes == 4 * floats
    for t in MCUS:
        assert report[t].stack_bytes is not None and report[t].stack_bytes > 4 * floats
    assert report["micropython"].arena_bytes is None and "arena B" in str(report)


def test_verify_regressor_every_target(models: dict[str, Any]) -> None:
    est = models["regressor2"]
    report = microlearn.verify(est, rows("regressor2", 30, seed=2), targets=["host", *MCUS, "micropython"])
    for t, r in report.items():
        assert r.agreement == 1.0, (t, r)


def test_verify_int8_every_target_without_floating_point(models: dict[str, Any]) -> None:
    est = models["relu"]
    X = rows("relu", 40, seed=11)
    cal = digits()[0][:600]
    report = microlearn.verify(est, X, targets=["host", *MCUS, "micropython"], method="int8", calibration=cal)
    model = microlearn.convert(est, method="int8", calibration=cal)
    want = float(np.mean(predict_int8(model.ir, X) == model.ir.reference(X).outputs))
    for t, r in report.items():
        assert r.agreement == want, (t, r)  # every target (mlrt too) runs the same integer arithmetic
    for t in ("cortex-m0plus", "rv32imc"):
        assert report[t].extra["softfloat_float"] == [] and report[t].extra["softfloat_double"] == []
    assert report["cortex-m0plus"].instructions_mean is not None


def test_float32_method_keeps_only_float32_tables(models: dict[str, Any]) -> None:
    est = models["tanh"]
    X = rows("tanh", 60, seed=12)
    small = microlearn.convert(est, method="float32").c_source("m")
    full = microlearn.convert(est, method="float").c_source("m")
    assert "double" not in small.body and small.const_bytes * 2 < full.const_bytes
    report = microlearn.verify(est, X, targets=["host", "cortex-m0plus"], method="float32")
    assert all(r.agreement == 1.0 for r in report.values())  # the bound decides every ordinary row


def test_save_c_directory_is_self_contained(models: dict[str, Any], tmp_path: Any) -> None:
    """save_c copies the runtime headers the generated C includes and those they include (ml_network.h
    takes its argmax from ml_scores.h): that directory alone builds a program with the model's classes."""
    import subprocess

    est = models["relu"]
    X = rows("relu", 20, seed=5).astype(np.float32)
    path = microlearn.convert(est, method="float32").save_c(tmp_path / "out" / "digit.h")
    assert sorted(f.name for f in path.parent.iterdir()) == ["digit.h", "ml_network.h", "ml_scores.h"]
    vals = ", ".join(f"{v!r}f" for v in X.ravel().tolist())
    (path.parent / "main.c").write_text(
        '#include <stdio.h>\n#include "digit.h"\n'
        f"static const float X[{X.size}] = {{{vals}}};\n"
        f"int main(void) {{ int r; for (r = 0; r < {len(X)}; r++) "
        f'printf("%d ", (int)digit_predict(X + r * {X.shape[1]})); return 0; }}\n'
    )
    exe = tmp_path / "prog"
    subprocess.run(["cc", "-std=c99", "-o", str(exe), "main.c", "-lm"], check=True, cwd=path.parent)
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    want = microlearn.convert(est, method="float32").predict(X)
    assert [int(c) for c in out.split()] == [int(c) for c in want]


def test_pipeline_with_scaler_float_and_int8() -> None:
    from sklearn.datasets import load_breast_cancer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    mlp = MLPClassifier(hidden_layer_sizes=(8,), max_iter=300, random_state=0)
    p = _fit(make_pipeline(StandardScaler(), mlp), X[:400], y[:400])
    assert microlearn.verify(p, X[400:], targets=["host"])["host"].agreement == 1.0
    r = microlearn.verify(p, X[400:], targets=["host"], method="int8", calibration=X[:400])["host"]
    assert r.agreement > 0.95


# ---------------------------------------------------------------------------------------------- mlrt native
def test_mlrt_native_dense_compiles_and_equals_the_bytecode_path(
    models: dict[str, Any], tmp_path: Any
) -> None:
    """_fast_network (@micropython.native) compiles to machine code for an M0+ and an M4F; read as plain
    Python it computes exactly network.Dense.linear's values (same products, same order); the WebAssembly
    port, which cannot load native code, predicts through the bytecode path."""
    import sys
    from array import array

    from microlearn import deploy
    from microlearn import micropython as mpy

    for march, code in (("armv6m", 4), ("armv7emsp", 7)):
        files = deploy.build_mpy(tmp_path / march, march)
        fast = tmp_path / march / "mlrt" / "_fast_network.mpy"
        assert fast in files and fast.read_bytes()[2] >> 2 == code
    sys.path.insert(0, str(mpy.RUNTIME_DIR))
    from mlrt import network as mlrt_network

    from mlrt_source import load_source

    fast_src = load_source(mpy.RUNTIME_DIR / "mlrt" / "_fast_network.py")
    ir = to_ir(models["tanh"])
    data = modelfile.dumps(ir)
    X = rows("tanh", 20, seed=8)
    m = mlrt_network.load(*_head_and_sections(data))
    for x in X:
        xa = array("f", x.tobytes())
        mlrt_network._fast_network = None
        want = m.logits(xa)
        mlrt_network._fast_network = fast_src
        assert m.logits(xa) == want
    mlrt_network._fast_network = None
    files = deploy.build_mpy(tmp_path / "x64", "x64")
    dev = {f"/lib/mlrt/{f.name}": f.read_bytes() for f in files}
    code = (
        "import mlrt\nfrom mlrt import network\nfrom array import array\nm = mlrt.load('/m.mlm')\n"
        "raw = open('/x.bin', 'rb').read()\nn = m.n_features\n"
        "p = [m.predict(array('f', raw[4 * n * r:4 * n * (r + 1)])) for r in range(len(raw) // (4 * n))]\n"
        "print(network._fast_network is None, ' '.join(map(str, p)))\n"
    )
    out = mpy.run(code, {**dev, "/m.mlm": data, "/x.bin": X.astype("<f4").tobytes()}).split()
    assert out[0] == "True"
    assert np.array_equal(np.array(out[1:], dtype=int), ir.reference(X).outputs)


def _head_and_sections(data: bytes) -> tuple[Any, Any]:
    from mlrt import FAMILIES, _reader

    head, sec, _ = _reader.read(data, FAMILIES)
    return head, sec


# ---------------------------------------------------------------------------------------------- mlrt int8
def test_int8_model_file_and_mlrt_integer_path(int8_models: dict[str, Any], tmp_path: Any) -> None:
    """A network converted with a calibration set carries its int8 layers in the model file (optional
    Q* sections): they read back to the same integer arithmetic, mlrt runs it (bytecode dot products
    and the viper kernel's source read as plain Python) with the same classes as the C, and the viper
    kernel compiles to machine code for an M0+."""
    import sys

    from microlearn import deploy
    from microlearn import micropython as mpy

    sys.path.insert(0, str(mpy.RUNTIME_DIR))
    import mlrt
    from mlrt import network as mlrt_network

    src = (mpy.RUNTIME_DIR / "mlrt" / "_fast_q8.py").read_text().replace("import micropython\n", "")
    ns: dict[str, Any] = {"ptr8": object, "micropython": type("mp", (), {"viper": staticmethod(lambda f: f)})}
    exec(compile(src, "_fast_q8.py", "exec"), ns)  # the viper source as plain Python
    kernel = type("k", (), {"dot": staticmethod(ns["dot"])})
    X = rows("tanh", 60, seed=13)
    for name in ("tanh", "logistic"):
        model = int8_models[name]
        data = model.to_bytes()
        back = modelfile.loads(data)
        assert np.array_equal(predict_int8(back, X), predict_int8(model.ir, X))
        m = mlrt.load(data)
        assert m.int8
        for fast in (None, kernel):
            mlrt_network._fast_q8 = fast
            got = np.array([m.predict([float(v) for v in r]) for r in X])
            assert np.array_equal(got, model.predict_index(X))
        mlrt_network._fast_q8 = None
        m.int8 = False  # the float network is in the same file
        got = np.array([m.predict([float(v) for v in r]) for r in X])
        ref = model.ir.reference(X)
        assert ref.ambiguous is not None and np.array_equal(got[~ref.ambiguous], ref.outputs[~ref.ambiguous])
    files = deploy.build_mpy(tmp_path, "armv6m")
    fast = tmp_path / "mlrt" / "_fast_q8.mpy"
    assert fast in files and fast.read_bytes()[2] >> 2 == 4


def test_int8_sections_refused_when_corrupt(int8_models: dict[str, Any]) -> None:
    import struct
    import sys

    from microlearn import micropython as mpy
    from microlearn.backends.modelfile import container
    from modelfile_cases import fix_crc

    sys.path.insert(0, str(mpy.RUNTIME_DIR))
    import mlrt

    data = int8_models["relu"].to_bytes()
    c = container.unpack(data)
    for tag, off, fmt, value in ((b"QMUL", 0, "<i", 5), (b"QLYR", 4, "<i", 7), (b"QINP", 2, "<i", 999)):
        b = bytearray(data)
        struct.pack_into(fmt, b, c.sections[tag].offset + 4 * off, value)
        bad = fix_crc(b)
        with pytest.raises(microlearn.ModelFileError):
            modelfile.loads(bad)
        with pytest.raises(ValueError, match="mlrt"):
            mlrt.load(bad)


def test_cli_int8_with_calibration_file(models: dict[str, Any], tmp_path: Any) -> None:
    import joblib

    from microlearn.cli import main

    joblib.dump(models["relu"], tmp_path / "mlp.joblib")
    np.save(tmp_path / "cal.npy", digits()[0][:300])
    np.save(tmp_path / "rows.npy", rows("relu", 20))
    out = tmp_path / "mlp.h"
    assert main(["convert", str(tmp_path / "mlp.joblib"), "-o", str(out), "--method", "int8",
                 "--calibration", str(tmp_path / "cal.npy")]) == 0  # fmt: skip
    text = out.read_text()
    assert "mlp_logits_q" in text and "--calibration cal.npy" in text
    assert main(["convert", str(tmp_path / "mlp.joblib"), "-o", str(out), "--method", "int8"]) != 0
    data = ["--data", str(tmp_path / "rows.npy")]
    code = main(["verify", str(tmp_path / "mlp.joblib"), *data, "--method", "int8",
                 "--calibration", str(tmp_path / "cal.npy")])  # fmt: skip
    assert code in (0, 1)  # 1: int8 agreement below 100% on these rows is reported, not an error


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), act=st.sampled_from(ACTS), binary=st.booleans())
def test_random_int8_networks_c_equals_integer_model(seed: int, act: str, binary: bool) -> None:
    """Random shapes, weights and inputs (out-of-range rows too): the int8 C equals predict_int8."""
    from microlearn.model import Model

    rng = np.random.default_rng(seed)
    n_in, h = int(rng.integers(1, 10)), int(rng.integers(1, 8))
    k = 1 if binary else int(rng.integers(2, 6))
    layers = (
        Dense(rng.standard_normal((n_in, h)) * 2, rng.standard_normal(h), act),
        Dense(rng.standard_normal((h, k)), rng.standard_normal(k) * 0.1, "logistic" if binary else "softmax"),
    )
    ir = Network(Task.CLASSIFY, (n_in,), layers, decision="threshold" if binary else "argmax")
    cal = (rng.standard_normal((50, n_in)) * 3).astype(np.float32)
    X = (rng.standard_normal((40, n_in)) * 5).astype(np.float32)  # wider than the calibration range
    X[0] = 0.0
    X[1] = 1e30
    q = quantize(ir, cal)
    assert np.array_equal(Model(q, "int8").predict_index(X), predict_int8(q, X))


@pytest.mark.parametrize("cpu", ["cortex-m4f", "cortex-m0plus"])
def test_int8_dot_product_on_the_mcu_equals_numpy(cpu: str) -> None:
    """ml_nn_dot_q8 (SXTB16 + SMLAD four bytes at a time on the Cortex-M4F, a plain loop on the M0+) equals
    the integer dot product for every length 0..19 (the SIMD body and its tail), extreme values and
    unaligned vectors."""
    from microlearn.targets import mcu

    rng = np.random.default_rng(5)
    lengths = [*range(20), 64, 67]
    inputs, want = [], []
    for n in lengths:
        x = rng.integers(-128, 128, n).astype(np.int8)
        w = rng.integers(-128, 128, n).astype(np.int8)
        if n >= 3:
            x[:3], w[:3] = (-128, 127, -128), (-128, -128, 127)
        blob = bytes([n]) + x.tobytes() + w.tobytes()  # x at offset 1: neither vector word-aligned
        inputs.append(blob + bytes(300 - len(blob)))
        want.append(int(np.dot(x.astype(np.int64), w.astype(np.int64))))
    glue = (
        '#include <stdint.h>\n#include "ml_bench.h"\n#include "ml_network.h"\n'
        "void ml_bench_entry(const void *in, void *out)\n{\n"
        "    const int8_t *p = (const int8_t *)in;\n    const int32_t n = (int32_t)(uint8_t)p[0];\n"
        "    *(int32_t *)out = ml_nn_dot_q8(p + 1, p + 1 + n, n);\n}\n"
    )
    run = mcu.measure({}, glue, cpu, inputs, 4)
    assert run.outputs.reshape(-1).view("<i4").tolist() == want
