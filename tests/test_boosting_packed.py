"""The packed method of boosted trees: leaves as float32 + float64 residual rebuilt bit for bit, both leaf
layouts, integer-key builds and strict compilers (agreement on every model and target: test_boosting.py)."""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_breast_cancer, make_classification
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier, IsolationForest

import microlearn
from microlearn import host
from microlearn.backends.c import boosting_packed
from microlearn.backends.c.boosting_packed import split_f64
from strict_c import compile_strict, need

REBUILD = """#include "ml_boost.h"
void rebuild(const float *h, const int64_t *d, int32_t n, double *out);
void rebuild(const float *h, const int64_t *d, int32_t n, double *out)
{
    int32_t i;
    for (i = 0; i < n; i++) out[i] = ml_boost_f64_of(h[i], d[i]);
}
"""

EDGE = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.1,
    -0.3,
    1e-40,  # h subnormal
    -1e-45,
    1e-300,  # h = 0
    -1e-320,  # a subnormal double
    2.0**-126,
    np.nextafter(2.0**-126, 0.0),
    3.4028235677973366e38,  # rounds up to float32 inf
    1e300,
    float(np.nextafter(np.float64(1.0), 2.0)),
    1.0 - 2.0**-25,  # rounds up across a power of two
    1.0 - 2.0**-26,
    1.5 * 2.0**-24 + 1.0,
]


@pytest.fixture(scope="module")
def rebuild_lib() -> ctypes.CDLL:
    return host.build({"r.c": REBUILD})


def _rebuild(lib: ctypes.CDLL, v: np.ndarray) -> np.ndarray:
    h, d = split_f64(v)
    h = np.ascontiguousarray(h, dtype=np.float32)
    d = np.ascontiguousarray(d, dtype=np.int64)
    out = np.zeros(len(v), dtype=np.float64)
    lib.rebuild(
        ctypes.c_void_p(h.ctypes.data),
        ctypes.c_void_p(d.ctypes.data),
        ctypes.c_int32(len(v)),
        ctypes.c_void_p(out.ctypes.data),
    )
    return out


def test_residual_rebuilds_edge_values(rebuild_lib: ctypes.CDLL) -> None:
    v = np.array(EDGE, dtype=np.float64)
    got = _rebuild(rebuild_lib, v)
    np.testing.assert_array_equal(got.view(np.uint64), v.view(np.uint64))  # -0.0 stays -0.0
    h, d = split_f64(v)
    normal = (np.abs(h) >= np.float32(2.0**-126)) & np.isfinite(h)
    assert np.all(np.abs(d[normal]) <= 2**28)  # 4-byte residuals for every normal float32 rounding


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=40))
def test_residual_rebuilds_any_double(rebuild_lib: ctypes.CDLL, values: list[float]) -> None:
    v = np.array(values, dtype=np.float64)
    np.testing.assert_array_equal(_rebuild(rebuild_lib, v).view(np.uint64), v.view(np.uint64))
    h, d = split_f64(v)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(h, v.astype(np.float32))  # the fast path adds float32(v)
    normal = (np.abs(h) >= np.float32(2.0**-126)) & np.isfinite(h)
    assert np.all(np.abs(d[normal]) <= 2**28)


def _models() -> dict[str, object]:
    X, y = load_breast_cancer(return_X_y=True)
    Xc, yc = make_classification(200, 6, n_informative=4, n_classes=3, random_state=0)
    Xm = Xc.copy()
    Xm[np.random.default_rng(0).random(Xm.shape) < 0.1] = np.nan
    Xm[:, 0] = np.random.default_rng(1).integers(0, 9, len(Xm))
    return {
        "gb": (GradientBoostingClassifier(n_estimators=10, max_depth=3, random_state=0).fit(X, y), X),
        "hgb-cat": (
            HistGradientBoostingClassifier(max_iter=6, categorical_features=[0], random_state=0).fit(Xm, yc),
            Xm,
        ),
        "iforest": (IsolationForest(n_estimators=10, random_state=0).fit(X), X),
    }


MODELS = _models()


def test_leaf_layout_is_the_smaller() -> None:
    """Boosted leaves are all distinct: numbered in preorder, no leaf field; an isolation forest's few
    depths: stored once, as codes in the records. Either way much smaller than the table method."""
    sources = {k: microlearn.convert(est, method="packed").c_source("m") for k, (est, _) in MODELS.items()}
    assert "m_size[" in sources["gb"].header and "m_leaf_res[" in sources["gb"].header
    assert "m_roots[" in sources["iforest"].header and "m_tree(" in sources["iforest"].header
    for k, (est, _) in MODELS.items():
        table = microlearn.convert(est, method="table").c_source("m").const_bytes
        assert 2 * sources[k].const_bytes < table, k


@pytest.mark.parametrize("ranks", [None, True, False], ids=["chosen", "ranks", "direct"])
@pytest.mark.parametrize("flags", [(), ("-DML_TREES_INT_COMPARE=1",)], ids=["fpu", "int-keys"])
@pytest.mark.parametrize("key", MODELS)
def test_every_build_agrees(
    key: str, flags: tuple[str, ...], ranks: bool | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Builds with an FPU and without (integer keys of the float bits, fixed-point decisions), with the
    thresholds compared directly or through per-row ranks: the library's decisions on every row, NaN
    and infinities included."""
    monkeypatch.setattr(boosting_packed, "RANKS", ranks)
    est, X = MODELS[key]
    X = np.asarray(X, dtype=np.float32)[::3]
    edge = np.array([[np.nan] * X.shape[1], [np.inf] * X.shape[1]], np.float32)
    rows = np.vstack([X, edge])
    model = microlearn.convert(est, method="packed")
    ref = model.ir.reference(rows)
    lib = host.build(
        {"m.h": model.to_c("m"), "g.c": _GLUE.format(nf=X.shape[1])},
        cflags=(*host.DEFAULT_CFLAGS, *flags),
    )
    if ranks:
        assert "_ranks(x, rk)" in model.to_c("m")
    got = np.zeros(len(rows), dtype=np.int32)
    lib.run(ctypes.c_void_p(rows.ctypes.data), ctypes.c_int32(len(rows)), ctypes.c_void_p(got.ctypes.data))
    firm = ~ref.ambiguous if ref.ambiguous is not None else np.ones(len(rows), bool)
    want = ref.outputs if model.ir.kind == "classifier" else ref.decision
    np.testing.assert_array_equal(got[firm], np.asarray(want)[firm])


_GLUE = """#include "m.h"
void run(const float *X, int32_t n, int32_t *out);
void run(const float *X, int32_t n, int32_t *out)
{{
    for (int32_t i = 0; i < n; i++) out[i] = m_predict(X + (size_t)i * {nf});
}}
"""


@pytest.mark.parametrize("compiler,std", [("gcc", "-std=c99"), ("g++", "-std=c++11")])
def test_strict_warnings(tmp_path: Path, compiler: str, std: str) -> None:
    need(compiler)
    for key, (est, _) in MODELS.items():
        microlearn.convert(est, method="packed").save_c(tmp_path / f"{key.replace('-', '_')}.h", name="m")
        for flag in ("-DML_TREES_INT_COMPARE=0", "-DML_TREES_INT_COMPARE=1"):
            src = tmp_path / f"a.{'cpp' if '++' in compiler else 'c'}"
            src.write_text(
                f'#include "{key.replace("-", "_")}.h"\nint call(const float *x);\n'
                "int call(const float *x) { return (int)m_predict(x); }\n"
            )
            compile_strict(compiler, std, [flag], tmp_path, src)


def test_method_is_listed_and_output_is_stable() -> None:
    est = MODELS["gb"][0]
    assert "packed" in microlearn.methods_for(est)
    a = microlearn.convert(est, method="packed").to_c("m")
    assert a == microlearn.convert(est, method="packed").to_c("m")
