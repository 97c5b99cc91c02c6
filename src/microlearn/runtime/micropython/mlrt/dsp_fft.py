# mlrt.dsp_fft: real FFT, power and magnitude spectra, windows and a streaming framer (MicroPython,
# no numpy). The same definitions as microlearn.dsp.audio (numpy.fft.rfft, scipy.signal.get_window).
#
#   from mlrt.dsp_fft import RFFT, Framer, get_window
#   f = RFFT(512, "hann")               # plan: twiddles, bit reversal and window, made once
#   spec = f.power(frame)               # array('f'), 257 values |X[k]|^2 of the windowed frame
#   X = f.rfft(frame)                   # array('f'), re/im interleaved (n + 2 values)
#   fr = Framer(512, 256)               # frames of 512 samples every 256 samples
#   for frame in fr.push(block):        # block: any length; frame: the framer's own buffer
#       f.power(frame, spec)            # pass out= buffers to allocate nothing per frame
#
# The n-point real FFT is an n/2-point complex FFT of (x[0] + i x[1], x[2] + i x[3], ...) followed by a
# split step. The complex FFT works on a list of complex numbers: on MicroPython one complex operation
# is one bytecode, about twice as fast as the same butterflies on separate real/imaginary arrays.
# Needs complex numbers (MICROPY_PY_BUILTINS_COMPLEX, on wherever floats are).
import math
from array import array

WINDOWS = ("hann", "hamming", "blackman")
_FT = "d" if 1.0 + 1e-9 != 1.0 else "f"  # the port's float
_COEFS = {"hann": (0.5, 0.5, 0.0), "hamming": (0.54, 0.46, 0.0), "blackman": (0.42, 0.5, 0.08)}


def _zeros(n):
    return array("f", bytes(4 * n))


def _log2(n):
    b = 0
    while (1 << b) < n:
        b += 1
    return b if (1 << b) == n else -1


def _rev(i, bits):
    r = 0
    for _ in range(bits):
        r = (r << 1) | (i & 1)
        i >>= 1
    return r


def get_window(name, n, fftbins=True):
    """hann, hamming or blackman window of n points as array('f'): periodic (fftbins=True, for spectra)
    or symmetric (fftbins=False, for filter design), as scipy.signal.get_window(name, n, fftbins)."""
    if name not in _COEFS:
        raise ValueError("window must be one of hann, hamming, blackman")
    if n < 1:
        raise ValueError("a window has at least one point")
    w = _zeros(n)
    if n == 1:
        w[0] = 1.0
        return w
    a0, a1, a2 = _COEFS[name]
    M = n if fftbins else n - 1
    f = 2.0 * math.pi / M
    for k in range(n):
        j = k if 2 * k <= M else M - k  # cos(2 pi (M - k) / M) = cos(2 pi k / M): exact symmetry
        w[k] = a0 - a1 * math.cos(f * j) + a2 * math.cos(2.0 * f * j)
    return w


class RFFT:
    """The FFT of n real samples (n a power of two, 4 ... 65536; 16 ... 4096 tested against numpy).

    window: None (rectangular), a name (hann, hamming, blackman: periodic, n points) or n numbers
    (e.g. a shorter window zero-padded to n); it multiplies every input frame.
    RAM: the work list of n/2 complex numbers (on a 32-bit single-float port 20 bytes each), the
    twiddles as two arrays of n/2 + 1 floats of the port, n/4 or n/2 indices (2 bytes each) and the
    window (4 n bytes) if any: RFFT(512, "hann") keeps about 9.4 kB there."""

    def __init__(self, n, window=None):
        b = _log2(n)
        if b < 2 or n > 65536:
            raise ValueError("n must be a power of two from 4 to 65536")
        m = n >> 1
        self.n = n
        self.n_bins = m + 1
        bits = b - 1  # log2 of the complex FFT size m
        self._r4 = not (bits & 1)  # first pass radix-4 (else radix-2)
        g = 4 if self._r4 else 2
        # x offset of the first complex input of each first-pass group, in bit-reversed order
        self._idx = array("H", [2 * _rev(g * q, bits) for q in range(m // g)])
        f = -2.0 * math.pi / n
        # W_n^k = c[k] + i s[k], k = 0 ... m, in the port's float
        self._c = array(_FT, [math.cos(f * k) for k in range(m + 1)])
        self._s = array(_FT, [math.sin(f * k) for k in range(m + 1)])
        self._c[m] = -1.0
        self._s[m] = 0.0
        self._z = [0j] * m
        if window is None:
            self.window = None
        elif isinstance(window, str):
            self.window = get_window(window, n, True)
        else:
            if len(window) != n:
                raise ValueError("the window must have n points")
            self.window = array("f", window)

    def _fft(self, x):
        # z = the m-point complex FFT of x[2k] + i x[2k+1] (windowed)
        if len(x) != self.n:
            raise ValueError("a frame holds n = %d samples" % self.n)
        z = self._z
        m = len(z)
        cs = self._c
        sn = self._s
        win = self.window
        i = 0
        if self._r4:
            o1 = m
            o2 = m >> 1
            o3 = o1 + o2
            if win is None:
                for r in self._idx:
                    a = complex(x[r], x[r + 1])
                    b = complex(x[r + o1], x[r + o1 + 1])
                    c = complex(x[r + o2], x[r + o2 + 1])
                    d = complex(x[r + o3], x[r + o3 + 1])
                    s0 = a + b
                    d0 = a - b
                    s1 = c + d
                    d1 = (c - d) * -1j
                    z[i] = s0 + s1
                    z[i + 1] = d0 + d1
                    z[i + 2] = s0 - s1
                    z[i + 3] = d0 - d1
                    i += 4
            else:
                for r in self._idx:
                    a = complex(x[r] * win[r], x[r + 1] * win[r + 1])
                    k = r + o1
                    b = complex(x[k] * win[k], x[k + 1] * win[k + 1])
                    k = r + o2
                    c = complex(x[k] * win[k], x[k + 1] * win[k + 1])
                    k = r + o3
                    d = complex(x[k] * win[k], x[k + 1] * win[k + 1])
                    s0 = a + b
                    d0 = a - b
                    s1 = c + d
                    d1 = (c - d) * -1j
                    z[i] = s0 + s1
                    z[i + 1] = d0 + d1
                    z[i + 2] = s0 - s1
                    z[i + 3] = d0 - d1
                    i += 4
            L = 4
        else:
            o1 = m
            if win is None:
                for r in self._idx:
                    a = complex(x[r], x[r + 1])
                    b = complex(x[r + o1], x[r + o1 + 1])
                    z[i] = a + b
                    z[i + 1] = a - b
                    i += 2
            else:
                for r in self._idx:
                    a = complex(x[r] * win[r], x[r + 1] * win[r + 1])
                    k = r + o1
                    b = complex(x[k] * win[k], x[k + 1] * win[k + 1])
                    z[i] = a + b
                    z[i + 1] = a - b
                    i += 2
            L = 2
        n = self.n
        # radix-4 passes: four transforms of length L become one of length 4L
        while L < m:
            q2 = 2 * L
            q3 = 3 * L
            step = 4 * L
            ts = n // step  # W_4L^j = W_n^(j ts)
            t = 0
            for j in range(L):
                w1 = complex(cs[t], sn[t])
                k = 2 * t
                w2 = complex(cs[k], sn[k])
                k = 3 * t
                w3 = complex(cs[k], sn[k]) if k <= m else complex(-cs[k - m], -sn[k - m])
                for i in range(j, m, step):
                    a = z[i]
                    b = w2 * z[i + L]
                    c = w1 * z[i + q2]
                    d = w3 * z[i + q3]
                    s0 = a + b
                    d0 = a - b
                    s1 = c + d
                    d1 = (c - d) * -1j
                    z[i] = s0 + s1
                    z[i + L] = d0 + d1
                    z[i + q2] = s0 - s1
                    z[i + q3] = d0 - d1
                t += ts
            L = step

    def _split(self, out, mode):
        # the real FFT X[k] = E[k] + W_n^k O[k] from the complex FFT of the even/odd samples;
        # mode 0: X re/im interleaved, 1: |X|^2, 2: |X|
        z = self._z
        m = len(z)
        cs = self._c
        sn = self._s
        h = m >> 1
        a = z[0]
        x0 = a.real + a.imag
        xm = a.real - a.imag
        if mode == 0:
            out[0] = x0
            out[1] = 0.0
            out[2 * m] = xm
            out[2 * m + 1] = 0.0
        elif mode == 1:
            out[0] = x0 * x0
            out[m] = xm * xm
        else:
            out[0] = abs(x0)
            out[m] = abs(xm)
        sqrt = math.sqrt
        for k in range(1, h + 1):
            a = z[k]
            b = z[m - k]
            ar = a.real
            ai = a.imag
            br = b.real
            bi = b.imag
            er = ar + br  # 2 E[k] = z[k] + conj(z[m-k])
            ei = ai - bi
            dr = ar - br
            di = ai + bi
            tr = cs[k + h]  # -i W_n^k
            ti = sn[k + h]
            orr = dr * tr - di * ti  # 2 W_n^k O[k]
            oi = dr * ti + di * tr
            if mode == 0:
                j = 2 * k
                out[j] = 0.5 * (er + orr)
                out[j + 1] = 0.5 * (ei + oi)
                j = 2 * (m - k)
                out[j] = 0.5 * (er - orr)
                out[j + 1] = 0.5 * (oi - ei)
            else:
                u = er + orr
                v = ei + oi
                p = 0.25 * (u * u + v * v)
                u = er - orr
                v = oi - ei
                q = 0.25 * (u * u + v * v)
                if mode == 2:
                    p = sqrt(p)
                    q = sqrt(q)
                out[k] = p
                out[m - k] = q
        return out

    def rfft(self, x, out=None):
        """numpy.fft.rfft of the n samples x (windowed if the plan has a window): n/2 + 1 complex bins
        as array('f') of n + 2 floats, re0 im0 re1 im1 ... (out: such a buffer to reuse)."""
        self._fft(x)
        return self._split(_zeros(self.n + 2) if out is None else out, 0)

    def power(self, x, out=None):
        """|rfft(x)|^2: n/2 + 1 floats (out: a buffer of n/2 + 1 floats to reuse)."""
        self._fft(x)
        return self._split(_zeros(self.n_bins) if out is None else out, 1)

    def magnitude(self, x, out=None):
        """|rfft(x)|: n/2 + 1 floats (out: a buffer of n/2 + 1 floats to reuse)."""
        self._fft(x)
        return self._split(_zeros(self.n_bins) if out is None else out, 2)


class Framer:
    """Frames of frame_length samples every hop_length samples from blocks of any length, as
    microlearn.dsp.audio.frame does on the whole signal (no padding). Holds one frame: RAM is
    4 * frame_length bytes whatever the block sizes."""

    def __init__(self, frame_length, hop_length):
        if frame_length < 1 or hop_length < 1:
            raise ValueError("frame_length and hop_length must be positive")
        self.frame_length = frame_length
        self.hop_length = hop_length
        self.frame = _zeros(frame_length)
        self._mv = memoryview(self.frame)
        self._fill = 0  # samples in frame
        self._skip = 0  # samples still to drop (hop_length > frame_length)

    def reset(self):
        self._fill = 0
        self._skip = 0

    def push(self, block):
        """Take a block of samples (array('f') is copied fastest; any sequence of numbers works) and
        yield each frame it completes. The frame yielded is the framer's own buffer: use it (or copy it)
        before asking for the next one."""
        fl = self.frame_length
        hop = self.hop_length
        buf = self.frame
        mv = self._mv
        n = len(block)
        src = None
        if isinstance(block, array) and n and isinstance(block[0], float):
            try:
                src = memoryview(block)
                mv[0:0] = src[0:0]  # raises unless block holds float32 too
            except (ValueError, TypeError, NotImplementedError):
                src = None
        i = 0
        while i < n:
            if self._skip:
                k = min(self._skip, n - i)
                self._skip -= k
                i += k
                continue
            f = self._fill
            k = min(fl - f, n - i)
            if src is not None:
                mv[f : f + k] = src[i : i + k]
            else:
                for j in range(k):
                    buf[f + j] = block[i + j]
            i += k
            self._fill = f + k
            if self._fill == fl:
                yield buf
                if hop < fl:
                    mv[0 : fl - hop] = mv[hop:fl]
                    self._fill = fl - hop
                else:
                    self._fill = 0
                    self._skip = hop - fl
