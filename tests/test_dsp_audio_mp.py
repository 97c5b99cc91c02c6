"""mlrt.dsp_fft / mlrt.dsp_mel (FFT, windows, framing, mel, dB, MFCC) against numpy, scipy and librosa:
in the real MicroPython (WebAssembly, double floats) through microlearn.dsp._audio_mp, and the same
modules imported directly under CPython.

Tolerances (float32 results of a port with double floats, as the WebAssembly build and CPython; the
references computed in float64 from the same float32 inputs):
  rfft, magnitude, power: |X - ref| <= 2e-7 * max|ref| (per signal); melspectrogram: <= 5e-7 * max(ref)
  windows: <= 6e-8 (one float32 rounding); frames: bit-identical
  power_to_db: <= 1e-4 dB; MFCC: <= 5e-4 (values up to ~1000)
Single-float ports round every operation to float32: there the same code measures up to 4e-7 (rfft),
7e-7 (power), 2.5e-7 (mel) of the maximum and 6e-5 on MFCC (docs/dsp.md).
"""

from __future__ import annotations

import math
import struct
import sys
import warnings
from array import array
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import librosa
import numpy as np
import pytest
import scipy.fft
import scipy.signal as ss

from microlearn import micropython as mpy
from microlearn.dsp import _audio_mp as A  # noqa: N812
from microlearn.dsp import audio
from microlearn.errors import InvalidInputError

SIZES = [16, 32, 64, 128, 256, 512, 1024, 2048]


def _signals(n: int, seed: int = 0) -> np.ndarray:
    """Rows: random, silence, full-scale square, DC, impulse, sinusoid off a bin, chirp, tiny noise."""
    rng = np.random.default_rng(seed + n)
    t = np.arange(n)
    rows = [
        rng.standard_normal(n),
        np.zeros(n),
        np.where(rng.random(n) < 0.5, -1.0, 1.0),
        np.full(n, 0.75),
        np.r_[0.0, 0.0, 1.0, np.zeros(n - 3)],
        np.sin(2 * np.pi * 3.3 * t / n + 0.2),
        np.cos(np.pi * t**2 / (2 * n)),
        1e-6 * rng.standard_normal(n),
    ]
    return np.array(rows, dtype=np.float32)


def _close(got: np.ndarray, ref: np.ndarray, rel: float) -> None:
    """|got - ref| <= rel * max|ref| per row (rows of zeros must come out exactly zero)."""
    g = np.atleast_2d(got)
    r = np.atleast_2d(ref)
    assert g.shape == r.shape
    for gi, ri in zip(g, r, strict=True):
        scale = float(np.abs(ri).max())
        np.testing.assert_allclose(gi, ri, rtol=0, atol=rel * scale)


# ---------------------------------------------------------------------------------------------- MicroPython
@pytest.mark.parametrize("n", [*SIZES, 4096])
def test_micropython_rfft_every_size(n: int) -> None:
    x = _signals(n) if n < 4096 else _signals(n)[:5]  # 4096: slow in the WebAssembly build
    X = A.rfft(x)
    assert X.dtype == np.complex64 and X.shape == (x.shape[0], n // 2 + 1)
    ref = np.fft.rfft(x.astype(np.float64))
    _close(X, ref, 2e-7)
    assert not X[1].any()  # silence is exactly zero
    np.testing.assert_allclose(X[3, 0], 0.75 * n, rtol=1e-7)  # DC: all energy in bin 0
    assert np.abs(X[3, 1:]).max() < 1e-6 * n


@pytest.mark.parametrize("n", [16, 256, 1024])
def test_micropython_power_and_magnitude(n: int) -> None:
    x = _signals(n, seed=1)
    ref = np.fft.rfft(x.astype(np.float64))
    P = A.power_spectrum(x)
    M = A.magnitude_spectrum(x)
    assert P.dtype == M.dtype == np.float32
    _close(P, np.abs(ref) ** 2, 2e-7)
    _close(M, np.abs(ref), 2e-7)
    assert (P >= 0).all() and (M >= 0).all()


def test_micropython_rfft_cuts_pads_and_keeps_shape() -> None:
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 100)).astype(np.float32)
    for n in (64, 128):  # cut, zero-padded
        X = A.rfft(x, n)
        assert X.shape == (2, 3, n // 2 + 1)
        _close(X.reshape(6, -1), np.fft.rfft(x.astype(np.float64), n).reshape(6, -1), 2e-7)
    one = A.power_spectrum(x[0, 0], 32)
    assert one.shape == (17,)
    _close(one, np.abs(np.fft.rfft(x[0, 0].astype(np.float64), 32)) ** 2, 2e-7)


def test_micropython_windows_match_scipy() -> None:
    for name in ("hann", "hamming", "blackman"):
        for n, fftbins in ((1, True), (7, False), (400, True), (512, False)):
            w = A.get_window(name, n, fftbins)
            ref = ss.get_window(name, n, fftbins=fftbins)
            assert w.dtype == np.float32 and w.shape == (n,)
            np.testing.assert_allclose(w, ref, rtol=0, atol=6e-8)


@pytest.mark.parametrize(("fl", "hop"), [(400, 160), (256, 256), (50, 120), (1, 1), (1024, 3)])
def test_micropython_frames_are_exact(fl: int, hop: int) -> None:
    x = np.random.default_rng(fl).standard_normal(5000).astype(np.float32)
    F = A.frame(x, fl, hop)
    ref = librosa.util.frame(x, frame_length=fl, hop_length=hop).T
    assert F.shape == ref.shape
    np.testing.assert_array_equal(F, ref)


def _audio(sr: int, seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    y = (
        0.5 * np.sin(2 * np.pi * 440 * t)
        + 0.2 * np.sin(2 * np.pi * 3000 * t)
        + 0.05 * rng.standard_normal(t.size)
    )
    y[: t.size // 4] *= np.linspace(0, 1, t.size // 4)
    return y.astype(np.float32)


MEL_CASES: list[dict[str, Any]] = [
    {"sr": 16000, "n_fft": 512, "hop_length": 256, "n_mels": 40},
    {"sr": 22050},  # librosa's defaults: n_fft 2048, hop 512, 128 mels
    {"sr": 16000, "n_fft": 512, "hop_length": 160, "win_length": 400, "n_mels": 64, "window": "hamming"},
    {"sr": 8000, "n_fft": 256, "hop_length": 100, "n_mels": 20, "center": False, "power": 1.0},
    {"sr": 16000, "n_fft": 1024, "hop_length": 333, "n_mels": 32, "pad_mode": "reflect", "htk": True},
    {"sr": 16000, "n_fft": 256, "hop_length": 128, "n_mels": 24, "fmin": 100.0, "fmax": 6000.0, "norm": None},
    {"sr": 16000, "n_fft": 128, "hop_length": 64, "n_mels": 16, "window": "blackman"},
]


@pytest.mark.parametrize("kw", MEL_CASES)
def test_micropython_melspectrogram_matches_librosa(kw: dict[str, Any]) -> None:
    y = _audio(kw["sr"], 0.6)
    M = A.melspectrogram(y, **kw)
    ref = librosa.feature.melspectrogram(y=y.astype(np.float64), **kw)
    assert M.dtype == np.float32 and M.shape == ref.shape
    np.testing.assert_allclose(M, ref, rtol=0, atol=5e-7 * float(ref.max()))


def test_micropython_melspectrogram_edge_signals() -> None:
    kw: dict[str, Any] = {"sr": 16000, "n_fft": 256, "hop_length": 128, "n_mels": 20}
    n = 2048
    edge = {
        "silence": np.zeros(n),
        "full_scale": np.where(np.arange(n) % 7 < 3, 1.0, -1.0),
        "dc": np.full(n, 0.3),
        "impulse": np.r_[np.zeros(700), 1.0, np.zeros(n - 701)],
    }
    for name, y in edge.items():
        M = A.melspectrogram(y.astype(np.float32), **kw)
        ref = librosa.feature.melspectrogram(y=y, **kw)
        np.testing.assert_allclose(M, ref, rtol=0, atol=5e-7 * max(1e-30, float(ref.max())), err_msg=name)
    assert not A.melspectrogram(np.zeros(n, np.float32), **kw).any()


def test_micropython_power_to_db_matches_librosa() -> None:
    rng = np.random.default_rng(3)
    S = rng.random((12, 40)) ** 8 * 1e3
    S[0, :5] = 0.0
    S[1, :5] = 1e-14
    S[2, 0] = 3e38
    cases: list[dict[str, Any]] = [
        {},
        {"ref": np.max},
        {"ref": 1e-3, "amin": 1e-5, "top_db": 40.0},
        {"top_db": None},
        {"ref": -2.0, "top_db": 0.0},
    ]
    for kw in cases:
        D = A.power_to_db(S.astype(np.float32), **kw)
        ref = librosa.power_to_db(S.astype(np.float32).astype(np.float64), **kw)
        assert D.dtype == np.float32 and D.shape == S.shape
        np.testing.assert_allclose(D, ref, rtol=0, atol=1e-4, err_msg=str(kw))
    assert A.power_to_db(np.zeros(7)).tolist() == [-100.0] * 7


@pytest.mark.parametrize(
    "kw",
    [
        {"sr": 16000, "n_mfcc": 13, "n_fft": 512, "hop_length": 256, "n_mels": 40},
        {"sr": 16000, "n_mfcc": 20, "n_fft": 512, "hop_length": 160, "n_mels": 40, "lifter": 22},
        {"sr": 22050},  # librosa's defaults: 20 MFCC of 128 mels, n_fft 2048
    ],
)
def test_micropython_mfcc_matches_librosa(kw: dict[str, Any]) -> None:
    y = _audio(kw["sr"], 0.5, seed=2)
    y[: y.size // 3] = 0.0  # silence at the start: the top_db floor over all frames matters
    C = A.mfcc(y, **kw)
    ref = librosa.feature.mfcc(y=y.astype(np.float64), **kw)
    assert C.dtype == np.float32 and C.shape == ref.shape
    np.testing.assert_allclose(C, ref, rtol=0, atol=5e-4)


def test_micropython_mfcc_of_silence() -> None:
    C = A.mfcc(np.zeros(4000), sr=16000, n_mfcc=13, n_fft=256, hop_length=128, n_mels=20)
    ref = librosa.feature.mfcc(y=np.zeros(4000), sr=16000, n_mfcc=13, n_fft=256, hop_length=128, n_mels=20)
    np.testing.assert_allclose(C, ref, rtol=0, atol=5e-4)
    np.testing.assert_allclose(C[0], -100.0 * math.sqrt(20), rtol=1e-6)


# ---------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "call",
    [
        lambda x: A.rfft(x),
        lambda x: A.power_spectrum(x),
        lambda x: A.magnitude_spectrum(x, 16),
        lambda x: A.frame(x, 8, 4),
        lambda x: A.melspectrogram(x, sr=16000, n_fft=16, hop_length=8, n_mels=4),
        lambda x: A.power_to_db(np.abs(x)),
        lambda x: A.mfcc(x, sr=16000, n_mfcc=4, n_fft=16, hop_length=8, n_mels=4),
    ],
)
def test_nonfinite_input_rejected(call: Any) -> None:
    for bad in (np.nan, np.inf, -np.inf):
        x = np.ones(32)
        x[5] = bad
        with pytest.raises(InvalidInputError, match="NaN or infinite"):
            call(x)
    with pytest.raises(InvalidInputError, match="float32 range"):
        call(np.full(32, 1e39))


def test_bad_arguments_rejected() -> None:
    x = np.ones(100)
    for n in (100, 8, 8192, 0):
        with pytest.raises(InvalidInputError, match="power of two"):
            A.rfft(x, n)
    with pytest.raises(InvalidInputError, match="power of two"):
        A.power_spectrum(np.ones(48))
    with pytest.raises(InvalidInputError, match="n_fft must be a power of two"):
        A.melspectrogram(x, n_fft=400)
    with pytest.raises(InvalidInputError, match="hann, hamming, blackman"):
        A.get_window("kaiser", 16)
    with pytest.raises(InvalidInputError, match="fewer than frame_length"):
        A.frame(np.ones(10), 16, 4)
    with pytest.raises(InvalidInputError, match="1-D"):
        A.frame(np.ones((2, 40)), 16, 4)
    with pytest.raises(InvalidInputError, match="win_length"):
        A.melspectrogram(x, n_fft=16, win_length=32)
    with pytest.raises(InvalidInputError, match="dct_type=2 with norm='ortho'"):
        A.mfcc(x, n_fft=16, dct_type=3)
    with pytest.raises(InvalidInputError, match="dct_type=2 with norm='ortho'"):
        A.mfcc(x, n_fft=16, norm=None)
    with pytest.raises(InvalidInputError, match="n_mfcc"):
        A.mfcc(x, n_fft=16, n_mels=8, n_mfcc=9)
    with pytest.raises(InvalidInputError, match="lifter"):
        A.mfcc(x, n_fft=16, lifter=-1)
    with pytest.raises(InvalidInputError, match="unknown"):
        A.mfcc(x, n_fft=16, hop=4)
    with pytest.raises(InvalidInputError, match="amin"):
        A.power_to_db(x, amin=0.0)
    with pytest.raises(InvalidInputError, match="top_db"):
        A.power_to_db(x, top_db=-1.0)


# ---------------------------------------------------------------------------------------- filterbank file
@pytest.mark.parametrize(
    "kw",
    [
        {"sr": 16000, "n_fft": 512, "n_mels": 40},
        {"sr": 22050, "n_fft": 2048},
        {"sr": 8000, "n_fft": 64, "n_mels": 40},  # narrow low bands: some are empty
        {"sr": 44100, "n_fft": 4096, "n_mels": 96, "fmin": 50.0, "fmax": 16000.0, "htk": True, "norm": None},
    ],
)
def test_filterbank_file_is_librosa_exactly(kw: dict[str, Any]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # librosa warns of empty bands
        W = librosa.filters.mel(**kw, dtype=np.float32)
    blob = A.mel_filterbank_bytes(**kw)
    D = A.filterbank_from_bytes(blob)
    np.testing.assert_array_equal(D, audio.mel_filters(**kw))  # the file holds the reference exactly
    # librosa rounds to float32 before its Slaney scaling, the reference after: at most 1 float32 ulp
    np.testing.assert_allclose(D, W, rtol=1.2e-7, atol=0)
    np.testing.assert_array_equal(D != 0, W != 0)
    assert blob[:4] == b"MLFB" and len(blob) < W.nbytes / 4
    if kw["n_fft"] == 64:
        assert not W.any(axis=1).all()  # the file holds empty bands too
    fb = _device().dsp_mel.MelFilterbank(blob)
    assert (fb.n_mels, fb.n_bins, fb.n_fft) == (W.shape[0], W.shape[1], kw["n_fft"])
    spec = np.random.default_rng(0).random(W.shape[1]).astype(np.float32)
    got = np.array(fb.apply(array("f", spec.tobytes())))
    np.testing.assert_allclose(got, W.astype(np.float64) @ spec, rtol=1e-6, atol=1e-12)


def test_bad_filterbank_files_rejected() -> None:
    mel = _device().dsp_mel
    blob = A.mel_filterbank_bytes(16000, 256, 20)
    head = bytearray(blob)
    head[0] = ord("X")
    longer = bytearray(blob)
    struct.pack_into("<HH", longer, 16, 120, 20)  # band 0 beyond the 129 bins
    for bad, msg in (
        (blob[:10], "truncated"),
        (bytes(head), "magic"),
        (blob[:-4], "bytes"),
        (bytes(longer), "beyond|add up"),
    ):
        with pytest.raises(ValueError, match=msg):
            mel.MelFilterbank(bad)
        with pytest.raises(InvalidInputError):
            A.filterbank_from_bytes(bad)
    code = "from mlrt.dsp_mel import MelFilterbank\nMelFilterbank(open('/m.bin', 'rb').read())\n"
    with pytest.raises(mpy.MicroPythonError, match="magic"):
        mpy.run(code, {**mpy.runtime_files(), "/m.bin": bytes(head)})


# ---------------------------------------------------------------------------------------------- CPython
class _Mlrt:
    dsp_fft: ModuleType
    dsp_mel: ModuleType


def _device() -> _Mlrt:
    """mlrt.dsp_fft and mlrt.dsp_mel imported under CPython from the runtime directory."""
    root = str(mpy.RUNTIME_DIR)
    if root not in sys.path:
        sys.path.insert(0, root)
    import mlrt.dsp_fft
    import mlrt.dsp_mel

    m = _Mlrt()
    m.dsp_fft = mlrt.dsp_fft
    m.dsp_mel = mlrt.dsp_mel
    return m


def _f(a: np.ndarray) -> array:
    return array("f", np.ascontiguousarray(a, dtype=np.float32).tobytes())


@pytest.mark.parametrize("n", [4, 8, *SIZES, 4096])
def test_cpython_rfft_every_size(n: int) -> None:
    fft = _device().dsp_fft
    p = fft.RFFT(n)
    x = (
        _signals(n, seed=5)
        if n >= 16
        else np.random.default_rng(n).standard_normal((3, n)).astype(np.float32)
    )
    out = array("f", bytes(4 * (n + 2)))
    for row in x:
        ref = np.fft.rfft(row.astype(np.float64))
        X = np.frombuffer(p.rfft(_f(row), out), dtype=np.float32).view(np.complex64)
        _close(X, ref, 2e-7)
        _close(np.array(p.power(list(map(float, row)))), np.abs(ref) ** 2, 2e-7)
        _close(np.array(p.magnitude(_f(row))), np.abs(ref), 2e-7)


def test_cpython_windowed_plan_and_int_samples() -> None:
    fft = _device().dsp_fft
    n = 256
    x = np.random.default_rng(2).integers(-32768, 32767, n).astype(np.int16)
    for name in ("hann", "hamming", "blackman"):
        w = ss.get_window(name, n)
        ref = np.fft.rfft(x * w)
        X = np.array(fft.RFFT(n, name).power(array("h", x.tobytes())))
        _close(X, np.abs(ref) ** 2, 2e-7)
    w = np.r_[np.zeros(28), ss.get_window("hann", 200), np.zeros(28)]
    X = np.frombuffer(fft.RFFT(n, _f(w)).rfft(_f(x)), dtype=np.float32).view(np.complex64)
    _close(X, np.fft.rfft(x * w.astype(np.float32).astype(np.float64)), 2e-7)


def test_cpython_windows_and_rejections() -> None:
    fft = _device().dsp_fft
    for name in ("hann", "hamming", "blackman"):
        for n in (1, 2, 3, 16, 17, 255, 400, 1024):
            for fftbins in (True, False):
                w = np.array(fft.get_window(name, n, fftbins), dtype=np.float32)
                ref = ss.get_window(name, n, fftbins=fftbins)
                np.testing.assert_allclose(w, ref, rtol=0, atol=6e-8)
                if not fftbins:
                    np.testing.assert_array_equal(w, w[::-1])  # symmetric exactly
    for bad in (0, 3, 12, 100, 131072):
        with pytest.raises(ValueError, match="power of two"):
            fft.RFFT(bad)
    with pytest.raises(ValueError, match="n = 16"):
        fft.RFFT(16).rfft([0.0] * 15)
    with pytest.raises(ValueError, match="hann"):
        fft.get_window("kaiser", 8)


def _blocks(x: np.ndarray, rng: np.random.Generator, typecode: str) -> Iterator[Any]:
    i = 0
    while i < x.size:
        k = int(rng.integers(1, 300))
        blk = x[i : i + k]
        if typecode == "list":
            yield [float(v) for v in blk]
        elif typecode == "h":
            yield array("h", blk.astype(np.int16).tobytes())
        else:
            yield array(typecode, blk.astype(np.float32 if typecode == "f" else np.float64).tobytes())
        i += k


@pytest.mark.parametrize("typecode", ["f", "d", "h", "list"])
def test_cpython_framer_any_blocks(typecode: str) -> None:
    fft = _device().dsp_fft
    rng = np.random.default_rng(11)
    x = np.round(rng.standard_normal(3000) * 1000).astype(np.float32)
    for fl, hop in ((256, 128), (100, 100), (30, 77), (7, 1), (512, 5)):
        fr = fft.Framer(fl, hop)
        got = [np.array(f, dtype=np.float32) for b in _blocks(x, rng, typecode) for f in fr.push(b)]
        ref = librosa.util.frame(x, frame_length=fl, hop_length=hop).T
        np.testing.assert_array_equal(np.array(got), ref)
        assert len(fr.frame) == fl  # bounded: one frame of storage


def test_cpython_mel_frame_power_to_db_and_mfcc() -> None:
    d = _device()
    sr, n_fft, hop, n_mels = 16000, 512, 256, 40
    y = _audio(sr, 0.5, seed=4)
    blob = A.mel_filterbank_bytes(sr, n_fft, n_mels)
    fb = d.dsp_mel.MelFilterbank(blob)
    for power in (2.0, 1.0, 1.5):
        ms = d.dsp_mel.MelSpectrogram(fb, "hann", 400, power)
        frames = librosa.util.frame(np.pad(y, n_fft // 2), frame_length=n_fft, hop_length=hop).T
        M = np.array([np.array(ms.frame(_f(f))) for f in frames]).T
        kw: dict[str, Any] = {"sr": sr, "n_fft": n_fft, "hop_length": hop, "n_mels": n_mels}
        ref = librosa.feature.melspectrogram(y=y.astype(np.float64), win_length=400, power=power, **kw)
        np.testing.assert_allclose(M, ref, rtol=0, atol=5e-7 * float(ref.max()), err_msg=str(power))
    S = _f(M.T.ravel())
    db = np.array(d.dsp_mel.power_to_db(S, max, 1e-10, 80.0)).reshape(-1, n_mels).T
    np.testing.assert_allclose(db, librosa.power_to_db(M.astype(np.float64), ref=np.max), rtol=0, atol=1e-4)
    for n_mfcc, lifter in ((13, 0.0), (40, 22.0), (1, 3.0)):
        dct = d.dsp_mel.MFCC(n_mfcc, n_mels, lifter)
        C = np.array([np.array(dct.compute(_f(col))) for col in db.T]).T
        ref = scipy.fft.dct(db.astype(np.float64), type=2, norm="ortho", axis=0)[:n_mfcc]
        if lifter:
            ref *= (1 + (lifter / 2) * np.sin(np.pi * np.arange(1, n_mfcc + 1) / lifter))[:, None]
        np.testing.assert_allclose(C, ref, rtol=0, atol=5e-4)
    with pytest.raises(ValueError, match="n_mfcc"):
        d.dsp_mel.MFCC(41, 40)
    with pytest.raises(ValueError, match="n_bins"):
        fb.apply([0.0] * 10)
