"""examples/keras_digits_cnn.py end to end with a short training run: the Keras CNN from a .keras file
to C (float and int8) and MicroPython, checked on the emulated CPUs."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")
pytest.importorskip("keras")

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "keras_digits_cnn.py"


def test_keras_digits_cnn_example(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("keras_digits_cnn", EXAMPLE)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    res = mod.main(["--epochs", "3", "--rows", "2", "--cpus", "cortex-m0plus", "--out", str(tmp_path)])
    assert res["keras_accuracy"] > 0.6  # three epochs: a model that has learned something
    f, q = res["float"], res["int8"]
    assert f["agreement_outside_bound"] == 1.0  # the float method's contract
    assert abs(f["accuracy"] - res["keras_accuracy"]) < 0.01
    assert q["agreement"] > 0.9  # measured: int8 rounding changes few classes
    for r in f["report"].results.values():
        assert r.agreement == 1.0
    for name in ("digits_cnn.keras", "digits_cnn_float.h", "digits_cnn_int8.h", "digits_cnn.mlm"):
        assert (tmp_path / name).stat().st_size > 0
    out = capsys.readouterr().out
    assert "Keras accuracy" in out and "cortex-m0plus" in out and "instructions" in out
