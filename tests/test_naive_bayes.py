"""GaussianNB: the IR's reference is scikit-learn's arithmetic bit for bit (priors given or imbalanced,
float64 and float32 fits, pairwise sums of many features); the generated C decides in float32 under its
proven bound and replays near ties in float64 (host, Cortex-M4F, Cortex-M0+, rv32imc); the "float32"
method (no replay) decides as the fast path wherever it decides, and verify reports its agreement as
measured; the model file round-trips and mlrt in the real MicroPython agrees; bad input gives clear
errors."""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from sklearn.datasets import load_iris, make_classification
from sklearn.naive_bayes import GaussianNB as SkGNB

import microlearn
from microlearn import host
from microlearn.backends import modelfile
from microlearn.backends.c.naive_bayes import emit, emit_float32
from microlearn.errors import InvalidInputError, ModelFileError, NotFittedError, UnsupportedEstimatorError
from microlearn.frontends.sklearn.naive_bayes import convert_gaussian_nb as convert
from microlearn.ir.naive_bayes import GaussianNB
from microlearn.verify import boundary_rows

MCUS = ["cortex-m4f", "cortex-m0plus", "rv32imc"]
XI, YI = load_iris(return_X_y=True)


def _imbalanced() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    X, y = make_classification(
        n_samples=600, n_features=12, n_informative=6, n_classes=3, weights=[0.85, 0.1, 0.05],
        class_sep=0.6, random_state=3,
    )  # fmt: skip
    return X * np.array([1.0, 10.0, 0.1] * 4), y


XM, YM = _imbalanced()


@pytest.fixture(scope="module")
def models() -> dict[str, Any]:
    return {
        "iris": SkGNB().fit(XI, YI),
        "imbalanced": SkGNB().fit(XM, YM),
        "priors": SkGNB(priors=[0.02, 0.08, 0.9]).fit(XM, YM),
        "zero_prior": SkGNB(priors=[0.0, 0.5, 0.5]).fit(XM, YM),
        "smoothing": SkGNB(var_smoothing=1e-2).fit(XM, YM),
        "float32": SkGNB().fit(XM.astype(np.float32), YM),
        "strings": SkGNB().fit(XI, np.array(["setosa", "versicolor", "virginica"])[YI]),
    }


def rows(name: str, n: int = 200, seed: int = 0) -> npt.NDArray[np.float32]:
    X = XI if name in ("iris", "strings") else XM
    rng = np.random.default_rng(seed)
    pick = X[rng.integers(0, len(X), n)]
    return (pick + rng.normal(size=pick.shape) * X.std(axis=0) * 0.3).astype(np.float32)


def near_ties(ir: GaussianNB, X: npt.NDArray[np.float32], n: int = 12) -> npt.NDArray[np.float32]:
    """Rows within float32 rounding of a decision boundary (microlearn.verify.boundary_rows)."""
    return boundary_rows(ir, X, n)


# ---------------------------------------------------------------------------------------------- reference
@pytest.mark.filterwarnings("ignore:divide by zero")  # scikit-learn's log(0) of a zero prior
@pytest.mark.parametrize(
    "name", ["iris", "imbalanced", "priors", "zero_prior", "smoothing", "float32", "strings"]
)
def test_reference_is_scikit_learn_bit_for_bit(models: dict[str, Any], name: str) -> None:
    est = models[name]
    ir = convert(est)
    X = rows(name)
    ref = ir.reference(X)
    assert np.array_equal(est.classes_[ref.outputs], est.predict(X))
    with np.errstate(divide="ignore"):
        assert np.array_equal(ref.scores, est.predict_joint_log_proba(X).astype(np.float64))
        assert np.array_equal(ref.proba, est.predict_proba(X).astype(np.float64))
        assert np.array_equal(ir.log_proba(ir.joint_log_likelihood(X)), est.predict_log_proba(X))
    assert ir.dtype == ("float32" if name == "float32" else "float64")
    assert ref.ambiguous is not None and not ref.ambiguous.any()


def test_priors_matter_on_imbalanced_data(models: dict[str, Any]) -> None:
    """Ignoring the priors changes many classes here; the IR keeps them (and so every backend)."""
    est = models["imbalanced"]
    ir = convert(est)
    X = rows("imbalanced", 400)
    flat = GaussianNB(theta=ir.theta, var=ir.var, prior=np.full(ir.k, 1.0 / ir.k))
    differ = float(np.mean(flat.reference(X).outputs != est.predict(X)))
    assert differ > 0.02
    assert np.array_equal(ir.reference(X).outputs, est.predict(X))


def test_exact_tie_is_ambiguous_and_first_class_wins() -> None:
    est = SkGNB().fit(np.array([[-2.0], [-1.0], [1.0], [2.0]]), [0, 0, 1, 1])
    ir = convert(est)
    X = np.array([[0.0], [1e-30], [-1e-30], [3.0]], dtype=np.float32)
    ref = ir.reference(X)
    assert ref.ambiguous is not None and ref.ambiguous[0] and not ref.ambiguous[3]
    assert ref.outputs[0] == est.predict(X)[0] == 0


# ---------------------------------------------------------------------------------------------- host C
WRAP = """
#include "{name}.h"
void b_predict(const float *x, int32_t n, int32_t *out) {{
    int32_t r;
    for (r = 0; r < n; r++) out[r] = {name}_predict(x + (size_t)r * {up}_N_FEATURES);
}}
void b_fast(const float *x, int32_t n, int32_t *out) {{
    int32_t r;
    for (r = 0; r < n; r++) {{
        float s[{up}_N_SCORES], q[{up}_N_SCORES];
        out[r] = ml_gnb_class_f32(&{name}_f32, x + (size_t)r * {up}_N_FEATURES, s, q);
    }}
}}
void b_proba(const float *x, int32_t n, float *out) {{
    int32_t r;
    for (r = 0; r < n; r++)
        {name}_predict_proba(x + (size_t)r * {up}_N_FEATURES, out + (size_t)r * {up}_N_CLASSES);
}}
void b_log_proba(const float *x, int32_t n, float *out) {{
    int32_t r;
    for (r = 0; r < n; r++)
        {name}_predict_log_proba(x + (size_t)r * {up}_N_FEATURES, out + (size_t)r * {up}_N_CLASSES);
}}
"""
STRICT = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Wpedantic", "-Wconversion", "-Wshadow",
          "-Wdouble-promotion", "-Werror", "-fPIC", "-shared")  # fmt: skip


class HostNB:
    def __init__(self, ir: GaussianNB, name: str = "nb") -> None:
        self.ir = ir
        self.k = ir.k
        self.lib = host.build(
            {f"{name}.h": emit(ir, name).header, "wrap.c": WRAP.format(name=name, up=name.upper())},
            cflags=STRICT,
        )

    def call(self, fn: str, X: npt.ArrayLike, width: int, dtype: Any) -> npt.NDArray[Any]:
        X32 = np.ascontiguousarray(X, dtype=np.float32)
        out = np.zeros((X32.shape[0], width), dtype=dtype)
        getattr(self.lib, fn)(
            X32.ctypes.data_as(ctypes.c_void_p), ctypes.c_int32(len(X32)), out.ctypes.data_as(ctypes.c_void_p)
        )
        return out


@pytest.fixture(scope="module")
def host_models(models: dict[str, Any]) -> dict[str, HostNB]:
    return {k: HostNB(convert(v)) for k, v in models.items()}


@pytest.mark.parametrize("name", ["iris", "imbalanced", "priors", "zero_prior", "smoothing", "float32"])
def test_host_c_classes_and_probabilities(host_models: dict[str, HostNB], name: str) -> None:
    hm = host_models[name]
    X = np.vstack([rows(name), near_ties(hm.ir, rows(name, 40, seed=5))])
    ref = hm.ir.reference(X)
    assert ref.ambiguous is not None and ref.proba is not None
    got = hm.call("b_predict", X, 1, np.int32)[:, 0]
    assert np.all((got == ref.outputs) | ref.ambiguous)
    fast = hm.call("b_fast", X, 1, np.int32)[:, 0]
    decided = fast >= 0
    assert np.all(fast[decided] == ref.outputs[decided])  # the fast path is never wrong
    assert decided[:200].mean() > 0.9  # and decides the ordinary rows
    assert (~decided[200:]).sum() >= 2  # near ties go through the replay
    p = hm.call("b_proba", X, hm.k, np.float32).astype(np.float64)
    tol = 1e-6 if hm.ir.dtype == "float64" else 1e-5  # a float32 fit: scikit-learn's own proba is float32
    assert np.max(np.abs(p - ref.proba)) < tol
    lp = hm.call("b_log_proba", X, hm.k, np.float32).astype(np.float64)
    with np.errstate(divide="ignore"):
        want = hm.ir.log_proba(hm.ir.joint_log_likelihood(X))
    fin = np.isfinite(want)
    assert np.all(np.abs(lp[fin] - want[fin]) <= tol * np.maximum(1.0, np.abs(want[fin])))
    assert np.all(np.isneginf(lp[~fin]))


def test_host_c_exact_tie_takes_first_class() -> None:
    est = SkGNB().fit(np.array([[-2.0], [-1.0], [1.0], [2.0]]), [0, 0, 1, 1])
    hm = HostNB(convert(est), "tie")
    X = np.array([[0.0], [1e-30], [-1e-30]], dtype=np.float32)
    assert hm.call("b_fast", X, 1, np.int32)[0, 0] == -1
    assert list(hm.call("b_predict", X, 1, np.int32)[:, 0]) == list(est.predict(X))


# ------------------------------------------------------------------------------------------- float32 method
PREDICT = """
#include "{name}.h"
void b_predict(const float *x, int32_t n, int32_t *out) {{
    int32_t r;
    for (r = 0; r < n; r++) out[r] = {name}_predict(x + (size_t)r * {up}_N_FEATURES);
}}
"""


def float32_method(ir: GaussianNB, X: npt.NDArray[np.float32]) -> npt.NDArray[np.int32]:
    src = emit_float32(ir, "nbf")
    assert "double" not in src.header  # no float64 code at all
    lib = host.build({"nbf.h": src.header, "w.c": PREDICT.format(name="nbf", up="NBF")}, cflags=STRICT)
    X32 = np.ascontiguousarray(X, dtype=np.float32)
    out = np.zeros(len(X32), dtype=np.int32)
    lib.b_predict(
        X32.ctypes.data_as(ctypes.c_void_p), ctypes.c_int32(len(X32)), out.ctypes.data_as(ctypes.c_void_p)
    )
    return out


@pytest.mark.filterwarnings("ignore:divide by zero")
@pytest.mark.parametrize("name", ["iris", "imbalanced", "zero_prior", "float32"])
def test_float32_method_decides_as_the_fast_path(host_models: dict[str, HostNB], name: str) -> None:
    hm = host_models[name]
    X = np.vstack([rows(name), near_ties(hm.ir, rows(name, 40, seed=5))])
    got = float32_method(hm.ir, X)
    fast = hm.call("b_fast", X, 1, np.int32)[:, 0]
    decided = fast >= 0
    assert decided[:200].mean() > 0.9
    assert np.array_equal(got[decided], fast[decided])  # scikit-learn's class wherever the bound decides
    jll = np.asarray(hm.ir.joint_log_likelihood(X), dtype=np.float64)
    top = jll.max(axis=1)
    chosen = jll[np.arange(len(X)), got]
    assert np.all(top - chosen <= 1e-4 * (1.0 + np.abs(top)))  # elsewhere one of a near tie


def test_verify_float32_method_reports_measured_agreement(models: dict[str, Any]) -> None:
    est = models["priors"]
    ir = convert(est)
    assert microlearn.methods_for(est) == ["float", "float32"]  # the exact method stays the default
    from microlearn.backends.c.registry import methods

    assert methods(ir)["float"].exact and not methods(ir)["float32"].exact  # advice says which is which
    report = microlearn.verify(est, rows("priors", 24, seed=2), targets=["host", *MCUS], method="float32")
    assert report.method == "float32"
    for t, r in report.items():
        assert r.agreement == 1.0, (t, r)
    for t in MCUS:
        assert report[t].extra["softfloat_double"] == [], t  # no soft-double routine linked
    X = near_ties(ir, rows("priors", 80, seed=7), 12)
    ref = ir.reference(X)
    assert ref.ambiguous is not None
    firm = ~ref.ambiguous
    want = float(np.mean(float32_method(ir, X)[firm] == ref.outputs[firm]))
    assert microlearn.verify(est, X, targets=["host"], method="float32")["host"].agreement == want


# ---------------------------------------------------------------------------------------------- model file
@pytest.mark.parametrize("name", ["imbalanced", "zero_prior", "float32", "strings"])
def test_model_file_round_trip(models: dict[str, Any], name: str) -> None:
    ir = convert(models[name])
    back = modelfile.loads(modelfile.dumps(ir))
    assert isinstance(back, GaussianNB)
    for f in ("theta", "var", "prior"):
        assert np.array_equal(getattr(back, f), getattr(ir, f))
    assert back.dtype == ir.dtype and back.source == ir.source
    assert [str(c) for c in back.classes] == [str(c) for c in ir.classes]  # type: ignore[union-attr]
    X = rows(name, 50)
    assert np.array_equal(back.reference(X).scores, ir.reference(X).scores)  # type: ignore[arg-type]


def test_model_file_refuses_inconsistent_terms(models: dict[str, Any]) -> None:
    from microlearn.backends.modelfile import container
    from microlearn.backends.modelfile.naive_bayes import NAIVE_BAYES, dump

    enc = dump(convert(models["iris"]))
    secs = []
    for tag, a in enc.sections:
        spec = NAIVE_BAYES.spec(tag)
        assert spec is not None
        secs.append((tag, spec.dtype, spec.critical, a + 1e-9 if tag == b"NORM" else a))
    data = container.pack(container.Header(3, enc.task, enc.n_features, enc.n_outputs), secs)
    with pytest.raises(ModelFileError, match="NORM"):
        modelfile.loads(data)


# ---------------------------------------------------------------------------------------------- every target
def test_verify_every_target(models: dict[str, Any]) -> None:
    est = models["priors"]
    ir = convert(est)
    X = np.vstack([rows("priors", 16, seed=2), near_ties(ir, rows("priors", 80, seed=7), 6)])
    report = microlearn.verify(est, X, targets=["host", *MCUS, "micropython"])
    for t, r in report.items():
        assert r.agreement == 1.0, (t, r)
        if t != "host" and t not in MCUS:
            assert r.max_abs_error is not None and r.max_abs_error < 1e-6
    for t in MCUS:
        assert report[t].instructions_mean is not None and report[t].flash_bytes


def test_mlrt_log_proba_in_micropython(models: dict[str, Any]) -> None:
    from microlearn.micropython import run, runtime_files

    est = models["strings"]
    ir = convert(est)
    X = rows("strings", 4)
    code = (
        "import mlrt\nm = mlrt.load('/model.mlm')\n"
        "for r in ROWS:\n    print(m.predict_label(r), ' '.join(repr(v) for v in m.predict_log_proba(r)))\n"
    ).replace("ROWS", repr([[float(v) for v in r] for r in X]))
    out = run(code, {**runtime_files(), "/model.mlm": modelfile.dumps(ir)})
    lines = out.strip().splitlines()
    want = est.predict_log_proba(X)
    for line, lab, w in zip(lines, est.predict(X), want, strict=True):
        parts = line.split()
        assert parts[0] == lab
        assert np.allclose([float(v) for v in parts[1:]], w, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------------------- bad input
def test_bad_input() -> None:
    with pytest.raises(NotFittedError, match="fit"):
        convert(SkGNB())
    with pytest.raises(InvalidInputError, match="var_smoothing"):
        convert(SkGNB(var_smoothing=0.0).fit(np.array([[1.0], [1.0], [1.0], [1.0]]), [0, 0, 1, 1]))
    one = SkGNB().fit(XI[:10], YI[:10])
    with pytest.raises(UnsupportedEstimatorError, match="single class"):
        convert(one)
    wide = SkGNB().fit(np.array([[0.0], [1e-37], [1.0], [1.0 + 1e-37]]), [0, 0, 1, 1])
    wide.var_[:] = 1e-38
    with pytest.raises(InvalidInputError, match="scale the features"):
        emit(convert(wide), "w")
    with pytest.raises(ValueError, match="variance"):
        GaussianNB(theta=np.zeros((2, 1)), var=np.array([[1.0], [-1.0]]), prior=np.array([0.5, 0.5]))
    with pytest.raises(InvalidInputError):
        microlearn.verify(SkGNB().fit(XI, YI), np.zeros((3, 2)), targets=["host"])
