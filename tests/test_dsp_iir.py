"""sosfilt (ml_iir.h, mlrt.dsp_iir) against scipy; A/C weighting against IEC 61672-1 class 1."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
import scipy.signal as ss
from hypothesis import given, settings
from hypothesis import strategies as st

from microlearn import host
from microlearn.dsp import _sensor_backends as B  # noqa: N812
from microlearn.dsp import iir
from microlearn.errors import InvalidInputError

STRICT = ["-Wall", "-Wextra", "-Wpedantic", "-Wconversion", "-Wshadow", "-Wdouble-promotion", "-Werror"]


def _filters() -> list[np.ndarray]:
    return [
        ss.butter(4, 0.2, output="sos"),
        ss.butter(6, [0.05, 0.3], btype="band", output="sos"),
        ss.cheby1(3, 1, 0.1, btype="high", output="sos"),
        iir.a_weighting(48000),
    ]


@pytest.mark.parametrize("k", range(4))
def test_c_is_bit_identical_to_scipy_float32(k: int) -> None:
    sos = _filters()[k].astype(np.float32)
    rng = np.random.default_rng(k)
    x = rng.standard_normal((2, 3000)).astype(np.float32)
    zi = rng.standard_normal((sos.shape[0], 2, 2)).astype(np.float32)
    y, zf = B.sosfilt_c(sos, x, zi=zi)
    ry, rz = ss.sosfilt(sos, x, zi=zi)
    assert ry.dtype == np.float32
    np.testing.assert_array_equal(y, ry)
    np.testing.assert_array_equal(zf, rz)


def test_streaming_blocks_equal_whole_signal() -> None:
    sos = _filters()[1]
    x = np.random.default_rng(3).standard_normal(1000)
    whole = B.sosfilt_c(sos, x)
    zi = np.zeros((sos.shape[0], 2))
    parts = []
    for blk in np.split(x, [1, 17, 300, 301, 999]):
        y, zi = B.sosfilt_c(sos, blk, zi=zi)
        parts.append(y)
    np.testing.assert_array_equal(np.concatenate(parts), whole)


@settings(max_examples=15, deadline=None)
@given(
    n=st.integers(1, 300),
    scale=st.sampled_from([0.0, 1e-6, 1.0, 32767.0]),
    seed=st.integers(0, 2**31),
    axis=st.sampled_from([0, 1, -1]),
)
def test_c_matches_reference_on_random_signals(n: int, scale: float, seed: int, axis: int) -> None:
    rng = np.random.default_rng(seed)
    sos = _filters()[seed % 4]
    x = rng.standard_normal((3, n)) * scale if axis != 0 else rng.standard_normal((n, 3)) * scale
    ax = 0 if axis == 0 else axis
    ref = iir.sosfilt(sos, x, axis=ax)
    got = B.sosfilt_c(sos, x, axis=ax)
    assert got.shape == ref.shape
    tol = 1e-4 * max(1.0, float(np.abs(ref).max(initial=0)))
    np.testing.assert_allclose(got, ref, atol=tol, rtol=0)


def test_micropython_matches_reference() -> None:
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 400))
    x[1, :] = 0.0
    x[1, 50] = 1.0  # an impulse
    for sos in _filters()[:2]:
        zi = rng.standard_normal((sos.shape[0], 2, 2))
        y, zf = B.sosfilt_micropython(sos, x, zi=zi)
        ry, rz = iir.sosfilt(sos, x, zi=zi)
        tol = 1e-5 * max(1.0, float(np.abs(ry).max()))
        np.testing.assert_allclose(y, ry, atol=tol, rtol=0)
        np.testing.assert_allclose(zf, rz, atol=tol, rtol=0)


def test_edge_signals() -> None:
    sos = _filters()[0]
    for x in (np.zeros(200), np.ones(200), np.full(200, -1.0), np.r_[1.0, np.zeros(199)]):
        np.testing.assert_allclose(B.sosfilt_c(sos, x), ss.sosfilt(sos, x), atol=1e-5)
    assert not B.sosfilt_c(sos, np.zeros(64)).any()


@pytest.mark.parametrize("run", [iir.sosfilt, B.sosfilt_c, B.sosfilt_micropython])
def test_nan_and_bad_sos_rejected(run: object) -> None:
    sos = _filters()[0]
    x = np.ones(16)
    x[3] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        run(sos, x)  # type: ignore[operator]
    bad = sos.copy()
    bad[0, 3] = 2.0
    with pytest.raises(InvalidInputError, match="a0"):
        run(bad, np.ones(8))  # type: ignore[operator]
    with pytest.raises(InvalidInputError, match="shape"):
        run(sos[:, :5], np.ones(8))  # type: ignore[operator]


def test_c_reports_nonfinite_and_resets_state() -> None:
    import ctypes

    lib = B._lib()
    sos = np.ascontiguousarray(_filters()[0], dtype=np.float32)
    zi = np.ones((sos.shape[0], 2), dtype=np.float32)
    x = np.array([1.0, np.inf, 2.0], dtype=np.float32)
    y = np.empty_like(x)
    p = ctypes.c_void_p
    rc = lib.ml_host_sosfilt(
        p(sos.ctypes.data), sos.shape[0], p(zi.ctypes.data), p(x.ctypes.data), p(y.ctypes.data), 3
    )
    assert rc == -9  # ML_E_NAN
    assert not zi.any()


# ---------------------------------------------------------------------------------------------- weighting
@pytest.mark.parametrize("sr", [44100, 48000, 96000])
@pytest.mark.parametrize("kind", ["A", "C"])
def test_class1_at_every_nominal_frequency(kind: str, sr: int) -> None:
    dev = iir.class1_deviation(iir.weighting_sos(kind, sr), sr, kind)
    assert [f for f, _, ok in dev if not ok] == []
    assert dev[-1][0] == 20000
    assert abs(dict((f, d) for f, d, _ in dev)[1000]) < 1e-9


@pytest.mark.parametrize("sr", [8000, 16000, 32000])
def test_class1_up_to_reported_limit_at_low_rates(sr: int) -> None:
    top = iir.class1_max_frequency("A", sr)
    assert top >= sr / 5  # e.g. 16 kHz: class 1 up to 5 kHz
    assert all(ok for f, _, ok in iir.class1_deviation(iir.a_weighting(sr), sr, "A") if f <= top)


def test_weighting_design_goal_values() -> None:
    # IEC 61672-1 table values (rounded to 0.1 dB) at the exact base-ten frequencies of 31.5 Hz ... 10 kHz
    f = 1000 * 10 ** (0.1 * (np.array([15, 20, 30, 36, 40]) - 30))
    np.testing.assert_allclose(iir.weighting_db("A", f), [-39.4, -19.1, 0.0, 1.0, -2.5], atol=0.05)
    np.testing.assert_allclose(iir.weighting_db("C", f), [-3.0, -0.3, 0.0, -0.8, -4.4], atol=0.05)


def test_c_filter_measured_response_matches_design() -> None:
    sr = 48000
    sos = iir.a_weighting(sr)
    t = np.arange(sr) / sr
    for f in (50.0, 1000.0, 8000.0):
        y = B.sosfilt_c(sos, np.sin(2 * np.pi * f * t))[sr // 2 :]
        gain = 20 * np.log10(np.sqrt(np.mean(y.astype(np.float64) ** 2)) * np.sqrt(2))
        _, h = ss.sosfreqz(sos, worN=[f], fs=sr)
        assert abs(gain - 20 * np.log10(abs(h[0]))) < 0.02


def test_bad_weighting_arguments() -> None:
    with pytest.raises(InvalidInputError, match="'A' or 'C'"):
        iir.weighting_sos("B", 48000)
    with pytest.raises(InvalidInputError, match="sample rate"):
        iir.weighting_sos("A", 0)


# ---------------------------------------------------------------------------------------------- C builds
@pytest.mark.parametrize(
    "cmd",
    [
        ["gcc", "-std=c99"],
        ["clang", "-std=c99"],
        ["g++", "-std=c++11", "-x", "c++"],
        ["clang++", "-std=c++11", "-x", "c++"],
    ],
)
def test_headers_compile_strictly(cmd: list[str], tmp_path: object) -> None:
    import pathlib

    d = pathlib.Path(str(tmp_path))
    src = d / "u.c"
    src.write_text(
        '#include "ml_iir.h"\n#include "ml_slm.h"\n#include "ml_features.h"\n'
        '#include "ml_iir.h"\n#include "ml_slm.h"\n#include "ml_features.h"\n'
        "int use(const float *w, float *o);\n"
        "int use(const float *w, float *o)\n{\n    ml_slm m;\n    ml_slm_levels lv;\n"
        "    static const float sos[6] = {1, 0, 0, 1, 0, 0};\n    float zi[2] = {0, 0};\n"
        "    int r = ml_slm_init(&m, sos, 1, 0.1f, 0.0f);\n    r += ml_slm_process(&m, w, 4);\n"
        "    r += ml_slm_read(&m, &lv);\n    o[20] = lv.leq;\n"
        "    r += ml_sosfilt(sos, 1, zi, w, o + 30, 4);\n"
        "    return r + ml_feat_check(w, 12) + ml_feat_stats(w, 4, 3, 3, o);\n}\n"
    )
    res = subprocess.run(
        [*cmd, "-O2", *STRICT, "-I", str(host.RUNTIME_C_DIR), "-c", str(src), "-o", str(d / "u.o")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stderr
