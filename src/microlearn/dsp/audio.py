"""Spectral blocks, numpy reference: FFT, windows, framing, mel filterbank, melspectrogram, dB, MFCC.

Every function takes the arguments, defaults and returns the result of the library function of the same
name that people train with — ``rfft`` as :func:`numpy.fft.rfft`, ``get_window`` as
:func:`scipy.signal.get_window`, ``mel_filters`` as ``librosa.filters.mel``, ``melspectrogram``,
``power_to_db`` and ``mfcc`` as librosa's — computed here in float64 and returned as float32 (complex64),
the precision the C and MicroPython versions work in. ``mel_sparse`` gives the filterbank in the sparse
form the devices store. The C (ml_fft.h, ml_mel.h) and MicroPython (mlrt.dsp_fft, mlrt.dsp_mel)
versions are reached through :func:`microlearn.dsp.run`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from microlearn.dsp.iir import _finite_signal
from microlearn.errors import InvalidInputError

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

WINDOWS = ("hann", "hamming", "blackman")
FFT_SIZES = tuple(2**k for k in range(4, 13))  # 16 ... 4096: what the device FFTs take


# ------------------------------------------------------------------------------------------ checks
def check_fft_size(n: Any, what: str = "n") -> int:
    """n as an int if it is a power of two in 16..4096, else a clear error."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or int(n) not in FFT_SIZES:
        raise InvalidInputError(
            f"{what} must be a power of two from 16 to 4096 (the sizes the device FFT supports); got {n!r}"
        )
    return int(n)


def _window_name(window: Any) -> str:
    if not isinstance(window, str) or window.lower() not in WINDOWS:
        raise InvalidInputError(f"window must be one of {', '.join(WINDOWS)}; got {window!r}")
    return window.lower()


def _positive_int(v: Any, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or int(v) < 1:
        raise InvalidInputError(f"{what} must be a positive integer; got {v!r}")
    return int(v)


# ------------------------------------------------------------------------------------------ FFT
def rfft(x: Any, n: int | None = None) -> npt.NDArray[np.complex64]:
    """numpy.fft.rfft(x, n) over the last axis, for power-of-two n (16..4096); x is cut or zero-padded
    to n as numpy does. complex64, n // 2 + 1 bins."""
    a = _finite_signal(x)
    size = check_fft_size(a.shape[-1] if n is None else n)
    return np.fft.rfft(a, size, axis=-1).astype(np.complex64)


def power_spectrum(x: Any, n: int | None = None) -> F32:
    """|rfft(x, n)|**2, float32."""
    a = _finite_signal(x)
    size = check_fft_size(a.shape[-1] if n is None else n)
    X = np.fft.rfft(a, size, axis=-1)
    return (X.real**2 + X.imag**2).astype(np.float32)


def magnitude_spectrum(x: Any, n: int | None = None) -> F32:
    """|rfft(x, n)|, float32."""
    a = _finite_signal(x)
    size = check_fft_size(a.shape[-1] if n is None else n)
    return np.abs(np.fft.rfft(a, size, axis=-1)).astype(np.float32)


# ------------------------------------------------------------------------------------------ windows
def window64(window: Any, Nx: int, fftbins: bool = True) -> F64:
    """The window in float64 (hann, hamming, blackman), as scipy.signal.get_window."""
    name = _window_name(window)
    N = _positive_int(Nx, "Nx")
    if N == 1:
        return np.ones(1)
    M = N if fftbins else N - 1  # periodic: the N-point window of an (N+1)-point symmetric one
    k = np.arange(N, dtype=np.float64)
    w = 2.0 * np.pi * k / M
    if name == "hann":
        return 0.5 - 0.5 * np.cos(w)
    if name == "hamming":
        return 0.54 - 0.46 * np.cos(w)
    return 0.42 - 0.5 * np.cos(w) + 0.08 * np.cos(2.0 * w)


def get_window(window: Any, Nx: int, fftbins: bool = True) -> F32:
    """scipy.signal.get_window(window, Nx, fftbins) for hann, hamming and blackman, as float32."""
    return window64(window, Nx, fftbins).astype(np.float32)


# ------------------------------------------------------------------------------------------ framing
def frame(x: Any, frame_length: int, hop_length: int) -> F32:
    """Frames of ``frame_length`` samples every ``hop_length`` samples, one per row (no padding):
    n_frames = 1 + (len(x) - frame_length) // hop_length. As librosa.util.frame(x, ...).T."""
    a = _finite_signal(x)
    if a.ndim != 1:
        raise InvalidInputError(f"frame takes a 1-D signal; got shape {a.shape}")
    fl = _positive_int(frame_length, "frame_length")
    hop = _positive_int(hop_length, "hop_length")
    if a.size < fl:
        raise InvalidInputError(f"the signal has {a.size} samples, fewer than frame_length={fl}")
    n_frames = 1 + (a.size - fl) // hop
    idx = np.arange(fl)[None, :] + hop * np.arange(n_frames)[:, None]
    return np.asarray(a[idx], dtype=np.float32)


class Framer:
    """Streaming framing, as the devices do it: feed blocks of any length as a sensor delivers them,
    get each frame of ``frame_length`` samples every ``hop_length`` samples once it is complete.
    Holds at most ``frame_length`` samples (plus the skip count when hop > frame_length).

    Fed the whole signal in any split, it yields exactly :func:`frame`'s rows."""

    def __init__(self, frame_length: int, hop_length: int) -> None:
        self.frame_length = _positive_int(frame_length, "frame_length")
        self.hop_length = _positive_int(hop_length, "hop_length")
        self._buf = np.zeros(self.frame_length, dtype=np.float32)
        self._fill = 0  # samples in _buf
        self._skip = 0  # samples still to drop (hop > frame_length)

    def push(self, block: Any) -> Iterator[F32]:
        """Take a block of samples; yield every frame it completes (each a new float32 array)."""
        x = _finite_signal(block, "block").astype(np.float32).ravel()
        i = 0
        fl, hop = self.frame_length, self.hop_length
        while i < x.size:
            if self._skip:
                k = min(self._skip, x.size - i)
                self._skip -= k
                i += k
                continue
            k = min(fl - self._fill, x.size - i)
            self._buf[self._fill : self._fill + k] = x[i : i + k]
            self._fill += k
            i += k
            if self._fill == fl:
                yield self._buf.copy()
                if hop < fl:
                    self._buf[: fl - hop] = self._buf[hop:]
                    self._fill = fl - hop
                else:
                    self._fill = 0
                    self._skip = hop - fl


# ------------------------------------------------------------------------------------------ mel
def hz_to_mel(f: Any, htk: bool = False) -> F64:
    """Hz to mel: HTK's 2595 log10(1 + f/700), or Slaney's (linear below 1 kHz, log above), as librosa."""
    f = np.asarray(f, dtype=np.float64)
    if htk:
        return np.asarray(2595.0 * np.log10(1.0 + f / 700.0))
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0
    lin = f / f_sp
    with np.errstate(divide="ignore"):
        log = min_log_mel + np.log(np.maximum(f, 1e-300) / min_log_hz) / logstep
    return np.asarray(np.where(f >= min_log_hz, log, lin))


def mel_to_hz(m: Any, htk: bool = False) -> F64:
    """Inverse of :func:`hz_to_mel`."""
    m = np.asarray(m, dtype=np.float64)
    if htk:
        return np.asarray(700.0 * (10.0 ** (m / 2595.0) - 1.0))
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0
    return np.asarray(np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m))


def _mel_args(sr: Any, n_fft: Any, n_mels: Any, fmin: Any, fmax: Any, norm: Any) -> tuple[float, float]:
    if not isinstance(sr, (int, float, np.integer, np.floating)) or not sr > 0:
        raise InvalidInputError(f"sr must be a positive sample rate in Hz; got {sr!r}")
    _positive_int(n_fft, "n_fft")
    _positive_int(n_mels, "n_mels")
    hi = float(sr) / 2 if fmax is None else float(fmax)
    if not 0.0 <= float(fmin) < hi:
        raise InvalidInputError(f"need 0 <= fmin < fmax; got fmin={fmin}, fmax={hi}")
    if norm not in (None, "slaney"):
        raise InvalidInputError(f"norm must be None or 'slaney' (as librosa); got {norm!r}")
    return float(fmin), hi


def _mel_edges(
    sr: float, n_fft: int, n_mels: int, fmin: float, fmax: float | None, htk: bool, norm: str | None
) -> tuple[F64, F64, F64]:
    """FFT bin frequencies, the n_mels + 2 band edges (Hz), and the unnormalised triangles (float64)."""
    lo, hi = _mel_args(sr, n_fft, n_mels, fmin, fmax, norm)
    fft_freqs = np.arange(1 + n_fft // 2, dtype=np.float64) * (float(sr) / n_fft)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(lo, htk), hz_to_mel(hi, htk), n_mels + 2), htk)
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    return fft_freqs, mel_f, np.maximum(0.0, np.minimum(lower, upper))


def mel_filters64(
    sr: float,
    n_fft: int,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    norm: str | None = "slaney",
) -> F64:
    """The mel filterbank in float64: triangles between adjacent mel band edges over the FFT bins."""
    _, mel_f, W = _mel_edges(sr, n_fft, n_mels, fmin, fmax, htk, norm)
    if norm == "slaney":
        W = W * (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, None]
    return np.asarray(W)


def mel_filters(
    sr: float,
    n_fft: int,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    norm: str | None = "slaney",
) -> F32:
    """librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm):
    (n_mels, 1 + n_fft // 2) float32, bit for bit: the triangles are rounded to float32 before the slaney
    scaling, which is done in float64 and rounded again, as librosa does."""
    _, mel_f, W = _mel_edges(sr, n_fft, n_mels, fmin, fmax, htk, norm)
    W32 = W.astype(np.float32)
    if norm == "slaney":
        W32 = (W32.astype(np.float64) * (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, None]).astype(
            np.float32
        )
    return W32


@dataclass(frozen=True)
class SparseMel:
    """A mel filterbank as the devices store it: band b weights bins start[b] .. start[b] + count[b] - 1
    with weights[offset[b] : offset[b] + count[b]] (offset = cumulative counts). Only non-zero weights."""

    n_bins: int
    start: npt.NDArray[np.int16]
    count: npt.NDArray[np.int16]
    weights: F32

    @property
    def offset(self) -> npt.NDArray[np.int32]:
        return np.concatenate([[0], np.cumsum(self.count)[:-1]]).astype(np.int32)

    def dense(self) -> F32:
        W = np.zeros((self.start.size, self.n_bins), dtype=np.float32)
        for b, (s, c, o) in enumerate(zip(self.start, self.count, self.offset, strict=True)):
            W[b, s : s + c] = self.weights[o : o + c]
        return W


def mel_sparse(W: Any) -> SparseMel:
    """The sparse form of a dense filterbank (n_mels, n_bins): per band the span from its first to its
    last non-zero weight."""
    A = np.asarray(W, dtype=np.float32)
    if A.ndim != 2:
        raise InvalidInputError(f"a filterbank is (n_mels, n_bins); got shape {A.shape}")
    start, count, weights = [], [], []
    for row in A:
        nz = np.flatnonzero(row)
        s, e = (int(nz[0]), int(nz[-1]) + 1) if nz.size else (0, 0)
        start.append(s)
        count.append(e - s)
        weights.append(row[s:e])
    return SparseMel(
        A.shape[1],
        np.array(start, np.int16),
        np.array(count, np.int16),
        np.concatenate(weights).astype(np.float32) if weights else np.zeros(0, np.float32),
    )


# ------------------------------------------------------------------------------------------ spectrograms
def center_pad(a: F64, n: int, center: bool, pad_mode: str) -> F64:
    """librosa's stft centring: n // 2 samples of zeros ("constant") or of reflection at both ends when
    ``center``; then at least n samples must remain, or a clear error."""
    if center:
        if pad_mode not in ("constant", "reflect"):
            raise InvalidInputError(f"pad_mode must be 'constant' or 'reflect'; got {pad_mode!r}")
        if pad_mode == "reflect" and a.size <= n // 2:
            raise InvalidInputError(f"pad_mode='reflect' needs more than n_fft // 2 = {n // 2} samples")
        a = np.pad(a, n // 2, mode=pad_mode)  # type: ignore[call-overload]
    if a.size < n:
        raise InvalidInputError(f"y has {a.size} samples (after padding), fewer than n_fft={n}")
    return a


def _frames_centered(
    y: Any, n_fft: int, hop_length: int, win_length: int | None, window: str, center: bool, pad_mode: str
) -> tuple[F64, F64]:
    """The frames librosa's stft takes (float64, one per row) and the window zero-padded to n_fft."""
    a = _finite_signal(y, "y")
    if a.ndim != 1:
        raise InvalidInputError(f"y must be a 1-D signal (mono); got shape {a.shape}")
    n = check_fft_size(n_fft, "n_fft")
    hop = _positive_int(hop_length, "hop_length")
    wl = n if win_length is None else _positive_int(win_length, "win_length")
    if wl > n:
        raise InvalidInputError(f"win_length ({wl}) must not exceed n_fft ({n})")
    w = np.zeros(n)
    left = (n - wl) // 2
    w[left : left + wl] = window64(window, wl, fftbins=True)
    a = center_pad(a, n, center, pad_mode)
    n_frames = 1 + (a.size - n) // hop
    idx = np.arange(n)[None, :] + hop * np.arange(n_frames)[:, None]
    return a[idx], w


def melspectrogram(
    y: Any,
    sr: float = 22050,
    n_fft: int = 2048,
    hop_length: int = 512,
    win_length: int | None = None,
    window: str = "hann",
    center: bool = True,
    pad_mode: str = "constant",
    power: float = 2.0,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    norm: str | None = "slaney",
) -> F32:
    """librosa.feature.melspectrogram(y=y, sr=sr, ...): (n_mels, n_frames) float32. power 2 (power mel)
    or 1 (magnitude mel)."""
    if power not in (1.0, 2.0):
        raise InvalidInputError(f"power must be 1 (magnitude) or 2 (power); got {power!r}")
    frames, w = _frames_centered(y, n_fft, hop_length, win_length, window, center, pad_mode)
    X = np.fft.rfft(frames * w, axis=-1)
    S = np.abs(X) ** power
    M = mel_filters64(sr, n_fft, n_mels, fmin, fmax, htk, norm)
    return (M @ S.T).astype(np.float32)


def power_to_db(S: Any, ref: float = 1.0, amin: float = 1e-10, top_db: float | None = 80.0) -> F32:
    """librosa.power_to_db(S, ref=ref, amin=amin, top_db=top_db) for a number ``ref``:
    10 log10(max(amin, S)) - 10 log10(max(amin, |ref|)), then floored at (max - top_db)."""
    a = _finite_signal(S, "S")
    if not amin > 0:
        raise InvalidInputError(f"amin must be positive; got {amin!r}")
    if top_db is not None and top_db < 0:
        raise InvalidInputError(f"top_db must be non-negative; got {top_db!r}")
    if not isinstance(ref, (int, float, np.integer, np.floating)):
        raise InvalidInputError("ref must be a number (a callable ref such as np.max is not supported)")
    db = 10.0 * np.log10(np.maximum(amin, a)) - 10.0 * math.log10(max(amin, abs(float(ref))))
    if top_db is not None:
        db = np.maximum(db, db.max() - top_db)
    return np.asarray(db, dtype=np.float32)


def dct_matrix(n_out: int, n_in: int) -> F64:
    """The orthonormal DCT-II as an (n_out, n_in) matrix: D @ x == scipy.fft.dct(x, norm="ortho")[:n_out]."""
    k = np.arange(n_out)[:, None]
    i = np.arange(n_in)[None, :]
    D = np.cos(np.pi * k * (2 * i + 1) / (2 * n_in)) * math.sqrt(2.0 / n_in)
    D[0] /= math.sqrt(2.0)
    return np.asarray(D)


def mfcc(
    y: Any,
    sr: float = 22050,
    n_mfcc: int = 20,
    dct_type: int = 2,
    norm: str | None = "ortho",
    lifter: float = 0,
    **kwargs: Any,
) -> F32:
    """librosa.feature.mfcc(y=y, sr=sr, n_mfcc=n_mfcc, **kwargs): DCT-II (ortho) of power_to_db of the
    melspectrogram (kwargs go to :func:`melspectrogram`); (n_mfcc, n_frames) float32."""
    if dct_type != 2 or norm != "ortho":
        raise InvalidInputError("only dct_type=2 with norm='ortho' is supported (librosa's default)")
    if lifter != 0:
        raise InvalidInputError("lifter is not supported; leave it 0 (librosa's default)")
    S = melspectrogram(y, sr=sr, **kwargs).astype(np.float64)
    n_mels = S.shape[0]
    if not 1 <= n_mfcc <= n_mels:
        raise InvalidInputError(f"n_mfcc must be between 1 and n_mels ({n_mels}); got {n_mfcc}")
    db = 10.0 * np.log10(np.maximum(1e-10, S))
    db = np.maximum(db, db.max() - 80.0)
    return np.asarray(dct_matrix(n_mfcc, n_mels) @ db, dtype=np.float32)
