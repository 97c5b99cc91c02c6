# The station's core: the sensor loop, the window features and model predictions, and the stores they
# go to. Runs on MicroPython and CPython; the web app (web.py) and the integrations (outbox.py) use it.
#
# Data directory layout:
#   settings.json   the settings (see DEFAULTS); the API token and login password live here
#   raw/            mlrt.store of the sensor samples (fields of the sensor)
#   pred/           mlrt.store of one record per window: model output and its score
#   windows/        mlrt.index of the window feature vectors (key = the window's start time, ms)
#   model.mlm       the model in use (replaced atomically by an upload)
import json
import os
import time
from array import array

from mlrt.index import Index
from mlrt.store import Store

DEFAULTS = {
    "name": "microlearn-station",
    "rate_hz": 10,
    "window": 20,
    "index_kind": "vafile",
    "raw_max_bytes": 8 * 1024 * 1024,
    "segment_bytes": 65536,
    "raw_max_age_ms": None,
    "webhook_urls": [],
    "mqtt_host": "",
    "mqtt_port": 1883,
    "mqtt_topic": "microlearn/station",
    "publish_aggregates_s": 60,
    "flush_s": 10,
}
EDITABLE = (
    "name",
    "webhook_urls",
    "mqtt_host",
    "mqtt_port",
    "mqtt_topic",
    "publish_aggregates_s",
    "flush_s",
    "password",
)
STATS = ("mean", "std", "min", "max")


class SettingsError(ValueError):
    pass


def now_ms():
    return time.time_ns() // 1000000


def _exists(p):
    try:
        os.stat(p)
        return True
    except OSError:
        return False


def _mkdir(p):
    if not _exists(p):
        os.mkdir(p)


def _token(nbytes=16):
    try:
        b = os.urandom(nbytes)
    except (AttributeError, OSError):  # a port without os.urandom: the hardware RNG behind random
        import random

        b = bytes(random.getrandbits(8) for _ in range(nbytes))
    return "".join("%02x" % x for x in b)


def write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    try:
        os.remove(path)
    except OSError:
        pass
    os.rename(tmp, path)


def check_settings(new):
    """The validated subset of `new` that may be changed through the API (SettingsError otherwise)."""
    out = {}
    for k, v in new.items():
        if k not in EDITABLE:
            raise SettingsError("setting %r cannot be changed here (editable: %s)" % (k, ", ".join(EDITABLE)))
        if k == "name":
            if (
                not isinstance(v, str)
                or not 1 <= len(v) <= 32
                or not all(c.isalpha() or c.isdigit() or c == "-" for c in v)
            ):
                raise SettingsError("name: 1-32 letters, digits or '-' (it is also the mDNS host name)")
        elif k == "webhook_urls":
            if (
                not isinstance(v, list)
                or len(v) > 4
                or not all(isinstance(u, str) and u.startswith("http://") for u in v)
            ):
                raise SettingsError("webhook_urls: a list of up to 4 http:// URLs")
        elif k in ("mqtt_host", "mqtt_topic", "password"):
            if not isinstance(v, str) or len(v) > 128:
                raise SettingsError("%s: a string of at most 128 characters" % k)
            if k == "password" and 0 < len(v) < 8:
                raise SettingsError("password: at least 8 characters (or empty to turn password login off)")
        elif not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 65535:
            raise SettingsError("%s: an integer 0..65535" % k)
        out[k] = v
    return out


class Station:
    def __init__(self, data_dir, sensor, settings=None):
        self.dir = data_dir
        _mkdir(data_dir)
        self.settings = dict(DEFAULTS)
        sp = data_dir + "/settings.json"
        if _exists(sp):
            with open(sp) as f:
                self.settings.update(json.load(f))
        if settings:
            self.settings.update(settings)
        s = self.settings
        if not s.get("token"):
            s["token"] = _token()
        if "password" not in s:
            s["password"] = ""
        if not s.get("session_secret"):
            s["session_secret"] = _token()
        self.save_settings()
        self.sensor = sensor
        self.fields = tuple(sensor.fields)
        n_axes = len(self.fields)
        self.window = int(s["window"])
        self.period_ms = max(1, 1000 // int(s["rate_hz"]))
        self.store = Store(
            data_dir + "/raw",
            fields=self.fields,
            segment_bytes=s["segment_bytes"],
            max_bytes=s["raw_max_bytes"],
            max_age_ms=(s["raw_max_age_ms"], None, None, None),
        )
        self.preds = Store(data_dir + "/pred", fields=("output", "score"), levels=(60000, 3600000))
        from mlrt.dsp_features import Features

        self.fx = Features(
            {"window": self.window, "n_axes": n_axes, "stats": list(STATS), "magnitude": n_axes > 1}
        )
        self.n_features = len(STATS) * (n_axes + (1 if n_axes > 1 else 0))
        self.index = Index(data_dir + "/windows", self.n_features, s["index_kind"], train_after=256)
        self.buf = array("f", [0.0] * (self.window * n_axes))
        self.nbuf = 0
        self.win_t0 = 0
        self.model = None
        self.model_info = {"loaded": False}
        self.last = None
        self.last_pred = None
        self.n_samples = 0
        self.n_windows = 0
        self.started_ms = now_ms()
        self.listeners = []  # callables (kind, payload): the outbox
        self._last_flush = None
        self._last_agg = None
        mp = data_dir + "/model.mlm"
        if _exists(mp):
            try:
                with open(mp, "rb") as f:
                    self.load_model(f.read(), save=False)
            except ValueError as e:
                self.model_info = {"loaded": False, "error": str(e)}

    def save_settings(self):
        write_atomic(self.dir + "/settings.json", json.dumps(self.settings).encode())

    def update_settings(self, new):
        ok = check_settings(new)
        self.settings.update(ok)
        self.save_settings()
        return ok

    # ------------------------------------------------------------------ model
    def load_model(self, data, save=True):
        """Check a model file with the loader, then swap it in (ValueError says why it was refused)."""
        import mlrt

        m = mlrt.load(bytes(data))
        nf = m.n_features
        raw_len = len(self.buf)
        if nf == self.n_features:
            takes = "features"
        elif nf == raw_len:
            takes = "window"
        else:
            raise ValueError(
                "the model takes %d inputs; this station gives %d window features (%s of %s + magnitude) "
                "or %d raw samples (window %d x %d axes): train it on those"
                % (
                    nf,
                    self.n_features,
                    "/".join(STATS),
                    "/".join(self.fields),
                    raw_len,
                    self.window,
                    len(self.fields),
                )
            )
        if save:
            write_atomic(self.dir + "/model.mlm", bytes(data))
        classes = getattr(m, "classes", None)
        self.model = m
        self.model_takes = takes
        self.model_info = {
            "loaded": True,
            "bytes": len(data),
            "n_features": nf,
            "input": takes,
            "classifier": bool(getattr(m, "classifier", classes is not None)),
            "classes": [str(c) for c in classes] if classes else None,
            "loaded_ms": now_ms(),
        }
        self.last_pred = None
        return self.model_info

    def _predict(self, feats):
        m = self.model
        x = feats if self.model_takes == "features" else self.buf
        if self.model_info["classifier"]:
            cls = m.predict(x)
            score = 1.0
            if hasattr(m, "predict_proba"):
                try:
                    score = m.predict_proba(x)[cls]
                except (AttributeError, TypeError, IndexError):
                    pass
            return float(cls), float(score)
        return float(m.predict(x)), 0.0

    def label_of(self, cls):
        c = self.model_info.get("classes")
        i = int(cls)
        return c[i] if c and 0 <= i < len(c) else str(i)

    # ------------------------------------------------------------------ samples and windows
    def step(self, t_ms):
        """Read the sensor once and process the sample (the sensor loop calls this every period)."""
        self.add_sample(t_ms, self.sensor.read(t_ms))

    def add_sample(self, t_ms, values):
        self.store.append(t_ms, values)
        self.n_samples += 1
        self.last = (t_ms, tuple(values))
        n = len(self.fields)
        if self.nbuf == 0:
            self.win_t0 = t_ms
        o = self.nbuf * n
        b = self.buf
        for i in range(n):
            b[o + i] = values[i]
        self.nbuf += 1
        if self.nbuf == self.window:
            self.nbuf = 0
            self._window(self.win_t0)
        if self._last_flush is None:
            self._last_flush = t_ms
        if t_ms - self._last_flush >= self.settings["flush_s"] * 1000:
            self.flush()
            self._last_flush = t_ms
        pa = self.settings["publish_aggregates_s"] * 1000
        if pa:
            p0 = t_ms - t_ms % pa
            if self._last_agg is None or p0 < self._last_agg:
                self._last_agg = p0
            elif p0 > self._last_agg:  # a period (aligned to multiples of pa) is complete: publish it
                self._publish_aggregate(self._last_agg, self._last_agg + pa)
                self._last_agg = p0

    def _window(self, t0):
        self.n_windows += 1
        feats = self.fx.compute(self.buf)
        self.index.add(t0, feats)
        if self.model is None:
            return
        out, score = self._predict(feats)
        self.preds.append(t0, (out, score))
        prev = self.last_pred
        self.last_pred = {"t_ms": t0, "output": out, "score": score}
        if self.model_info["classifier"]:
            self.last_pred["label"] = self.label_of(out)
            if prev is None or prev["output"] != out:
                self.emit("prediction", self.last_pred)

    def _publish_aggregate(self, t0, t1):
        rows = self.store.aggregate(t0, t1, t1 - t0, stats=("count", "mean", "min", "max"))
        if rows:
            t, d = rows[0]
            self.emit(
                "aggregate",
                {
                    "t0_ms": t0,
                    "t1_ms": t1,
                    "fields": list(self.fields),
                    "count": d["count"][0],
                    "mean": list(d["mean"]),
                    "min": list(d["min"]),
                    "max": list(d["max"]),
                },
            )

    def emit(self, kind, payload):
        for f in self.listeners:
            f(kind, payload)

    def flush(self):
        self.store.flush()
        self.preds.flush()
        self.index.flush()

    def close(self):
        self.flush()

    # ------------------------------------------------------------------ labels and search
    def set_label(self, t_ms, label):
        if label is not None and (not isinstance(label, str) or not 1 <= len(label) <= 40):
            raise ValueError("a label is 1-40 characters (or null to remove it)")
        self.index.set_label(int(t_ms), label)

    def window_vector(self, t_ms):
        """The feature vector of the window starting at t_ms, recomputed from the stored samples."""
        n = len(self.fields)
        w = array("f", [0.0] * (self.window * n))
        i = 0
        for t, v in self.store.range(t_ms, t_ms + self.window * self.period_ms * 4):
            for j in range(n):
                w[i * n + j] = v[j]
            i += 1
            if i == self.window:
                return self.fx.compute(w)
        raise ValueError("no complete window starts at %d: pick a window start from /api/windows" % t_ms)

    def similar(self, t_ms, k=10, t0_ms=None, t1_ms=None, label=None):
        vec = self.window_vector(t_ms)
        out = []
        for key, d in self.index.search(vec, k + 1, t0_ms, t1_ms, label):
            if key != t_ms and len(out) < k:
                out.append({"t_ms": key, "distance": d, "label": self.index.labels.get(key)})
        return out

    def status(self):
        s = self.settings
        return {
            "name": s["name"],
            "fields": list(self.fields),
            "rate_hz": s["rate_hz"],
            "window": self.window,
            "uptime_ms": now_ms() - self.started_ms,
            "samples": self.n_samples,
            "windows": self.n_windows,
            "indexed": len(self.index),
            "first_ms": self.store.first_time(),
            "last_ms": self.store.last_time(),
            "store_bytes": self.store.nbytes() + self.preds.nbytes() + self.index.nbytes(),
            "model": self.model_info,
        }

    # ------------------------------------------------------------------ the loop
    async def run(self, clock=now_ms, sleep_ms=None, stop=None):
        """Sample every period until stop() is true; `clock` gives ms (simulated time in a demo)."""
        import asyncio

        nxt = clock()
        while stop is None or not stop():
            t = clock()
            if t >= nxt:
                self.step(t)
                nxt += self.period_ms
                if t - nxt > 1000 * self.period_ms:  # far behind (a pause): skip, do not catch up
                    nxt = t + self.period_ms
                await asyncio.sleep_ms(0) if hasattr(asyncio, "sleep_ms") else await asyncio.sleep(0)
            else:
                wait = (nxt - t) if sleep_ms is None else sleep_ms
                if hasattr(asyncio, "sleep_ms"):
                    await asyncio.sleep_ms(wait)
                else:
                    await asyncio.sleep(wait / 1000)
