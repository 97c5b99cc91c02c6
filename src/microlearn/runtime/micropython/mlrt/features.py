# mlrt feature-extractor stage (family 32): a FeatureConfig read from a model file, computed by
# mlrt.dsp_features with the float32 DFT tables the file carries (the ones the model was trained with).
from mlrt._reader import bad

FAMILY = 32
TRANSFORM = 5
_T = 1 << TRANSFORM

# tag -> (dtype code, critical, tasks bit mask, required): microlearn/backends/modelfile/schema.py FEATURES
SECTIONS = {
    b"WIND": (6, 1, _T, 1),
    b"AXES": (6, 1, _T, 1),
    b"MAGN": (1, 1, _T, 1),
    b"STAT": (1, 1, _T, 1),
    b"BINS": (6, 1, _T, 0),
    b"DCOS": (7, 1, _T, 0),
    b"DSIN": (7, 1, _T, 0),
    b"BAND": (8, 0, _T, 0),
    b"SRAT": (8, 0, _T, 0),
    b"SRCE": (9, 0, _T, 0),
}

N_STATS = 11
MAX_WINDOW = 1 << 15


def _one(sec, tag, lo, hi):
    a = sec[tag]
    if len(a) != 1 or not lo <= a[0] <= hi:
        raise bad("%s must hold one value in %d .. %d" % (tag.decode(), lo, hi))
    return a[0]


def load(head, sec):
    return FeatureStage(head, sec)


class FeatureStage:
    """``transform(window)``: the features of one window (window * n_axes interleaved samples)."""

    def __init__(self, head, sec):
        if head[4] != TRANSFORM:
            raise bad("a feature stage is a transform")
        window = _one(sec, b"WIND", 2, MAX_WINDOW)
        n_axes = _one(sec, b"AXES", 1, 16)
        magnitude = _one(sec, b"MAGN", 0, 1)
        stats = list(sec[b"STAT"])
        for i, s in enumerate(stats):
            if s >= N_STATS or s in stats[:i]:
                raise bad("STAT holds an unknown or repeated statistic")
        bins = list(sec.get(b"BINS") or ())
        cos_t = sec.get(b"DCOS")
        sin_t = sec.get(b"DSIN")
        if len(bins) % 2 or (cos_t is None) != (not bins) or (sin_t is None) != (not bins):
            raise bad("band energies need BINS (pairs), DCOS and DSIN together")
        nb = len(bins) // 2
        for b in range(nb):
            if not 0 <= bins[2 * b] < bins[2 * b + 1] <= window // 2 + 1:
                raise bad("band %d: bins outside 0 .. WIND / 2 + 1" % b)
        if nb:
            if len(cos_t) != window or len(sin_t) != window:
                raise bad("DCOS/DSIN need one value per sample of the window")
            for t in (cos_t, sin_t):
                for v in t:
                    if not -1.0 <= v <= 1.0:
                        raise bad("DCOS/DSIN hold a value outside [-1, 1]")
        for tag in (b"BAND", b"SRAT"):
            for v in sec.get(tag) or ():
                if v - v != 0 or (tag == b"SRAT" and not 0 <= v <= 1e12):
                    raise bad("%s holds a value out of range" % tag.decode())
        if sec.get(b"BAND") is not None and len(sec[b"BAND"]) != len(bins):
            raise bad("BAND needs (lo, hi) per band")
        if not stats and not nb:
            raise bad("a feature stage computes at least one statistic or band")
        if head[5] != window * n_axes or head[6] != (n_axes + magnitude) * (len(stats) + nb):
            raise bad("n_features / n_outputs do not match the window, axes, statistics and bands")
        from mlrt.dsp_features import STATS, Features

        config = {
            "window": window,
            "n_axes": n_axes,
            "stats": [STATS[s] for s in stats],
            "magnitude": bool(magnitude),
        }
        if nb:
            config["bins"] = [(bins[2 * b], bins[2 * b + 1]) for b in range(nb)]
            config["cos"] = cos_t
            config["sin"] = sin_t
        self.n_features = head[5]
        self.n_outputs = head[6]
        self._fx = Features(config)

    def transform(self, window):
        """A list of n_outputs floats (the features), as microlearn.dsp.FeatureExtractor computes them."""
        return self._fx.compute(window)

    def __repr__(self):
        return "<mlrt.FeatureStage %d -> %d>" % (self.n_features, self.n_outputs)
