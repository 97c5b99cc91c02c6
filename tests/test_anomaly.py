"""Anomaly detection and mixtures: EllipticEnvelope / MinCovDet (Mahalanobis distance), GaussianMixture /
BayesianGaussianMixture (every covariance type), OneClassSVM (every kernel), LocalOutlierFactor(novelty).

The IR's reference equals scikit-learn within its stated bound and its decisions outside the rows it
marks ambiguous; the generated C (host, Cortex-M4F, Cortex-M0+, rv32imc), the model file and mlrt in the
real MicroPython agree through ``verify``; rows built on the Mahalanobis threshold go through the float64
replay; the "float32" methods (no replay) decide as the fast path wherever it decides, and verify reports
their agreement as measured; the three file readers refuse broken files (tests/test_modelfile_schema.py);
bad input gives clear errors."""

from __future__ import annotations

import ctypes
import warnings
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.covariance import EllipticEnvelope, MinCovDet
from sklearn.datasets import load_iris, make_blobs
from sklearn.mixture import BayesianGaussianMixture, GaussianMixture
from sklearn.neighbors import LocalOutlierFactor
from sklearn.preprocessing import StandardScaler
from sklearn.svm import OneClassSVM

import microlearn
from microlearn import host
from microlearn.backends import modelfile
from microlearn.backends.c.mahalanobis import emit as emit_mahalanobis
from microlearn.errors import NotFittedError, UnsupportedEstimatorError
from microlearn.frontends.registry import to_ir
from microlearn.ir.base import Task
from microlearn.ir.mahalanobis import Mahalanobis
from microlearn.verify import boundary_rows

ALL = ["host", "cortex-m4f", "cortex-m0plus", "rv32imc", "micropython"]
XI = StandardScaler().fit_transform(load_iris().data)
XB, _ = make_blobs(n_samples=240, n_features=5, centers=3, cluster_std=[1.0, 2.0, 0.5], random_state=1)
XB = XB * np.array([1.0, 10.0, 0.1, 3.0, 100.0]) + np.array([0.0, 50.0, 0.0, -7.0, 1000.0])


def rows(
    X: npt.NDArray[np.float64], n: int = 200, seed: int = 0, spread: float = 0.6
) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    pick = X[rng.integers(0, len(X), n)]
    return (pick + rng.normal(size=pick.shape) * X.std(axis=0) * spread).astype(np.float32)


def mixed(X: npt.NDArray[np.float64], n: int, seed: int) -> npt.NDArray[np.float32]:
    """Rows near the training data and rows far from it, alternating."""
    a, b = rows(X, n, seed, spread=0.2), rows(X, n, seed + 1, spread=2.0)
    return np.stack([a, b], axis=1).reshape(2 * n, -1)


def _fit(est: Any, X: npt.NDArray[np.float64]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X)


@pytest.fixture(scope="module")
def models() -> dict[str, tuple[Any, npt.NDArray[np.float64]]]:
    out: dict[str, tuple[Any, npt.NDArray[np.float64]]] = {
        "elliptic": (_fit(EllipticEnvelope(contamination=0.1, random_state=0), XB), XB),
        "elliptic_iris": (_fit(EllipticEnvelope(random_state=0), XI), XI),
        "mcd": (_fit(MinCovDet(random_state=0), XB), XB),
    }
    for cov in ("full", "tied", "diag", "spherical"):
        out[f"gmm_{cov}"] = (
            _fit(GaussianMixture(n_components=3, covariance_type=cov, random_state=0), XB),
            XB,
        )
        out[f"bgmm_{cov}"] = (
            _fit(BayesianGaussianMixture(n_components=3, covariance_type=cov, random_state=0), XI),
            XI,
        )
    out["bgmm_dist"] = (
        _fit(
            BayesianGaussianMixture(
                n_components=4, weight_concentration_prior_type="dirichlet_distribution", random_state=0
            ),
            XB,
        ),
        XB,
    )
    for k in ("linear", "poly", "rbf", "sigmoid"):
        out[f"ocsvm_{k}"] = (_fit(OneClassSVM(kernel=k, nu=0.2, gamma=0.3, coef0=0.5, degree=3), XI[::2]), XI)
    out["lof"] = (_fit(LocalOutlierFactor(n_neighbors=10, novelty=True), XI[::2]), XI)
    out["lof_blobs"] = (_fit(LocalOutlierFactor(n_neighbors=5, novelty=True), XB[::4]), XB)
    return out


NAMES = [
    "elliptic", "elliptic_iris", "mcd",
    *[f"{p}_{c}" for p in ("gmm", "bgmm") for c in ("full", "tied", "diag", "spherical")], "bgmm_dist",
    *[f"ocsvm_{k}" for k in ("linear", "poly", "rbf", "sigmoid")], "lof", "lof_blobs",
]  # fmt: skip


def sk_score(est: Any, X: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    if isinstance(est, MinCovDet):
        return -np.asarray(est.mahalanobis(X), dtype=np.float64)
    return np.asarray(est.score_samples(X), dtype=np.float64)


# ---------------------------------------------------------------------------------------------- reference
@pytest.mark.parametrize("name", NAMES)
def test_reference_is_scikit_learn_within_the_bound(models: dict[str, Any], name: str) -> None:
    est, X = models[name]
    ir = to_ir(est)
    Xt = rows(X, 300)
    ref = ir.reference(Xt)
    assert ref.ambiguous is not None
    firm = ~ref.ambiguous
    assert firm.mean() > 0.95
    if ir.task is Task.CLUSTER:
        assert np.array_equal(est.predict(Xt)[firm], ref.outputs[firm])
        assert ref.scores is not None and ref.bound is not None and ref.proba is not None
        assert np.all(np.abs(est.score_samples(Xt) - ref.scores) <= ref.bound)
        assert np.max(np.abs(est.predict_proba(Xt) - ref.proba)) < 1e-5
        return
    assert ref.bound is not None and ref.decision is not None
    fin = np.isfinite(ref.bound)
    assert np.all(np.abs(sk_score(est, Xt) - ref.outputs)[fin] <= ref.bound[fin])
    assert np.mean(ref.bound[fin] < 1e-3 * (1 + np.abs(ref.outputs[fin]))) > 0.95  # a bound, not a shrug
    if hasattr(est, "predict"):
        assert np.array_equal(est.predict(Xt)[firm], ref.decision[firm])
        assert np.all(np.abs(est.decision_function(Xt) - ref.scores) <= ref.bound + 1e-12)
        both = set(ref.decision.tolist())
        assert both == {1, -1}, "the test rows must hold inliers and outliers"


def test_mincovdet_decision_is_its_own_support_rule(models: dict[str, Any]) -> None:
    """MinCovDet has no predict: microlearn's is the cut-off its re-weighting step applies."""
    from scipy.stats import chi2

    est, X = models["mcd"]
    ref = to_ir(est).reference(X.astype(np.float32))
    want = np.where(est.mahalanobis(X.astype(np.float32)) <= chi2(X.shape[1]).isf(0.025), 1, -1)
    assert ref.decision is not None and ref.ambiguous is not None
    assert np.array_equal(ref.decision[~ref.ambiguous], want[~ref.ambiguous])


# ---------------------------------------------------------------------------------------------- host C
def near_threshold(ir: Any, X: npt.NDArray[np.float32], n: int = 16) -> npt.NDArray[np.float32]:
    """Rows within float32 rounding of the inlier/outlier threshold (bisection between an inlier and an
    outlier)."""
    dec = ir.reference(X).decision
    ins, outs = X[dec == 1], X[dec == -1]
    out = []
    for i in range(min(n // 2, len(ins), len(outs))):
        a, b = ins[i].astype(np.float64), outs[i].astype(np.float64)
        lo, hi = 0.0, 1.0
        for _ in range(60):
            mid = (lo + hi) / 2
            if ir.reference((a + mid * (b - a)).astype(np.float32)[None, :]).decision[0] == 1:
                lo = mid
            else:
                hi = mid
        out += [(a + lo * (b - a)).astype(np.float32), (a + hi * (b - a)).astype(np.float32)]
    return np.asarray(out, dtype=np.float32)


FAST = """
#include "{name}.h"
void b_fast(const float *x, int32_t n, int32_t *out) {{
    int32_t r;
    for (r = 0; r < n; r++) {{
        float d[{up}_N_FEATURES];
        out[r] = ml_mah_fast(&{name}_f32, x + (size_t)r * {up}_N_FEATURES, d);
    }}
}}
void b_predict(const float *x, int32_t n, int32_t *out) {{
    int32_t r;
    for (r = 0; r < n; r++) out[r] = {name}_predict(x + (size_t)r * {up}_N_FEATURES);
}}
"""
STRICT = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Wpedantic", "-Wconversion", "-Wshadow",
          "-Wdouble-promotion", "-Werror", "-fPIC", "-shared")  # fmt: skip


@pytest.mark.parametrize("name", ["elliptic", "elliptic_iris", "mcd"])
def test_mahalanobis_fast_path_and_replay(models: dict[str, Any], name: str) -> None:
    est, X = models[name]
    ir = to_ir(est)
    lib = host.build({"mah.h": emit_mahalanobis(ir, "mah").header, "w.c": FAST.format(name="mah", up="MAH")},
                     cflags=STRICT)  # fmt: skip
    Xt = np.vstack([rows(X, 300, seed=3), near_threshold(ir, mixed(X, 100, seed=4))])
    ref = ir.reference(Xt)
    assert ref.decision is not None and ref.ambiguous is not None

    def call(fn: str) -> npt.NDArray[np.int32]:
        out = np.zeros(len(Xt), dtype=np.int32)
        getattr(lib, fn)(
            Xt.ctypes.data_as(ctypes.c_void_p), ctypes.c_int32(len(Xt)), out.ctypes.data_as(ctypes.c_void_p)
        )
        return out

    fast, pred = call("b_fast"), call("b_predict")
    decided = fast != 0
    assert np.all(fast[decided] == ref.decision[decided])  # the fast path is never wrong
    assert decided[:300].mean() > 0.9  # and decides the ordinary rows
    assert (~decided[300:]).sum() >= 4  # rows on the threshold go through the replay
    assert np.all((pred == ref.decision) | ref.ambiguous)
    if hasattr(est, "predict"):
        assert np.all((pred == est.predict(Xt)) | ref.ambiguous)


@pytest.mark.parametrize("name", NAMES)
def test_host_c_agrees(models: dict[str, Any], name: str) -> None:
    est, X = models[name]
    Xt = rows(X, 150, seed=5)
    r = microlearn.verify(est, Xt, targets=["host"])["host"]
    assert r.agreement == 1.0, r
    m = microlearn.convert(est)
    ref = m.ir.reference(Xt)
    if m.ir.task is Task.CLUSTER:
        assert r.max_abs_error is not None and r.max_abs_error < 1e-5
        assert ref.scores is not None and ref.bound is not None
        assert np.all(np.abs(m.score(Xt) - ref.scores) <= ref.bound + 4e-7 * np.abs(ref.scores))
    elif hasattr(est, "decision_function"):
        assert ref.bound is not None
        got = microlearn.model.Model(m.ir, m.method).decision_function(Xt).astype(np.float64)
        fin = np.isfinite(ref.bound)
        assert np.all(
            np.abs(got - est.decision_function(Xt))[fin] <= ref.bound[fin] + 2e-7 * np.abs(got[fin])
        )


# ---------------------------------------------------------------------------------------------- model file
@pytest.mark.parametrize("name", ["elliptic", "mcd", "gmm_tied", "bgmm_spherical", "ocsvm_poly", "lof"])
def test_model_file_round_trip(models: dict[str, Any], name: str) -> None:
    est, X = models[name]
    ir = to_ir(est)
    back = modelfile.loads(modelfile.dumps(ir))
    assert type(back) is type(ir) and back.source == ir.source
    Xt = rows(X, 50)
    a, b = ir.reference(Xt), back.reference(Xt)
    assert np.array_equal(a.outputs, b.outputs)
    assert np.array_equal(a.scores, b.scores)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------- every target
@pytest.mark.parametrize("name", ["elliptic", "gmm_full", "bgmm_diag", "ocsvm_rbf", "lof_blobs"])
def test_verify_every_target(models: dict[str, Any], name: str) -> None:
    est, X = models[name]
    ir = to_ir(est)
    Xt = rows(X, 12, seed=9)
    if name == "elliptic":
        Xt = np.vstack([Xt, near_threshold(ir, mixed(X, 40, seed=6), 4)])
    report = microlearn.verify(est, Xt, targets=ALL)
    for t, r in report.items():
        assert r.agreement == 1.0, (t, r)
    for t in ("cortex-m4f", "cortex-m0plus", "rv32imc"):
        assert report[t].instructions_mean and report[t].flash_bytes and report[t].ram_bytes
    assert report["micropython"].ram_bytes


@pytest.mark.parametrize("name", ["mcd", "bgmm_tied", "ocsvm_sigmoid", "ocsvm_linear"])
def test_verify_micropython(models: dict[str, Any], name: str) -> None:
    est, X = models[name]
    report = microlearn.verify(est, rows(X, 20, seed=2), targets=["micropython"])
    assert report["micropython"].agreement == 1.0


def test_verify_counts_a_wrong_decision() -> None:
    """The SCORE comparator checks the decision, not only the score: a target that flips it fails."""
    from microlearn.targets.base import TargetRun
    from microlearn.verify import compare_score

    est = EllipticEnvelope(random_state=0).fit(XI)
    X = rows(XI, 40)
    ref = to_ir(est).reference(X)
    assert ref.decision is not None
    good = TargetRun(outputs=ref.outputs.astype(np.float32), extra={"predict": ref.decision})
    bad = TargetRun(outputs=ref.outputs.astype(np.float32), extra={"predict": -ref.decision})
    assert compare_score(ref, good).agreement == 1.0
    assert compare_score(ref, bad).agreement == 0.0


# ---------------------------------------------------------------------------------------------- bad input
def test_bad_input() -> None:
    with pytest.raises(NotFittedError, match="fit"):
        to_ir(EllipticEnvelope())
    with pytest.raises(NotFittedError, match="fit"):
        to_ir(GaussianMixture())
    with pytest.raises(UnsupportedEstimatorError, match="novelty=True"):
        to_ir(LocalOutlierFactor(n_neighbors=5).fit(XI))
    with pytest.raises(UnsupportedEstimatorError, match="euclidean"):
        to_ir(LocalOutlierFactor(n_neighbors=5, novelty=True, metric="manhattan").fit(XI))
    with pytest.raises(UnsupportedEstimatorError, match="kernel"):
        to_ir(OneClassSVM(kernel=lambda a, b: a @ b.T).fit(XI))
    with pytest.raises(microlearn.errors.InvalidInputError):
        microlearn.verify(EllipticEnvelope(random_state=0).fit(XI), np.zeros((3, 2)), targets=["host"])


GMM_FAST = """
#include "gm.h"
void b_fast(const float *x, int32_t n, int32_t *out) {
    int32_t r;
    for (r = 0; r < n; r++) {
        float s[GM_N_OUTPUTS], q[GM_N_OUTPUTS], rr[GM_N_OUTPUTS];
        out[r] = ml_gmm_class_f32(&gm_f32, x + (size_t)r * GM_N_FEATURES, s, q, rr);
    }
}
"""


def near_ties(ir: Any, X: npt.NDArray[np.float32], n: int = 12) -> npt.NDArray[np.float32]:
    """Rows within float32 rounding of a decision boundary (microlearn.verify.boundary_rows)."""
    return boundary_rows(ir, X, n)


@pytest.mark.parametrize(
    "name", ["gmm_full", "gmm_tied", "gmm_diag", "gmm_spherical", "bgmm_full", "bgmm_dist"]
)
def test_mixture_fast_path_and_replay(models: dict[str, Any], name: str) -> None:
    from microlearn.backends.c.mixture import emit as emit_mixture

    est, X = models[name]
    ir = to_ir(est)
    lib = host.build({"gm.h": emit_mixture(ir, "gm").header, "w.c": GMM_FAST}, cflags=STRICT)
    Xt = np.vstack([rows(X, 300, seed=3), near_ties(ir, rows(X, 60, seed=4))])
    ref = ir.reference(Xt)
    assert ref.ambiguous is not None
    out = np.zeros(len(Xt), dtype=np.int32)
    lib.b_fast(
        Xt.ctypes.data_as(ctypes.c_void_p), ctypes.c_int32(len(Xt)), out.ctypes.data_as(ctypes.c_void_p)
    )
    decided = out >= 0
    assert np.all(out[decided] == ref.outputs[decided])  # the fast path is never wrong
    assert np.all(out[decided] == est.predict(Xt)[decided])
    assert decided[:300].mean() > 0.9  # and decides the ordinary rows
    assert (~decided[300:]).sum() >= 2  # near ties go through the replay
    r = microlearn.verify(est, Xt, targets=["host"])["host"]
    assert r.agreement == 1.0, r


# ------------------------------------------------------------------------------------------ float32 methods
LITE = """
#include "{name}.h"
void b_predict(const float *x, int32_t n, int32_t *out) {{
    int32_t r;
    for (r = 0; r < n; r++) out[r] = {name}_predict(x + (size_t)r * {up}_N_FEATURES);
}}
"""


def _call(lib: Any, fn: str, X: npt.NDArray[np.float32]) -> npt.NDArray[np.int32]:
    X32 = np.ascontiguousarray(X, dtype=np.float32)
    out = np.zeros(len(X32), dtype=np.int32)
    getattr(lib, fn)(
        X32.ctypes.data_as(ctypes.c_void_p), ctypes.c_int32(len(X32)), out.ctypes.data_as(ctypes.c_void_p)
    )
    return out


def float32_method(ir: Any, X: npt.NDArray[np.float32]) -> npt.NDArray[np.int32]:
    from microlearn.backends.c.registry import generate

    hdr = generate(ir, "float32", "lite").header
    assert "double" not in hdr  # no float64 code at all
    return _call(host.build({"lite.h": hdr, "w.c": LITE.format(name="lite", up="LITE")}, cflags=STRICT),
                 "b_predict", X)  # fmt: skip


@pytest.mark.parametrize("name", ["elliptic", "elliptic_iris", "mcd"])
def test_mahalanobis_float32_method(models: dict[str, Any], name: str) -> None:
    est, X = models[name]
    ir = to_ir(est)
    fast_lib = host.build(
        {"mah.h": emit_mahalanobis(ir, "mah").header, "w.c": FAST.format(name="mah", up="MAH")}, cflags=STRICT
    )
    Xt = np.vstack([rows(X, 200, seed=3), near_threshold(ir, mixed(X, 100, seed=4))])
    got, fast = float32_method(ir, Xt), _call(fast_lib, "b_fast", Xt)
    decided = fast != 0
    assert decided[:200].mean() > 0.9
    assert np.array_equal(got[decided], fast[decided])  # scikit-learn's decision wherever the bound decides
    ref = ir.reference(Xt)
    assert ref.scores is not None
    # elsewhere the row lies on the threshold: its decision value is within float32 rounding of 0
    assert np.all(np.abs(ref.scores[~decided]) <= 1e-4 * (1.0 + abs(ir.threshold)))
    assert set(np.unique(got)) <= {1, -1}


@pytest.mark.parametrize("name", ["gmm_full", "gmm_tied", "gmm_diag", "gmm_spherical", "bgmm_full"])
def test_mixture_float32_method(models: dict[str, Any], name: str) -> None:
    from microlearn.backends.c.mixture import emit as emit_mixture

    est, X = models[name]
    ir = to_ir(est)
    fast_lib = host.build({"gm.h": emit_mixture(ir, "gm").header, "w.c": GMM_FAST}, cflags=STRICT)
    Xt = np.vstack([rows(X, 200, seed=3), near_ties(ir, rows(X, 60, seed=4))])
    got, fast = float32_method(ir, Xt), _call(fast_lib, "b_fast", Xt)
    decided = fast >= 0
    assert decided[:200].mean() > 0.9
    assert np.array_equal(got[decided], fast[decided])  # scikit-learn's component wherever the bound decides
    wlp = ir.weighted_log_prob(Xt)
    top = wlp.max(axis=1)
    assert np.all(top - wlp[np.arange(len(Xt)), got] <= 1e-4 * (1.0 + np.abs(top)))  # else a near tie


@pytest.mark.parametrize("name", ["elliptic", "gmm_full"])
def test_verify_float32_method_reports_measured_agreement(models: dict[str, Any], name: str) -> None:
    est, X = models[name]
    ir = to_ir(est)
    assert microlearn.methods_for(est) == ["float", "float32"]  # the exact method stays the default
    mcus = ["cortex-m4f", "cortex-m0plus", "rv32imc"]
    report = microlearn.verify(est, rows(X, 12, seed=9), targets=["host", *mcus], method="float32")
    for t, r in report.items():
        assert r.agreement == 1.0, (t, r)
    for t in mcus:
        assert report[t].extra["softfloat_double"] == [], t  # no soft-double routine linked
    near = (
        near_threshold(ir, mixed(X, 40, seed=6), 12) if name == "elliptic" else near_ties(ir, rows(X, 60, 4))
    )
    Xn = np.vstack([rows(X, 8, seed=1), near])
    ref = ir.reference(Xn)
    assert ref.ambiguous is not None
    want = ref.decision if ref.decision is not None else ref.outputs
    firm = ~np.asarray(ref.ambiguous, dtype=bool)
    measured = float(np.mean(float32_method(ir, Xn)[firm] == np.asarray(want)[firm]))
    assert microlearn.verify(est, Xn, targets=["host"], method="float32")["host"].agreement == measured


# ---------------------------------------------------------------------------------------------- random models


@settings(max_examples=8, deadline=None)
@given(
    n=st.integers(1, 7),
    seed=st.integers(0, 2**31 - 1),
    log_scale=st.floats(-3.0, 3.0),
    log_shift=st.floats(-2.0, 4.0),
)
def test_random_mahalanobis_models_near_the_threshold(
    n: int, seed: int, log_scale: float, log_shift: float
) -> None:
    """Random precision matrices (correlated, features of scales 10^-3 .. 10^3, far from the origin) and
    rows placed within relative 10^-8 .. 10^-2 of the threshold: the float32 fast path never decides a
    row wrongly and predict equals the reference outside its ambiguous rows."""
    rng = np.random.default_rng(seed)
    scale = 10.0 ** (log_scale + rng.uniform(-1.5, 1.5, n))
    A = rng.normal(size=(n, n)) * scale
    cov = A @ A.T + np.diag(scale**2) * 0.1
    P = np.linalg.inv(cov)
    P = (P + P.T) / 2
    loc = rng.normal(size=n) * 10.0**log_shift
    thr = float(rng.uniform(1.0, 30.0))
    ir = Mahalanobis(location=loc, precision=P, offset=-thr)
    v = rng.normal(size=(40, n))
    t = np.sqrt(thr / np.einsum("ij,jk,ik->i", v, P, v))
    eps = rng.choice([-1, 1], 40) * 10.0 ** rng.uniform(-8, -2, 40)
    X = (loc + v * (t * (1 + eps))[:, None]).astype(np.float32)
    X = np.vstack([X, (loc + rng.normal(size=(10, n)) * scale).astype(np.float32)])
    lib = host.build({"mah.h": emit_mahalanobis(ir, "mah").header, "w.c": FAST.format(name="mah", up="MAH")},
                     cflags=STRICT)  # fmt: skip
    ref = ir.reference(X)
    assert ref.decision is not None and ref.ambiguous is not None
    fast = np.zeros(len(X), dtype=np.int32)
    pred = np.zeros(len(X), dtype=np.int32)
    for fn, out in (("b_fast", fast), ("b_predict", pred)):
        getattr(lib, fn)(
            X.ctypes.data_as(ctypes.c_void_p), ctypes.c_int32(len(X)), out.ctypes.data_as(ctypes.c_void_p)
        )
    decided = fast != 0
    assert np.all(fast[decided] == ref.decision[decided])
    assert np.all((pred == ref.decision) | ref.ambiguous)
    # the reference's decision is the exact one outside the ambiguous rows (long double check)
    d = X.astype(np.longdouble) - loc.astype(np.longdouble)
    q = np.einsum("ij,jk,ik->i", d, P.astype(np.longdouble), d)
    exact = np.where(-q + thr >= 0, 1, -1)
    assert np.all((exact == ref.decision) | ref.ambiguous)
