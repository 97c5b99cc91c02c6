"""The C stages (backends/c/transform.py + ml_transform.h) on this machine against the stage references:
the same float32 bits for every scaler, the imputer and the max / l1 normalizer; PCA and the l2 normalizer
within their stated bounds; refused inputs give ML_E_NAN."""

from __future__ import annotations

import ctypes
import warnings
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.decomposition import PCA
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, Normalizer, RobustScaler, StandardScaler

import microlearn
from microlearn import host
from microlearn.backends.c.transform import emit_stage
from microlearn.frontends.registry import to_ir
from microlearn.ir.transform import Elementwise, Op

STRICT = (
    "-std=c99",
    "-O2",
    "-fPIC",
    "-shared",
    "-Wall",
    "-Wextra",
    "-Wpedantic",
    "-Wconversion",
    "-Wshadow",
    "-Wdouble-promotion",
    "-Werror",
)


def convert(est: Any) -> Any:
    return to_ir(est)


def run_c(stage: Any, X: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int32]]:
    """Every row through the stage's C: outputs and per-row return codes."""
    sc = emit_stage(stage, "stg")
    n_in, n_out = stage.n_inputs, stage.n_outputs
    src = (
        '#include <stdint.h>\n#include <stddef.h>\n#include "ml_transform.h"\n'
        + sc.text
        + "void run(const float *X, int32_t n, float *out, int32_t *rc);\n"
        + "void run(const float *X, int32_t n, float *out, int32_t *rc)\n{\n"
        + "    for (int32_t i = 0; i < n; i++)\n"
        + f"        rc[i] = stg_transform(X + (size_t)i * {n_in}, out + (size_t)i * {n_out});\n}}\n"
    )
    lib = host.build({"stage.c": src}, cflags=STRICT)
    X = np.ascontiguousarray(X, dtype=np.float32)
    out = np.zeros((X.shape[0], n_out), dtype=np.float32)
    rc = np.zeros(X.shape[0], dtype=np.int32)
    lib.run.restype = None
    lib.run(
        ctypes.c_void_p(X.ctypes.data),
        ctypes.c_int32(X.shape[0]),
        ctypes.c_void_p(out.ctypes.data),
        ctypes.c_void_p(rc.ctypes.data),
    )
    return out, rc


def same_bits(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> bool:
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a.view(np.uint8), b.view(np.uint8))


def data(seed: int, n: int = 3000) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float32]]:
    rng = np.random.default_rng(seed)
    scale, shift = np.array([1, 10, 100, 1e-3, 1e5, 1.0]), np.array([0, 5, -3, 1e3, 7, 4])
    Xt = rng.normal(size=(300, 6)) * scale + shift
    Xt[:, 5] = 4.0  # zero variance
    X = (rng.normal(size=(n, 6)) * scale * 1.5 + shift).astype(np.float32)
    X[::37, 0] = 0.0
    X[::41, 1] = -0.0
    X[::43, 2] = np.float32(1e-42)
    X[::47, 4] = np.float32(3e38)
    X[::13, 3] = np.nan
    X[::53, 1] = np.inf
    X[::59, 2] = -np.inf
    return Xt, X


SCALERS: list[Any] = [
    StandardScaler(),
    StandardScaler(with_mean=False),
    MinMaxScaler(),
    MinMaxScaler(feature_range=(-2, 3), clip=True),
    MaxAbsScaler(),
    MaxAbsScaler(clip=True),
    RobustScaler(),
    RobustScaler(unit_variance=True),
]


@pytest.mark.parametrize("est", SCALERS, ids=repr)
@pytest.mark.parametrize("fit_dtype", [np.float64, np.float32])
def test_scalers_c_bit_identical(est: Any, fit_dtype: Any) -> None:
    Xt, X = data(1)
    est.fit(Xt.astype(fit_dtype))
    stage = convert(est)
    out, rc = run_c(stage, X)
    assert not rc.any()
    assert same_bits(out, stage.reference(X).outputs)  # NaN, inf, subnormals included
    finite = np.where(np.isinf(X), 0, X).astype(np.float32)
    assert same_bits(run_c(stage, finite)[0], est.transform(finite))


@pytest.mark.parametrize(
    "est",
    [SimpleImputer(), SimpleImputer(strategy="median"), SimpleImputer(keep_empty_features=True)],
    ids=repr,
)
def test_imputer_c(est: Any) -> None:
    Xt, X = data(2)
    Xt[np.random.default_rng(2).random(Xt.shape) < 0.2] = np.nan
    Xt[:, 2] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(Xt)
    stage = convert(est)
    out, rc = run_c(stage, X)
    assert not rc.any() and out.shape[1] == stage.n_outputs
    assert same_bits(out, stage.reference(X).outputs)
    finite = np.where(np.isinf(X), 0, X).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert same_bits(run_c(stage, finite)[0], est.transform(finite))


@pytest.mark.parametrize("norm", ["l1", "l2", "max"])
@pytest.mark.parametrize("n_features", [3, 8, 31, 200])
def test_normalizer_c(norm: str, n_features: int) -> None:
    rng = np.random.default_rng(n_features)
    X = (rng.normal(size=(1000, n_features)) * rng.uniform(1e-3, 1e3, n_features)).astype(np.float32)
    X[::11] = 0.0
    X[::17] *= np.float32(1e-7)
    stage = convert(Normalizer(norm=norm).fit(X))
    out, rc = run_c(stage, X)
    assert not rc.any()
    ref = stage.reference(X)
    if norm == "l2":
        assert ref.bound is not None
        assert np.all(np.abs(out.astype(np.float64) - ref.outputs) <= ref.bound[:, None])
    else:
        assert same_bits(out, ref.outputs)
    bad = X[:4].copy()
    bad[0, 0], bad[1, 1], bad[2, 2] = np.nan, np.inf, -np.inf
    assert list(run_c(stage, bad)[1][:3]) == [-9, -9, -9]  # ML_E_NAN


@pytest.mark.parametrize("whiten", [False, True])
def test_pca_c_within_bound(whiten: bool) -> None:
    Xt, X = data(3)
    rng = np.random.default_rng(3)
    Xt = Xt[:, :5] @ rng.normal(size=(5, 5))
    X = np.nan_to_num(X[:, :5], nan=1.0, posinf=2.0, neginf=-2.0)
    X[:, 4] = np.clip(X[:, 4], -1e6, 1e6)
    est = PCA(n_components=3, whiten=whiten).fit(Xt)
    stage = convert(est)
    out, rc = run_c(stage, X)
    assert not rc.any()
    ref = stage.reference(X)
    assert ref.bound is not None
    diff = np.abs(out.astype(np.float64) - ref.outputs)
    assert np.all(diff <= ref.bound[:, None])
    # the float32 the next stage sees equals scikit-learn's on (nearly) every value
    agree = np.mean(out == ref.outputs.astype(np.float32))
    assert agree > 0.99
    bad = X[:2].copy()
    bad[0, 1] = np.nan
    assert run_c(stage, bad)[1][0] == -9  # ML_E_NAN


@settings(max_examples=25, deadline=None)
@given(
    c1=st.floats(-1e30, 1e30),
    c2=st.floats(1e-30, 1e30),
    wide=st.booleans(),
    xs=st.lists(st.floats(width=32), min_size=1, max_size=64),
)
def test_random_ops_c_bit_identical(c1: float, c2: float, wide: bool, xs: list[float]) -> None:
    dt: Any = "f64" if wide else "x"
    stage = Elementwise(
        1,
        (
            Op("sub", np.array([c1]), dt),
            Op("div", np.array([c2]), dt),
            Op("mul", np.array([c2]), dt),
            Op("add", np.array([c1]), dt),
        ),
    )
    X = np.array(xs, dtype=np.float32).reshape(-1, 1)
    out, _ = run_c(stage, X)
    assert same_bits(out, stage.reference(X).outputs)


def test_clip_signed_zero_like_numpy() -> None:
    stage = Elementwise(2, (Op("clip", np.array([0.0, -1.0]), "x", hi=np.array([1.0, -0.0])),))
    X = np.array([[-0.0, 0.0], [0.0, -0.0], [np.nan, np.nan], [-5, 5], [0.5, -0.5]], dtype=np.float32)
    out, _ = run_c(stage, X)
    assert same_bits(out, stage.reference(X).outputs)


def test_generated_c_is_deterministic_and_safe_names() -> None:
    est = StandardScaler().fit(data(4)[0])
    a, b = emit_stage(convert(est), "s0"), emit_stage(convert(est), "s0")
    assert a.text == b.text and a.const_bytes == 48 and a.runtime_headers == ("ml_common.h", "ml_transform.h")
    with pytest.raises(ValueError):
        emit_stage(convert(est), "bad name")


MATRIX: list[Any] = [
    StandardScaler(),
    MinMaxScaler(clip=True),
    MaxAbsScaler(),
    RobustScaler(),
    SimpleImputer(strategy="most_frequent"),
    Normalizer("l1"),
    Normalizer("l2"),
    Normalizer("max"),
    PCA(n_components=4),
    PCA(n_components=4, whiten=True),
]


@pytest.mark.parametrize("est", MATRIX, ids=repr)
def test_every_stage_before_a_forest_on_host(est: Any) -> None:
    """[stage, RF] in C on this machine: scikit-learn's class on every row; folded too where it folds."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline

    from microlearn.model import Model
    from microlearn.passes.fold import fold_pipeline

    rng = np.random.default_rng(41)
    Xt = rng.normal(size=(500, 6)) * [1, 10, 100, 1e-3, 1e5, 1] + [0, 5, -3, 1e3, 7, 4]
    y = (Xt[:, 0] + Xt[:, 1] / 10 > 0).astype(np.int64) + (Xt[:, 4] > 7)
    X = (rng.normal(size=(2000, 6)) * [1, 10, 100, 1e-3, 1e5, 1] * 1.3 + [0, 5, -3, 1e3, 7, 4]).astype(
        np.float32
    )
    if isinstance(est, SimpleImputer):
        Xt[::5, 1] = np.nan
        X[::3, 1] = np.nan
    pipe = make_pipeline(est, RandomForestClassifier(n_estimators=8, max_depth=8, random_state=0)).fit(Xt, y)
    ir = to_ir(pipe)
    folded = fold_pipeline(ir)
    foldable = not isinstance(est, Normalizer | PCA)
    assert (folded is not ir) == foldable
    for variant in (ir, folded):
        model = Model(variant)
        assert model.n_inputs == 6
        assert np.array_equal(model.predict(X), pipe.predict(X))
        header = model.to_c("pipe")
        assert ("ml_transform.h" in header) == (variant is ir)
    assert microlearn.verify(pipe, X[:500])["host"].agreement == 1.0
