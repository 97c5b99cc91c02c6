# mlrt.dsp_mel: mel filterbank, mel spectrogram frames, power_to_db and MFCC (MicroPython, no numpy).
# The same definitions as microlearn.dsp.audio (librosa's melspectrogram, power_to_db and mfcc).
#
#   from mlrt.dsp_mel import MelFilterbank, MelSpectrogram, MFCC, power_to_db
#   fb = MelFilterbank("mel40.bin")       # written on the host: microlearn.dsp mel_filterbank_bytes(...)
#   ms = MelSpectrogram(fb, "hann")       # window -> rfft -> |X|^2 -> mel, plans made once
#   mel = ms.frame(frame)                 # n_mels floats (out= a buffer to reuse)
#   db = power_to_db(mel, top_db=None)    # 10 log10(max(amin, S)) - 10 log10(max(amin, |ref|))
#   cc = MFCC(13, fb.n_mels).compute(db)  # DCT-II (orthonormal) of the log-mel, first n_mfcc
#
# Filterbank file (little-endian): b"MLFB", u16 version (1), u16 n_mels, u16 n_bins (n_fft // 2 + 1),
# u16 0, u32 n_weights; n_mels x (u16 first bin, u16 count); n_weights float32 weights, band after band.
import math
import struct
from array import array

from mlrt.dsp_fft import RFFT, get_window

MAGIC = b"MLFB"  # its own magic: model loaders (mlrt.load, ml_model.h) refuse it by name
VERSION = 1
_HEAD = "<4sHHHHI"
_HEAD_SIZE = 16


def _zeros(n):
    return array("f", bytes(4 * n))


class MelFilterbank:
    """A mel filterbank in sparse form: band b sums weights * spectrum[first[b] : first[b] + count[b]].
    src: the file's bytes or a path. RAM: the weights (4 bytes each, about 2 * n_bins) and 4 bytes per
    band."""

    def __init__(self, src):
        if isinstance(src, str):
            with open(src, "rb") as f:
                src = f.read()
        if len(src) < _HEAD_SIZE:
            raise ValueError("mel filterbank: truncated header")
        magic, version, n_mels, n_bins, _, n_w = struct.unpack_from(_HEAD, src, 0)
        if magic == b"MLMF":
            raise ValueError("mel filterbank: this is a model file (load it with mlrt.load)")
        if magic != MAGIC:
            raise ValueError("mel filterbank: not a filterbank file (bad magic)")
        if version != VERSION:
            raise ValueError("mel filterbank: version %d is not supported by this mlrt" % version)
        end = _HEAD_SIZE + 4 * n_mels + 4 * n_w
        if len(src) != end:
            raise ValueError("mel filterbank: %d bytes, expected %d" % (len(src), end))
        self.n_mels = n_mels
        self.n_bins = n_bins
        self.n_fft = 2 * (n_bins - 1)
        self.first = array("H", bytes(2 * n_mels))
        self.count = array("H", bytes(2 * n_mels))
        total = 0
        for b in range(n_mels):
            s, c = struct.unpack_from("<HH", src, _HEAD_SIZE + 4 * b)
            if s + c > n_bins:
                raise ValueError("mel filterbank: band %d goes beyond the spectrum" % b)
            self.first[b] = s
            self.count[b] = c
            total += c
        if total != n_w:
            raise ValueError("mel filterbank: band counts do not add up to the weights")
        o = _HEAD_SIZE + 4 * n_mels
        self.weights = array("f", src[o:end])
        self.nbytes = 4 * len(self.weights) + 4 * n_mels

    def apply(self, spec, out=None):
        """The n_mels band sums of a spectrum of n_bins values (out: a buffer of n_mels floats)."""
        if len(spec) != self.n_bins:
            raise ValueError("the spectrum must have n_bins = %d values" % self.n_bins)
        if out is None:
            out = _zeros(self.n_mels)
        w = self.weights
        first = self.first
        count = self.count
        o = 0
        for b in range(self.n_mels):
            s = 0.0
            k = first[b] - o
            e = o + count[b]
            for j in range(o, e):
                s += w[j] * spec[j + k]
            out[b] = s
            o = e
        return out


class MelSpectrogram:
    """One frame of librosa.feature.melspectrogram: window (win_length points, centred in n_fft) ->
    rfft -> |X|^power -> mel filterbank. Feed it frames of n_fft samples (see dsp_fft.Framer)."""

    def __init__(self, filterbank, window="hann", win_length=None, power=2.0):
        n = filterbank.n_fft
        wl = n if win_length is None else win_length
        if not 1 <= wl <= n:
            raise ValueError("win_length must be between 1 and n_fft")
        if not power > 0:
            raise ValueError("power must be positive")
        if isinstance(window, str):
            w = get_window(window, wl, True)
        else:
            w = array("f", window)
            if len(w) != wl:
                raise ValueError("the window must have win_length points")
        if wl < n:
            pad = _zeros(n)
            left = (n - wl) // 2
            for i in range(wl):
                pad[left + i] = w[i]
            w = pad
        self.filterbank = filterbank
        self.n_fft = n
        self.n_mels = filterbank.n_mels
        self.power = power
        self.fft = RFFT(n, w)
        self._spec = _zeros(filterbank.n_bins)

    def spectrum(self, x):
        """|rfft(window * x)|^power of one frame of n_fft samples (the plan's buffer, n_bins floats)."""
        p = self.power
        if p == 1.0:
            return self.fft.magnitude(x, self._spec)
        spec = self.fft.power(x, self._spec)
        if p != 2.0:
            e = 0.5 * p
            for i in range(len(spec)):
                spec[i] = spec[i] ** e
        return spec

    def frame(self, x, out=None):
        """The n_mels mel energies of one frame of n_fft samples (out: a buffer of n_mels floats)."""
        return self.filterbank.apply(self.spectrum(x), out)


def power_to_db(S, ref=1.0, amin=1e-10, top_db=80.0, out=None):
    """librosa.power_to_db over the values of S: 10 log10(max(amin, S)) - 10 log10(max(amin, |ref|)),
    then, unless top_db is None, floored at max(result) - top_db (the maximum over this buffer).
    ref: a number or a function of S (e.g. max). out may be S itself."""
    if not amin > 0:
        raise ValueError("amin must be positive")
    if top_db is not None and top_db < 0:
        raise ValueError("top_db must be non-negative")
    if callable(ref):
        ref = ref(S)
    ref = abs(ref)
    n = len(S)
    if out is None:
        out = _zeros(n)
    log10 = math.log10
    off = 10.0 * log10(ref if ref > amin else amin)
    hi = -3.4e38
    for i in range(n):
        v = S[i]
        d = 10.0 * log10(v if v > amin else amin) - off
        out[i] = d
        if d > hi:
            hi = d
    if top_db is not None and n:
        lo = hi - top_db
        for i in range(n):
            if out[i] < lo:
                out[i] = lo
    return out


class MFCC:
    """The first n_mfcc coefficients of the orthonormal DCT-II of n_mels log-mel values, as
    scipy.fft.dct(x, type=2, norm="ortho")[:n_mfcc], times librosa's lifter 1 + (L/2) sin(pi (k+1) / L)
    when lifter L > 0. RAM: the n_mfcc x n_mels table (4 bytes each)."""

    def __init__(self, n_mfcc, n_mels, lifter=0.0):
        if not 1 <= n_mfcc <= n_mels:
            raise ValueError("n_mfcc must be between 1 and n_mels")
        if lifter < 0:
            raise ValueError("lifter must be >= 0")
        self.n_mfcc = n_mfcc
        self.n_mels = n_mels
        t = _zeros(n_mfcc * n_mels)
        f = math.pi / (2 * n_mels)
        period = 4 * n_mels  # cos(f j) has period 4 n_mels in j: keep the argument below 2 pi
        for k in range(n_mfcc):
            s = math.sqrt((1.0 if k == 0 else 2.0) / n_mels)
            if lifter > 0:
                s *= 1.0 + 0.5 * lifter * math.sin(math.pi * (k + 1) / lifter)
            for i in range(n_mels):
                t[k * n_mels + i] = s * math.cos(f * ((k * (2 * i + 1)) % period))
        self.table = t

    def compute(self, log_mel, out=None):
        """n_mfcc coefficients of n_mels log-mel values (out: a buffer of n_mfcc floats)."""
        nm = self.n_mels
        if len(log_mel) != nm:
            raise ValueError("MFCC takes n_mels = %d values" % nm)
        if out is None:
            out = _zeros(self.n_mfcc)
        t = self.table
        o = 0
        for k in range(self.n_mfcc):
            s = 0.0
            for i in range(nm):
                s += t[o + i] * log_mel[i]
            out[k] = s
            o += nm
        return out
