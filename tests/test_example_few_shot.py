"""examples/few_shot_knn.py: new classes learned on the device side (C and mlrt) give scikit-learn's
predictions for the examples held, and the accuracy reflects what was learned."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any


def _example() -> Any:
    path = Path(__file__).parents[1] / "examples" / "few_shot_knn.py"
    spec = importlib.util.spec_from_file_location("few_shot_knn", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["few_shot_knn"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_few_shot_example_learns_new_classes_in_c_and_mlrt() -> None:
    steps = _example().run(shots=2, k=1, rounds=1, quiet=True)
    assert [s.n_classes for s in steps] == [4, 5, 6, 7, 8, 9, 10, 10]
    assert [s.n_examples for s in steps] == [8, 10, 12, 14, 16, 18, 20, 40]
    for s in steps:
        assert s.agreement_c == 1.0 and s.agreement_mp == 1.0
        assert s.accuracy_c == s.accuracy_mp
        assert s.accuracy_c > 0.5  # far above chance (at most 1 in 4) for every step
    assert steps[-1].accuracy_c > steps[-2].accuracy_c  # more shots of every digit help
