"""Stage IR references against scikit-learn's own transform: bit for bit (dtype included) on random data,
zero scales, NaN and the values scikit-learn refuses (inf) computed the way numpy would."""

from __future__ import annotations

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

from microlearn.errors import NotFittedError, UnsupportedEstimatorError
from microlearn.frontends.registry import to_ir
from microlearn.ir.base import Task
from microlearn.ir.transform import Elementwise, Normalize, Op, pairwise_sum32

SCALERS: list[Any] = [
    StandardScaler(),
    StandardScaler(with_mean=False),
    StandardScaler(with_std=False),
    MinMaxScaler(),
    MinMaxScaler(feature_range=(-2, 3), clip=True),
    MaxAbsScaler(),
    MaxAbsScaler(clip=True),
    RobustScaler(),
    RobustScaler(quantile_range=(10, 90), unit_variance=True),
    RobustScaler(with_centering=False),
]
IMPUTERS: list[Any] = [
    SimpleImputer(),
    SimpleImputer(strategy="median"),
    SimpleImputer(strategy="most_frequent"),
    SimpleImputer(strategy="constant", fill_value=0.1),
    SimpleImputer(keep_empty_features=True),
]


def convert(est: Any) -> Any:
    return to_ir(est)


def same_bits(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> bool:
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a.view(np.uint8), b.view(np.uint8))


def train(rng: np.random.Generator, n: int = 300) -> npt.NDArray[np.float64]:
    X = rng.normal(size=(n, 6)) * [1, 10, 100, 1e-3, 1e5, 1] + [0, 5, -3, 1e3, 7, 4]
    X[:, 5] = 4.0  # zero variance / zero range
    return X


def rows(rng: np.random.Generator, n: int = 2000, nan: bool = True) -> npt.NDArray[np.float32]:
    X = (rng.normal(size=(n, 6)) * [1, 10, 100, 1e-3, 1e5, 1] * 1.5 + [0, 5, -3, 1e3, 7, 4]).astype(
        np.float32
    )
    X[::37, 0] = 0.0
    X[::41, 1] = -0.0
    X[::43, 2] = np.float32(1e-42)  # subnormal
    X[::47, 4] = np.float32(3e38)
    if nan:
        X[::13, 3] = np.nan
    return X


@pytest.mark.parametrize("est", SCALERS, ids=repr)
@pytest.mark.parametrize("fit_dtype", [np.float64, np.float32])
def test_scalers_bit_identical(est: Any, fit_dtype: Any) -> None:
    rng = np.random.default_rng(1)
    est.fit(train(rng).astype(fit_dtype))
    ir = convert(est)
    assert isinstance(ir, Elementwise) and ir.task is Task.TRANSFORM
    X = rows(rng)
    ref = ir.reference(X).outputs
    assert ref.dtype == np.float32
    assert same_bits(ref, est.transform(X))
    # float64 rows (a stage after PCA) stay float64, as in scikit-learn
    assert same_bits(ir.transform(X.astype(np.float64)), est.transform(X.astype(np.float64)))
    assert np.isnan(ref[::13, 3]).all()


@pytest.mark.parametrize("est", SCALERS, ids=repr)
def test_scalers_inf_follows_numpy(est: Any) -> None:
    """scikit-learn refuses inf; the stage computes what numpy's arithmetic gives (the C does the same)."""
    rng = np.random.default_rng(2)
    est.fit(train(rng))
    ir = convert(est)
    X = rows(rng, 50)
    X[::3, 1] = np.inf
    X[1::3, 2] = -np.inf
    want = X.copy()
    for op in ir.ops:  # the in-place operations of the transform, without the input check
        op.apply(want)
    assert same_bits(ir.reference(X).outputs, want)


def test_standard_scaler_rounds_constants_to_float32() -> None:
    """StandardScaler casts mean_ to the data's dtype first (a float32 subtraction); MinMaxScaler does
    not (a float64 product rounded once): the IR records the difference and both match."""
    rng = np.random.default_rng(3)
    Xt = train(rng)
    ss, mm = StandardScaler().fit(Xt), MinMaxScaler().fit(Xt)
    assert [op.dtype for op in convert(ss).ops] == ["x", "x"]
    assert [op.dtype for op in convert(mm).ops] == ["f64", "f64"]
    X = rows(rng)
    wrong = X * mm.scale_.astype(np.float32) + mm.min_.astype(np.float32)
    assert not same_bits(wrong, mm.transform(X))  # float32 constants would not be exact
    assert same_bits(convert(mm).reference(X).outputs, mm.transform(X))


@pytest.mark.parametrize("est", IMPUTERS, ids=repr)
def test_imputers_bit_identical(est: Any) -> None:
    rng = np.random.default_rng(4)
    Xt = train(rng)
    Xt[rng.random(Xt.shape) < 0.2] = np.nan
    Xt[:, 2] = np.nan  # never observed: dropped unless keep_empty_features
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(Xt)
        X = rows(rng)
        X[::5, 0] = np.nan
        X[::7, 2] = np.nan
        want = est.transform(X)
    ir = convert(est)
    assert ir.n_outputs == want.shape[1] == (6 if est.keep_empty_features else 5)
    assert same_bits(ir.reference(X).outputs, want)


def test_imputer_rejects_what_it_cannot_do() -> None:
    X = np.array([[1.0, 2.0], [np.nan, 3.0], [-1.0, 4.0]])
    with pytest.raises(UnsupportedEstimatorError, match="missing_values"):
        convert(SimpleImputer(missing_values=-1.0).fit(np.nan_to_num(X)))
    with pytest.raises(UnsupportedEstimatorError, match="add_indicator"):
        convert(SimpleImputer(add_indicator=True).fit(X))
    with pytest.raises(NotFittedError, match="fit"):
        convert(SimpleImputer())


@pytest.mark.parametrize("norm", ["l1", "l2", "max"])
@pytest.mark.parametrize("n_features", [1, 3, 7, 8, 9, 17, 64, 130, 300])
def test_normalizer(norm: str, n_features: int) -> None:
    rng = np.random.default_rng(5 + n_features)
    X = (rng.normal(size=(400, n_features)) * rng.uniform(1e-3, 1e3, n_features)).astype(np.float32)
    X[::11] = 0.0  # zero norm -> 1
    X[::17] *= np.float32(1e-7)  # below scikit-learn's 10 eps: norm replaced by 1
    est = Normalizer(norm=norm).fit(X)
    ir = convert(est)
    assert isinstance(ir, Normalize)
    ref = ir.reference(X)
    want = est.transform(X)
    if norm == "l2":  # einsum's float32 order is numpy's SIMD build's: within the stated bound
        assert ref.bound is not None
        assert np.all(np.abs(ref.outputs.astype(np.float64) - want) <= ref.bound[:, None])
    else:
        assert same_bits(ref.outputs, want)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 300), st.integers(0, 2**32 - 1))
def test_pairwise_sum_is_numpys(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    A = np.abs(rng.normal(size=(5, n)) * rng.uniform(1e-3, 1e3, n)).astype(np.float32)
    assert same_bits(pairwise_sum32(A), np.sum(A, axis=1))


@pytest.mark.parametrize("whiten", [False, True])
def test_pca_reference_and_bound(whiten: bool) -> None:
    rng = np.random.default_rng(6)
    Xt = train(rng)[:, :5] @ rng.normal(size=(5, 5))
    est = PCA(n_components=3, whiten=whiten).fit(Xt)
    ir = convert(est)
    X = rows(rng, nan=False)[:, :5] @ np.eye(5, dtype=np.float32)
    ref = ir.reference(X)
    assert ref.outputs.dtype == np.float64
    assert same_bits(ref.outputs, est.transform(X))
    # a float64 evaluation in plain sequential order (what the device does) stays within the bound
    seq = np.zeros((X.shape[0], 3))
    for i in range(X.shape[1]):
        seq += X[:, i : i + 1].astype(np.float64) * ir.components[:, i]
    seq -= ir.offset
    if ir.scale is not None:
        seq /= ir.scale
    assert ref.bound is not None
    assert np.all(np.abs(seq.astype(np.float32) - ref.outputs) <= ref.bound[:, None])


def test_pca_refuses_float32_fit() -> None:
    X = np.random.default_rng(7).normal(size=(50, 4)).astype(np.float32)
    with pytest.raises(UnsupportedEstimatorError, match="float64"):
        convert(PCA(2).fit(X))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(-1e6, 1e6, width=32), min_size=3, max_size=40),
    st.lists(st.floats(width=32), min_size=1, max_size=30),
    st.sampled_from(range(len(SCALERS))),
)
def test_scalers_hypothesis(train_col: list[float], xs: list[float], which: int) -> None:
    est = SCALERS[which]
    Xt = np.array(train_col, dtype=np.float64).reshape(-1, 1)
    est.fit(Xt)
    ir = convert(est)
    X = np.array(xs, dtype=np.float32).reshape(-1, 1)
    X[np.isinf(X)] = 0.0  # scikit-learn refuses inf
    assert same_bits(ir.reference(X).outputs, est.transform(X))


def test_op_invariants() -> None:
    with pytest.raises(ValueError):
        Op("sub", np.array([np.inf]), "x")
    with pytest.raises(ValueError):
        Op("pow", np.array([1.0]), "x")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Op("clip", np.array([1.0]), "x")
    with pytest.raises(ValueError):
        Op("mul", np.array([0.1]), "f32")  # not a float32 value
