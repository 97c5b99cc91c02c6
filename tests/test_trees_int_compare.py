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


def test_argmax_f32_first_largest_shared_by_boosting_and_networks() -> None:
    """ml_scores.h's ml_argmax_f32, and the boosted trees' and networks' argmax that call it: the first
    largest value (numpy's argmax where no value is NaN); a NaN never replaces the best, so it is chosen
    only as the first value. Ties and NaN placements drawn at random."""

    def rule(v: np.ndarray) -> int:
        best = 0
        for c in range(1, len(v)):
            if v[c] > v[best]:
                best = c
        return best

    code = (
        '#include "ml_boost.h"\n#include "ml_network.h"\n'
        "int32_t shared(const float *v, int32_t k);\nint32_t boost(const float *v, int32_t k);\n"
        "int32_t nn(const float *v, int32_t k);\n"
        "int32_t shared(const float *v, int32_t k) { return ml_argmax_f32(v, k); }\n"
        "int32_t boost(const float *v, int32_t k) { return ml_boost_argmax_f32(v, k); }\n"
        "int32_t nn(const float *v, int32_t k) { return ml_nn_argmax_f32(v, k); }\n"
    )
    lib = host.build({"a.c": code})
    fns = (lib.shared, lib.boost, lib.nn)
    for f in fns:
        f.argtypes, f.restype = [ctypes.POINTER(ctypes.c_float), ctypes.c_int32], ctypes.c_int32
    rng = np.random.default_rng(1)
    for i in range(400):
        k = int(rng.integers(1, 8))
        v = rng.choice(np.array([-1.0, -0.0, 0.0, 0.5, 2.0, np.inf, -np.inf], np.float32), k)
        if i % 3 == 0:
            v[rng.integers(0, k)] = np.nan
        got = [f(v.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), k) for f in fns]
        assert got == [rule(v)] * 3, (v, got)
        if not np.isnan(v).any():
            assert got[0] == int(np.argmax(v))


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
