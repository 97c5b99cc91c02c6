"""microlearn.dsp.audio (the numpy reference) against numpy, scipy and librosa; dsp.run's registry."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import scipy.fft
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st

from microlearn import dsp
from microlearn.dsp import audio
from microlearn.errors import InvalidInputError

RNG = np.random.default_rng(7)
Y = RNG.standard_normal(8000).astype(np.float32) * 0.3


@pytest.mark.parametrize("window", audio.WINDOWS)
@pytest.mark.parametrize("fftbins", [True, False])
def test_windows_equal_scipy(window: str, fftbins: bool) -> None:
    for n in (1, 2, 3, 16, 255, 512, 4096):
        ref = scipy.signal.get_window(window, n, fftbins=fftbins)
        np.testing.assert_allclose(audio.window64(window, n, fftbins), ref, rtol=0, atol=1e-15)
        assert audio.get_window(window, n, fftbins).dtype == np.float32


@pytest.mark.parametrize("n", audio.FFT_SIZES)
def test_rfft_power_magnitude_equal_numpy(n: int) -> None:
    x = RNG.standard_normal((3, n))
    X = np.fft.rfft(x)
    np.testing.assert_allclose(audio.rfft(x), X.astype(np.complex64), rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(audio.power_spectrum(x), np.abs(X) ** 2, rtol=1e-6)
    np.testing.assert_allclose(audio.magnitude_spectrum(x), np.abs(X), rtol=1e-6)
    # n cuts or zero-pads as numpy does
    np.testing.assert_allclose(
        audio.rfft(x[0, : n // 2 + 3], n), np.fft.rfft(x[0, : n // 2 + 3], n), atol=1e-5
    )


@pytest.mark.parametrize("htk", [False, True])
@pytest.mark.parametrize("norm", [None, "slaney"])
@pytest.mark.parametrize(
    "sr,n_fft,n_mels,fmin,fmax",
    [(16000, 512, 40, 0.0, None), (22050, 2048, 128, 0.0, None), (8000, 256, 20, 50, 3000)],
)
def test_mel_filters_equal_librosa(
    htk: bool, norm: str | None, sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None
) -> None:
    ours = audio.mel_filters(sr, n_fft, n_mels, fmin, fmax, htk, norm)
    ref = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm)
    np.testing.assert_array_equal(ours, ref)  # bit for bit
    sparse = audio.mel_sparse(ours)
    np.testing.assert_array_equal(sparse.dense(), ours)
    assert sparse.weights.size < ours.size / 4  # only the triangles are stored
    assert sparse.weights.size >= np.count_nonzero(ours)


MEL_CASES = [
    dict(sr=16000, n_fft=512, hop_length=256, n_mels=40),
    dict(sr=16000, n_fft=1024, hop_length=160, win_length=400, n_mels=64, window="hamming"),
    dict(sr=22050, n_fft=2048, hop_length=512, n_mels=128, center=False, power=1.0),
    dict(
        sr=8000,
        n_fft=256,
        hop_length=128,
        n_mels=24,
        pad_mode="reflect",
        htk=True,
        norm=None,
        fmin=100,
        fmax=3500,
    ),
]


@pytest.mark.parametrize("kw", MEL_CASES, ids=range(len(MEL_CASES)))
def test_melspectrogram_power_to_db_mfcc_equal_librosa(kw: dict) -> None:
    S = audio.melspectrogram(Y, **kw)
    ref = librosa.feature.melspectrogram(y=Y.astype(np.float64), **kw)
    assert S.shape == ref.shape
    np.testing.assert_allclose(S, ref, rtol=0, atol=1e-6 * ref.max())
    db = audio.power_to_db(S, ref=0.5, top_db=60.0)
    np.testing.assert_allclose(db, librosa.power_to_db(ref, ref=0.5, top_db=60.0), rtol=0, atol=1e-3)
    if kw.get("power", 2.0) == 2.0:
        mkw = {k: v for k, v in kw.items() if k != "norm"}  # mfcc's norm is the DCT's, as in librosa
        M = audio.mfcc(Y, n_mfcc=13, **mkw)
        Mref = librosa.feature.mfcc(y=Y.astype(np.float64), n_mfcc=13, **mkw)
        np.testing.assert_allclose(M, Mref, rtol=0, atol=1e-3)


def test_edge_signals() -> None:
    kw = dict(sr=16000, n_fft=512, hop_length=256, n_mels=40)
    for y in (np.zeros(4000), np.ones(4000), np.r_[1.0, np.zeros(3999)], np.full(4000, -1.0)):
        ref = librosa.feature.melspectrogram(y=y, **kw)
        np.testing.assert_allclose(
            audio.melspectrogram(y, **kw), ref, rtol=0, atol=1e-6 * max(ref.max(), 1e-30)
        )
        np.testing.assert_allclose(audio.mfcc(y, **kw), librosa.feature.mfcc(y=y, **kw), rtol=0, atol=2e-3)


def test_dct_matrix_is_scipy_dct_ortho() -> None:
    x = RNG.standard_normal(40)
    np.testing.assert_allclose(audio.dct_matrix(13, 40) @ x, scipy.fft.dct(x, norm="ortho")[:13], atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 64),
    st.integers(1, 80),
    st.lists(st.integers(0, 50), min_size=1, max_size=30),
)
def test_framer_streams_the_frames_of_frame(frame_length: int, hop: int, splits: list[int]) -> None:
    x = np.arange(sum(splits) + frame_length, dtype=np.float32)
    cuts = np.cumsum(splits)
    f = audio.Framer(frame_length, hop)
    got = [fr for block in np.split(x, cuts) for fr in f.push(block)]
    ref = audio.frame(x, frame_length, hop)
    np.testing.assert_array_equal(np.array(got).reshape(-1, frame_length), ref)
    np.testing.assert_array_equal(ref, librosa.util.frame(x, frame_length=frame_length, hop_length=hop).T)


def test_bad_input_is_explained() -> None:
    with pytest.raises(InvalidInputError, match="NaN"):
        audio.rfft(np.r_[np.zeros(15), np.nan])
    with pytest.raises(InvalidInputError, match="power of two from 16 to 4096"):
        audio.rfft(np.zeros(100))
    with pytest.raises(InvalidInputError, match="power of two"):
        audio.melspectrogram(Y, n_fft=500)
    with pytest.raises(InvalidInputError, match="window must be one of"):
        audio.get_window("kaiser", 16)
    with pytest.raises(InvalidInputError, match="norm"):
        audio.mel_filters(16000, 512, norm="l2")
    with pytest.raises(InvalidInputError, match="dct_type=2"):
        audio.mfcc(Y, dct_type=3)
    with pytest.raises(InvalidInputError, match="fewer than frame_length"):
        audio.frame(np.zeros(5), 8, 2)
    with pytest.raises(InvalidInputError, match="1-D"):
        audio.melspectrogram(np.zeros((2, 1000)))
    with pytest.raises(InvalidInputError, match="callable"):
        audio.power_to_db(np.ones(4), ref=np.max)  # type: ignore[arg-type]


def test_run_reaches_every_block_and_names_the_choices() -> None:
    x = RNG.standard_normal(64)
    np.testing.assert_array_equal(dsp.run("rfft", x), audio.rfft(x))
    np.testing.assert_array_equal(
        dsp.run("sosfilt", dsp.a_weighting(16000), x), dsp.sosfilt(dsp.a_weighting(16000), x)
    )
    for name in dsp.BLOCKS:
        assert callable(dsp.block(name, "numpy"))
    with pytest.raises(InvalidInputError, match="unknown DSP block 'fft'; one of: frame"):
        dsp.run("fft", x)
    with pytest.raises(InvalidInputError, match="unknown backend 'gpu'; one of: numpy, c, micropython"):
        dsp.run("rfft", x, backend="gpu")


@pytest.mark.parametrize("backend", ["c", "micropython"])
def test_run_gives_the_reference_numbers_in_every_backend(backend: str) -> None:
    """One call per block through dsp.run, with the reference's arguments, in C and in MicroPython."""
    y = Y[:2048].astype(np.float64)
    mel = dict(sr=16000, n_fft=256, hop_length=128, n_mels=24)
    cases: list[tuple[str, tuple, dict, float]] = [
        ("rfft", (y[:256],), {}, 1e-5),
        ("power_spectrum", (y[:512],), {}, 1e-5),
        ("magnitude_spectrum", (y[:128],), {}, 1e-5),
        ("get_window", ("blackman", 64), dict(fftbins=False), 1e-6),
        ("frame", (y[:300], 64, 48), {}, 0.0),
        ("melspectrogram", (y,), mel, 1e-5),
        ("power_to_db", (np.abs(y[:200]) + 1e-3,), dict(ref=0.5, top_db=40.0), 1e-3),
        ("mfcc", (y,), dict(n_mfcc=13, **mel), 1e-2),
        ("sosfilt", (dsp.a_weighting(16000), y[:256]), {}, 1e-4),
    ]
    for name, args, kw, tol in cases:
        ref = np.asarray(dsp.run(name, *args, **kw))
        got = np.asarray(dsp.run(name, *args, backend=backend, **kw))
        assert got.shape == ref.shape, name
        np.testing.assert_allclose(
            got, ref, rtol=0, atol=tol * max(1.0, float(np.abs(ref).max())), err_msg=name
        )
    with pytest.raises(InvalidInputError, match="NaN"):
        dsp.run("rfft", np.r_[np.zeros(15), np.nan], backend=backend)
