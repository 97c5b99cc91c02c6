"""The spectral blocks run by ``mlrt.dsp_fft`` and ``mlrt.dsp_mel`` inside the real MicroPython
(WebAssembly): the same names, arguments and defaults as the numpy reference in
:mod:`microlearn.dsp.audio`, returning numpy arrays.

Inputs are checked on the host (finite, within float32 range, power-of-two FFT sizes) and sent to the
device as files of float32 samples; the device writes float32 results back. Centre padding of
:func:`melspectrogram` / :func:`mfcc` is done on the host; framing, windowing, FFT, mel, dB and DCT on
the device, frame by frame through ``mlrt.dsp_fft.Framer`` as a device would stream them.

Also here: the filterbank file the devices load (:func:`mel_filterbank_bytes`, :func:`filterbank_bytes`,
:func:`filterbank_from_bytes`).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from microlearn.dsp import audio
from microlearn.dsp.iir import _finite_signal
from microlearn.errors import InvalidInputError

F32 = npt.NDArray[np.float32]

FILTERBANK_MAGIC = b"MLFB"  # not the model magic: model loaders name this file instead of misreading it
FILTERBANK_VERSION = 1
_HEAD = struct.Struct("<4sHHHHI")
_F32_MAX = float(np.finfo(np.float32).max)


# ---------------------------------------------------------------------------------------------- filterbank
def filterbank_bytes(W: Any) -> bytes:
    """A dense filterbank (n_mels, n_bins) as the file ``mlrt.dsp_mel.MelFilterbank`` loads.

    Little-endian: ``b"MLFB"``, u16 version (1), u16 n_mels, u16 n_bins, u16 0, u32 n_weights; then per
    band u16 first bin, u16 count; then the n_weights float32 weights, band after band. Each band keeps
    the span from its first to its last non-zero weight (an all-zero band has count 0)."""
    A = np.asarray(W, dtype=np.float32)
    if A.ndim != 2 or not 1 <= A.shape[0] <= 65535 or not 2 <= A.shape[1] <= 65535:
        raise InvalidInputError(f"a filterbank is (n_mels, n_bins) with 2 <= n_bins <= 65535; got {A.shape}")
    if not np.all(np.isfinite(A)):
        raise InvalidInputError("the filterbank holds NaN or infinite weights")
    table = np.zeros((A.shape[0], 2), dtype="<u2")
    weights = []
    for b, row in enumerate(A):
        nz = np.flatnonzero(row)
        if nz.size:
            table[b] = nz[0], nz[-1] + 1 - nz[0]
            weights.append(row[nz[0] : nz[-1] + 1])
    w = np.concatenate(weights) if weights else np.zeros(0, dtype=np.float32)
    head = _HEAD.pack(FILTERBANK_MAGIC, FILTERBANK_VERSION, A.shape[0], A.shape[1], 0, w.size)
    return head + table.tobytes() + w.astype("<f4").tobytes()


def filterbank_from_bytes(blob: bytes) -> F32:
    """The dense (n_mels, n_bins) float32 filterbank of a file written by :func:`filterbank_bytes`."""
    if len(blob) < _HEAD.size:
        raise InvalidInputError("not a filterbank file: truncated header")
    magic, version, n_mels, n_bins, _, n_w = _HEAD.unpack_from(blob, 0)
    if magic == b"MLMF":
        raise InvalidInputError("this is a model file (microlearn.backends.modelfile), not a filterbank")
    if magic != FILTERBANK_MAGIC or version != FILTERBANK_VERSION:
        raise InvalidInputError("not a filterbank file of version 1 (bad magic or version)")
    end = _HEAD.size + 4 * n_mels + 4 * n_w
    if len(blob) != end:
        raise InvalidInputError(f"filterbank file has {len(blob)} bytes, expected {end}")
    table = np.frombuffer(blob, dtype="<u2", count=2 * n_mels, offset=_HEAD.size).reshape(n_mels, 2)
    w = np.frombuffer(blob, dtype="<f4", offset=_HEAD.size + 4 * n_mels)
    if int(table[:, 1].sum()) != n_w or np.any(table[:, 0].astype(np.int64) + table[:, 1] > n_bins):
        raise InvalidInputError("filterbank file: band table does not match the weights or the bins")
    out = np.zeros((n_mels, n_bins), dtype=np.float32)
    o = 0
    for b, (s, c) in enumerate(table.tolist()):
        out[b, s : s + c] = w[o : o + c]
        o += c
    return out


def mel_filterbank_bytes(
    sr: float,
    n_fft: int,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    norm: str | None = "slaney",
) -> bytes:
    """librosa's mel filterbank (:func:`microlearn.dsp.audio.mel_filters`, same arguments) as the file
    ``mlrt.dsp_mel.MelFilterbank`` loads: 40 mels at n_fft 512 and 16 kHz take 2,136 bytes (dense: 41,120)."""
    n = audio.check_fft_size(n_fft, "n_fft")
    return filterbank_bytes(audio.mel_filters(sr, n, n_mels, fmin, fmax, htk, norm))


# ---------------------------------------------------------------------------------------------- running
def _run(code: str, files: dict[str, bytes]) -> bytes:
    from microlearn import micropython

    res = micropython.execute(code, {**micropython.runtime_files(), **files}, outputs=["/out.bin"])
    return res.outputs["/out.bin"] or b""


def _signal(x: Any, what: str = "x") -> npt.NDArray[np.float64]:
    a = _finite_signal(x, what)
    if a.size and float(np.abs(a).max()) > _F32_MAX:
        raise InvalidInputError(f"{what} holds values beyond the float32 range (|v| > 3.4e38): scale it")
    return a


def _f32(a: Any) -> F32:
    return np.ascontiguousarray(a, dtype=np.float32)


# ---------------------------------------------------------------------------------------------- spectra
_MP_SPECTRA = """
from array import array
from mlrt.dsp_fft import RFFT
n = {n}
f = RFFT(n)
run = (f.rfft, f.power, f.magnitude)[{mode}]
x = array('f', bytes(4 * n))
y = array('f', bytes(4 * ({mode} and n // 2 + 1 or n + 2)))
out = open('/out.bin', 'wb')
with open('/x.bin', 'rb') as src:
    while src.readinto(x) == 4 * n:
        out.write(run(x, y))
out.close()
"""


def _spectra(x: Any, n: int | None, mode: int) -> npt.NDArray[Any]:
    a = _signal(x)
    size = audio.check_fft_size(a.shape[-1] if n is None else n)
    rows = a.reshape(-1, a.shape[-1])
    fit = np.zeros((rows.shape[0], size), dtype=np.float32)
    k = min(size, rows.shape[1])
    fit[:, :k] = rows[:, :k]
    shape = a.shape[:-1]
    if rows.shape[0] == 0:
        raw = b""
    else:
        raw = _run(_MP_SPECTRA.format(n=size, mode=mode), {"/x.bin": fit.tobytes()})
    out = np.frombuffer(raw, dtype="<f4")
    if mode == 0:
        return out.view(np.complex64).reshape(*shape, size // 2 + 1).copy()
    return out.reshape(*shape, size // 2 + 1).copy()


def rfft(x: Any, n: int | None = None) -> npt.NDArray[np.complex64]:
    """numpy.fft.rfft(x, n) over the last axis (x cut or zero-padded to n, a power of two 16 ... 4096),
    by ``mlrt.dsp_fft.RFFT`` in MicroPython: complex64, n // 2 + 1 bins."""
    out: npt.NDArray[np.complex64] = _spectra(x, n, 0)
    return out


def power_spectrum(x: Any, n: int | None = None) -> F32:
    """|rfft(x, n)|**2 by ``mlrt.dsp_fft.RFFT.power`` in MicroPython."""
    out: F32 = _spectra(x, n, 1)
    return out


def magnitude_spectrum(x: Any, n: int | None = None) -> F32:
    """|rfft(x, n)| by ``mlrt.dsp_fft.RFFT.magnitude`` in MicroPython."""
    out: F32 = _spectra(x, n, 2)
    return out


# ---------------------------------------------------------------------------------------- windows, frames
_MP_WINDOW = """
from mlrt.dsp_fft import get_window
open('/out.bin', 'wb').write(get_window({name!r}, {n}, {fftbins}))
"""


def get_window(window: Any, Nx: int, fftbins: bool = True) -> F32:
    """scipy.signal.get_window(window, Nx, fftbins) for hann, hamming and blackman, by
    ``mlrt.dsp_fft.get_window`` in MicroPython (float32)."""
    name = audio._window_name(window)
    n = audio._positive_int(Nx, "Nx")
    raw = _run(_MP_WINDOW.format(name=name, n=n, fftbins=bool(fftbins)), {})
    return np.frombuffer(raw, dtype="<f4").copy()


# blocks of these lengths in turn, as a sensor driver might deliver them
_BLOCKS = (1, 37, 256, 5, 1024, 64, 333)

_MP_FRAME = """
from array import array
from mlrt.dsp_fft import Framer
fr = Framer({fl}, {hop})
x = array('f', open('/x.bin', 'rb').read())
out = open('/out.bin', 'wb')
blocks = {blocks}
i = b = 0
while i < len(x):
    k = blocks[b % len(blocks)]
    for f in fr.push(x[i:i + k]):
        out.write(f)
    i += k
    b += 1
out.close()
"""


def frame(x: Any, frame_length: int, hop_length: int) -> F32:
    """Frames of ``frame_length`` samples every ``hop_length`` samples, one per row, no padding (as
    librosa.util.frame(x, ...).T), by ``mlrt.dsp_fft.Framer`` in MicroPython fed blocks of varying
    lengths."""
    a = _signal(x)
    if a.ndim != 1:
        raise InvalidInputError(f"frame takes a 1-D signal; got shape {a.shape}")
    fl = audio._positive_int(frame_length, "frame_length")
    hop = audio._positive_int(hop_length, "hop_length")
    if a.size < fl:
        raise InvalidInputError(f"the signal has {a.size} samples, fewer than frame_length={fl}")
    code = _MP_FRAME.format(fl=fl, hop=hop, blocks=_BLOCKS)
    raw = _run(code, {"/x.bin": _f32(a).tobytes()})
    return np.frombuffer(raw, dtype="<f4").reshape(-1, fl).copy()


# ---------------------------------------------------------------------------------------------- mel
_MP_MEL = """
from array import array
from mlrt.dsp_fft import Framer
from mlrt.dsp_mel import MFCC, MelFilterbank, MelSpectrogram, power_to_db
fb = MelFilterbank('/mel.bin')
ms = MelSpectrogram(fb, {window!r}, {win_length}, {power!r})
fr = Framer(fb.n_fft, {hop})
n_mfcc = {n_mfcc}
mel = array('f', bytes(4 * fb.n_mels))
out = open('/out.bin', 'wb')
S = array('f')
blk = array('f', bytes(4 * 1000))
with open('/y.bin', 'rb') as src:
    while True:
        k = src.readinto(blk) // 4
        if not k:
            break
        for f in fr.push(blk if k == len(blk) else blk[:k]):
            ms.frame(f, mel)
            if n_mfcc:
                S.extend(mel)
            else:
                out.write(mel)
if n_mfcc:
    power_to_db(S, out=S)
    dct = MFCC(n_mfcc, fb.n_mels, {lifter!r})
    cc = array('f', bytes(4 * n_mfcc))
    nm = fb.n_mels
    for i in range(0, len(S), nm):
        out.write(dct.compute(S[i:i + nm], cc))
out.close()
"""


def _mel_run(
    y: Any,
    sr: float,
    n_fft: int,
    hop_length: int,
    win_length: int | None,
    window: str,
    center: bool,
    pad_mode: str,
    power: float,
    n_mels: int,
    fmin: float,
    fmax: float | None,
    htk: bool,
    norm: str | None,
    n_mfcc: int = 0,
    lifter: float = 0.0,
) -> F32:
    a = _signal(y, "y")
    if a.ndim != 1:
        raise InvalidInputError(f"y must be a 1-D signal (mono); got shape {a.shape}")
    n = audio.check_fft_size(n_fft, "n_fft")
    hop = audio._positive_int(hop_length, "hop_length")
    wl = n if win_length is None else audio._positive_int(win_length, "win_length")
    if wl > n:
        raise InvalidInputError(f"win_length ({wl}) must not exceed n_fft ({n})")
    name = audio._window_name(window)
    if isinstance(power, bool) or not isinstance(power, (int, float)) or not 0 < power < math.inf:
        raise InvalidInputError(f"power must be a positive number (2: power, 1: magnitude); got {power!r}")
    if not 0 <= n_mfcc <= n_mels:
        raise InvalidInputError(f"n_mfcc must be between 1 and n_mels ({n_mels}); got {n_mfcc}")
    blob = mel_filterbank_bytes(sr, n, n_mels, fmin, fmax, htk, norm)
    a = audio.center_pad(a, n, center, pad_mode)
    code = _MP_MEL.format(
        window=name, win_length=wl, power=float(power), hop=hop, n_mfcc=n_mfcc, lifter=float(lifter)
    )
    raw = _run(code, {"/mel.bin": blob, "/y.bin": _f32(a).tobytes()})
    rows = n_mfcc or n_mels
    return np.ascontiguousarray(np.frombuffer(raw, dtype="<f4").reshape(-1, rows).T)


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
    """librosa.feature.melspectrogram(y=y, sr=sr, ...): (n_mels, n_frames) float32, each frame by
    ``mlrt.dsp_mel.MelSpectrogram`` in MicroPython (centre padding done here)."""
    return _mel_run(
        y, sr, n_fft, hop_length, win_length, window, center, pad_mode, power, n_mels, fmin, fmax, htk, norm
    )


_MP_DB = """
from array import array
from mlrt.dsp_mel import power_to_db
S = array('f', open('/S.bin', 'rb').read())
open('/out.bin', 'wb').write(power_to_db(S, {ref!r}, {amin!r}, {top_db!r}, S))
"""


def power_to_db(
    S: Any, ref: float | Callable[[Any], Any] = 1.0, amin: float = 1e-10, top_db: float | None = 80.0
) -> F32:
    """librosa.power_to_db(S, ref=ref, amin=amin, top_db=top_db) by ``mlrt.dsp_mel.power_to_db`` in
    MicroPython, over all of S (top_db below the maximum of all of S). ``ref`` may be a function of S
    (e.g. np.max); it is then evaluated here."""
    a = _signal(S, "S")
    if not (isinstance(amin, (int, float)) and amin > 0):
        raise InvalidInputError(f"amin must be positive; got {amin!r}")
    if top_db is not None and not (isinstance(top_db, (int, float)) and top_db >= 0):
        raise InvalidInputError(f"top_db must be None or non-negative; got {top_db!r}")
    r = ref(a) if callable(ref) else ref
    try:
        rv = float(r)
    except (TypeError, ValueError) as e:
        raise InvalidInputError(f"ref must be a number or a function returning one; got {ref!r}") from e
    if not math.isfinite(rv):
        raise InvalidInputError(f"ref must be finite; got {rv!r}")
    if a.size == 0:
        return np.zeros(a.shape, dtype=np.float32)
    tdb = None if top_db is None else float(top_db)
    raw = _run(_MP_DB.format(ref=rv, amin=float(amin), top_db=tdb), {"/S.bin": _f32(a).tobytes()})
    return np.frombuffer(raw, dtype="<f4").reshape(a.shape).copy()


def mfcc(
    y: Any,
    sr: float = 22050,
    n_mfcc: int = 20,
    dct_type: int = 2,
    norm: str | None = "ortho",
    lifter: float = 0,
    **kwargs: Any,
) -> F32:
    """librosa.feature.mfcc(y=y, sr=sr, n_mfcc=n_mfcc, lifter=lifter, **kwargs) with dct_type 2 and
    norm "ortho": melspectrogram (kwargs), power_to_db (top_db 80 over all frames), DCT-II, all in
    MicroPython (``mlrt.dsp_mel``); (n_mfcc, n_frames) float32."""
    if dct_type != 2 or norm != "ortho":
        raise InvalidInputError(
            f"only dct_type=2 with norm='ortho' is supported (librosa's default); got dct_type={dct_type!r}, "
            f"norm={norm!r}"
        )
    if isinstance(lifter, bool) or not isinstance(lifter, (int, float)) or not 0 <= lifter < math.inf:
        raise InvalidInputError(f"lifter must be a non-negative number (0: none); got {lifter!r}")
    if isinstance(n_mfcc, bool) or not isinstance(n_mfcc, (int, np.integer)) or n_mfcc < 1:
        raise InvalidInputError(f"n_mfcc must be a positive integer; got {n_mfcc!r}")
    p: dict[str, Any] = {
        "n_fft": 2048,
        "hop_length": 512,
        "win_length": None,
        "window": "hann",
        "center": True,
        "pad_mode": "constant",
        "power": 2.0,
        "n_mels": 128,
        "fmin": 0.0,
        "fmax": None,
        "htk": False,
        "norm": "slaney",
    }
    unknown = set(kwargs) - set(p)
    if unknown:
        raise InvalidInputError(f"mfcc got unknown melspectrogram arguments: {', '.join(sorted(unknown))}")
    p.update(kwargs)
    return _mel_run(y, sr, n_mfcc=int(n_mfcc), lifter=float(lifter), **p)
