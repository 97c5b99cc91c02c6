"""examples/anomaly_detection.py runs end to end (fast mode: host C and MicroPython) on the BasicMotions
recordings aeon ships, its deployed detector agrees with scikit-learn, and it detects what it should."""

from __future__ import annotations

import importlib.util
from pathlib import Path

EXAMPLE = Path(__file__).parents[1] / "examples" / "anomaly_detection.py"


def test_anomaly_example_runs_and_detects() -> None:
    spec = importlib.util.spec_from_file_location("anomaly_detection", EXAMPLE)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    figures = mod.main(["--fast"])
    assert figures["agreement"] == 1.0
    assert figures["c_equal"] == 1.0 and figures["mp_equal"] == 1.0
    assert figures["recall"] > 0.9 and figures["precision"] > 0.85
