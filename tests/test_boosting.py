"""GradientBoosting*, HistGradientBoosting* and IsolationForest: the IR equals scikit-learn bit for bit, the
C methods, the model file (Python, C ml_model.h, mlrt) and every target agree with it."""

from __future__ import annotations

import ctypes
import sys
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    IsolationForest,
)
from sklearn.linear_model import LinearRegression

import microlearn
from microlearn import host
from microlearn import micropython as mpy
from microlearn.backends import modelfile as mf
from microlearn.errors import UnsupportedEstimatorError
from microlearn.frontends.registry import to_ir
from microlearn.ir import BoostedTrees
from microlearn.ir.trees import EPS32

RNG = np.random.default_rng(7)


def _data() -> dict[str, Any]:
    Xb, yb = make_classification(160, 5, n_informative=3, n_redundant=1, random_state=1)
    Xc, yc = make_classification(160, 5, n_informative=3, n_redundant=1, n_classes=3, random_state=0)
    Xr, yr = make_regression(160, 5, noise=5, random_state=0)
    Xm = Xc.copy()
    Xm[RNG.random(Xm.shape) < 0.1] = np.nan
    Xm[:, 0] = RNG.integers(0, 7, len(Xm))
    Xm[:, 3] = RNG.integers(0, 40, len(Xm)) * 3.0
    ym = (yc + (Xm[:, 0] > 3)) % 3
    f = np.float32
    return {
        "b": (Xb.astype(f), yb),
        "c": (Xc.astype(f), yc),
        "r": (Xr.astype(f), yr),
        "m": (Xm.astype(f), ym),
        "m2": (Xm.astype(f), ym % 2),
        "mr": (Xm.astype(f), np.nan_to_num(Xm[:, 1]) + Xm[:, 0]),
        "pos": (Xr.astype(f), np.abs(yr) + 1.0),
    }


DATA = _data()
SMALL = {"n_estimators": 12, "max_depth": 3}
HIST = {"max_iter": 10, "max_leaf_nodes": 8}
CAT = {"categorical_features": [0, 3]}
CASES: dict[str, tuple[Any, str]] = {
    "gb-log-binary": (GradientBoostingClassifier(**SMALL), "b"),
    "gb-exponential": (GradientBoostingClassifier(loss="exponential", **SMALL), "b"),
    "gb-multiclass": (GradientBoostingClassifier(n_estimators=8, max_depth=3), "c"),
    "gb-init-zero": (GradientBoostingClassifier(init="zero", n_estimators=8, max_depth=3), "c"),
    "gb-squared": (GradientBoostingRegressor(**SMALL), "r"),
    "gb-absolute": (GradientBoostingRegressor(loss="absolute_error", **SMALL), "r"),
    "gb-huber": (GradientBoostingRegressor(loss="huber", learning_rate=0.3, **SMALL), "r"),
    "gb-quantile": (GradientBoostingRegressor(loss="quantile", alpha=0.8, **SMALL), "r"),
    "hgb-binary": (HistGradientBoostingClassifier(**HIST), "b"),
    "hgb-multiclass": (HistGradientBoostingClassifier(**HIST), "c"),
    "hgb-categorical": (HistGradientBoostingClassifier(**HIST, **CAT), "m"),
    "hgb-categorical-binary": (HistGradientBoostingClassifier(**HIST, **CAT), "m2"),
    "hgb-squared-categorical": (HistGradientBoostingRegressor(**HIST, **CAT), "mr"),
    "hgb-quantile": (HistGradientBoostingRegressor(loss="quantile", quantile=0.7, **HIST), "r"),
    "hgb-poisson": (HistGradientBoostingRegressor(loss="poisson", **HIST), "pos"),
    "iforest": (IsolationForest(n_estimators=20, random_state=0), "r"),
    "iforest-subset": (
        IsolationForest(n_estimators=15, max_features=0.6, contamination=0.1, random_state=0),
        "m",
    ),
}


@pytest.fixture(scope="module")
def fitted() -> dict[str, tuple[Any, np.ndarray]]:
    out = {}
    for key, (est, data) in CASES.items():
        X, y = DATA[data]
        est.fit(X, y) if not isinstance(est, IsolationForest) else est.fit(X)
        # the training rows and the same rows moved a little (new leaves, new categories, NaN)
        Xt = np.vstack([X, X + RNG.normal(0, 0.4, X.shape).astype(np.float32)])
        out[key] = (est, Xt)
    return out


@pytest.mark.parametrize("key", CASES)
def test_reference_is_sklearn_bit_for_bit(fitted: dict[str, Any], key: str) -> None:
    est, X = fitted[key]
    ir = to_ir(est)
    assert isinstance(ir, BoostedTrees)
    ref = ir.reference(X)
    if ir.kind == "classifier":
        assert ref.ambiguous is not None and ref.proba is not None
        assert np.array_equal(ref.scores, est.decision_function(X))  # raw scores, bit for bit
        assert np.array_equal(ref.proba, est.predict_proba(X))
        firm = ~ref.ambiguous
        assert np.array_equal(np.asarray(ir.classes)[ref.outputs][firm], est.predict(X)[firm])
    elif ir.kind == "regressor":
        assert np.array_equal(ref.outputs, est.predict(X))
    else:
        assert np.array_equal(ref.outputs, est.score_samples(X))
        assert np.array_equal(ref.scores, est.decision_function(X))
        assert np.array_equal(ref.decision, est.predict(X))
    if key.startswith("hgb-categorical"):
        assert ir.has_categorical and np.isnan(X).any()


def test_learning_rate_and_stage_order(fitted: dict[str, Any]) -> None:
    """GradientBoosting's leaf = learning_rate * value, the trees of class k at stage i at i * K + k."""
    est = fitted["gb-multiclass"][0]
    ir = to_ir(est)
    assert ir.tree_output is not None
    assert list(ir.tree_output[:6]) == [0, 1, 2, 0, 1, 2]
    t = est.estimators_[1, 2].tree_
    leaves = ir.leaf_value[ir.leaf[ir.roots[5] : ir.roots[6]][ir.feature[ir.roots[5] : ir.roots[6]] < 0], 0]
    want = est.learning_rate * t.value[t.children_left == -1, 0, 0]
    assert sorted(leaves) == sorted(want)


def test_non_constant_init_is_refused() -> None:
    X, y = DATA["r"]
    est = GradientBoostingRegressor(init=LinearRegression(), n_estimators=3).fit(X, y)
    with pytest.raises(UnsupportedEstimatorError, match="init=LinearRegression"):
        to_ir(est)


def test_random_dummy_init_is_refused() -> None:
    """A DummyClassifier that draws its predictions at random is no constant prior."""
    from sklearn.dummy import DummyClassifier

    X, y = DATA["b"]
    est = GradientBoostingClassifier(init=DummyClassifier(strategy="uniform"), n_estimators=2).fit(X, y)
    with pytest.raises(UnsupportedEstimatorError, match="constant"):
        to_ir(est)


def test_non_integer_categories_are_refused() -> None:
    X, y = DATA["m"]
    X = X.copy()
    X[:, 0] += 0.5
    est = HistGradientBoostingClassifier(max_iter=2, categorical_features=[0]).fit(X, y)
    with pytest.raises(UnsupportedEstimatorError, match="integers"):
        to_ir(est)


# ------------------------------------------------------------------------------------------------ C on host
METHODS = ["table", "inline", "packed"]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("key", CASES)
def test_c_host_agrees(fitted: dict[str, Any], key: str, method: str) -> None:
    est, X = fitted[key]
    rep = microlearn.verify(est, X, targets=("host",), method=method)
    res = rep.results["host"]
    assert res.agreement == 1.0
    assert res.n_ambiguous_differ == 0
    ir = to_ir(est)
    if ir.kind == "classifier":
        # probabilities from the float32 sum: within the raw bound (expit is 1/4-Lipschitz, softmax 1/2 per
        # raw score) plus a few float32 ulp of expf and the division
        bound = float(ir.static_bound().max()) + 1e-6
        assert res.max_abs_error is not None and res.max_abs_error <= bound


@pytest.mark.parametrize("key", CASES)
def test_packed_on_cores_without_fpu(fitted: dict[str, Any], key: str) -> None:
    """The packed method built as for a core without an FPU (integer keys, ranks, fixed-point sums for
    class decisions): the library's classes and inlier decisions on every unambiguous row."""
    est, X = fitted[key]
    ir = to_ir(est)
    X = np.ascontiguousarray(X[::2], dtype=np.float32)
    ref = ir.reference(X)
    src = microlearn.Model(ir, "packed").to_c("model")
    if ir.kind == "classifier" and ir.aggregation == "sum":
        assert "model_raw_q" in src  # float64-summed classifiers decide from fixed-point sums
    lib = host.build(
        {"m.h": src, "w.c": _SCORE_WRAP}, cflags=(*host.DEFAULT_CFLAGS, "-DML_TREES_INT_COMPARE=1")
    )
    got = np.empty(len(X), dtype=np.int32)
    lib.w_predict(ctypes.c_void_p(X.ctypes.data), ctypes.c_int32(len(X)), ctypes.c_void_p(got.ctypes.data))
    if ir.kind == "classifier":
        assert ref.ambiguous is not None
        assert np.array_equal(got[~ref.ambiguous], ref.outputs[~ref.ambiguous])
    elif ir.kind == "anomaly":
        assert np.array_equal(got, est.predict(X))


@pytest.mark.parametrize("key", ["iforest", "iforest-subset"])
def test_isolation_predict_equals_sklearn(fitted: dict[str, Any], key: str) -> None:
    """predict is +-1 exactly as scikit-learn's: the float32 score decides outside its bound, the float64
    depth sum is replayed inside it."""
    est, X = fitted[key]
    m = microlearn.convert(est)
    lib = host.build({"m.h": m.c_source().header, "w.c": _SCORE_WRAP})
    got = np.empty(len(X), dtype=np.int32)
    lib.w_predict(ctypes.c_void_p(X.ctypes.data), ctypes.c_int32(len(X)), ctypes.c_void_p(got.ctypes.data))
    assert np.array_equal(got, est.predict(X))


_SCORE_WRAP = r"""
#include "m.h"
void w_predict(const float *X, int32_t n, int32_t *out);
void w_predict(const float *X, int32_t n, int32_t *out)
{
    int32_t i;
    for (i = 0; i < n; i++) out[i] = model_predict(X + i * MODEL_N_FEATURES);
}
"""


def _tie_model() -> BoostedTrees:
    """Three stumps whose float64 sum is 0.1 + 0.2 - 0.3 = 5.6e-17 > 0 (class 1) while float32 copies
    of the same leaves sum within rounding of 0: the C fast path must replay float64."""
    vals = np.array([[0.1], [-1.0], [0.2], [-1.0], [-0.3], [-1.0]])
    return BoostedTrees(
        kind="classifier",
        n_features=1,
        n_outputs=2,
        roots=np.array([0, 3, 6], dtype=np.int32),
        feature=np.array([0, -1, -1] * 3, dtype=np.int32),
        threshold=np.array([1.0, 0, 0] * 3, dtype=np.float32),
        left=np.array([1, -1, -1, 4, -1, -1, 7, -1, -1], dtype=np.int32),
        right=np.array([2, -1, -1, 5, -1, -1, 8, -1, -1], dtype=np.int32),
        missing_left=np.zeros(9, dtype=bool),
        leaf=np.array([-1, 0, 1, -1, 2, 3, -1, 4, 5], dtype=np.int32),
        leaf_value=vals,
        leaf_class=np.zeros(6, dtype=np.int32),
        n_raw=1,
        base_score=np.zeros(1),
        tree_output=np.zeros(3, dtype=np.int32),
        post="sigmoid",
    )


@pytest.mark.parametrize("method", METHODS)
def test_near_tie_replays_float64(method: str) -> None:
    ir = _tie_model()
    X = np.array([[0.0], [2.0]], dtype=np.float32)
    raw32 = np.float32(0.1) + np.float32(0.2) + np.float32(-0.3)
    assert abs(raw32) <= ir.static_bound()[0]  # the fast path cannot decide row 0
    ref = ir.reference(X)
    assert list(ref.outputs) == [1, 0]
    got = microlearn.Model(ir, method).predict_index(X)
    assert list(got) == [1, 0]
    if method == "packed":  # the fixed-point sums of cores without an FPU cannot decide row 0 either
        lib = host.build(
            {"m.h": microlearn.Model(ir, method).to_c("model"), "w.c": _SCORE_WRAP},
            cflags=(*host.DEFAULT_CFLAGS, "-DML_TREES_INT_COMPARE=1"),
        )
        out = np.empty(2, dtype=np.int32)
        lib.w_predict(ctypes.c_void_p(X.ctypes.data), ctypes.c_int32(2), ctypes.c_void_p(out.ctypes.data))
        assert list(out) == [1, 0]


# ------------------------------------------------------------------------------------------------ model file
_FILE_WRAP = r"""
#include "ml_model.h"
int w_run(const uint8_t *buf, size_t len, const float *X, int32_t n, int32_t *cls, float *val, float *proba);
int w_run(const uint8_t *buf, size_t len, const float *X, int32_t n, int32_t *cls, float *val, float *proba)
{
    ml_model_file f;
    ml_boost_file b;
    int32_t i;
    int rc = ml_model_open(buf, len, &f);
    if (rc != ML_OK) return rc;
    rc = ml_boost_load(buf, len, f.task, f.n_features, f.n_outputs, &b);
    if (rc != ML_OK) return rc;
    for (i = 0; i < n; i++) {
        const float *x = X + (size_t)i * (size_t)f.n_features;
        if (b.task != ML_TASK_REGRESS) cls[i] = ml_boost_file_predict(&b, x);
        if (b.task != ML_TASK_CLASSIFY) val[i] = ml_boost_file_value(&b, x);
        if (b.task == ML_TASK_CLASSIFY && b.post != 0) {
            rc = ml_boost_file_proba(&b, x, proba + (size_t)i * (size_t)f.n_outputs);
            if (rc != ML_OK) return rc;
        }
    }
    return 0;
}
"""


@pytest.fixture(scope="module")
def file_lib() -> ctypes.CDLL:
    flags = ["-std=c99", "-O1", "-fPIC", "-shared", "-Wall", "-Wextra", "-Wpedantic", "-Wconversion"]
    flags += ["-Wshadow", "-Wdouble-promotion", "-Werror"]
    return host.build({"w.c": _FILE_WRAP}, cflags=flags)


def _file_run(
    lib: ctypes.CDLL, data: bytes, X: np.ndarray, n_outputs: int = 2
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Classes (or inlier decisions), values and probabilities of rows X through ml_model.h."""
    buf = np.zeros((len(data) + 15) // 8, dtype=np.uint64)
    buf.view(np.uint8)[: len(data)] = np.frombuffer(data, dtype=np.uint8)
    X = np.ascontiguousarray(X, dtype=np.float32)
    cls = np.zeros(len(X), dtype=np.int32)
    val = np.zeros(len(X), dtype=np.float32)
    proba = np.zeros((len(X), n_outputs), dtype=np.float32)
    rc = lib.w_run(
        ctypes.c_void_p(buf.ctypes.data),
        ctypes.c_size_t(len(data)),
        ctypes.c_void_p(X.ctypes.data),
        ctypes.c_int32(len(X)),
        ctypes.c_void_p(cls.ctypes.data),
        ctypes.c_void_p(val.ctypes.data),
        ctypes.c_void_p(proba.ctypes.data),
    )
    assert rc == 0
    return cls, val, proba


@pytest.mark.parametrize("key", CASES)
def test_model_file_every_reader(fitted: dict[str, Any], key: str, file_lib: ctypes.CDLL) -> None:
    """modelfile.loads gives the same IR; ml_model.h's ml_boost_load predicts the library's classes and
    inlier decisions and values within the bound; mlrt (CPython here, MicroPython through verify)
    reproduces the float64 sums exactly, and their link (exp, 2**-x) within a few units in the last place:
    numpy's exp and power differ from the C library's by an ulp on some CPUs (its SIMD kernels)."""
    est, X = fitted[key]
    ir = to_ir(est)
    data = mf.dumps(ir)
    back = mf.loads(data)
    ref = ir.reference(X)
    assert np.array_equal(back.reference(X).outputs, ref.outputs)
    X = np.ascontiguousarray(X, dtype=np.float32)
    cls, val, _ = _file_run(file_lib, data, X, ir.n_outputs)
    sys.path.insert(0, str(mpy.RUNTIME_DIR))
    import mlrt

    m = mlrt.load(data)
    if ir.kind == "classifier":
        assert ref.ambiguous is not None
        assert np.array_equal(cls[~ref.ambiguous], ref.outputs[~ref.ambiguous])
        assert [m.predict(x) for x in X] == list(ref.outputs)
    elif ir.kind == "regressor":
        assert ref.bound is not None
        assert np.all(np.abs(val - ref.outputs) <= ref.bound)
        assert np.array_equal([m.raw(x) for x in X], ir.raw_scores(X))
        np.testing.assert_array_max_ulp(np.array([m.predict(x) for x in X]), ref.outputs, maxulp=4)
    else:
        assert ref.bound is not None
        assert np.all(np.abs(val - ref.outputs) <= ref.bound)
        assert np.array_equal(cls, est.predict(X))
        assert np.array_equal([m.raw(x) for x in X], ir.raw_scores(X))
        np.testing.assert_array_max_ulp(np.array([m.score(x) for x in X]), ref.outputs, maxulp=4)


def test_forest_reader_refuses_boosted_file(fitted: dict[str, Any]) -> None:
    """ml_trees_load does not misread boosted trees as a forest: ML_E_FAMILY."""
    from modelfile_cases import ML_E

    data = mf.dumps(to_ir(fitted["gb-log-binary"][0]))
    lib = host.build({"w.c": _FOREST_WRAP})
    buf = np.frombuffer(data + bytes(-len(data) % 8), dtype=np.uint64).copy()
    assert lib.w_load(ctypes.c_void_p(buf.ctypes.data), ctypes.c_size_t(len(data))) == ML_E["ML_E_FAMILY"]


_FOREST_WRAP = r"""
#include "ml_model.h"
int w_load(const uint8_t *buf, size_t len);
int w_load(const uint8_t *buf, size_t len)
{
    ml_trees m;
    return ml_trees_load(buf, len, ML_TASK_CLASSIFY, 5, 2, &m);
}
"""


# ------------------------------------------------------------------------------------------------ targets
TARGET_CASES = ["gb-log-binary", "gb-quantile", "hgb-categorical", "hgb-poisson", "iforest-subset"]
TARGETS = ("cortex-m4f", "cortex-m0plus", "rv32imc", "micropython")


@pytest.mark.parametrize("key", TARGET_CASES)
def test_every_target(fitted: dict[str, Any], key: str) -> None:
    est, X = fitted[key]
    X = X[::5]  # a few dozen rows: the emulators are slow
    for method in METHODS:
        targets = {"table": TARGETS, "inline": ("cortex-m0plus",)}.get(method, TARGETS[:3])
        rep = microlearn.verify(est, X, targets=targets, method=method)
        for t, res in rep.results.items():
            assert res.agreement == 1.0, (method, t)
            assert res.n_ambiguous_differ == 0, (method, t)


def test_value_bound_is_tight_enough(fitted: dict[str, Any]) -> None:
    """The stated regression bound is the float32 rounding scale, not a loose tolerance."""
    est, X = fitted["gb-squared"]
    ref = to_ir(est).reference(X)
    assert ref.bound is not None
    scale = np.abs(est.predict(X)).max() + 1.0
    assert ref.bound.max() < 200 * EPS32 * scale * 12


def test_pipeline_scaler_folds_into_boosted_trees() -> None:
    """A scaler before GradientBoosting folds into its thresholds (no stage left on the device)."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = DATA["b"]
    p = make_pipeline(StandardScaler(), GradientBoostingClassifier(n_estimators=6, max_depth=2)).fit(X, y)
    assert isinstance(microlearn.convert(p).ir, BoostedTrees)
    assert microlearn.verify(p, X, targets=("host",)).results["host"].agreement == 1.0


# ------------------------------------------------------------------------- IR options no sklearn model uses
def _random_ir(rng: np.random.Generator, **kw: Any) -> BoostedTrees:
    """Random trees of depth <= 3 over 3 features; feature 0 splits on categories 0..39 (sets of 2 words)."""
    feature, thr, left, right, miss, leaf, cset, cleft, roots = [], [], [], [], [], [], [], [], []
    n_leaves = 0
    n_trees = int(kw.pop("n_trees", 6))

    def node(depth: int) -> None:
        nonlocal n_leaves
        i = len(feature)
        if depth == 3 or rng.random() < 0.25:
            feature.append(-1), thr.append(0.0), left.append(-1), right.append(-1), miss.append(False)
            leaf.append(n_leaves), cset.append(-1), cleft.append(False)
            n_leaves += 1
            return
        f = int(rng.integers(0, 3))
        feature.append(f), thr.append(float(rng.normal())), left.append(i + 1), right.append(-1)
        miss.append(bool(rng.random() < 0.5)), leaf.append(-1)
        cset.append(int(rng.integers(0, 4)) if f == 0 else -1), cleft.append(bool(rng.random() < 0.5))
        node(depth + 1)
        right[i] = len(feature)
        node(depth + 1)

    for _ in range(n_trees):
        roots.append(len(feature))
        node(0)
    n_raw = int(kw.get("n_raw", 1))
    width = 1 if kw.get("tree_output") is not None else n_raw
    return BoostedTrees(
        n_features=3,
        roots=np.asarray(roots, dtype=np.int32),
        feature=np.asarray(feature, dtype=np.int32),
        threshold=np.asarray(thr, dtype=np.float32),
        left=np.asarray(left, dtype=np.int32),
        right=np.asarray(right, dtype=np.int32),
        missing_left=np.asarray(miss),
        leaf=np.asarray(leaf, dtype=np.int32),
        leaf_value=rng.normal(size=(n_leaves, width)).astype(np.float32).astype(np.float64),
        leaf_class=np.zeros(n_leaves, dtype=np.int32),
        cat_set=np.asarray(cset, dtype=np.int32),
        cat_left=np.asarray(cleft),
        cat_bits=rng.integers(0, 2**32, size=(4, 2), dtype=np.uint64).astype(np.uint32),
        **kw,
    )


SYNTH = {
    # XGBoost-like: float32 sums, truncated categories, members left, probabilities decide
    "float32-binary-trunc": dict(
        kind="classifier", n_outputs=2, n_raw=1, base_score=np.array([0.3]), accumulate="float32",
        post="sigmoid", decide="proba", cat_cast="trunc", tree_output=np.zeros(6, dtype=np.int32),
    ),
    # LightGBM average_output-like: a mean over trees, multi-class
    "mean-multiclass": dict(
        kind="classifier", n_outputs=3, n_raw=3, base_score=np.array([0.1, -0.2, 0.0]), aggregation="mean",
        post="softmax", tree_output=np.array([0, 1, 2, 0, 1, 2], dtype=np.int32),
    ),
    # every tree adds a whole row of raw scores (the model file repeats each tree once per raw score)
    "row-leaves": dict(
        kind="classifier", n_outputs=3, n_raw=3, base_score=np.array([0.5, 0.0, -0.5]), post="softmax",
    ),
    "row-leaves-float32-mean": dict(
        kind="classifier", n_outputs=3, n_raw=3, base_score=np.array([0.25, 0.0, -0.5]), post="softmax",
        accumulate="float32", aggregation="mean", cat_cast="trunc",
    ),
    # a sigmoid as the regression value, with a scale (LightGBM cross_entropy has scale 1)
    "sigmoid-regressor-scaled": dict(
        kind="regressor", n_outputs=1, n_raw=1, base_score=np.array([0.2]), post="sigmoid",
        post_params=(0.7,), tree_output=np.zeros(6, dtype=np.int32),
    ),
    # LightGBM cross_entropy_lambda-like: log1p(exp(raw)) where expf(raw) overflows float32 (raw near 90)
    "softplus-regressor-large": dict(
        kind="regressor", n_outputs=1, n_raw=1, base_score=np.array([90.0]), post="softplus",
        tree_output=np.zeros(6, dtype=np.int32),
    ),
    "softplus-regressor": dict(
        kind="regressor", n_outputs=1, n_raw=1, base_score=np.array([-2.0]), post="softplus",
        tree_output=np.zeros(6, dtype=np.int32),
    ),
    # LightGBM multiclassova-like: one scaled sigmoid per class, argmax of the probabilities
    "ova-scaled": dict(
        kind="classifier", n_outputs=3, n_raw=3, base_score=np.zeros(3), post="sigmoid", post_params=(1.7,),
        decide="proba", tree_output=np.array([0, 1, 2, 0, 1, 2], dtype=np.int32),
    ),
    # XGBClassifier on binary:logitraw: class 1 iff the float32 margin > 0.5, no probabilities
    "margin-half": dict(
        kind="classifier", n_outputs=2, n_raw=1, base_score=np.array([0.4]), accumulate="float32",
        decide="margin_half", cat_cast="trunc", tree_output=np.zeros(6, dtype=np.int32),
    ),
    "float32-regressor-mean": dict(
        kind="regressor", n_outputs=1, n_raw=1, base_score=np.array([2.0]), accumulate="float32",
        aggregation="mean", tree_output=np.zeros(6, dtype=np.int32),
    ),
}  # fmt: skip


def _synth_rows(rng: np.random.Generator, n: int = 300) -> np.ndarray:
    X = rng.normal(size=(n, 3)).astype(np.float32)
    X[:, 0] = rng.choice([0.0, 1.0, 2.5, 7.0, 33.0, 63.9, 64.0, -0.5, -3.0, np.nan], size=n)
    X[rng.random((n, 3)) < 0.1] = np.nan
    return X


@pytest.mark.parametrize("key", SYNTH)
def test_ir_options_in_every_runtime(key: str, file_lib: ctypes.CDLL) -> None:
    rng = np.random.default_rng(len(key))
    ir = _random_ir(rng, **SYNTH[key])
    X = _synth_rows(rng)
    ref = ir.reference(X)
    for method in METHODS:
        m = microlearn.Model(ir, method)
        if ir.kind == "classifier":
            got = m.predict_index(X)
            assert ref.ambiguous is not None
            assert np.array_equal(got[~ref.ambiguous], ref.outputs[~ref.ambiguous]), method
            raw = m.decision_function(X).reshape(len(X), -1)
            tol = ir.raw_bound(ir.abs_sums(X))
            assert np.all(np.abs(raw - np.asarray(ref.scores).reshape(len(X), -1)) <= tol), method
        else:
            assert ref.bound is not None
            assert np.all(np.abs(m.predict(X) - ref.outputs) <= ref.bound), method
        if ir.accumulate == "float32" and ir.kind == "regressor":
            assert np.array_equal(m.predict(X), ref.outputs.astype(np.float32))  # the same float32 sums
        if ref.proba is not None:  # float32 links: the raw bound through a link at most 1/2-Lipschitz
            tol = ir.sigmoid_scale * ir.raw_bound(ir.abs_sums(X)).max(axis=1) + 1e-6
            assert np.all(np.abs(m.predict_proba(X) - ref.proba).max(axis=1) <= tol), method
    if ir.kind == "classifier":  # packed as on a core without an FPU: ranks, fixed-point sums
        lib = host.build(
            {"m.h": microlearn.Model(ir, "packed").to_c("model"), "w.c": _SCORE_WRAP},
            cflags=(*host.DEFAULT_CFLAGS, "-DML_TREES_INT_COMPARE=1"),
        )
        got = np.empty(len(X), dtype=np.int32)
        lib.w_predict(
            ctypes.c_void_p(X.ctypes.data), ctypes.c_int32(len(X)), ctypes.c_void_p(got.ctypes.data)
        )
        assert ref.ambiguous is not None
        assert np.array_equal(got[~ref.ambiguous], ref.outputs[~ref.ambiguous])
    data = mf.dumps(ir)
    back = mf.loads(data)
    assert np.array_equal(back.reference(X).outputs, ref.outputs)
    if ref.proba is not None:
        assert np.array_equal(back.reference(X).proba, ref.proba)
    cls, val, proba = _file_run(file_lib, data, X, ir.n_outputs)
    if ir.kind == "classifier":
        assert np.array_equal(cls[~ref.ambiguous], ref.outputs[~ref.ambiguous])
        if ref.proba is not None:
            tol = ir.sigmoid_scale * ir.raw_bound(ir.abs_sums(X)).max(axis=1) + 1e-6
            assert np.all(np.abs(proba - ref.proba).max(axis=1) <= tol)
    else:
        assert ref.bound is not None
        assert np.all(np.abs(val - ref.outputs) <= ref.bound)
    sys.path.insert(0, str(mpy.RUNTIME_DIR))
    import mlrt

    lm = mlrt.load(data)
    got_mlrt = [lm.predict(x) for x in X]
    if ir.kind == "classifier":
        assert np.array_equal(np.asarray(got_mlrt)[~ref.ambiguous], ref.outputs[~ref.ambiguous])
        if ref.proba is not None:
            assert np.allclose([lm.predict_proba(x) for x in X], ref.proba, rtol=0, atol=1e-14)
    elif ir.post == "none":
        assert np.array_equal(got_mlrt, ref.outputs)
    else:
        assert np.allclose(got_mlrt, ref.outputs, rtol=0, atol=1e-14)


_LOAD_WRAP = r"""
#include "ml_model.h"
int w_load(const uint8_t *buf, size_t len, int task, int32_t n_features, int32_t n_outputs);
int w_load(const uint8_t *buf, size_t len, int task, int32_t n_features, int32_t n_outputs)
{
    ml_boost_file b;
    return ml_boost_load(buf, len, task, n_features, n_outputs, &b);
}
"""


def test_model_file_refuses_links_and_decisions_that_do_not_fit() -> None:
    """Every reader (modelfile.loads, ml_boost_load, mlrt) refuses a BOST that names a decision or a link
    the model cannot have: 'raw > 0.5' on a float64 model or with probabilities, a negative sigmoid
    scale, softmax for a regression value."""
    import struct

    from microlearn.errors import ModelFileError
    from modelfile_cases import ML_E, fix_crc

    sys.path.insert(0, str(mpy.RUNTIME_DIR))
    import mlrt

    lib = host.build({"w.c": _LOAD_WRAP})
    rng = np.random.default_rng(3)
    cases = {
        "classifier": _random_ir(rng, **SYNTH["float32-binary-trunc"]),
        "regressor": _random_ir(rng, **SYNTH["sigmoid-regressor-scaled"]),
    }
    bad = [
        ("classifier", 4, 3.0),  # raw > 0.5 with a sigmoid
        ("classifier", 7, -1.0),  # a negative sigmoid scale
        ("regressor", 4, 3.0),  # raw > 0.5 on a regressor
        ("regressor", 3, 3.0),  # softmax as a regression value
        ("regressor", 7, -0.5),
    ]
    for kind, field, value in bad:
        ir = cases[kind]
        data = mf.dumps(ir)
        _, sec = mf.read_sections(data)
        b = bytearray(data)
        struct.pack_into("<d", b, sec[b"BOST"].offset + 8 * field, value)
        bad_file = fix_crc(b)
        with pytest.raises(ModelFileError):
            mf.loads(bad_file)
        with pytest.raises(ValueError):
            mlrt.load(bad_file)
        buf = np.frombuffer(bad_file + bytes(-len(bad_file) % 8), dtype=np.uint64).copy()
        task = 1 if kind == "classifier" else 2
        rc = lib.w_load(
            ctypes.c_void_p(buf.ctypes.data), ctypes.c_size_t(len(bad_file)), task, 3, ir.n_outputs
        )
        assert rc == ML_E["ML_E_VALUE"], (kind, field, value)
        good = np.frombuffer(data + bytes(-len(data) % 8), dtype=np.uint64).copy()
        assert (
            lib.w_load(ctypes.c_void_p(good.ctypes.data), ctypes.c_size_t(len(data)), task, 3, ir.n_outputs)
            == 0
        )
