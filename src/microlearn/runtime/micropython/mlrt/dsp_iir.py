# mlrt.dsp_iir: IIR filters in second-order sections and a sound level meter (MicroPython, no numpy).
# The same definitions as microlearn.dsp.iir and ml_iir.h / ml_slm.h (see docs/dsp.md).
#
#   from mlrt.dsp_iir import sosfilt, SoundLevelMeter
#   zi = array('f', [0.0] * (2 * n_sections))
#   y = sosfilt(sos, block, zi)                 # sos: 6 floats per section (b0 b1 b2 1 a1 a2)
#   slm = SoundLevelMeter(sos, alpha, offset_db) # values from microlearn.dsp.slm_config
#   slm.process(block); leq, lmax, lmin = slm.read()
import math
from array import array

MS_FLOOR = 1e-30


def _check_sos(sos):
    if len(sos) % 6 or not len(sos):
        raise ValueError("sos must hold 6 floats per section (b0 b1 b2 a0 a1 a2)")
    for s in range(0, len(sos), 6):
        if sos[s + 3] != 1.0:
            raise ValueError("a0 of every section must be 1: normalise the coefficients")


def _finite(v):
    return v - v == 0.0


def sosfilt(sos, x, zi=None):
    """Filter x (a sequence of floats) through the sections; returns array('f'). zi (array('f') of
    2 floats per section, zero to start) carries the state from block to block and is updated.
    Raises ValueError for NaN or infinite samples (zi is then reset to zero)."""
    _check_sos(sos)
    ns = len(sos) // 6
    if zi is None:
        zi = array("f", [0.0] * (2 * ns))
    elif len(zi) != 2 * ns:
        raise ValueError("zi must hold 2 floats per section")
    y = array("f", x)
    for s in range(ns):
        o = 6 * s
        b0 = sos[o]
        b1 = sos[o + 1]
        b2 = sos[o + 2]
        a1 = sos[o + 4]
        a2 = sos[o + 5]
        st = array("f", (zi[2 * s], zi[2 * s + 1]))
        for i in range(len(y)):
            xi = y[i]
            y[i] = b0 * xi + st[0]
            yi = y[i]
            st[0] = b1 * xi - a1 * yi + st[1]
            st[1] = b2 * xi - a2 * yi
        if not (_finite(st[0]) and _finite(st[1])):
            for i in range(len(zi)):
                zi[i] = 0.0
            raise ValueError("the input holds NaN or infinite samples")
        zi[2 * s] = st[0]
        zi[2 * s + 1] = st[1]
    return y


class SoundLevelMeter:
    """Weighted (sos), time-weighted (alpha) levels; read() gives (Leq, Lmax, Lmin) in dB over the
    samples since the previous read."""

    def __init__(self, sos, alpha, offset_db):
        _check_sos(sos)
        if not 0.0 < alpha <= 1.0:
            raise ValueError("alpha must be in (0, 1]")
        self.sos = array("f", sos)
        self.zi = array("f", [0.0] * (len(sos) // 3))
        self.alpha = alpha
        self.offset_db = offset_db
        self.ms = 0.0
        self._start()

    def _start(self):
        self.sum = 0.0
        self.count = 0
        self.ms_max = 0.0
        self.ms_min = 3.402823466e38

    def process(self, x):
        zi = array("f", self.zi)
        y = sosfilt(self.sos, x, zi)
        a = self.alpha
        ms = self.ms
        s = self.sum
        mx = self.ms_max
        mn = self.ms_min
        for v in y:
            sq = v * v
            s += sq
            ms += a * (sq - ms)
            if ms > mx:
                mx = ms
            if ms < mn:
                mn = ms
        if not (_finite(s) and _finite(ms)):
            raise ValueError("the input holds NaN or infinite samples")
        self.zi = zi
        self.ms = ms
        self.sum = s
        self.ms_max = mx
        self.ms_min = mn
        self.count += len(y)

    def db(self, ms):
        return 10.0 * math.log10(ms if ms > MS_FLOOR else MS_FLOOR) + self.offset_db

    def level(self):
        return self.db(self.ms)

    def read(self):
        if not self.count:
            raise ValueError("no samples since the last read")
        out = (self.db(self.sum / self.count), self.db(self.ms_max), self.db(self.ms_min))
        self._start()
        return out
