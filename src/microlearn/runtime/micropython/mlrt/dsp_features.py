# mlrt.dsp_features: time-series features of sensor windows (MicroPython, no numpy).
# The same definitions as microlearn.dsp.features and ml_features.h. Every operation is rounded to
# float32, so on ports whose floats are doubles the features are bit-identical to the C and to
# microlearn.dsp.FeatureExtractor (single-float ports agree to float rounding).
#
#   from mlrt.dsp_features import Features
#   fx = Features(config)          # config: FeatureConfig.to_dict() from microlearn
#   feats = fx.compute(window)     # window: window*n_axes floats, interleaved axes
import math
from array import array

STATS = (
    "mean",
    "std",
    "min",
    "max",
    "rms",
    "ptp",
    "energy",
    "zero_crossings",
    "mean_crossings",
    "skewness",
    "kurtosis",
)
MAX_ABS = 1e8

_b = array("f", [0.0])


def band_bins(window, sr, bands):
    """FFT bins [lo, hi) of each (lo, hi) Hz band (as microlearn.dsp.FeatureConfig.band_bins)."""
    out = []
    for lo, hi in bands:
        if not 0 <= lo < hi <= sr / 2 + 1e-9:
            raise ValueError("band (%g, %g) must satisfy 0 <= lo < hi <= sr/2" % (lo, hi))
        klo = math.ceil(lo * window / sr)
        khi = min(math.ceil(hi * window / sr), window // 2 + 1)
        if hi >= sr / 2:
            khi = window // 2 + 1
        if khi <= klo:
            raise ValueError("band (%g, %g) holds no FFT bin: widen it" % (lo, hi))
        out.append((klo, khi))
    return out


def _r(v):
    # round to float32
    _b[0] = v
    return _b[0]


def _sample(w, i, n_axes, ch):
    o = i * n_axes
    if ch < n_axes:
        return w[o + ch]
    s = _r(w[o] * w[o])
    for a in range(1, n_axes):
        s = _r(s + _r(w[o + a] * w[o + a]))
    return _r(math.sqrt(s))


def check(w):
    for v in w:
        if not (-MAX_ABS <= v <= MAX_ABS):
            raise ValueError("the window holds NaN, inf or samples beyond +-1e8")


def stats(w, n, n_axes, ch):
    """The 11 statistics of STATS for channel ch (ch == n_axes: magnitude), as a list."""
    fn = float(n)
    v = [_sample(w, i, n_axes, ch) for i in range(n)]
    s = 0.0
    ss = 0.0
    zc = 0
    mn = mx = v[0]
    prev = v[0] < 0
    for x in v:
        s = _r(s + x)
        ss = _r(ss + _r(x * x))
        if x < mn:
            mn = x
        if x > mx:
            mx = x
        neg = x < 0
        if neg != prev:
            zc += 1
        prev = neg
    mean = _r(s / fn)
    m2 = m3 = m4 = 0.0
    mc = 0
    prev = _r(v[0] - mean) < 0
    for x in v:
        d = _r(x - mean)
        d2 = _r(d * d)
        m2 = _r(m2 + d2)
        m3 = _r(m3 + _r(d2 * d))
        m4 = _r(m4 + _r(d2 * d2))
        neg = d < 0
        if neg != prev:
            mc += 1
        prev = neg
    m2 = _r(m2 / fn)
    m3 = _r(m3 / fn)
    m4 = _r(m4 / fn)
    std = _r(math.sqrt(m2))
    energy = _r(ss / fn)
    den3 = _r(m2 * std)
    den4 = _r(m2 * m2)
    skew = _r(m3 / den3) if den3 > 0 else 0.0
    kurt = _r(_r(m4 / den4) - 3.0) if den4 > 0 else 0.0
    return [mean, std, mn, mx, _r(math.sqrt(energy)), _r(mx - mn), energy, float(zc), float(mc), skew, kurt]


def dft_tables(n):
    c = array("f", [math.cos(2 * math.pi * j / n) for j in range(n)])
    s = array("f", [math.sin(2 * math.pi * j / n) for j in range(n)])
    return c, s


def bands(w, n, n_axes, ch, cos_t, sin_t, bins):
    """Band energies of channel ch: for each (lo, hi) in bins, sum of |DFT(x - mean)_k|^2 / n."""
    fn = float(n)
    v = [_sample(w, i, n_axes, ch) for i in range(n)]
    s = 0.0
    for x in v:
        s = _r(s + x)
    mean = _r(s / fn)
    d = [_r(x - mean) for x in v]
    out = []
    for lo, hi in bins:
        acc = 0.0
        for k in range(lo, hi):
            re = im = 0.0
            j = 0
            for i in range(n):
                re = _r(re + _r(d[i] * cos_t[j]))
                im = _r(im + _r(d[i] * sin_t[j]))
                j += k
                if j >= n:
                    j -= n
            acc = _r(acc + _r(_r(re * re) + _r(im * im)))
        out.append(_r(acc / fn))
    return out


class Features:
    """Features of windows for a configuration dict (microlearn FeatureConfig.to_dict())."""

    def __init__(self, config):
        self.window = int(config["window"])
        self.n_axes = int(config["n_axes"])
        self.stats = [STATS.index(s) for s in config["stats"]]
        self.n_channels = self.n_axes + (1 if config["magnitude"] else 0)
        self.bins = [tuple(b) for b in config.get("bins", ())]
        if self.bins:
            if "cos" in config:
                self.cos_t = array("f", config["cos"])
                self.sin_t = array("f", config["sin"])
            else:
                self.cos_t, self.sin_t = dft_tables(self.window)
        self.n_features = self.n_channels * (len(self.stats) + len(self.bins))

    def compute(self, window):
        """A list of n_features floats from one window of window*n_axes interleaved samples."""
        if len(window) != self.window * self.n_axes:
            raise ValueError("a window holds %d floats" % (self.window * self.n_axes))
        check(window)
        out = []
        for ch in range(self.n_channels):
            if self.stats:
                st = stats(window, self.window, self.n_axes, ch)
                for k in self.stats:
                    out.append(st[k])
            if self.bins:
                out.extend(bands(window, self.window, self.n_axes, ch, self.cos_t, self.sin_t, self.bins))
        return out
