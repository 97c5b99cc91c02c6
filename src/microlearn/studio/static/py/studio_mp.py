# ruff: noqa: UP031, SIM115, RUF005  (MicroPython code: %-formatting, plain open(), list + list)
# mypy: ignore-errors
# The studio's MicroPython side: runs inside MicroPython (WebAssembly in the page, or on a device) and
# uses only mlrt. The page passes numbers as little-endian float32/int32 files and settings as JSON.
#
# Pipelines (JSON):
#   {"kind": "rows"}                                         each input row is the model's feature row
#   {"kind": "model", "window": 50, "hop": 25, "n_axes": 3}  raw windows into a pipeline model file
#   {"kind": "sensor", "window": 64, "hop": 32, "n_axes": 3, "stats": [...], "magnitude": true,
#    "sr": 50, "bands": [[lo, hi], ...]}                     mlrt.dsp_features on windows of raw samples
#   {"kind": "audio", "sr": 16000, "window": 16000, "hop": 8000, "n_fft": 512, "hop_length": 256,
#    "n_mels": 40, "n_mfcc": 13, "fmin": 0, "fmax": null}   mean MFCC of each window (mlrt.dsp_mel)
import gc
import json
import math
import struct
from array import array

import mlrt

MODEL = None  # the model predictions use: an mlrt model, or a trained in-RAM one (k-NN, logistic)
MODEL_FILE = None  # the model file's bytes when the model has one
_PIPE = {}  # cached pipeline objects by their JSON


def _f32_rows(path, nf):
    raw = open(path, "rb").read()
    n = len(raw) // (4 * nf)
    mv = memoryview(raw)
    return [array("f", bytes(mv[r * 4 * nf : (r + 1) * 4 * nf])) for r in range(n)]


def _info(m, nbytes):
    stages = getattr(m, "stages", None)
    pipe = None
    if stages:  # a pipeline file: the model takes raw windows; its first stage says how they look
        fx = getattr(stages[0], "_fx", None)
        pipe = {"n_stages": len(stages)}
        if fx is not None:
            pipe["window"] = fx.window
            pipe["n_axes"] = fx.n_axes
    d = {
        "family": type(m).__name__,
        "pipeline": pipe,
        "kind": getattr(m, "kind", "classifier"),
        "n_features": m.n_features,
        "n_outputs": getattr(m, "n_outputs", getattr(m, "n_classes", 1)),
        "classes": getattr(m, "classes", None),
        "n_trees": getattr(getattr(m, "final", m), "n_trees", None),
        "n_nodes": getattr(getattr(m, "final", m), "n_nodes", None),
        "file_bytes": nbytes,
        "ram_bytes": getattr(m, "nbytes", None),
        "classifier": getattr(m, "classifier", True),
    }
    return json.dumps(d)


def family_modules(data):
    """The mlrt modules a model file needs (from its header's family code), as JSON."""
    fam = data[8] | data[9] << 8 if len(data) >= 10 else 0
    name = mlrt.FAMILIES.get(fam)
    if name is None:
        return json.dumps([])
    mods = [name]
    if name in ("pipeline", "features"):  # nested files of any family, and their DSP
        mods = sorted(set(mlrt.FAMILIES.values())) + ["dsp_features", "transform"]
    return json.dumps(mods)


def load_model(path):
    """Load a model file; returns its description (JSON). Raises ValueError for a bad file."""
    global MODEL, MODEL_FILE
    data = open(path, "rb").read()
    m = mlrt.load(data)
    MODEL = m
    MODEL_FILE = data
    gc.collect()
    return _info(m, len(data))


def predict(xpath, nf, outpath):
    """Predict every float32 row of xpath: writes int32 class indices (classifier) or float64 values."""
    m = MODEL
    if m is None:
        raise ValueError("load a model file first")
    if m.n_features != nf:
        raise ValueError("the model takes %d features, the rows have %d" % (m.n_features, nf))
    rows = _f32_rows(xpath, nf)
    cls = getattr(m, "classifier", True)
    out = array("i" if cls else "d")
    for x in rows:
        out.append(m.predict(x))
    open(outpath, "wb").write(out)
    return len(rows)


# ------------------------------------------------------------------------------------------ pipelines
def n_features(cfg):
    k = cfg["kind"]
    if k == "sensor":
        nch = int(cfg["n_axes"]) + (1 if cfg.get("magnitude", True) else 0)
        return nch * (len(cfg["stats"]) + len(cfg.get("bands") or ()))
    if k == "audio":
        return int(cfg["n_mfcc"])
    raise ValueError("pipeline kind %r has no fixed feature count" % k)


def feature_names(cfg):
    if cfg["kind"] == "audio":
        return ["mfcc%d_mean" % i for i in range(int(cfg["n_mfcc"]))]
    na = int(cfg["n_axes"])
    chans = ["xyz"[a] if na <= 3 else "a%d" % a for a in range(na)]
    if cfg.get("magnitude", True):
        chans.append("mag")
    out = []
    for ch in chans:
        for s in cfg["stats"]:
            out.append("%s_%s" % (ch, s))
        for lo, hi in cfg.get("bands") or ():
            out.append("%s_band_%g_%ghz" % (ch, lo, hi))
    return out


def _hz_to_mel(f):
    if f >= 1000.0:
        return 15.0 + math.log(f / 1000.0) / (math.log(6.4) / 27.0)
    return f / (200.0 / 3)


def _mel_to_hz(m):
    if m >= 15.0:
        return 1000.0 * math.exp((math.log(6.4) / 27.0) * (m - 15.0))
    return (200.0 / 3) * m


def mel_filterbank_bytes(sr, n_fft, n_mels, fmin=0.0, fmax=None):
    """librosa's Slaney mel filterbank (htk=False, norm="slaney") as the file mlrt.dsp_mel loads."""
    if fmax is None:
        fmax = sr / 2.0
    n_bins = n_fft // 2 + 1
    lo, hi = _hz_to_mel(fmin), _hz_to_mel(fmax)
    step = (hi - lo) / (n_mels + 1)
    edges = [_mel_to_hz(lo + i * step) for i in range(n_mels + 1)] + [_mel_to_hz(hi)]
    table = []
    weights = array("f")
    b32 = array("f", [0.0])
    for m in range(n_mels):
        f0, f1, f2 = edges[m], edges[m + 1], edges[m + 2]
        enorm = 2.0 / (f2 - f0)
        row = []
        for k in range(n_bins):
            fk = k * (sr / n_fft)
            w = min((fk - f0) / (f1 - f0), (f2 - fk) / (f2 - f1))
            if w < 0:
                w = 0.0
            b32[0] = w  # the triangle is rounded to float32 before the scaling, as librosa does
            row.append(b32[0] * enorm)
        nz = [k for k in range(n_bins) if row[k] != 0.0]
        if nz:
            table.append((nz[0], nz[-1] + 1 - nz[0]))
            for k in range(nz[0], nz[-1] + 1):
                weights.append(row[k])
        else:
            table.append((0, 0))
    from mlrt.dsp_mel import MAGIC, VERSION  # the filterbank file's own header

    head = struct.pack("<4sHHHHI", MAGIC, VERSION, n_mels, n_bins, 0, len(weights))
    body = b"".join(struct.pack("<HH", s, c) for s, c in table)
    return head + body + bytes(weights)


class _Sensor:
    def __init__(self, cfg):
        from mlrt.dsp_features import Features, band_bins

        c = dict(cfg)
        if c.get("bands"):
            if not c.get("sr"):
                raise ValueError("band energies need sr, the sample rate in Hz")
            c["bins"] = band_bins(int(c["window"]), float(c["sr"]), c["bands"])
        self.fx = Features(c)
        self.window = self.fx.window
        self.n_axes = self.fx.n_axes

    def compute(self, sig, start):
        w = self.window * self.n_axes
        o = start * self.n_axes
        return self.fx.compute(sig[o : o + w])


class _Audio:
    def __init__(self, cfg):
        from mlrt.dsp_mel import MFCC, MelFilterbank, MelSpectrogram

        self.sr = float(cfg["sr"])
        self.window = int(cfg["window"])
        self.n_fft = int(cfg.get("n_fft", 512))
        self.hop_length = int(cfg.get("hop_length", self.n_fft // 2))
        n_mels = int(cfg.get("n_mels", 40))
        if self.window < self.n_fft:
            raise ValueError("an audio window must hold at least n_fft = %d samples" % self.n_fft)
        fb = MelFilterbank(
            mel_filterbank_bytes(self.sr, self.n_fft, n_mels, float(cfg.get("fmin") or 0.0), cfg.get("fmax"))
        )
        self.mel = MelSpectrogram(fb, "hann")
        self.mfcc = MFCC(int(cfg["n_mfcc"]), n_mels)
        self.n_axes = 1
        self._m = array("f", bytes(4 * n_mels))

    def compute(self, sig, start):
        from mlrt.dsp_mel import power_to_db

        nf = self.mfcc.n_mfcc
        acc = [0.0] * nf
        n_frames = 1 + (self.window - self.n_fft) // self.hop_length
        for t in range(n_frames):
            o = start + t * self.hop_length
            mel = self.mel.frame(sig[o : o + self.n_fft], self._m)
            cc = self.mfcc.compute(power_to_db(mel, top_db=None, out=mel))
            for i in range(nf):
                acc[i] += cc[i]
        return [v / n_frames for v in acc]


def pipeline(cfg_json):
    p = _PIPE.get(cfg_json)
    if p is None:
        cfg = json.loads(cfg_json)
        k = cfg.get("kind")
        if k == "sensor":
            p = _Sensor(cfg)
        elif k == "audio":
            p = _Audio(cfg)
        else:
            raise ValueError("unknown pipeline kind %r" % k)
        _PIPE.clear()
        _PIPE[cfg_json] = p
    return p


def features(cfg_json, sigpath, startspath, outpath):
    """Features of the windows starting at the int32 sample indices in startspath, over the float32
    signal in sigpath (interleaved axes); writes n_windows x n_features float32."""
    p = pipeline(cfg_json)
    sig = array("f", open(sigpath, "rb").read())
    starts = array("i", open(startspath, "rb").read())
    n_samples = len(sig) // p.n_axes
    out = array("f")
    for s in starts:
        if s < 0 or s + p.window > n_samples:
            raise ValueError("window at %d runs past the signal (%d samples)" % (s, n_samples))
        out.extend(array("f", p.compute(sig, s)))
    open(outpath, "wb").write(out)
    return len(starts)


# ------------------------------------------------------------------------------------------ training
def train(settings_json, xpath, ypath):
    """Train on float32 feature rows (xpath) and int32 labels (ypath). settings: kind, params, classes,
    val_fraction, seed, feature_names. A tree model is written with mlrt.writer and loaded back with
    mlrt.load, and the validation rows are predicted through that loaded model. Returns JSON."""
    global MODEL, MODEL_FILE
    from mlrt import train as tr

    st = json.loads(settings_json)
    classes = st["classes"]
    nc = len(classes)
    y = list(array("i", open(ypath, "rb").read()))
    nf = int(st["n_features"])
    X = _f32_rows(xpath, nf)
    if len(X) != len(y):
        raise ValueError("%d feature rows but %d labels" % (len(X), len(y)))
    present = sorted(set(y))
    if len(present) < 2:
        raise ValueError("label windows of at least two classes before training")
    itr, iva = tr.split(len(X), float(st.get("val_fraction", 0.25)), int(st.get("seed", 1)), y)
    kind = st["kind"]
    params = dict(st.get("params") or {})
    params["seed"] = int(st.get("seed", 1))
    model = tr.fit(kind, [X[i] for i in itr], [y[i] for i in itr], nc, params)
    data = None
    if kind == "logistic":
        data = model.to_file(classes, st.get("feature_names"))
        model = mlrt.load(data)  # the page predicts through the file's own reader
    if kind in ("tree", "forest", "knn"):
        trained = model
        data = model.to_file(classes, st.get("feature_names"))
        model = mlrt.load(data)  # the page predicts through the file's own reader
        pipe = st.get("pipeline") or {}
        if pipe.get("kind") == "sensor":  # one file with its features: a pipeline (family 64)
            from mlrt import writer

            fx = writer.features_file(
                int(pipe["window"]),
                int(pipe["n_axes"]),
                pipe["stats"],
                bool(pipe.get("magnitude", True)),
                pipe.get("sr"),
                pipe.get("bands") or (),
            )
            if kind == "knn":  # its file is a pipeline already: the feature stage goes first in it
                data = trained.to_file(classes, st.get("feature_names"), [fx])
            else:
                data = writer.pipeline_file([fx], data)
            mlrt.load(data)  # every file the page hands out has been read back by mlrt
    MODEL = model
    MODEL_FILE = data
    ev = tr.evaluate(model, [X[i] for i in iva], [y[i] for i in iva], nc)
    tr_ev = tr.evaluate(model, [X[i] for i in itr], [y[i] for i in itr], nc)
    if data is not None:
        open("/trained.mlm", "wb").write(data)
    gc.collect()
    info = json.loads(_info(model, len(data) if data else None))
    info["classes"] = classes
    return json.dumps(
        {
            "kind": kind,
            "n_train": len(itr),
            "n_val": len(iva),
            "val_accuracy": ev["accuracy"],
            "train_accuracy": tr_ev["accuracy"],
            "confusion": ev["confusion"],
            "val_index": iva,
            "val_pred": ev["predictions"],
            "file_bytes": len(data) if data else None,
            "info": info,
        }
    )
