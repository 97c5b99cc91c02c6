"""The integer-key comparisons used on cores without an FPU decide exactly like float comparisons."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
from sklearn.datasets import load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.tree import DecisionTreeClassifier

import microlearn
from microlearn import host
from microlearn.backends.c.common import f32_key
from microlearn.targets.host import HostLibrary

INT_FLAGS = (*host.DEFAULT_CFLAGS, "-DML_TREES_INT_COMPARE=1")

SPECIALS = np.array(
    [0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 3.4028235e38, -3.4028235e38, 1.5, -1.5],
    dtype=np.float32,
)


def test_keys_order_like_floats() -> None:
    lib = host.build(
        {
            "k.c": '#include "ml_trees.h"\n'
            "int32_t key(float v);\nint32_t key_low(float v);\n"
            "int32_t key(float v) { return ml_f32_key(v); }\n"
            "int32_t key_low(float v) { return ml_f32_key_nan_low(v); }\n"
        }
    )
    lib.key.argtypes = lib.key_low.argtypes = [ctypes.c_float]
    lib.key.restype = lib.key_low.restype = ctypes.c_int32
    rng = np.random.default_rng(0)
    vals = np.concatenate(
        [SPECIALS, rng.integers(0, 2**32, 400, dtype=np.uint64).astype(np.uint32).view(np.float32)]
    )
    finite_or_inf = vals[~np.isnan(vals)]
    keys = {float(v): lib.key(float(v)) for v in finite_or_inf}
    for a in finite_or_inf:
        assert f32_key(a) == keys[float(a)]  # the generator computes the same keys as the C
        for b in finite_or_inf[:60]:
            assert (keys[float(a)] <= keys[float(b)]) == (a <= b)
    assert lib.key(float("nan")) == 2**31 - 1
    assert lib.key_low(float("nan")) == -(2**31)


@pytest.mark.parametrize("method", ["table", "inline"])
def test_int_compare_build_matches_sklearn(method: str) -> None:
    X, y = load_wine(return_X_y=True)
    X = X.copy()
    rng = np.random.default_rng(1)
    X[rng.random(X.shape) < 0.1] = np.nan
    for est in (
        RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y),
        DecisionTreeClassifier(random_state=0).fit(X, y),
    ):
        model = microlearn.convert(est, method=method)
        lib = HostLibrary(model.c_source("hostmodel"), cflags=INT_FLAGS)
        ir = model.ir
        inner = np.flatnonzero((ir.feature >= 0) & np.isfinite(ir.threshold))
        rows = X[rng.integers(0, len(X), 300)].astype(np.float32)
        for r in range(len(rows)):  # thresholds, their neighbours, signed zeros and NaN
            node = inner[r % inner.size]
            t = ir.threshold[node]
            choice = (
                t,
                np.nextafter(t, np.float32(np.inf)),
                np.nextafter(t, np.float32(-np.inf)),
                -0.0,
                np.nan,
            )
            rows[r, ir.feature[node]] = choice[r % 5]
        out = lib.call("predict", rows)
        np.testing.assert_array_equal(est.classes_[out], est.predict(rows))
        inf_rows = rows.copy()
        inf_rows[::3, 0] = np.inf
        inf_rows[1::3, 1] = -np.inf
        out = lib.call("predict", inf_rows)
        np.testing.assert_array_equal(out, ir.predict_index(inf_rows))
