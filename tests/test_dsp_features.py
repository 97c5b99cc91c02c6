"""Window features: C (ml_features.h) and MicroPython (mlrt.dsp_features) bit-identical to the float32
reference in microlearn.dsp.features, which agrees with numpy/scipy's float64 definitions."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from microlearn.dsp import _sensor_backends as B  # noqa: N812
from microlearn.dsp import features as F  # noqa: N812
from microlearn.errors import InvalidInputError, NotFittedError

BANDS = [(0.0, 2.0), (2.0, 6.5), (6.5, 25.0)]


def _windows(m: int, n: int, k: int, seed: int, scale: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 50.0
    W = rng.standard_normal((m, n, k)) * 0.3 + np.sin(
        2 * np.pi * rng.uniform(0.5, 10, (m, 1, k)) * t[:, None]
    )
    return (W * scale + rng.normal(0, scale, (m, 1, k))).astype(np.float32)


@settings(max_examples=10, deadline=None)
@given(
    n=st.integers(2, 96),
    k=st.integers(1, 4),
    scale=st.sampled_from([1e-4, 1.0, 9.81, 30000.0]),
    seed=st.integers(0, 2**31),
    magnitude=st.booleans(),
)
def test_c_is_bit_identical(n: int, k: int, scale: float, seed: int, magnitude: bool) -> None:
    W = _windows(7, n, k, seed, scale)
    bands = [(0.0, 25.0)] if n >= 4 else []
    ref = F.window_features(W, magnitude=magnitude, sr=50.0, bands=bands)
    got = B.window_features_c(W, magnitude=magnitude, sr=50.0, bands=bands)
    np.testing.assert_array_equal(got, ref)


def test_micropython_is_bit_identical() -> None:
    W = _windows(4, 64, 3, 11, 9.81)
    W[0] = 0.0  # silence
    W[1, :, :] = 1.0  # DC
    ref = F.window_features(W, sr=50.0, bands=BANDS)
    np.testing.assert_array_equal(B.window_features_micropython(W, sr=50.0, bands=BANDS), ref)


def test_reference_agrees_with_float64_definitions() -> None:
    W = _windows(50, 128, 3, 2, 9.81)
    got = F.window_features(W, sr=50.0, bands=[(1.0, 5.0)])
    V = W.astype(np.float64)
    V = np.concatenate([V, np.sqrt((V**2).sum(axis=2, keepdims=True))], axis=2)
    names = F.FeatureConfig(128, 3, F.STATS, True, 50.0, ((1.0, 5.0),)).feature_names()
    col = {nm: got[:, i] for i, nm in enumerate(names)}
    X = np.fft.rfft(V - V.mean(axis=1, keepdims=True), axis=1)
    k = np.arange(65) * 50.0 / 128
    for c, ch in enumerate(["x", "y", "z", "mag"]):
        v = V[:, :, c]
        want = {
            "mean": v.mean(1),
            "std": v.std(1),
            "min": v.min(1),
            "max": v.max(1),
            "rms": np.sqrt((v**2).mean(1)),
            "ptp": np.ptp(v, 1),
            "energy": (v**2).mean(1),
            "skewness": scipy.stats.skew(v, axis=1),
            "kurtosis": scipy.stats.kurtosis(v, axis=1),
            "band_1_5hz": (np.abs(X[:, (k >= 1) & (k < 5), c]) ** 2).sum(1) / 128,
        }
        for nm, w in want.items():
            np.testing.assert_allclose(
                col[f"{ch}_{nm}"], w, rtol=2e-4, atol=2e-4 * np.abs(w).max(), err_msg=nm
            )
        s = np.signbit(v)
        np.testing.assert_array_equal(col[f"{ch}_zero_crossings"], (s[:, 1:] != s[:, :-1]).sum(1))


def test_edge_windows() -> None:
    W = np.zeros((4, 32, 3), dtype=np.float32)
    W[1] = 5.0  # DC
    W[2, 7, :] = 1.0  # an impulse
    W[3] = 1e8 * np.sign(np.sin(np.arange(32)))[:, None]  # full scale
    ref = F.window_features(W, sr=32.0, bands=[(1.0, 16.0)])
    np.testing.assert_array_equal(B.window_features_c(W, sr=32.0, bands=[(1.0, 16.0)]), ref)
    assert np.all(np.isfinite(ref))
    names = list(F.FeatureConfig(32, 3, F.STATS, True, 32.0, ((1.0, 16.0),)).feature_names())
    sk, ku = names.index("x_skewness"), names.index("x_kurtosis")
    assert ref[0, sk] == ref[0, ku] == ref[1, sk] == ref[1, ku] == 0.0  # constant channels


@pytest.mark.parametrize("run", [F.window_features, B.window_features_c, B.window_features_micropython])
def test_bad_windows_rejected(run: object) -> None:
    W = np.zeros((16, 3))
    W[3, 1] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        run(W)  # type: ignore[operator]
    with pytest.raises(InvalidInputError, match="1e"):
        run(np.full((16, 3), 2e8))  # type: ignore[operator]
    with pytest.raises(InvalidInputError, match="unknown statistic"):
        run(np.zeros((16, 3)), stats=["median"])  # type: ignore[operator]
    with pytest.raises(InvalidInputError, match="sr"):
        run(np.zeros((16, 3)), bands=[(1, 2)])  # type: ignore[operator]


def test_sliding_windows_and_transformer() -> None:
    x = np.arange(30, dtype=np.float32).reshape(10, 3)
    W = F.sliding_windows(x, 4, 2)
    assert W.shape == (4, 12)
    np.testing.assert_array_equal(W[1], x[2:6].ravel())
    fx = F.FeatureExtractor(window=4, n_axes=3, stats=("mean", "max"), magnitude=False)
    with pytest.raises(NotFittedError):
        fx.transform(W)
    out = fx.fit(W).transform(W)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out[0], [4.5, 9.0, 5.5, 10.0, 6.5, 11.0])
    assert list(fx.get_feature_names_out()) == ["x_mean", "x_max", "y_mean", "y_max", "z_mean", "z_max"]
    with pytest.raises(InvalidInputError, match="shape"):
        fx.transform(W[:, :5])
