"""mlrt linear's native-code scores (mlrt/_fast_linear.py, @micropython.native): mpy-cross builds it for
microcontroller CPUs, the WebAssembly MicroPython (no native code) skips it and predicts with the bytecode
path, and its arithmetic is the bytecode path's operation for operation. Its speed and its agreement with
scikit-learn as x64 machine code are measured in benchmarks/linear_micropython.py (unix port)."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from linear_cases import fitted, near_ties, rows_near
from microlearn import deploy
from microlearn import micropython as mpy
from microlearn.backends import modelfile as mf
from microlearn.frontends.sklearn.linear import convert
from mlrt_source import load_source

sys.path.insert(0, str(mpy.RUNTIME_DIR))
import mlrt
from mlrt import linear as mlrt_linear

SRC = mpy.RUNTIME_DIR / "mlrt" / "_fast_linear.py"
# MicroPython's native architecture codes, as .mpy headers record them (feature byte >> 2)
ARCH_CODE = {"x64": 2, "armv6m": 4, "armv7emsp": 7, "xtensawin": 10}


@pytest.fixture(scope="module")
def digits_case() -> tuple[Any, bytes, np.ndarray]:  # type: ignore[type-arg]
    ir = convert(fitted("logreg", "digits"))
    X = np.vstack([rows_near("digits", 60), near_ties(ir, 20)]).astype(np.float32)
    return ir, mf.dumps(ir), X


@pytest.mark.parametrize("march", sorted(ARCH_CODE))
def test_native_scores_compile(tmp_path: Path, march: str) -> None:
    files = deploy.build_mpy(tmp_path, march)
    fast = tmp_path / "mlrt" / "_fast_linear.mpy"
    assert fast in files
    head = fast.read_bytes()[:4]
    assert head[:2] == b"M\x06"  # .mpy version 6
    assert head[2] >> 2 == ARCH_CODE[march]  # machine code for that CPU


def test_bytecode_only_build_leaves_it_out(tmp_path: Path) -> None:
    files = deploy.build_mpy(tmp_path)
    names = {f.name for f in files}
    assert "linear.mpy" in names and "_fast_linear.mpy" not in names


def test_webassembly_skips_native_code_and_predicts(tmp_path: Path, digits_case: Any) -> None:
    """The deployable form (bytecode .mpy plus x64 native scores) and the source form in the WebAssembly
    port: the native module does not load there, and predictions are scikit-learn's (rows on a boundary
    within float64 rounding aside) and exactly those of mlrt in CPython, near ties included."""
    ir, data, X = digits_case
    ref = ir.reference(X)
    assert ref.ambiguous is not None
    m = mlrt.load(data)
    here = np.array([m.predict(x) for x in X])
    assert np.all((here == ref.outputs) | ref.ambiguous)
    files = deploy.build_mpy(tmp_path, "x64")
    compiled = {f"/lib/mlrt/{f.name}": f.read_bytes() for f in files}
    code = (
        "import mlrt\nfrom mlrt import linear\nfrom array import array\nm = mlrt.load('/m.mlm')\n"
        "raw = open('/x.bin', 'rb').read()\nn = m.n_features\n"
        "p = [m.predict(array('f', raw[4 * n * r:4 * n * (r + 1)])) for r in range(len(raw) // (4 * n))]\n"
        "print(linear._fast_linear is None, ' '.join(map(str, p)))\n"
    )
    for dev in (compiled, mpy.runtime_files()):
        out = mpy.run(code, {**dev, "/m.mlm": data, "/x.bin": X.astype("<f4").tobytes()}).split()
        assert out[0] == "True"
        assert np.array_equal(np.array(out[1:], dtype=int), here)


def _native_as_bytecode() -> types.ModuleType:
    """_fast_linear's source with @micropython.native read as a plain decorator (CPython has no native
    emitter): checks the operations, not the machine code."""
    return load_source(SRC)


@pytest.mark.parametrize("data", ["binary", "digits"])
def test_native_scores_are_the_bytecode_scores(data: str) -> None:
    from array import array

    ir = convert(fitted("logreg", data))
    X = np.vstack([rows_near(data, 40), near_ties(ir, 20)]).astype(np.float32)
    fast = _native_as_bytecode()
    m = mlrt.load(mf.dumps(ir))
    assert isinstance(m, mlrt_linear.Linear)
    for x in X:
        xa = array("f", x.tobytes())
        m._fast = None
        s, p = m._scores(xa), m.predict(xa)
        m._fast = fast
        assert m._scores(xa) == s  # bit for bit: same products, same order
        assert fast.absmax(xa) == float(np.max(np.abs(x)))
        assert m.predict(xa) == p
