"""The spectral blocks through the C runtime (ml_fft.h, ml_mel.h) compiled for this machine and called with
ctypes, taking the same arguments and defaults as their numpy references in :mod:`microlearn.dsp.audio`
(which mirror numpy.fft.rfft, scipy.signal.get_window, librosa). :func:`audio_config_c` writes the const
arrays a device build needs (window, sparse mel filterbank, DCT matrix).

The C computes in float32. melspectrogram's centre padding is done here, in numpy, before the signal goes
through the C framer (ml_framer) block by block: a device that feeds the same padded samples computes
every frame identically.
"""

from __future__ import annotations

import ctypes
import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from microlearn import host
from microlearn._version import __version__
from microlearn.dsp import audio
from microlearn.dsp.iir import _finite_signal
from microlearn.errors import InvalidInputError

F32 = npt.NDArray[np.float32]
C64 = npt.NDArray[np.complex64]

WINDOW_KINDS = {"hann": 0, "hamming": 1, "blackman": 2}  # ML_WIN_HANN, ML_WIN_HAMMING, ML_WIN_BLACKMAN
FEED_BLOCK = 1000  # samples per ml_framer_push in melspectrogram (any size gives the same frames)

_HOST_C = r"""
#include <stddef.h>
#include "ml_fft.h"
#include "ml_mel.h"

int ml_host_rfft(const float *x, int32_t rows, int32_t n, int32_t kind, float *out, float *work);
int ml_host_rfft_q15(const int16_t *x, int32_t rows, int32_t n, int16_t *out);
int ml_host_window(int32_t kind, int32_t n, int32_t periodic, float *out);
int32_t ml_host_frame(const float *x, int32_t len, int32_t fl, int32_t hop, const int32_t *blocks,
                      int32_t n_blocks, const float *window, float *ring, float *out, int32_t max_frames);
int32_t ml_host_melspec(const float *x, int32_t len, int32_t hop, const float *window, int32_t n_fft,
                        int32_t n_mels, const int16_t *start, const int16_t *count, const float *weights,
                        int32_t power, int32_t block, float *ring, float *work, float *out,
                        int32_t max_frames);
int ml_host_db(const float *S, int32_t n, float ref, float amin, float top_db, int32_t clip, float *out);
int ml_host_mfcc(const float *dct, int32_t n_mfcc, int32_t n_mels, const float *db, int32_t n_frames,
                 float *out);

int ml_host_rfft(const float *x, int32_t rows, int32_t n, int32_t kind, float *out, float *work)
{
    int32_t r, i;
    const int32_t w = kind == 0 ? n + 2 : n / 2 + 1;
    for (r = 0; r < rows; r++) {
        float *buf = kind == 0 ? out + (size_t)r * (size_t)w : work;
        int rc;
        for (i = 0; i < n; i++) buf[i] = x[(size_t)r * (size_t)n + (size_t)i];
        rc = ml_rfft(buf, n);
        if (rc != 0) return rc;
        if (kind == 1) rc = ml_rfft_power(buf, n, out + (size_t)r * (size_t)w);
        if (kind == 2) rc = ml_rfft_magnitude(buf, n, out + (size_t)r * (size_t)w);
        if (rc != 0) return rc;
    }
    return 0;
}

int ml_host_rfft_q15(const int16_t *x, int32_t rows, int32_t n, int16_t *out)
{
    int32_t r, i;
    for (r = 0; r < rows; r++) {
        int16_t *buf = out + (size_t)r * (size_t)(n + 2);
        int rc;
        for (i = 0; i < n; i++) buf[i] = x[(size_t)r * (size_t)n + (size_t)i];
        rc = ml_rfft_q15(buf, n);
        if (rc != 0) return rc;
    }
    return 0;
}

int ml_host_window(int32_t kind, int32_t n, int32_t periodic, float *out)
{
    return ml_window((int)kind, n, (int)periodic, out);
}

int32_t ml_host_frame(const float *x, int32_t len, int32_t fl, int32_t hop, const int32_t *blocks,
                      int32_t n_blocks, const float *window, float *ring, float *out, int32_t max_frames)
{
    ml_framer f;
    int32_t pos = 0, b = 0, n_frames = 0;
    int rc = ml_framer_init(&f, ring, fl, hop);
    if (rc != 0) return rc;
    while (pos < len) {
        int32_t n = blocks[b % n_blocks];
        const float *p = x + pos;
        b++;
        if (n > len - pos) n = len - pos;
        pos += n;
        while (n > 0) {
            int32_t used = ml_framer_push(&f, p, n);
            if (used < 0) return used;
            p += used;
            n -= used;
            if (f.ready) {
                if (n_frames >= max_frames) return -100;
                rc = ml_framer_read(&f, window, out + (size_t)n_frames * (size_t)fl);
                if (rc != 0) return rc;
                n_frames++;
            }
        }
    }
    return n_frames;
}

int32_t ml_host_melspec(const float *x, int32_t len, int32_t hop, const float *window, int32_t n_fft,
                        int32_t n_mels, const int16_t *start, const int16_t *count, const float *weights,
                        int32_t power, int32_t block, float *ring, float *work, float *out,
                        int32_t max_frames)
{
    ml_mel_bank bank;
    ml_framer f;
    int32_t pos = 0, n_frames = 0;
    int rc = ml_framer_init(&f, ring, n_fft, hop);
    if (rc != 0) return rc;
    bank.n_fft = n_fft;
    bank.n_mels = n_mels;
    bank.start = start;
    bank.count = count;
    bank.weights = weights;
    while (pos < len) {
        int32_t used = ml_framer_push(&f, x + pos, (len - pos < block) ? len - pos : block);
        if (used < 0) return used;
        pos += used;
        if (f.ready) {
            if (n_frames >= max_frames) return -100;
            rc = ml_framer_read(&f, window, work);
            if (rc != 0) return rc;
            if (power == 2) rc = ml_mel_spectrum(&bank, work, out + (size_t)n_frames * (size_t)n_mels);
            else rc = ml_mel_spectrum_magnitude(&bank, work, out + (size_t)n_frames * (size_t)n_mels);
            if (rc != 0) return rc;
            n_frames++;
        }
    }
    return n_frames;
}

int ml_host_db(const float *S, int32_t n, float ref, float amin, float top_db, int32_t clip, float *out)
{
    int rc = ml_power_to_db(S, n, ref, amin, out);
    if (rc != 0 || !clip) return rc;
    return ml_db_top_clip(out, n, top_db);
}

int ml_host_mfcc(const float *dct, int32_t n_mfcc, int32_t n_mels, const float *db, int32_t n_frames,
                 float *out)
{
    int32_t t;
    for (t = 0; t < n_frames; t++) {
        const float *frame = db + (size_t)t * (size_t)n_mels;
        int rc = ml_mfcc(dct, n_mfcc, n_mels, frame, out + (size_t)t * (size_t)n_mfcc);
        if (rc != 0) return rc;
    }
    return 0;
}
"""

_P = ctypes.c_void_p
_I = ctypes.c_int32
_F = ctypes.c_float
_SIGNATURES: dict[str, list[Any]] = {
    "ml_host_rfft": [_P, _I, _I, _I, _P, _P],
    "ml_host_rfft_q15": [_P, _I, _I, _P],
    "ml_host_window": [_I, _I, _I, _P],
    "ml_host_frame": [_P, _I, _I, _I, _P, _I, _P, _P, _P, _I],
    "ml_host_melspec": [_P, _I, _I, _P, _I, _I, _P, _P, _P, _I, _I, _P, _P, _P, _I],
    "ml_host_db": [_P, _I, _F, _F, _F, _I, _P],
    "ml_host_mfcc": [_P, _I, _I, _P, _I, _P],
}


@functools.lru_cache(maxsize=4)
def _lib(max_n: int = 4096) -> ctypes.CDLL:
    """The host library; ``max_n`` is ML_FFT_MAX_N (the compiled sine table; 4096 unless testing)."""
    src = _HOST_C if max_n == 4096 else f"#define ML_FFT_MAX_N {max_n}\n" + _HOST_C
    lib = host.build({"ml_host_audio.c": src})
    for name, args in _SIGNATURES.items():
        f = getattr(lib, name)
        f.argtypes = args
        f.restype = ctypes.c_int32
    return lib


def _p(a: npt.NDArray[Any] | None) -> ctypes.c_void_p:
    return ctypes.c_void_p(None if a is None else a.ctypes.data)


_F32_MAX = float(np.finfo(np.float32).max)


def _signal(x: Any, what: str = "x") -> npt.NDArray[np.float64]:
    """x as finite float64 whose values float32 can hold (the C computes in float32)."""
    a = _finite_signal(x, what)
    if a.size and float(np.abs(a).max()) > _F32_MAX:
        raise InvalidInputError(
            f"{what} holds values beyond the float32 range (|v| > {_F32_MAX:.4g}): scale it"
        )
    return a


def _check(rc: int, what: str) -> int:
    if rc < 0:
        raise InvalidInputError(f"{what} returned error code {rc}")
    return rc


# ------------------------------------------------------------------------------------------ FFT
def _rows(x: Any, n: int | None) -> tuple[F32, int, tuple[int, ...]]:
    """x as float32 rows of length n (cut or zero-padded, as numpy.fft.rfft), n checked."""
    a = _signal(x)
    size = audio.check_fft_size(a.shape[-1] if n is None else n)
    lead = a.shape[:-1]
    r = a.reshape(-1, a.shape[-1])
    r = r[:, :size] if r.shape[1] >= size else np.pad(r, ((0, 0), (0, size - r.shape[1])))
    return np.ascontiguousarray(r, dtype=np.float32), size, lead


def _spectrum(x: Any, n: int | None, kind: int, lib: ctypes.CDLL) -> tuple[F32, tuple[int, ...]]:
    rows, size, lead = _rows(x, n)
    width = size + 2 if kind == 0 else size // 2 + 1
    out = np.empty((rows.shape[0], width), dtype=np.float32)
    work = np.empty(size + 2, dtype=np.float32)
    _check(lib.ml_host_rfft(_p(rows), rows.shape[0], size, kind, _p(out), _p(work)), "ml_rfft")
    return out, lead


def rfft(x: Any, n: int | None = None) -> C64:
    """numpy.fft.rfft(x, n) over the last axis through ml_rfft (float32): complex64, n // 2 + 1 bins."""
    out, lead = _spectrum(x, n, 0, _lib())
    return out.view(np.complex64).reshape(*lead, -1)


def _rfft_max_n(x: Any, n: int | None, max_n: int) -> C64:
    """rfft with another ML_FFT_MAX_N compiled in (tests: results must not depend on it)."""
    out, lead = _spectrum(x, n, 0, _lib(max_n))
    return out.view(np.complex64).reshape(*lead, -1)


def power_spectrum(x: Any, n: int | None = None) -> F32:
    """|rfft(x, n)|**2 through ml_rfft + ml_rfft_power, float32."""
    out, lead = _spectrum(x, n, 1, _lib())
    return out.reshape(*lead, -1)


def magnitude_spectrum(x: Any, n: int | None = None) -> F32:
    """|rfft(x, n)| through ml_rfft + ml_rfft_magnitude, float32."""
    out, lead = _spectrum(x, n, 2, _lib())
    return out.reshape(*lead, -1)


def rfft_q15(x: Any, n: int | None = None) -> C64:
    """rfft(x, n) through the fixed-point ml_rfft_q15, for x in [-1, 1): the samples are quantised to Q15
    (round(32768 x), saturated), the C output (rfft * 32768 / n in int16) is scaled back by n / 32768."""
    rows, size, lead = _rows(x, n)
    q = np.clip(np.round(rows.astype(np.float64) * 32768.0), -32768, 32767).astype(np.int16)
    out = np.empty((q.shape[0], size + 2), dtype=np.int16)
    _check(_lib().ml_host_rfft_q15(_p(q), q.shape[0], size, _p(out)), "ml_rfft_q15")
    X = (out[:, 0::2].astype(np.float64) + 1j * out[:, 1::2]) * (size / 32768.0)
    return X.astype(np.complex64).reshape(*lead, -1)


def rfft_q15_raw(x_q15: Any, n: int) -> npt.NDArray[np.int16]:
    """ml_rfft_q15 on int16 samples: the (n + 2) int16 the device gets (interleaved re, im)."""
    q = np.ascontiguousarray(x_q15, dtype=np.int16).reshape(-1, n)
    size = audio.check_fft_size(n)
    out = np.empty((q.shape[0], size + 2), dtype=np.int16)
    _check(_lib().ml_host_rfft_q15(_p(q), q.shape[0], size, _p(out)), "ml_rfft_q15")
    return out


# ------------------------------------------------------------------------------------------ windows
def _window_kind(window: Any) -> int:
    if not isinstance(window, str) or window.lower() not in WINDOW_KINDS:
        raise InvalidInputError(f"window must be one of {', '.join(WINDOW_KINDS)}; got {window!r}")
    return WINDOW_KINDS[window.lower()]


def get_window(window: Any, Nx: int, fftbins: bool = True) -> F32:
    """scipy.signal.get_window(window, Nx, fftbins) through ml_window (no libm, float32)."""
    kind = _window_kind(window)
    if isinstance(Nx, bool) or not isinstance(Nx, (int, np.integer)) or not 1 <= int(Nx) <= 1 << 26:
        raise InvalidInputError(f"Nx must be a positive integer (at most 2**26); got {Nx!r}")
    out = np.empty(int(Nx), dtype=np.float32)
    _check(_lib().ml_host_window(kind, int(Nx), 1 if fftbins else 0, _p(out)), "ml_window")
    return out


# ------------------------------------------------------------------------------------------ framing
def _positive(v: Any, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 1 <= int(v) < 2**31:
        raise InvalidInputError(f"{what} must be a positive integer; got {v!r}")
    return int(v)


def frame_blocks(
    x: Any, frame_length: int, hop_length: int, blocks: Sequence[int], window: Any = None
) -> F32:
    """The frames ml_framer gives when x arrives in blocks of ``blocks[0]``, ``blocks[1]``, ... samples
    (repeated until x ends), each frame times ``window`` (an array of frame_length values) if given."""
    a = _signal(x)
    if a.ndim != 1:
        raise InvalidInputError(f"frame takes a 1-D signal; got shape {a.shape}")
    fl = _positive(frame_length, "frame_length")
    hop = _positive(hop_length, "hop_length")
    if a.size < fl:
        raise InvalidInputError(f"the signal has {a.size} samples, fewer than frame_length={fl}")
    b = np.array([_positive(v, "a block size") for v in blocks], dtype=np.int32)
    if b.size == 0:
        raise InvalidInputError("blocks must hold at least one block size")
    w = None
    if window is not None:
        w = np.ascontiguousarray(window, dtype=np.float32)
        if w.shape != (fl,):
            raise InvalidInputError(f"window must have frame_length={fl} values; got shape {w.shape}")
    x32 = np.ascontiguousarray(a, dtype=np.float32)
    n_frames = 1 + (a.size - fl) // hop
    out = np.empty((n_frames, fl), dtype=np.float32)
    ring = np.empty(fl, dtype=np.float32)
    got = _check(
        _lib().ml_host_frame(_p(x32), x32.size, fl, hop, _p(b), b.size, _p(w), _p(ring), _p(out), n_frames),
        "ml_framer",
    )
    if got != n_frames:
        raise InvalidInputError(f"ml_framer gave {got} frames, expected {n_frames}")
    return out


def frame(x: Any, frame_length: int, hop_length: int) -> F32:
    """Frames of frame_length samples every hop_length samples (no padding), one per row, through
    ml_framer fed in blocks of FEED_BLOCK samples: n_frames = 1 + (len(x) - frame_length) // hop_length."""
    return frame_blocks(x, frame_length, hop_length, [FEED_BLOCK])


# ------------------------------------------------------------------------------------------ mel
def mel_filters(
    sr: float,
    n_fft: int,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    norm: str | None = "slaney",
) -> F32:
    """librosa.filters.mel, (n_mels, 1 + n_fft // 2) float32, rebuilt from the sparse form the C uses."""
    return audio.mel_sparse(audio.mel_filters(sr, n_fft, n_mels, fmin, fmax, htk, norm)).dense()


def _padded_window(window: Any, n_fft: int, win_length: int | None) -> F32:
    """The periodic window of win_length points centred in n_fft zeros, as librosa's stft pads it: the
    float64 window rounded to float32, the const table audio_config_c writes for the device."""
    _window_kind(window)
    wl = n_fft if win_length is None else _positive(win_length, "win_length")
    if wl > n_fft:
        raise InvalidInputError(f"win_length ({wl}) must not exceed n_fft ({n_fft})")
    w = np.zeros(n_fft, dtype=np.float32)
    left = (n_fft - wl) // 2
    w[left : left + wl] = audio.get_window(window, wl, fftbins=True)
    return w


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
    """librosa.feature.melspectrogram through ml_framer + ml_mel_spectrum (window, ml_rfft, power, sparse
    filterbank) per frame: (n_mels, n_frames) float32. power 2 or 1. The window and filterbank are the const
    arrays audio_config_c writes, so a device fed the same (padded) samples gets the same bits."""
    if power not in (1.0, 2.0):
        raise InvalidInputError(f"power must be 1 (magnitude) or 2 (power); got {power!r}")
    a = _signal(y, "y")
    if a.ndim != 1:
        raise InvalidInputError(f"y must be a 1-D signal (mono); got shape {a.shape}")
    n = audio.check_fft_size(n_fft, "n_fft")
    hop = _positive(hop_length, "hop_length")
    w = _padded_window(window, n, win_length)
    sp = audio.mel_sparse(audio.mel_filters(sr, n, n_mels, fmin, fmax, htk, norm))
    a = audio.center_pad(a, n, center, pad_mode)
    x32 = np.ascontiguousarray(a, dtype=np.float32)
    n_frames = 1 + (x32.size - n) // hop
    nm = int(sp.start.size)
    out = np.empty((n_frames, nm), dtype=np.float32)
    start = np.ascontiguousarray(sp.start, dtype=np.int16)
    count = np.ascontiguousarray(sp.count, dtype=np.int16)
    weights = np.ascontiguousarray(sp.weights, dtype=np.float32)
    ring = np.empty(n, dtype=np.float32)
    work = np.empty(n + 2, dtype=np.float32)
    got = _lib().ml_host_melspec(
        _p(x32), x32.size, hop, _p(w), n, nm, _p(start), _p(count), _p(weights),
        int(power), FEED_BLOCK, _p(ring), _p(work), _p(out), n_frames,
    )  # fmt: skip
    if _check(got, "ml_mel_spectrum") != n_frames:
        raise InvalidInputError(f"ml_framer gave {got} frames, expected {n_frames}")
    return np.ascontiguousarray(out.T)


def _db_args(ref: Any, amin: Any, top_db: Any) -> None:
    if not isinstance(amin, (int, float, np.integer, np.floating)) or not amin > 0:
        raise InvalidInputError(f"amin must be positive; got {amin!r}")
    if top_db is not None and not top_db >= 0:
        raise InvalidInputError(f"top_db must be non-negative (or None); got {top_db!r}")
    if not isinstance(ref, (int, float, np.integer, np.floating)) or not math.isfinite(float(ref)):
        raise InvalidInputError(
            "ref must be a finite number (a callable ref such as np.max is not supported)"
        )


def _db(S: F32, ref: float, amin: float, top_db: float | None) -> F32:
    flat = np.ascontiguousarray(S, dtype=np.float32).ravel()
    out = np.empty_like(flat)
    if flat.size:
        rc = _lib().ml_host_db(
            _p(flat), flat.size, float(ref), float(amin), float(top_db or 0.0), top_db is not None, _p(out)
        )
        _check(rc, "ml_power_to_db")
    return out.reshape(S.shape)


def power_to_db(S: Any, ref: float = 1.0, amin: float = 1e-10, top_db: float | None = 80.0) -> F32:
    """librosa.power_to_db through ml_power_to_db, then ml_db_top_clip over all of S (as librosa)."""
    a = _signal(S, "S")
    _db_args(ref, amin, top_db)
    return _db(a.astype(np.float32), float(ref), float(amin), top_db)


def mfcc(
    y: Any,
    sr: float = 22050,
    n_mfcc: int = 20,
    dct_type: int = 2,
    norm: str | None = "ortho",
    lifter: float = 0,
    **kwargs: Any,
) -> F32:
    """librosa.feature.mfcc through the C blocks: melspectrogram (kwargs as there), ml_power_to_db with
    ml_db_top_clip over the whole spectrogram (top_db 80, as librosa), ml_mfcc per frame."""
    if dct_type != 2 or norm != "ortho" or lifter != 0:
        raise InvalidInputError(
            "only dct_type=2, norm='ortho', lifter=0 (librosa's defaults) are supported; "
            f"got dct_type={dct_type!r}, norm={norm!r}, lifter={lifter!r}"
        )
    M = melspectrogram(y, sr=sr, **kwargs)
    n_mels, n_frames = M.shape
    if isinstance(n_mfcc, bool) or not isinstance(n_mfcc, (int, np.integer)) or not 1 <= n_mfcc <= n_mels:
        raise InvalidInputError(f"n_mfcc must be an integer from 1 to n_mels ({n_mels}); got {n_mfcc!r}")
    db = np.ascontiguousarray(_db(M, 1.0, 1e-10, 80.0).T)
    dct = np.ascontiguousarray(audio.dct_matrix(int(n_mfcc), n_mels), dtype=np.float32)
    out = np.empty((n_frames, int(n_mfcc)), dtype=np.float32)
    _check(_lib().ml_host_mfcc(_p(dct), int(n_mfcc), n_mels, _p(db), n_frames, _p(out)), "ml_mfcc")
    return np.ascontiguousarray(out.T)


# ------------------------------------------------------------------------------------------ C config
def _c_array(ctype: str, name: str, vals: list[str]) -> str:
    from microlearn.backends.c.common import array_lines

    return f"static const {ctype} {name}[{len(vals)}] = {{\n{array_lines(vals, per_line=8)}\n}};\n"


def audio_config_c(
    name: str,
    sr: float = 16000,
    n_fft: int = 512,
    n_mels: int = 40,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    norm: str | None = "slaney",
    window: str = "hann",
    win_length: int | None = None,
    n_mfcc: int | None = None,
) -> str:
    """C constants for ml_mel.h: ``NAME_window`` (n_fft floats, the periodic window centred as librosa's
    stft pads it), the sparse filterbank ``NAME_mel`` (an ml_mel_bank over ``NAME_mel_start``,
    ``NAME_mel_count``, ``NAME_mel_weights``) and, with n_mfcc, ``NAME_dct`` (n_mfcc x n_mels, DCT-II ortho).
    Sizes as ``#define NAME_N_FFT``, ``NAME_N_MELS``, ``NAME_N_BINS``, ``NAME_N_MFCC``."""
    from microlearn.backends.c.common import check_c_name, f32

    check_c_name(name)
    n = audio.check_fft_size(n_fft, "n_fft")
    w = _padded_window(window, n, win_length)
    wl = n if win_length is None else int(win_length)
    sp = audio.mel_sparse(audio.mel_filters(sr, n, n_mels, fmin, fmax, htk, norm))
    up = name.upper()
    hi = float(sr) / 2 if fmax is None else float(fmax)
    nb = int(sp.weights.size)
    const_bytes = 4 * n + 4 * int(sp.start.size) + 4 * nb + (4 * n_mfcc * int(n_mels) if n_mfcc else 0)
    parts = [
        f"/* {name}: melspectrogram frames for ml_mel.h, written by microlearn {__version__}\n"
        f" * (microlearn.dsp._audio_c.audio_config_c): sr={float(sr):g} n_fft={n} win_length={wl} "
        f"window={window} (periodic)\n"
        f" * n_mels={int(n_mels)} fmin={float(fmin):g} fmax={hi:g} htk={bool(htk)} norm={norm}: "
        f"{nb} non-zero weights of {int(n_mels) * (n // 2 + 1)}"
        + (f"; n_mfcc={int(n_mfcc)} (DCT-II ortho)" if n_mfcc else "")
        + f"; {const_bytes} bytes of const data */\n",
        "#include <stdint.h>\n",
        '#include "ml_mel.h"\n\n',
        f"#define {up}_N_FFT {n}\n#define {up}_N_BINS {n // 2 + 1}\n#define {up}_N_MELS {int(n_mels)}\n",
    ]
    if n_mfcc:
        if not 1 <= int(n_mfcc) <= int(n_mels):
            raise InvalidInputError(f"n_mfcc must be from 1 to n_mels ({n_mels}); got {n_mfcc!r}")
        parts.append(f"#define {up}_N_MFCC {int(n_mfcc)}\n")
    parts.append("\n")
    parts.append(_c_array("float", f"{name}_window", [f32(v) for v in w]))
    parts.append(_c_array("int16_t", f"{name}_mel_start", [str(int(v)) for v in sp.start]))
    parts.append(_c_array("int16_t", f"{name}_mel_count", [str(int(v)) for v in sp.count]))
    parts.append(_c_array("float", f"{name}_mel_weights", [f32(v) for v in sp.weights]))
    parts.append(
        f"static const ml_mel_bank {name}_mel = {{{n}, {int(n_mels)}, {name}_mel_start, {name}_mel_count, "
        f"{name}_mel_weights}};\n"
    )
    if n_mfcc:
        D = audio.dct_matrix(int(n_mfcc), int(n_mels)).astype(np.float32)
        parts.append(_c_array("float", f"{name}_dct", [f32(v) for v in D.ravel()]))
    return "".join(parts)
