"""Nearest neighbours (KNeighborsClassifier/Regressor, NearestCentroid): the reference, computed from the
IR's arrays, is scikit-learn's result outside ambiguous rows (regressors: within the bound), C / model file
/ mlrt / MCUs agree, and examples added and removed on the device give scikit-learn's predictions for the
same set."""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_iris, make_classification
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor, NearestCentroid

import microlearn
from microlearn import host
from microlearn import micropython as mp
from microlearn.backends import modelfile as mf
from microlearn.errors import UnsupportedEstimatorError
from microlearn.frontends.registry import to_ir
from microlearn.ir.neighbors import Neighbors

X_IRIS, Y_IRIS = load_iris(return_X_y=True)
X_SYN, Y_SYN = make_classification(200, 6, n_informative=4, n_classes=3, random_state=1)
X_SYN = np.round(X_SYN, 1)  # coarse values: many equal distances, so the tie rules are exercised

CASES: dict[str, tuple[Any, np.ndarray[Any, Any], np.ndarray[Any, Any]]] = {
    "knn5-auto-iris": (KNeighborsClassifier(), X_IRIS, Y_IRIS),
    "knn3-brute-syn": (KNeighborsClassifier(3, algorithm="brute"), X_SYN, Y_SYN),
    "knn4-balltree-manhattan-syn": (
        KNeighborsClassifier(4, algorithm="ball_tree", metric="manhattan"),
        X_SYN,
        Y_SYN,
    ),
    "knn1-brute-f32-iris": (KNeighborsClassifier(1, algorithm="brute"), X_IRIS.astype(np.float32), Y_IRIS),
    "knn2-kdtree-chebyshev-syn": (KNeighborsClassifier(2, metric="chebyshev"), X_SYN, Y_SYN),
    "knn5-distance-iris": (KNeighborsClassifier(weights="distance"), X_IRIS, Y_IRIS),
    "knn4-distance-brute-manhattan-syn": (
        KNeighborsClassifier(4, weights="distance", algorithm="brute", metric="manhattan"),
        X_SYN,
        Y_SYN,
    ),
    "centroid-iris": (NearestCentroid(), X_IRIS, Y_IRIS),
    "regressor5-auto-iris": (KNeighborsRegressor(), X_IRIS, X_IRIS[:, 0] * 0.5 - X_IRIS[:, 3]),
    "regressor3-brute-manhattan-syn": (
        KNeighborsRegressor(3, algorithm="brute", metric="manhattan"),
        X_SYN,
        Y_SYN * 1.5,
    ),
    "centroid-manhattan-syn": (NearestCentroid(metric="manhattan"), X_SYN, Y_SYN),
    "knn3-minkowski3-kdtree-syn": (KNeighborsClassifier(3, p=3), X_SYN, Y_SYN),
    "knn4-minkowski1.5-distance-brute-iris": (
        KNeighborsClassifier(4, p=1.5, weights="distance", algorithm="brute"),
        X_IRIS,
        Y_IRIS,
    ),
    "regressor5-distance-iris": (
        KNeighborsRegressor(weights="distance"),
        X_IRIS,
        X_IRIS[:, 0] * 0.5 - X_IRIS[:, 3],
    ),
    "regressor4-distance-minkowski3-balltree-syn": (
        KNeighborsRegressor(4, weights="distance", p=3, algorithm="ball_tree"),
        X_SYN,
        Y_SYN * 1.5 - X_SYN[:, 0],
    ),
}


@pytest.fixture(scope="module")
def fitted() -> dict[str, Any]:
    return {k: est.fit(X, y) for k, (est, X, y) in CASES.items()}


def _query(X: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    rng = np.random.default_rng(0)
    Q = np.concatenate([X[::3], X[:40] + rng.normal(0, 0.3, (40, X.shape[1]))])
    return np.asarray(Q, dtype=np.float32)


@pytest.mark.parametrize("case", list(CASES))
def test_reference_is_sklearn_and_rule_agrees_outside_ambiguous(fitted: dict[str, Any], case: str) -> None:
    est = fitted[case]
    ir = to_ir(est)
    assert isinstance(ir, Neighbors)
    Q = _query(CASES[case][1])
    ref = ir.reference(Q)
    if case.startswith("regressor"):
        assert ref.bound is not None
        np.testing.assert_array_less(np.abs(est.predict(Q) - ref.outputs), ref.bound * (1 + 1e-12))
        np.testing.assert_array_equal(ir.decide(Q), ref.outputs)
        return
    want = np.searchsorted(est.classes_, est.predict(Q))
    assert ref.ambiguous is not None
    ok = ~ref.ambiguous
    assert ok.mean() > 0.9
    np.testing.assert_array_equal(ref.outputs[ok], want[ok])


def test_reference_does_not_run_sklearn(fitted: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """reference() is computed from the IR's arrays: it works with scikit-learn's neighbours unimportable."""
    import sys

    ir = to_ir(fitted["knn3-brute-syn"])
    Q = _query(X_SYN)
    want = ir.reference(Q).outputs
    for mod in [m for m in sys.modules if m.startswith("sklearn")]:
        monkeypatch.setitem(sys.modules, mod, None)
    np.testing.assert_array_equal(ir.reference(Q).outputs, want)


def test_tied_kth_neighbours_of_one_class_are_decided() -> None:
    """Iris holds duplicate flowers: rows whose k-th distance is tied are near ties; where every tied
    candidate has the same class the vote cannot change and the row is decided (and equals scikit-learn,
    for every algorithm); candidates of different classes make the row ambiguous (counted)."""
    decided = 0
    for X, k in ((X_IRIS, 10), (np.round(X_SYN), 5)):  # integer-valued: many equal distances
        Q = np.asarray(X, dtype=np.float32)
        for algo in ("brute", "kd_tree", "ball_tree"):
            est = KNeighborsClassifier(k, algorithm=algo).fit(X, Y_IRIS if X is X_IRIS else Y_SYN)
            ir = to_ir(est)
            assert isinstance(ir, Neighbors)
            _, _, near, _ = ir._ties(Q)
            ref = ir.reference(Q)
            assert ref.ambiguous is not None
            assert near.sum() >= 5 and not np.any(ref.ambiguous & ~near)
            decided += int(near.sum() - ref.ambiguous.sum())
            ok = ~ref.ambiguous
            np.testing.assert_array_equal(ref.outputs[ok], np.searchsorted(est.classes_, est.predict(Q))[ok])
    assert decided >= 50
    # two identical examples of different classes, k = 1: the query on them is ambiguous
    X = np.array([[0.0, 0.0], [1.0, 1.0], [1.0, 1.0], [3.0, 0.0]])
    ir = to_ir(KNeighborsClassifier(1).fit(X, [0, 1, 0, 1]))
    assert isinstance(ir, Neighbors)
    amb = ir.reference(np.array([[1.0, 1.0], [0.1, 0.0]], dtype=np.float32)).ambiguous
    assert amb is not None and amb.tolist() == [True, False]


@pytest.mark.parametrize("case", list(CASES))
def test_model_file_round_trip(fitted: dict[str, Any], case: str) -> None:
    ir = to_ir(fitted[case])
    assert isinstance(ir, Neighbors)
    back = mf.loads(mf.dumps(ir))
    assert isinstance(back, Neighbors)
    np.testing.assert_array_equal(back.examples, ir.examples)
    np.testing.assert_array_equal(back.labels, ir.labels)
    assert (back.k, back.metric, back.kind, back.algorithm, back.leaf_size, back.float32) == (
        ir.k,
        ir.metric,
        ir.kind,
        ir.algorithm,
        ir.leaf_size,
        ir.float32,
    )
    if ir.values is None:
        assert list(back.classes) == list(ir.classes)  # type: ignore[arg-type]
    else:
        np.testing.assert_array_equal(back.values, ir.values)  # type: ignore[arg-type]
    Q = _query(CASES[case][1])[:20]
    np.testing.assert_array_equal(back.reference(Q).outputs, ir.reference(Q).outputs)


@pytest.mark.parametrize("case", list(CASES))
def test_host_c_and_micropython(fitted: dict[str, Any], case: str) -> None:
    Q = _query(CASES[case][1])[:30]
    rep = microlearn.verify(fitted[case], Q, targets=["host", "micropython"])
    for t in ("host", "micropython"):
        assert rep[t].agreement == 1.0, f"{case} on {t}"


@pytest.mark.parametrize(
    "case",
    [
        "knn3-brute-syn",
        "knn2-kdtree-chebyshev-syn",
        "centroid-manhattan-syn",
        "regressor5-auto-iris",
        "knn5-distance-iris",
        "knn3-minkowski3-kdtree-syn",
        "regressor5-distance-iris",
    ],
)
def test_mcus(fitted: dict[str, Any], case: str) -> None:
    Q = _query(CASES[case][1])[:8]
    rep = microlearn.verify(fitted[case], Q, targets=["cortex-m4f", "cortex-m0plus", "rv32imc"])
    for t in ("cortex-m4f", "cortex-m0plus", "rv32imc"):
        assert rep[t].agreement == 1.0, f"{case} on {t}"
        assert rep[t].instructions_mean is not None and rep[t].instructions_mean > 0


@pytest.mark.parametrize(
    "est, what",
    [
        (KNeighborsClassifier(weights=lambda d: d), "weights"),
        (KNeighborsClassifier(metric="cosine"), "metric"),
        (KNeighborsClassifier(p=0.5), "p >= 1"),
        (KNeighborsClassifier(metric="minkowski", metric_params={"w": [1, 2, 1, 1]}), "metric_params"),
        (KNeighborsRegressor(weights=lambda d: d), "weights"),
        (NearestCentroid(priors="empirical"), "priors"),
    ],
)
def test_unsupported_configurations_say_what_to_do(est: Any, what: str) -> None:
    y = Y_IRIS.copy()
    if what == "priors":
        y = np.where(np.arange(len(y)) < 110, y, 0)  # imbalanced: empirical priors are not uniform
    est.fit(X_IRIS, y)
    with pytest.raises(UnsupportedEstimatorError, match=what):
        microlearn.convert(est)  # fitted on class labels: a regressor takes them as values


# ---------------------------------------------------------------------------------- on-device learning
C_LEARN = r"""
#include "ml_neighbors.h"
int ml_test_learn(const float *xs, const int32_t *ys, int32_t n_add, const int32_t *drop, int32_t n_drop,
                  uint32_t n_features, uint32_t n_classes, uint32_t k, uint32_t metric, uint32_t capacity,
                  double *xbuf, uint16_t *ybuf, const float *q, int32_t n_q, int32_t *out);
int ml_test_learn(const float *xs, const int32_t *ys, int32_t n_add, const int32_t *drop, int32_t n_drop,
                  uint32_t n_features, uint32_t n_classes, uint32_t k, uint32_t metric, uint32_t capacity,
                  double *xbuf, uint16_t *ybuf, const float *q, int32_t n_q, int32_t *out)
{
    ml_neighbors m;
    double dist[16];
    uint32_t idx[16], votes[16];
    int32_t i;
    int rc = ml_neighbors_init(&m, n_features, n_classes, k, metric, xbuf, ybuf, capacity, NULL, NULL, 0);
    if (rc != ML_OK || k > 16 || n_classes > 16) return -100;
    for (i = 0; i < n_add; i++) {
        rc = ml_neighbors_add(&m, xs + (size_t)i * n_features, (uint32_t)ys[i]);
        if (rc != ML_OK) return rc;
    }
    for (i = 0; i < n_drop; i++) {
        rc = ml_neighbors_remove(&m, (uint32_t)drop[i]);
        if (rc != ML_OK) return rc;
    }
    for (i = 0; i < n_q; i++) {
        out[i] = ml_neighbors_classify(&m, q + (size_t)i * n_features, dist, idx, votes);
    }
    return (int)m.n_examples;
}
"""

ML_E_CAPACITY = -8


def _after_removals(n: int, drop: list[int]) -> np.ndarray[Any, Any]:
    keep = list(range(n))
    for d in drop:
        del keep[d]
    return np.array(keep)


def _expected(
    xs: np.ndarray[Any, Any], ys: np.ndarray[Any, Any], k: int, metric: str, Q: np.ndarray[Any, Any]
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """scikit-learn fitted on the same examples (as float32 values), and the ambiguous rows."""
    ir = Neighbors(
        examples=xs.astype(np.float32).astype(np.float64),
        labels=ys.astype(np.int64),
        n_classes=int(ys.max()) + 1,
        k=k,
        metric=metric,  # type: ignore[arg-type]
        algorithm="brute",
    )
    sk = KNeighborsClassifier(k, algorithm="brute", metric=metric).fit(ir.examples, ys)
    want = np.searchsorted(sk.classes_, sk.predict(Q))
    ref = ir.reference(Q)
    assert ref.ambiguous is not None
    np.testing.assert_array_equal(ref.outputs[~ref.ambiguous], want[~ref.ambiguous])
    return want, ref.ambiguous


@pytest.fixture(scope="module")
def learn_lib() -> ctypes.CDLL:
    lib = host.build({"learn.c": C_LEARN})
    lib.ml_test_learn.restype = ctypes.c_int
    return lib


def _ptr(a: np.ndarray[Any, Any]) -> ctypes.c_void_p:
    return ctypes.c_void_p(a.ctypes.data)


@pytest.mark.parametrize("metric", ["euclidean", "manhattan", "chebyshev"])
def test_c_on_device_learning_matches_sklearn(learn_lib: ctypes.CDLL, metric: str) -> None:
    xs = np.ascontiguousarray(X_SYN[:60], dtype=np.float32)
    ys = np.ascontiguousarray(Y_SYN[:60], dtype=np.int32)
    drop = np.array([5, 0, 40], dtype=np.int32)
    Q = np.ascontiguousarray(_query(X_SYN)[:50])
    k, n = 3, xs.shape[1]
    cap = 64
    xbuf = np.zeros(cap * n, dtype=np.float64)
    ybuf = np.zeros(cap, dtype=np.uint16)
    out = np.zeros(len(Q), dtype=np.int32)
    mcode = ("euclidean", "manhattan", "chebyshev").index(metric)
    rc = learn_lib.ml_test_learn(
        _ptr(xs), _ptr(ys), len(xs), _ptr(drop), len(drop), n, 3, k, mcode, cap, _ptr(xbuf), _ptr(ybuf),
        _ptr(Q), len(Q), _ptr(out),
    )  # fmt: skip
    assert rc == len(xs) - len(drop)
    keep = _after_removals(len(xs), [int(d) for d in drop])
    want, amb = _expected(xs[keep], ys[keep], k, metric, Q)
    np.testing.assert_array_equal(out[~amb], want[~amb])
    # the capacity is checked: the buffers never overflow
    small = 10
    xbuf2 = np.zeros(small * n + 1, dtype=np.float64)
    rc = learn_lib.ml_test_learn(
        _ptr(xs), _ptr(ys), len(xs), _ptr(drop), 0, n, 3, k, mcode, small, _ptr(xbuf2), _ptr(ybuf),
        _ptr(Q), 0, _ptr(out),
    )  # fmt: skip
    assert rc == ML_E_CAPACITY
    assert xbuf2[-1] == 0.0


def test_mlrt_on_device_learning_matches_sklearn(fitted: dict[str, Any]) -> None:
    """Start from a 3-nearest-neighbour model of 30 examples, add 30 more and remove 2 in MicroPython."""
    xs = np.asarray(X_SYN[:60], dtype=np.float32)
    ys = Y_SYN[:60]
    base = KNeighborsClassifier(3, algorithm="brute").fit(xs[:30].astype(np.float64), ys[:30])
    data = microlearn.convert(base).to_bytes()
    Q = _query(X_SYN)[:40]
    adds = ";".join(
        f"m.add({[float(v) for v in row]}, {int(c)})" for row, c in zip(xs[30:], ys[30:], strict=True)
    )
    code = (
        "import mlrt\nm = mlrt.load('/m.mlm')\n"
        + adds
        + "\nm.remove(3)\nm.remove(50)\n"
        + f"Q = {[[float(v) for v in row] for row in Q]}\n"
        + "print(m.n_examples, ' '.join(str(m.predict(q)) for q in Q))\n"
    )
    outp = mp.run(code, {**mp.runtime_files(), "/m.mlm": data}).split()
    assert int(outp[0]) == 58
    got = np.array([int(v) for v in outp[1:]])
    keep = _after_removals(60, [3, 50])
    want, amb = _expected(xs[keep], ys[keep], 3, "euclidean", Q)
    np.testing.assert_array_equal(got[~amb], want[~amb])


C_LEARN_REG = r"""
#include "ml_neighbors.h"
int ml_test_learn_reg(const float *xs, const double *vs, int32_t n_add, uint32_t drop, uint32_t n_features,
                      uint32_t k, uint32_t metric, int32_t distance, double *xbuf, uint16_t *ybuf,
                      double *vbuf, uint32_t capacity, const float *q, int32_t n_q, double *out);
int ml_test_learn_reg(const float *xs, const double *vs, int32_t n_add, uint32_t drop, uint32_t n_features,
                      uint32_t k, uint32_t metric, int32_t distance, double *xbuf, uint16_t *ybuf,
                      double *vbuf, uint32_t capacity, const float *q, int32_t n_q, double *out)
{
    ml_neighbors m;
    double dist[16];
    uint32_t idx[16];
    int32_t i;
    int rc = ml_neighbors_init_regressor(&m, n_features, k, metric, xbuf, ybuf, vbuf, capacity, NULL, NULL,
                                         0);
    if (rc != ML_OK || k > 16) return -100;
    if (ml_neighbors_add(&m, xs, 0) != ML_E_STATE) return -101; /* a regressor takes values */
    for (i = 0; i < n_add; i++) {
        rc = ml_neighbors_add_value(&m, xs + (size_t)i * n_features, vs[i]);
        if (rc != ML_OK) return rc;
    }
    rc = ml_neighbors_remove(&m, drop);
    if (rc != ML_OK) return rc;
    for (i = 0; i < n_q; i++) {
        rc = distance ? ml_neighbors_regress_distance(&m, q + (size_t)i * n_features, dist, idx, out + i)
                      : ml_neighbors_regress(&m, q + (size_t)i * n_features, dist, idx, out + i);
        if (rc != ML_OK) return rc;
    }
    return (int)m.n_examples;
}
"""


def _regressor_expected(
    xs: np.ndarray[Any, Any], vs: np.ndarray[Any, Any], k: int, weights: str, Q: np.ndarray[Any, Any]
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """scikit-learn's KNeighborsRegressor fitted on the same examples, and the IR's bound per row."""
    e = xs.astype(np.float32).astype(np.float64)
    sk = KNeighborsRegressor(k, weights=weights, algorithm="brute").fit(e, vs)
    ir = to_ir(sk)
    ref = ir.reference(Q)
    assert ref.bound is not None
    return sk.predict(Q), ref.bound


@pytest.mark.parametrize("weights", ["uniform", "distance"])
def test_c_regressor_learning_matches_sklearn(weights: str) -> None:
    lib = host.build({"learn_reg.c": C_LEARN_REG})
    xs = np.ascontiguousarray(X_SYN[:50], dtype=np.float32)
    vs = np.ascontiguousarray(X_SYN[:50, 0] * 2 - Y_SYN[:50], dtype=np.float64)
    Q = np.ascontiguousarray(_query(X_SYN)[:40])
    n, k, cap = xs.shape[1], 4, 64
    xbuf, ybuf, vbuf = np.zeros(cap * n), np.zeros(cap, dtype=np.uint16), np.zeros(cap)
    out = np.zeros(len(Q))
    rc = lib.ml_test_learn_reg(
        _ptr(xs), _ptr(vs), len(xs), ctypes.c_uint32(7), n, k, 0, int(weights == "distance"), _ptr(xbuf),
        _ptr(ybuf), _ptr(vbuf), cap, _ptr(Q), len(Q), _ptr(out),
    )  # fmt: skip
    assert rc == len(xs) - 1
    keep = _after_removals(len(xs), [7])
    want, bound = _regressor_expected(xs[keep], vs[keep], k, weights, Q)
    assert np.all(np.abs(out.astype(np.float32) - want) <= bound)


def test_mlrt_regressor_learning_matches_sklearn() -> None:
    """A distance-weighted regressor of 20 examples; 25 more added and one removed in MicroPython."""
    xs = np.asarray(X_SYN[:45], dtype=np.float32)
    vs = X_SYN[:45, 1] - 0.5 * Y_SYN[:45]
    base = KNeighborsRegressor(3, weights="distance", algorithm="brute").fit(
        xs[:20].astype(np.float64), vs[:20]
    )
    data = microlearn.convert(base).to_bytes()
    Q = _query(X_SYN)[:30]
    adds = ";".join(
        f"m.add({[float(v) for v in row]}, {float(t)!r})" for row, t in zip(xs[20:], vs[20:], strict=True)
    )
    code = (
        "import mlrt\nm = mlrt.load('/m.mlm')\n"
        + adds
        + "\nm.remove(10)\n"
        + f"Q = {[[float(v) for v in row] for row in Q]}\n"
        + "print(m.n_examples, ' '.join(repr(m.predict(q)) for q in Q))\n"
    )
    outp = mp.run(code, {**mp.runtime_files(), "/m.mlm": data}).split()
    assert int(outp[0]) == 44
    got = np.array([float(v) for v in outp[1:]])
    keep = _after_removals(45, [10])
    want, bound = _regressor_expected(xs[keep], vs[keep], 3, "distance", Q)
    assert np.all(np.abs(got.astype(np.float32) - want) <= bound)


# ---------------------------------------------------------------------------------- integer storage
def _digits() -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X, y


INT_CASES = {
    "knn5-euclidean": lambda X, y: KNeighborsClassifier(5).fit(X[:300], y[:300]),
    "knn3-distance-manhattan": lambda X, y: KNeighborsClassifier(
        3, weights="distance", metric="manhattan"
    ).fit(X[:300], y[:300]),
    "knn2-chebyshev": lambda X, y: KNeighborsClassifier(2, metric="chebyshev").fit(X[:300], y[:300]),
    "regressor4-distance": lambda X, y: KNeighborsRegressor(4, weights="distance").fit(
        X[:300], y[:300] * 1.5
    ),
}


@pytest.mark.parametrize("method", ["int8", "int16"])
@pytest.mark.parametrize("case", list(INT_CASES))
def test_integer_storage_equals_the_float_rule(case: str, method: str) -> None:
    """digits hold integers 0..16: stored as int8 / int16 they are exact; integer inputs take the exact
    integer path, other inputs the float64 one, and both give the reference's result."""
    X, y = _digits()
    est = INT_CASES[case](X, y)
    Q = np.concatenate([X[300:340], X[300:320] + 0.25, X[320:330] * 20]).astype(np.float32)
    rep = microlearn.verify(est, Q, targets=["host"], method=method)
    assert rep["host"].agreement == 1.0
    src = microlearn.convert(est, method=method).to_c("kn")
    assert f"static const {method}_t kn_x[" in src


def test_integer_storage_on_mcus() -> None:
    X, y = _digits()
    est = KNeighborsClassifier(5).fit(X[:200], y[:200])
    Q = np.asarray(X[300:306], dtype=np.float32)
    rep = microlearn.verify(est, Q, targets=["cortex-m4f", "cortex-m0plus", "rv32imc"], method="int8")
    for t in ("cortex-m4f", "cortex-m0plus", "rv32imc"):
        assert rep[t].agreement == 1.0, t


def test_integer_storage_refuses_non_integer_examples(fitted: dict[str, Any]) -> None:
    from microlearn.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match=r"integer in -128\.\.127.*feature 0 holds 5\.1"):
        microlearn.convert(fitted["knn5-auto-iris"], method="int8").to_c("kn")
    X, y = _digits()
    with pytest.raises(InvalidInputError, match=r"integer in -128\.\.127"):
        microlearn.convert(KNeighborsClassifier(3).fit(X * 10, y), method="int8").to_c("kn")
    microlearn.convert(KNeighborsClassifier(3).fit(X * 10, y), method="int16").to_c("kn")  # fits int16


# ---------------------------------------------------------------------------------- float32 fast path
F32_CASES = {
    "knn5-iris": lambda: KNeighborsClassifier(5).fit(X_IRIS.astype(np.float32), Y_IRIS),
    "knn3-distance-manhattan-syn": lambda: KNeighborsClassifier(
        3, weights="distance", metric="manhattan"
    ).fit(X_SYN.astype(np.float32), Y_SYN),
    "knn2-chebyshev-syn": lambda: KNeighborsClassifier(2, metric="chebyshev").fit(
        X_SYN.astype(np.float32), Y_SYN
    ),
    "regressor4-distance-iris": lambda: KNeighborsRegressor(4, weights="distance").fit(
        X_IRIS.astype(np.float32), X_IRIS[:, 0].astype(np.float32)
    ),
    "regressor3-syn": lambda: KNeighborsRegressor(3).fit(X_SYN.astype(np.float32), Y_SYN * 1.5),
    "knn-all-iris": lambda: KNeighborsClassifier(150).fit(X_IRIS.astype(np.float32), Y_IRIS),
}


@pytest.mark.parametrize("case", list(F32_CASES))
def test_float32_fast_path_equals_the_float64_rule(case: str) -> None:
    """float32 distances decide where the proven bound allows, the float64 replay elsewhere: the result is
    the rule's on every row, including the tied ones (iris and the 0.1-grid data hold many) and rows
    far from the data."""
    est = F32_CASES[case]()
    X = X_IRIS if "iris" in case else X_SYN
    Q = np.concatenate([_query(X), X[:10] * 30, X[:10] * 1e-20]).astype(np.float32)
    ir = to_ir(est)
    assert isinstance(ir, Neighbors)
    got = microlearn.convert(est, method="float32").predict(Q)
    want = ir.decide(Q)
    if ir.values is None:
        np.testing.assert_array_equal(np.searchsorted(est.classes_, got), want)
    else:
        ref = ir.reference(Q)
        assert ref.bound is not None and np.all(np.abs(got - want) <= ref.bound)


def test_float32_fast_path_on_mcus() -> None:
    est = F32_CASES["knn5-iris"]()
    Q = _query(X_IRIS)[:8]
    rep = microlearn.verify(est, Q, targets=["cortex-m4f", "cortex-m0plus", "rv32imc"], method="float32")
    for t in ("cortex-m4f", "cortex-m0plus", "rv32imc"):
        assert rep[t].agreement == 1.0, t


def test_float32_storage_refuses_float64_examples(fitted: dict[str, Any]) -> None:
    from microlearn.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match=r"float32 value.*X\.astype\(np\.float32\)"):
        microlearn.convert(fitted["knn5-auto-iris"], method="float32").to_c("kn")


# ---------------------------------------------------------------------------------- float32, no replay
NOREPLAY_CASES = {
    "knn5-iris": lambda: KNeighborsClassifier(5).fit(X_IRIS, Y_IRIS),  # float64 examples, rounded
    "knn4-manhattan-syn": lambda: KNeighborsClassifier(4, metric="manhattan").fit(X_SYN, Y_SYN),
    "knn2-chebyshev-syn": lambda: KNeighborsClassifier(2, metric="chebyshev").fit(X_SYN, Y_SYN),
}


def _float32_rule(ir: Neighbors, Q: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """The k nearest by sequential float32 sums (the earlier example first among equal sums), then the
    lowest class among the most votes."""
    E = ir.examples.astype(np.float32)
    out = []
    for q in Q.astype(np.float32):
        s = np.zeros(len(E), dtype=np.float32)
        for i in range(E.shape[1]):
            d = np.abs(q[i] - E[:, i])
            s = {"euclidean": s + d * d, "manhattan": s + d, "chebyshev": np.maximum(s, d)}[ir.metric]
        near = np.lexsort((np.arange(len(E)), s))[: ir.k]
        out.append(int(np.argmax(np.bincount(ir.labels[near], minlength=ir.n_classes))))
    return np.asarray(out)


@pytest.mark.parametrize("case", list(NOREPLAY_CASES))
def test_float32_noreplay_is_the_float32_rule(case: str) -> None:
    est = NOREPLAY_CASES[case]()
    X = X_IRIS if "iris" in case else X_SYN
    Q = np.concatenate([_query(X), X[:10] * 30]).astype(np.float32)
    ir = to_ir(est)
    assert isinstance(ir, Neighbors)
    got = np.searchsorted(est.classes_, microlearn.convert(est, method="float32_noreplay").predict(Q))
    np.testing.assert_array_equal(got, _float32_rule(ir, Q))
    ref = ir.reference(Q)
    firm = ~np.asarray(ref.ambiguous, dtype=bool) if ref.ambiguous is not None else np.ones(len(Q), bool)
    measured = float(np.mean(got[firm] == np.asarray(ref.outputs)[firm]))
    rep = microlearn.verify(est, Q, targets=["host"], method="float32_noreplay")
    assert rep["host"].agreement == measured  # verify reports what the method does, not the exact rule's


def test_float32_noreplay_on_mcus_and_refusals() -> None:
    from microlearn.errors import InvalidInputError

    est = NOREPLAY_CASES["knn5-iris"]()
    rep = microlearn.verify(est, _query(X_IRIS)[:8], targets=["cortex-m4f", "cortex-m0plus", "rv32imc"],
                            method="float32_noreplay")  # fmt: skip
    for t in ("cortex-m4f", "cortex-m0plus", "rv32imc"):
        assert rep[t].agreement == 1.0, t
        assert rep[t].extra["softfloat_double"] == [], t  # no float64 code
    for bad in (KNeighborsClassifier(3, weights="distance"), KNeighborsRegressor(3)):
        with pytest.raises(InvalidInputError, match="weights='uniform'"):
            microlearn.convert(bad.fit(X_IRIS, Y_IRIS), method="float32_noreplay").to_c("kn")
