"""ml_fft.h and ml_mel.h (through microlearn.dsp._audio_c, compiled for the host) against numpy, scipy and
librosa.

Tolerances (also in docs/dsp.md):
  * rfft, power/magnitude spectrum, melspectrogram: max |C - reference| <= 1e-7 * log2(n) * max |reference|
    (float32 against the float64 reference; silence gives exact zeros).
  * ml_rfft_q15: every bin within 2 + log2(n) / 4 LSB of rfft(x) * 32768 / n computed exactly.
  * windows: |C - scipy| <= 2e-7.
  * power_to_db: 0.01 dB; MFCC: 1e-5 * max |MFCC|.
"""

from __future__ import annotations

import ctypes
import math
import subprocess

import librosa
import numpy as np
import pytest
import scipy.signal as ss
from hypothesis import given, settings
from hypothesis import strategies as st

from microlearn import host
from microlearn.dsp import _audio_c as C  # noqa: N812
from microlearn.dsp import _fft_table_gen, audio
from microlearn.errors import InvalidInputError

SIZES = [2**k for k in range(4, 13)]
STRICT = ["-Wall", "-Wextra", "-Wpedantic", "-Wconversion", "-Wshadow", "-Wdouble-promotion", "-Werror"]


def fft_tol(n: int) -> float:
    return 1e-7 * math.log2(n)


def q15_tol(n: int) -> float:
    """LSB: ml_rfft_q15 against rfft(x) * 32768 / n."""
    return 2 + math.log2(n) / 4


def assert_close_to_max(got: np.ndarray, ref: np.ndarray, rel: float) -> None:
    scale = float(np.abs(ref).max())
    err = float(np.abs(got.astype(np.complex128) - ref).max())
    assert err <= rel * scale, f"max error {err:.3g} > {rel:.3g} * max {scale:.3g}"


def edge_signals(n: int) -> dict[str, np.ndarray]:
    k = np.arange(n)
    rng = np.random.default_rng(n)
    impulse = np.zeros(n)
    impulse[0] = 1.0
    late = np.zeros(n)
    late[n // 3] = -1.0
    return {
        "full-scale random +-1": rng.choice([-1.0, 1.0], n),
        "alternating +-1 (Nyquist)": np.where(k % 2, -1.0, 1.0),
        "DC": np.ones(n),
        "negative DC": -np.ones(n),
        "impulse": impulse,
        "late impulse": late,
        "sine on bin 3": np.sin(2 * np.pi * 3 * k / n),
        "cosine between bins": np.cos(2 * np.pi * 5.37 * k / n + 0.3),
        "large": 3e4 * rng.standard_normal(n),
        "tiny": 1e-20 * rng.standard_normal(n),
    }


# ---------------------------------------------------------------------------------------------- API
@pytest.mark.parametrize(
    "name",
    ["rfft", "power_spectrum", "magnitude_spectrum", "get_window", "frame", "mel_filters", "melspectrogram",
     "power_to_db", "mfcc"],
)  # fmt: skip
def test_same_signature_as_the_reference(name: str) -> None:
    import inspect

    assert (
        inspect.signature(getattr(C, name)).parameters == inspect.signature(getattr(audio, name)).parameters
    )


# ---------------------------------------------------------------------------------------------- table
def test_committed_table_is_the_generator_output() -> None:
    assert _fft_table_gen.HEADER_PATH.read_text() == _fft_table_gen.header()
    assert _fft_table_gen.main(["--check"]) == 0


def test_table_values() -> None:
    f, q = _fft_table_gen.float_table(), _fft_table_gen.q15_table()
    i = np.arange(1025)
    np.testing.assert_array_equal(f, np.sin(2 * np.pi * i / 4096).astype(np.float32))
    assert f[0] == 0 and f[-1] == 1 and q[-1] == 32767 and q[0] == 0
    assert np.abs(q - np.sin(2 * np.pi * i / 4096) * 32768).max() <= 1


# ---------------------------------------------------------------------------------------------- rfft
@pytest.mark.parametrize("n", SIZES)
def test_rfft_random_every_size(n: int) -> None:
    x = np.random.default_rng(n).standard_normal((3, n)).astype(np.float32)
    ref = np.fft.rfft(x.astype(np.float64))
    got = C.rfft(x)
    assert got.dtype == np.complex64 and got.shape == (3, n // 2 + 1)
    assert_close_to_max(got, ref, fft_tol(n))
    assert np.all(got[:, 0].imag == 0) and np.all(got[:, -1].imag == 0)
    P, M = C.power_spectrum(x), C.magnitude_spectrum(x)
    assert P.dtype == np.float32 and M.dtype == np.float32
    assert_close_to_max(P, np.abs(ref) ** 2, 2 * fft_tol(n))
    assert_close_to_max(M, np.abs(ref), fft_tol(n))


@pytest.mark.parametrize("n", SIZES)
def test_rfft_edge_signals(n: int) -> None:
    sig = edge_signals(n)
    X = C.rfft(np.array(list(sig.values())))
    for (name, x), got in zip(sig.items(), X, strict=True):
        ref = np.fft.rfft(x.astype(np.float32).astype(np.float64))
        scale = np.abs(ref).max()
        err = np.abs(got - ref).max()
        assert err <= fft_tol(n) * scale, f"{name}: {err} > {fft_tol(n)} * {scale}"
    assert np.all(C.rfft(np.zeros(n)) == 0)


def test_rfft_exact_cases() -> None:
    """What float32 computes exactly: DC, an impulse, the alternating sequence."""
    n = 512
    X = C.rfft(np.ones(n))
    assert X[0] == n and np.all(X[1:] == 0)
    imp = np.zeros(n)
    imp[0] = 1
    assert np.all(C.rfft(imp) == 1)
    alt = C.rfft(np.where(np.arange(n) % 2, -1.0, 1.0))
    assert alt[-1] == n and np.all(alt[:-1] == 0)


def test_rfft_n_cuts_or_pads_like_numpy() -> None:
    x = np.random.default_rng(1).standard_normal(300)
    for n in (16, 256, 512, 1024):
        assert_close_to_max(C.rfft(x, n), np.fft.rfft(x, n), fft_tol(n))
    y = np.random.default_rng(2).standard_normal((2, 5, 64))
    assert C.power_spectrum(y).shape == (2, 5, 33)
    assert_close_to_max(C.power_spectrum(y), np.abs(np.fft.rfft(y)) ** 2, 2 * fft_tol(64))


@settings(max_examples=25, deadline=None)
@given(
    lg=st.integers(4, 12),
    scale=st.sampled_from([1e-30, 1e-3, 1.0, 1e6]),
    seed=st.integers(0, 2**32 - 1),
)
def test_rfft_random_scale(lg: int, scale: float, seed: int) -> None:
    n = 2**lg
    x = (scale * np.random.default_rng(seed).standard_normal(n)).astype(np.float32)
    assert_close_to_max(C.rfft(x), np.fft.rfft(x.astype(np.float64)), fft_tol(n))


@pytest.mark.parametrize("n", [0, 1, 8, 100, 1000, 8192, 2.0, True, "512"])
def test_bad_size_is_an_error(n: object) -> None:
    with pytest.raises(InvalidInputError, match="power of two from 16 to 4096"):
        C.rfft(np.zeros(64), n)  # type: ignore[arg-type]


def test_length_not_a_power_of_two_is_an_error() -> None:
    with pytest.raises(InvalidInputError, match="power of two"):
        C.power_spectrum(np.zeros(100))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_is_rejected(bad: float) -> None:
    x = np.zeros(64)
    x[5] = bad
    for f in (C.rfft, C.power_spectrum, C.magnitude_spectrum, C.rfft_q15):
        with pytest.raises(InvalidInputError, match="NaN or infinite"):
            f(x)
    with pytest.raises(InvalidInputError, match="NaN or infinite"):
        C.melspectrogram(np.r_[x, np.zeros(1000)], n_fft=256)
    with pytest.raises(InvalidInputError, match="NaN or infinite"):
        C.power_to_db(x)


def test_values_beyond_float32_are_rejected() -> None:
    with pytest.raises(InvalidInputError, match="float32 range"):
        C.rfft(np.full(64, 1e39))
    with pytest.raises(InvalidInputError, match="float32 range"):
        C.power_to_db(np.full(4, 1e40))


@pytest.mark.parametrize("max_n", [16, 512])
def test_smaller_table_gives_identical_results(max_n: int) -> None:
    """ML_FFT_MAX_N only changes which slice of the one table is compiled in, not a single bit."""
    for n in [s for s in SIZES if s <= max_n]:
        x = np.random.default_rng(n).standard_normal((2, n)).astype(np.float32)
        np.testing.assert_array_equal(C._rfft_max_n(x, None, max_n), C.rfft(x))
    with pytest.raises(InvalidInputError, match="error code -10"):
        C._rfft_max_n(np.zeros(2 * max_n), None, max_n)


# ---------------------------------------------------------------------------------------------- Q15
@pytest.mark.parametrize("n", SIZES)
def test_rfft_q15_within_tolerance(n: int) -> None:
    rng = np.random.default_rng(n)
    k = np.arange(n)
    rows = np.array(
        [
            rng.integers(-32768, 32768, n),  # full-scale noise
            np.where(rng.random(n) < 0.5, -32768, 32767),  # full-scale +-1
            np.full(n, 32767),  # DC, largest positive
            np.full(n, -32768),  # DC, -1
            np.where(k % 2, -32768, 32767),  # Nyquist
            np.round(32767 * np.cos(2 * np.pi * 7 * k / n)),  # sinusoid on a bin
            np.round(2000 * rng.standard_normal(n)),  # quiet noise
            np.zeros(n),
        ]
    ).astype(np.int16)
    got = C.rfft_q15_raw(rows, n).astype(np.float64)
    exact = np.fft.rfft(rows.astype(np.float64)) / n
    err = np.maximum(np.abs(got[:, 0::2] - exact.real), np.abs(got[:, 1::2] - exact.imag))
    assert err.max() <= q15_tol(n), f"{err.max()} LSB"
    assert np.all(got[-1] == 0)


@settings(max_examples=30, deadline=None)
@given(lg=st.integers(4, 12), amp=st.sampled_from([1, 100, 20000, 32768]), seed=st.integers(0, 2**32 - 1))
def test_rfft_q15_random(lg: int, amp: int, seed: int) -> None:
    n = 2**lg
    x = np.random.default_rng(seed).integers(-amp, amp, (2, n)).astype(np.int16)
    got = C.rfft_q15_raw(x, n).astype(np.float64)
    exact = np.fft.rfft(x.astype(np.float64)) / n
    assert np.abs(got[:, 0::2] - exact.real).max() <= q15_tol(n)
    assert np.abs(got[:, 1::2] - exact.imag).max() <= q15_tol(n)


def test_rfft_q15_float_interface() -> None:
    x = 0.5 * np.sin(2 * np.pi * 10 * np.arange(256) / 256)
    X = C.rfft_q15(x)
    lsb = 256 / 32768
    assert abs(abs(X[10]) - 64.0) <= q15_tol(256) * lsb * math.sqrt(2)
    assert np.abs(np.delete(X, 10)).max() <= q15_tol(256) * lsb * math.sqrt(2)


# ---------------------------------------------------------------------------------------------- windows
@pytest.mark.parametrize("window", ["hann", "hamming", "blackman"])
def test_windows_equal_scipy(window: str) -> None:
    for N in (1, 2, 3, 7, 16, 400, 512, 1001, 2048, 4096, 65537):
        for fftbins in (True, False):
            got = C.get_window(window, N, fftbins)
            ref = ss.get_window(window, N, fftbins=fftbins)
            assert got.dtype == np.float32 and got.shape == (N,)
            assert np.abs(got - ref).max() <= 2e-7, (window, N, fftbins)


def test_window_arguments() -> None:
    with pytest.raises(InvalidInputError, match="hann, hamming, blackman"):
        C.get_window("kaiser", 16)
    with pytest.raises(InvalidInputError, match="positive integer"):
        C.get_window("hann", 0)
    assert C.get_window("HANN", 4).tolist() == [0.0, 0.5, 1.0, 0.5]


# ---------------------------------------------------------------------------------------------- framer
@pytest.mark.parametrize(("fl", "hop"), [(64, 16), (100, 37), (50, 50), (30, 77), (1, 1), (5, 1)])
def test_framer_any_blocks_equal_librosa_frame(fl: int, hop: int) -> None:
    x = np.random.default_rng(fl * hop).standard_normal(1003)
    ref = librosa.util.frame(x, frame_length=fl, hop_length=hop).T.astype(np.float32)
    np.testing.assert_array_equal(C.frame(x, fl, hop), ref)
    for blocks in ([1], [7], [fl], [hop], [3, 500, 1, 64], [1003]):
        np.testing.assert_array_equal(C.frame_blocks(x, fl, hop, blocks), ref)
    w = np.random.default_rng(1).random(fl).astype(np.float32)
    np.testing.assert_array_equal(C.frame_blocks(x, fl, hop, [13], window=w), ref * w)


@settings(max_examples=25, deadline=None)
@given(
    fl=st.integers(1, 80),
    hop=st.integers(1, 100),
    extra=st.integers(0, 300),
    blocks=st.lists(st.integers(1, 120), min_size=1, max_size=6),
)
def test_framer_random_splits(fl: int, hop: int, extra: int, blocks: list[int]) -> None:
    x = np.arange(fl + extra, dtype=np.float32)
    n_frames = 1 + extra // hop
    got = C.frame_blocks(x, fl, hop, blocks)
    assert got.shape == (n_frames, fl)
    np.testing.assert_array_equal(got, audio.frame(x, fl, hop))


def test_frame_errors() -> None:
    with pytest.raises(InvalidInputError, match="fewer than frame_length"):
        C.frame(np.zeros(10), 11, 1)
    with pytest.raises(InvalidInputError, match="hop_length"):
        C.frame(np.zeros(10), 4, 0)
    with pytest.raises(InvalidInputError, match="1-D"):
        C.frame(np.zeros((2, 10)), 4, 1)


# ---------------------------------------------------------------------------------------------- mel
MEL_CONFIGS = [
    {"sr": 16000, "n_fft": 512, "hop_length": 160, "n_mels": 40},
    {"sr": 22050},
    {"sr": 16000, "n_fft": 1024, "hop_length": 256, "win_length": 800, "window": "hamming", "n_mels": 64,
     "fmin": 50.0, "fmax": 7000.0, "htk": True, "center": False},
    {"sr": 8000, "n_fft": 256, "hop_length": 300, "pad_mode": "reflect", "window": "blackman", "n_mels": 20},
    {"sr": 16000, "n_fft": 64, "hop_length": 32, "n_mels": 8, "power": 1.0},
    {"sr": 44100, "n_fft": 4096, "hop_length": 1024, "n_mels": 128, "fmin": 20.0},
]  # fmt: skip


def _signals(sr: int) -> dict[str, np.ndarray]:
    t = np.arange(sr // 2) / sr
    rng = np.random.default_rng(sr)
    imp = np.zeros(sr // 2)
    imp[1000] = 1.0
    return {
        "noise": 0.3 * rng.standard_normal(sr // 2),
        "sine": np.sin(2 * np.pi * 440.0 * t),
        "full-scale +-1": rng.choice([-1.0, 1.0], sr // 2),
        "DC": np.ones(sr // 2),
        "impulse": imp,
        "silence": np.zeros(sr // 2),
    }


@pytest.mark.parametrize("k", range(len(MEL_CONFIGS)))
def test_melspectrogram_equals_librosa(k: int) -> None:
    kw = MEL_CONFIGS[k]
    n_fft = int(kw.get("n_fft", 2048))  # type: ignore[call-overload]
    for name, y in _signals(int(kw["sr"])).items():  # type: ignore[call-overload]
        got = C.melspectrogram(y, **kw)  # type: ignore[arg-type]
        ref = librosa.feature.melspectrogram(y=y, **kw)
        assert got.dtype == np.float32 and got.shape == ref.shape, name
        if name == "silence":
            assert np.all(got == 0)
            continue
        err = np.abs(got - ref).max() / ref.max()
        assert err <= fft_tol(n_fft), f"{name}: {err}"


def test_mel_filters_are_librosa_through_the_sparse_form() -> None:
    for kw in (
        {"sr": 22050, "n_fft": 2048},
        {"sr": 16000, "n_fft": 512, "n_mels": 40, "fmin": 20.0, "fmax": 7600.0},
        {"sr": 8000, "n_fft": 256, "n_mels": 30, "htk": True, "norm": None},
    ):
        got = C.mel_filters(**kw)  # type: ignore[arg-type]
        np.testing.assert_array_equal(got, audio.mel_filters(**kw))  # type: ignore[arg-type]
        ref = librosa.filters.mel(**kw)  # type: ignore[arg-type]
        assert np.abs(got - ref).max() <= 1e-6 * ref.max()


def test_power_to_db_equals_librosa() -> None:
    rng = np.random.default_rng(0)
    S = rng.standard_normal((40, 50)) ** 2
    S[3, 4] = 0.0
    for kw in ({}, {"ref": 3.0}, {"top_db": None}, {"amin": 1e-5, "top_db": 40.0}, {"ref": -2.0}):
        for scale in (1.0, 1e-12, 1e9):
            got = C.power_to_db(S * scale, **kw)  # type: ignore[arg-type]
            ref = librosa.power_to_db(S * scale, **kw)
            assert got.dtype == np.float32 and got.shape == S.shape
            assert np.abs(got - ref).max() <= 0.01
    with pytest.raises(InvalidInputError, match="amin"):
        C.power_to_db(S, amin=0.0)
    with pytest.raises(InvalidInputError, match="top_db"):
        C.power_to_db(S, top_db=-1.0)
    with pytest.raises(InvalidInputError, match="callable"):
        C.power_to_db(S, ref=np.max)  # type: ignore[arg-type]


@pytest.mark.parametrize("k", [0, 1, 3])
def test_mfcc_equals_librosa(k: int) -> None:
    kw = {key: v for key, v in MEL_CONFIGS[k].items()}
    for name, y in _signals(int(kw["sr"])).items():  # type: ignore[call-overload]
        for n_mfcc in (13, 20):
            got = C.mfcc(y, n_mfcc=n_mfcc, **kw)  # type: ignore[arg-type]
            ref = librosa.feature.mfcc(y=y, n_mfcc=n_mfcc, **kw)
            assert got.shape == ref.shape and got.dtype == np.float32
            assert np.abs(got - ref).max() <= 1e-5 * np.abs(ref).max(), name


def test_mfcc_supports_only_dct2_ortho() -> None:
    y = np.zeros(4000)
    for bad in ({"dct_type": 3}, {"norm": None}, {"lifter": 22}):
        with pytest.raises(InvalidInputError, match="dct_type=2, norm='ortho', lifter=0"):
            C.mfcc(y, **bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="n_mfcc"):
        C.mfcc(y, n_mfcc=200, n_mels=40)


def test_melspectrogram_argument_errors() -> None:
    y = np.zeros(4000)
    with pytest.raises(InvalidInputError, match="power"):
        C.melspectrogram(y, power=3.0)
    with pytest.raises(InvalidInputError, match="win_length"):
        C.melspectrogram(y, n_fft=256, win_length=300)
    with pytest.raises(InvalidInputError, match="pad_mode"):
        C.melspectrogram(y, pad_mode="wrap")
    with pytest.raises(InvalidInputError, match="power of two"):
        C.melspectrogram(y, n_fft=400)
    with pytest.raises(InvalidInputError, match="1-D"):
        C.melspectrogram(np.zeros((2, 4000)))


# ---------------------------------------------------------------------------------------------- device build
_DEVICE_C = r"""
#include <stddef.h>
#include "kws.h"

int frame_mfcc(const float *frame, float *mels, float *db, float *mfcc);
int error_codes(int *out);

/* One frame as a device computes it: melspectrogram frame, log-mel (top_db per frame), MFCC. */
int frame_mfcc(const float *frame, float *mels, float *db, float *mfcc)
{
    float work[KWS_N_FFT + 2];
    int rc = ml_mel_frame(&kws_mel, kws_window, frame, work, mels);
    if (rc != 0) return rc;
    rc = ml_power_to_db(mels, KWS_N_MELS, 1.0f, 1e-10f, db);
    if (rc != 0) return rc;
    rc = ml_db_top_clip(db, KWS_N_MELS, 80.0f);
    if (rc != 0) return rc;
    return ml_mfcc(kws_dct, KWS_N_MFCC, KWS_N_MELS, db, mfcc);
}

int error_codes(int *out)
{
    float buf[1026] = {0}, mels[KWS_N_MELS];
    int16_t q[34] = {0};
    float ring[4];
    ml_framer f;
    static const int16_t bad_start[2] = {0, 250}, count[2] = {2, 10};
    static const float w[12] = {0};
    ml_mel_bank bad = {512, 2, bad_start, count, w};
    out[0] = ml_rfft(buf, 100);
    out[1] = ml_rfft(NULL, 512);
    out[2] = ml_rfft(buf, 8);
    out[3] = ml_rfft(buf, 8192);
    out[4] = ml_rfft_q15(q, 24);
    out[5] = ml_rfft_power(buf, 48, buf);
    out[6] = ml_window(7, 16, 1, buf);
    out[7] = ml_framer_init(&f, ring, 4, 0);
    out[8] = ml_framer_init(&f, ring, 4, 2);
    out[9] = ml_framer_read(&f, NULL, buf);
    out[10] = ml_mel_apply(&bad, buf, mels);
    out[11] = ml_mel_frame(&kws_mel, kws_window, NULL, buf, mels);
    out[12] = ml_mfcc(kws_dct, KWS_N_MELS + 1, KWS_N_MELS, mels, buf);
    out[13] = ml_db_top_clip(buf, 4, -1.0f);
    out[14] = ml_rfft(buf, 1024);
    return 0;
}
"""


@pytest.fixture(scope="module")
def device_lib() -> ctypes.CDLL:
    head = C.audio_config_c("kws", sr=16000, n_fft=512, n_mels=40, n_mfcc=13)
    return host.build({"kws.h": head, "dev.c": _DEVICE_C})


def test_generated_config_frame_equals_reference(device_lib: ctypes.CDLL) -> None:
    rng = np.random.default_rng(5)
    for x in (0.3 * rng.standard_normal(512), np.sin(2 * np.pi * 1000 * np.arange(512) / 16000)):
        frame = x.astype(np.float32)
        mels = np.empty(40, np.float32)
        db = np.empty(40, np.float32)
        mf = np.empty(13, np.float32)
        p = [ctypes.c_void_p(a.ctypes.data) for a in (frame, mels, db, mf)]
        assert device_lib.frame_mfcc(*p) == 0
        ref = librosa.feature.melspectrogram(y=x, sr=16000, n_fft=512, n_mels=40, center=False)[:, 0]
        assert np.abs(mels - ref).max() <= fft_tol(512) * ref.max()
        np.testing.assert_array_equal(
            mels, C.melspectrogram(frame, sr=16000, n_fft=512, n_mels=40, center=False)[:, 0]
        )
        rdb = librosa.power_to_db(ref)
        assert np.abs(db - rdb).max() <= 0.01
        rm = librosa.feature.mfcc(S=rdb[:, None], n_mfcc=13)[:, 0]
        assert np.abs(mf - rm).max() <= 1e-5 * np.abs(rm).max()


def test_c_error_codes(device_lib: ctypes.CDLL) -> None:
    out = np.zeros(15, np.int32)
    assert device_lib.error_codes(ctypes.c_void_p(out.ctypes.data)) == 0
    # ml_common.h: ML_E_ARG -1, ML_E_SHAPE -5 (a mel band past the spectrum), ML_E_SIZE -10, ML_E_STATE -11
    assert out.tolist() == [-10, -1, -10, -10, -10, -10, -1, -1, 0, -11, -5, -1, -1, -1, 0]


def test_config_c_arguments() -> None:
    text = C.audio_config_c("kws", n_mfcc=13)
    assert "static const ml_mel_bank kws_mel" in text and "kws_dct[520]" in text
    with pytest.raises(InvalidInputError, match="identifier"):
        C.audio_config_c("2x")
    with pytest.raises(InvalidInputError, match="power of two"):
        C.audio_config_c("a", n_fft=400)
    with pytest.raises(InvalidInputError, match="n_mfcc"):
        C.audio_config_c("a", n_mels=10, n_mfcc=11)


@pytest.mark.parametrize(
    ("cmd", "max_n"),
    [
        (["gcc", "-std=c99"], ""),
        (["gcc", "-std=c99"], "-DML_FFT_MAX_N=16"),
        (["clang", "-std=c99"], ""),
        (["g++", "-std=c++11", "-x", "c++"], ""),
        (["clang++", "-std=c++11", "-x", "c++"], "-DML_FFT_MAX_N=64"),
    ],
)
def test_headers_compile_strictly(cmd: list[str], max_n: str, tmp_path: object) -> None:
    import pathlib
    import shutil

    if shutil.which(cmd[0]) is None:
        pytest.skip(f"{cmd[0]} not installed")
    d = pathlib.Path(str(tmp_path))
    (d / "kws.h").write_text(C.audio_config_c("kws", n_fft=16, n_mels=4, n_mfcc=3))
    src = d / "u.c"
    src.write_text(
        '#include "ml_fft.h"\n#include "ml_mel.h"\n#include "ml_fft.h"\n#include "kws.h"\n'
        "int use(float *b, int16_t *q, float *o);\n"
        "int use(float *b, int16_t *q, float *o)\n{\n    float ring[16];\n    ml_framer f;\n"
        "    int r = ml_rfft(b, 16) + ml_rfft_power(b, 16, o) + ml_rfft_magnitude(b, 16, o);\n"
        "    r += ml_rfft_q15(q, 16) + ml_window(ML_WIN_HANN, 16, 1, o);\n"
        "    r += ml_framer_init(&f, ring, 16, 4) + (int)ml_framer_push(&f, b, 16);\n"
        "    r += ml_framer_read(&f, 0, o) + ml_mel_frame(&kws_mel, kws_window, b, b, o);\n"
        "    r += ml_mel_frame_magnitude(&kws_mel, 0, b, b, o);\n"
        "    r += ml_power_to_db(o, 4, 1.0f, 1e-10f, o) + ml_db_top_clip(o, 4, 80.0f);\n"
        "    return r + ml_mfcc(kws_dct, KWS_N_MFCC, KWS_N_MELS, o, o + 4);\n}\n"
    )
    flags = [max_n] if max_n else []
    res = subprocess.run(
        [*cmd, "-O2", *STRICT, *flags, "-I", str(host.RUNTIME_C_DIR), "-I", str(d), "-c", str(src),
         "-o", str(d / "u.o")],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
