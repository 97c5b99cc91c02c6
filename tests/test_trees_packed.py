"""The packed tree methods: exact on every input, integer float64 replay bit for bit, integer inputs."""

from __future__ import annotations

import ctypes
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import datasets
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier, RandomForestRegressor
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

import microlearn
from microlearn import host
from microlearn.backends.c import packed
from microlearn.backends.c.packed import INPUTS, int_threshold
from microlearn.ir import TreeEnsemble
from microlearn.passes.counts import row_counts
from microlearn.verify import regression_bound
from strict_c import compile_strict, need

FLOAT_METHODS = ["packed", "fast"]
INT_METHODS = ["packed_u8", "packed_i8", "packed_i16", "fast_u8", "fast_i8", "fast_i16"]
INT_FLAGS = (*host.DEFAULT_CFLAGS, "-DML_TREES_INT_COMPARE=1")

ROUTINES = """#include "ml_trees_packed.h"
uint64_t ratio(uint32_t n, uint32_t d);
uint64_t add(uint64_t a, uint64_t b);
uint64_t divide(uint64_t a, uint32_t t);
uint64_t ratio(uint32_t n, uint32_t d) { return ml_pk_ratio_f64(n, d); }
uint64_t add(uint64_t a, uint64_t b) { return ml_pk_add_f64(a, b); }
uint64_t divide(uint64_t a, uint32_t t) { return ml_pk_div_f64_u32(a, t); }
"""


@pytest.fixture(scope="module")
def routines() -> ctypes.CDLL:
    lib = host.build({"r.c": ROUTINES})
    lib.ratio.argtypes = [ctypes.c_uint32, ctypes.c_uint32]
    lib.add.argtypes = [ctypes.c_uint64, ctypes.c_uint64]
    lib.divide.argtypes = [ctypes.c_uint64, ctypes.c_uint32]
    lib.ratio.restype = lib.add.restype = lib.divide.restype = ctypes.c_uint64
    return lib


def _bits(v: float) -> int:
    return int(np.array([v], dtype=np.float64).view(np.uint64)[0])


def _value(b: int) -> float:
    return float(np.array([b], dtype=np.uint64).view(np.float64)[0])


@settings(max_examples=300, deadline=None)
@given(d=st.integers(1, 2**20), data=st.data())
def test_integer_ratio_is_the_rounded_division(routines: ctypes.CDLL, d: int, data: st.DataObject) -> None:
    n = data.draw(st.integers(0, d))
    assert routines.ratio(n, d) == _bits(n / d)


# sums of leaf fractions, as the replay makes them: non-negative, from 2**-20 to a few hundred
SUMMANDS = st.builds(
    lambda n, d, k: (n / d) * k, st.integers(1, 2**20), st.integers(1, 2**20), st.integers(1, 300)
)


@settings(max_examples=400, deadline=None)
@given(a=SUMMANDS, b=SUMMANDS)
def test_integer_add_rounds_like_float64(routines: ctypes.CDLL, a: float, b: float) -> None:
    assert routines.add(_bits(a), _bits(b)) == _bits(a + b)
    assert routines.add(_bits(a), 0) == _bits(a)


def test_integer_add_ties_round_to_even(routines: ctypes.CDLL) -> None:
    one = 1.0
    for b in (2.0**-53, 3 * 2.0**-53, 2.0**-53 + 2.0**-60, 2.0**-54, 1.0, 2.0**-52 + 2.0**-53):
        assert routines.add(_bits(one), _bits(b)) == _bits(one + b), b
    assert routines.add(_bits(1.0 + 2.0**-52), _bits(2.0**-53)) == _bits(1.0 + 2.0**-52 + 2.0**-53)


@settings(max_examples=300, deadline=None)
@given(a=SUMMANDS, t=st.integers(1, 5000))
def test_integer_division_by_tree_count(routines: ctypes.CDLL, a: float, t: int) -> None:
    assert routines.divide(_bits(a), t) == _bits(a / t)


def test_counts_recovered_exactly_or_refused() -> None:
    X, y = datasets.load_wine(return_X_y=True)
    ir = microlearn.convert(RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0).fit(X, y)).ir
    for row in ir.leaf_value:
        n = row_counts(row)
        assert n is not None
        assert np.array_equal(n / n.sum(), row)
    assert row_counts(np.array([0.1, 0.2, 0.7 + 1e-12])) is None  # no integers give these values
    assert row_counts(np.array([0.0, 0.0])) is None


def assert_exact(est: object, model: microlearn.Model, X: np.ndarray) -> None:
    X32 = np.asarray(X, dtype=np.float32)
    if model.ir.is_classifier:
        np.testing.assert_array_equal(model.predict(X32), est.predict(X32))  # type: ignore[attr-defined]
        np.testing.assert_array_equal(
            model.predict_proba(X32),
            est.predict_proba(X32).astype(np.float32),  # type: ignore[attr-defined]
        )
    else:
        ref = est.predict(X32)  # type: ignore[attr-defined]
        assert np.all(np.abs(model.predict(X32) - ref) <= regression_bound(model.ir, X32))


def _rows_at_thresholds(model: microlearn.Model, X: np.ndarray, n: int = 150) -> np.ndarray:
    rng = np.random.default_rng(0)
    ir = model.ir
    inner = np.flatnonzero((ir.feature >= 0) & np.isfinite(ir.threshold))
    rows = X[rng.integers(0, len(X), n)].astype(np.float32)
    for r in range(n):
        node = rng.choice(inner)
        t = ir.threshold[node]
        rows[r, ir.feature[node]] = (
            t,
            np.nextafter(t, np.float32(np.inf)),
            np.nextafter(t, np.float32(-1e30)),
        )[r % 3]
    return rows


@pytest.mark.parametrize("method", FLOAT_METHODS)
@pytest.mark.parametrize("data", ["iris", "wine", "digits", "breast_cancer"])
def test_packed_classifiers_match_sklearn(data: str, method: str) -> None:
    X, y = getattr(datasets, f"load_{data}")(return_X_y=True)
    for est in (
        RandomForestClassifier(n_estimators=7, max_depth=6, random_state=0).fit(X, y),
        ExtraTreesClassifier(n_estimators=5, max_depth=8, random_state=0).fit(X, y),
        DecisionTreeClassifier(max_depth=5, random_state=0).fit(X, y),
    ):
        model = microlearn.convert(est, method=method)
        assert_exact(est, model, X)
        assert_exact(est, model, _rows_at_thresholds(model, X))


@pytest.mark.parametrize("method", FLOAT_METHODS)
def test_packed_regressors_match_sklearn(method: str) -> None:
    X, y = datasets.load_diabetes(return_X_y=True)
    for est in (
        RandomForestRegressor(n_estimators=6, max_depth=7, random_state=0).fit(X, y),
        DecisionTreeRegressor(max_depth=6, random_state=0).fit(X, y),
    ):
        model = microlearn.convert(est, method=method)
        assert_exact(est, model, X)
        assert_exact(est, model, _rows_at_thresholds(model, X))


@pytest.mark.parametrize("method", FLOAT_METHODS)
def test_packed_missing_values_and_infinities(method: str) -> None:
    X, y = datasets.load_wine(return_X_y=True)
    X = X.copy()
    rng = np.random.default_rng(1)
    X[rng.random(X.shape) < 0.15] = np.nan
    est = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
    model = microlearn.convert(est, method=method)
    assert "NaN goes left" in model.to_c("m") or "ML_TREES_LE_NAN_LEFT" in model.to_c("m")
    Xt = X.copy()
    Xt[rng.random(X.shape) < 0.1] = np.inf
    Xt[rng.random(X.shape) < 0.1] = -np.inf
    np.testing.assert_array_equal(model.predict(X), est.predict(X))
    # scikit-learn refuses inf: the IR's reference walk (the same comparisons) decides those rows
    np.testing.assert_array_equal(model.predict_index(Xt), model.ir.predict_index(Xt))


def _replay_lib(model: microlearn.Model, flags: tuple[str, ...] = host.DEFAULT_CFLAGS) -> ctypes.CDLL:
    nf, nc, T = model.ir.n_features, model.ir.n_outputs, model.ir.n_trees
    glue = (
        '#include "m.h"\n'
        "void bits(const float *X, int32_t n, uint64_t *out);\n"
        "int32_t predict(const float *X, int32_t n, int32_t *out);\n"
        "void bits(const float *X, int32_t n, uint64_t *out)\n{\n"
        f"    for (int32_t i = 0; i < n; i++) {{\n        uint32_t w[{T}];\n"
        f"        m_walk(X + (size_t)i * {nf}, w);\n"
        f"        m_proba_bits(w, out + (size_t)i * {nc});\n    }}\n}}\n"
        "int32_t predict(const float *X, int32_t n, int32_t *out)\n{\n"
        f"    for (int32_t i = 0; i < n; i++) out[i] = m_predict(X + (size_t)i * {nf});\n    return 0;\n}}\n"
    )
    return host.build({"m.h": model.to_c("m"), "g.c": glue}, cflags=flags)


@pytest.mark.parametrize(
    "flags",
    [host.DEFAULT_CFLAGS, (*INT_FLAGS, "-DML_PK_HW_DIVIDE=0")],
    ids=["float-divider", "int-keys-reciprocal-table"],
)
@pytest.mark.parametrize("method", FLOAT_METHODS)
@pytest.mark.parametrize("proof", [False, True], ids=["replay", "enumerated"])
def test_integer_replay_equals_sklearn_float64_bits(
    flags: tuple[str, ...], method: str, proof: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # tiny data: fractional leaves and exact ties are frequent, so the replay decides many rows.
    # "replay": the leaf-combination check is turned off, so predict keeps the margin test and the
    # replay; "enumerated": the check decides, and must refuse forests whose near ties it would get wrong
    if not proof:
        monkeypatch.setattr(packed, "MAX_COMBINATIONS", 0)
    rng = np.random.default_rng(4)
    proven = 0
    for seed in range(8):
        X = rng.integers(0, 3, size=(14, 2)).astype(float)
        y = rng.integers(0, 3, 14)
        est = RandomForestClassifier(n_estimators=3 + seed, max_depth=2, random_state=seed).fit(X, y)
        model = microlearn.convert(est, method=method)
        src = model.to_c("m")
        assert "row_entry" in src and "leaf_proba" not in src  # counts, no float64 table
        pred_src = src[src.index("static inline int32_t m_predict(const float *x)") :]
        pred_src = pred_src[: pred_src.index("\n}\n")]
        if "checked for every combination" in pred_src:
            proven += 1
            assert "proba_bits" not in pred_src
        else:
            assert "proba_bits" in pred_src
        grid = np.array([[a, b] for a in np.arange(-1, 4, 0.5) for b in np.arange(-1, 4, 0.5)], np.float32)
        lib = _replay_lib(model, flags)
        out = np.zeros((len(grid), model.ir.n_outputs), dtype=np.uint64)
        lib.bits(
            grid.ctypes.data_as(ctypes.c_void_p),
            ctypes.c_int32(len(grid)),
            out.ctypes.data_as(ctypes.c_void_p),
        )
        np.testing.assert_array_equal(out.view(np.float64), est.predict_proba(grid))
        pred = np.zeros(len(grid), dtype=np.int32)
        lib.predict(
            grid.ctypes.data_as(ctypes.c_void_p),
            ctypes.c_int32(len(grid)),
            pred.ctypes.data_as(ctypes.c_void_p),
        )
        np.testing.assert_array_equal(est.classes_[pred], est.predict(grid))
    # with the check on, some of these forests are proven and the others keep the replay (near ties
    # that the fixed-point sums decide differently from float64); with it off, none is proven
    assert 0 < proven < 8 if proof else proven == 0


def _stumps(rows: list[tuple[list[float], list[float]]]) -> TreeEnsemble:
    """A forest of one-split trees on feature 0 (x <= 0.5 goes left) with the given leaf rows."""
    n = 3 * len(rows)
    feature = np.full(n, -1, np.int32)
    left = np.full(n, -1, np.int32)
    right = np.full(n, -1, np.int32)
    leaf = np.full(n, -1, np.int32)
    values = []
    for t, pair in enumerate(rows):
        feature[3 * t], left[3 * t], right[3 * t] = 0, 3 * t + 1, 3 * t + 2
        for j, row in enumerate(pair):
            leaf[3 * t + 1 + j] = len(values)
            values.append(row)
    lv = np.array(values, np.float64)
    return TreeEnsemble(
        kind="classifier",
        n_features=1,
        n_outputs=2,
        roots=np.arange(0, n, 3, dtype=np.int32),
        feature=feature,
        threshold=np.where(feature >= 0, 0.5, 0).astype(np.float32),
        left=left,
        right=right,
        missing_left=np.zeros(n, bool),
        leaf=leaf,
        leaf_value=lv,
        leaf_class=np.argmax(lv, axis=1).astype(np.int32),
    )


@pytest.mark.parametrize("method", FLOAT_METHODS)
def test_leaf_combination_check_refuses_a_float64_near_tie(method: str) -> None:
    # all trees left: the fixed-point sums tie exactly (first maximum: class 0), but float64 gives
    # class 0 (0.5 + fl(2/3)) + fl(1/3) = 1.4999999999999998 against class 1's 1.5
    third, two = 1.0 / 3.0, 2.0 / 3.0
    ir = _stumps([([0.5, 0.5], [1.0, 0.0]), ([two, third], [0.0, 1.0]), ([third, two], [1.0, 0.0])])
    x = np.array([[0.0], [1.0]], np.float32)
    assert list(ir.predict_index(x)) == [1, 0]
    assert not packed.argmax_proven(ir, packed._classifier_leaves(ir, "m"), 1 << 21)
    model = microlearn.Model(ir, method)
    assert "checked for every combination" not in model.to_c("m")
    np.testing.assert_array_equal(model.predict_index(x), [1, 0])
    # the same forest with the near tie the other way round: the first maximum is float64's too
    ir = _stumps([([0.5, 0.5], [1.0, 0.0]), ([third, two], [0.0, 1.0]), ([two, third], [1.0, 0.0])])
    assert packed.argmax_proven(ir, packed._classifier_leaves(ir, "m"), 1 << 21)
    model = microlearn.Model(ir, method)
    assert "checked for every combination" in model.to_c("m")
    np.testing.assert_array_equal(model.predict_index(x), ir.predict_index(x))


@pytest.mark.parametrize("method", FLOAT_METHODS)
def test_weighted_forest_keeps_float64_rows(method: str) -> None:
    X, y = datasets.load_wine(return_X_y=True)
    w = np.random.default_rng(0).random(len(y)) + 0.1
    est = RandomForestClassifier(
        n_estimators=4, max_depth=3, random_state=0, bootstrap=False, max_features=None
    ).fit(X, y, sample_weight=w)  # leaf values are ratios of float weights, not of small integers
    model = microlearn.convert(est, method=method)
    src = model.to_c("m")
    assert "leaf_proba" in src and "row_entry" not in src
    assert_exact(est, model, X)
    assert_exact(est, model, _rows_at_thresholds(model, X))


@pytest.mark.parametrize("method", ["packed_u8", "packed_i8", "packed_i16"])
def test_integer_thresholds_decide_like_floats(method: str) -> None:
    inp = INPUTS[method.replace("fast", "packed")]
    assert inp.lo is not None and inp.hi is not None
    values = np.arange(inp.lo, inp.hi + 1, dtype=np.float64) if inp.hi < 1000 else None
    rng = np.random.default_rng(0)
    specials = [
        np.inf,
        -np.inf,
        float(inp.lo),
        float(inp.hi),
        inp.lo - 0.5,
        inp.hi + 0.5,
        0.5,
        -0.5,
        1e30,
        -1e30,
    ]
    thresholds = np.concatenate([specials, rng.uniform(inp.lo - 10, inp.hi + 10, 200)]).astype(np.float32)
    for t in thresholds:
        k = int_threshold(float(t), inp.lo, inp.hi)
        vs = values if values is not None else rng.integers(inp.lo, inp.hi + 1, 2000).astype(np.float64)
        near = np.clip(
            np.array([math.floor(t) + d for d in (-1, 0, 1)] if np.isfinite(t) else []), inp.lo, inp.hi
        )
        for v in np.concatenate([vs, near]):
            assert (v <= k) == (v <= float(t)), (t, v, k)


@pytest.mark.parametrize("method", INT_METHODS)
def test_integer_input_methods_match_sklearn(method: str) -> None:
    inp = INPUTS[method.replace("fast", "packed")]
    assert inp.lo is not None and inp.hi is not None
    rng = np.random.default_rng(2)
    X = rng.integers(inp.lo, inp.hi + 1, size=(400, 5)).astype(np.float64)
    y = (X[:, 0] + rng.normal(0, (inp.hi - inp.lo) / 8, 400) > X[:, 1]).astype(int) + (X[:, 2] > 0)
    clf = RandomForestClassifier(n_estimators=5, max_depth=6, random_state=0).fit(X, y)
    reg = RandomForestRegressor(n_estimators=4, max_depth=6, random_state=0).fit(X, X[:, 3] - X[:, 4])
    Xt = rng.integers(inp.lo, inp.hi + 1, size=(3000, 5)).astype(np.float64)
    Xt[:50] = inp.lo
    Xt[50:100] = inp.hi
    for est in (clf, reg):
        model = microlearn.convert(est, method=method)
        src = model.to_c("m")
        assert f"m_predict_{inp.suffix}(const {inp.ctype} *x)" in src
        assert_exact(est, model, Xt)
        # the float API stays exact on rows that are not values of the type (float thresholds then)
        Xf = Xt[:300] + rng.choice([0.0, 0.25, -0.5, 1e6], size=(300, 5))
        assert_exact(est, model, Xf)
        assert_exact(est, model, _rows_at_thresholds(model, Xt))


def test_packed_is_smaller_than_inline_and_table() -> None:
    X, y = datasets.load_digits(return_X_y=True)
    est = RandomForestClassifier(n_estimators=10, max_depth=10, random_state=0).fit(X, y)
    size = {
        m: microlearn.convert(est, method=m).c_source("m").const_bytes
        for m in ("table", "packed", "packed_u8")
    }
    assert size["packed"] * 5 < size["table"]
    assert size["packed_u8"] <= size["packed"]


def test_methods_are_listed_and_output_is_stable() -> None:
    X, y = datasets.load_iris(return_X_y=True)
    est = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)
    methods = microlearn.methods_for(est)
    for m in ("packed", "packed_u8", "packed_i8", "packed_i16", "fast", "fast_u8", "fast_i8", "fast_i16"):
        assert m in methods
        assert microlearn.convert(est, method=m).to_c("m") == microlearn.convert(est, method=m).to_c("m")


def _small_models() -> dict[str, object]:
    X, y = datasets.load_wine(return_X_y=True)
    Xn = X.copy()
    Xn[np.random.default_rng(0).random(X.shape) < 0.1] = np.nan
    return {
        "rfc": RandomForestClassifier(n_estimators=4, max_depth=4, random_state=0).fit(X, y),
        "rfn": RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(Xn, y),
        "dtc": DecisionTreeClassifier(max_depth=4, random_state=0).fit(X, y),
        "rfr": RandomForestRegressor(n_estimators=3, max_depth=4, random_state=0).fit(X, X[:, 0]),
    }


@pytest.mark.parametrize(
    "compiler,std",
    [("gcc", "-std=c99"), ("clang", "-std=c99"), ("g++", "-std=c++11"), ("clang++", "-std=c++11")],
)
def test_strict_warnings(tmp_path: Path, compiler: str, std: str) -> None:
    need(compiler)
    for key, est in _small_models().items():
        for method in ("packed", "packed_u8", "packed_i16", "fast", "fast_i8"):
            name = f"{key}_{method}"
            microlearn.convert(est, method=method).save_c(tmp_path / f"{name}.h", name=name)
            for flag in ("-DML_TREES_INT_COMPARE=0", "-DML_TREES_INT_COMPARE=1 -DML_PK_HW_DIVIDE=0"):
                src = tmp_path / f"{name}.{'cpp' if '++' in compiler else 'c'}"
                src.write_text(
                    f'#include "{name}.h"\nint call(const float *x);\nint call(const float *x) '
                    f"{{ return (int){name}_predict(x); }}\n"
                )
                compile_strict(compiler, std, flag.split(), tmp_path, src)


@pytest.mark.parametrize("cpu", ["cortex-m4f", "cortex-m0plus"])
def test_packed_on_emulated_cpus(cpu: str) -> None:
    from microlearn.targets.mcu.target import McuTarget

    X, _ = datasets.load_wine(return_X_y=True)
    rows = np.vstack([X[::4], np.array([[np.nan] * 13, [np.inf] * 13], np.float64)]).astype(np.float32)
    for key, est in _small_models().items():
        for method in FLOAT_METHODS:
            model = microlearn.convert(est, method=method)
            run = McuTarget(cpu).run_source(model.c_source("m"), rows)
            if model.ir.is_classifier:
                np.testing.assert_array_equal(run.outputs, model.predict_index(rows))
                assert run.extra["softfloat_double"] == [], key  # the replay is integer arithmetic
            else:
                np.testing.assert_array_equal(run.outputs, model.predict(rows))


@pytest.mark.parametrize("cpu", ["cortex-m4f", "cortex-m0plus"])
@pytest.mark.parametrize("method", ["packed_u8", "fast_u8"])
def test_uint8_method_with_native_input_on_emulated_cpus(cpu: str, method: str) -> None:
    from microlearn.targets import cortexm

    X, y = datasets.load_digits(return_X_y=True)
    est = RandomForestClassifier(n_estimators=4, max_depth=6, random_state=0).fit(X, y)
    header = microlearn.convert(est, method=method).to_c("d")
    glue = (
        '#include <stdint.h>\n#include "ml_bench.h"\n#include "d.h"\n'
        "void ml_bench_entry(const void *in, void *out) {\n"
        "    *(int32_t *)out = d_predict_u8((const uint8_t *)in);\n}\n"
    )
    rows = X[::9].astype(np.uint8)
    run = cortexm.measure({"d.h": header}, glue, cpu, [r.tobytes() for r in rows], 4)
    got = run.outputs.reshape(-1).view("<i4")
    np.testing.assert_array_equal(est.classes_[got], est.predict(rows.astype(np.float32)))
    assert run.extra["softfloat_float"] == [] and run.extra["softfloat_double"] == []


@pytest.mark.parametrize("method", ["packed_i16", "fast_i16"])
def test_int16_thresholds_too_wide_for_a_record_go_to_an_array(method: str) -> None:
    # many distinct int16 thresholds (extra trees on a wide range): neither an index nor the value fits
    # a 25-bit record, so the thresholds sit in an array beside the records
    rng = np.random.default_rng(3)
    X = rng.integers(-30000, 30000, size=(600, 40)).astype(np.float64)
    y = rng.integers(0, 6, 600)
    est = ExtraTreesClassifier(n_estimators=12, max_depth=9, random_state=0).fit(X, y)
    model = microlearn.convert(est, method=method)
    Xt = rng.integers(-32768, 32768, size=(2000, 40)).astype(np.float64)
    assert_exact(est, model, Xt)
    assert_exact(est, model, _rows_at_thresholds(model, Xt))
