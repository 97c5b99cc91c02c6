"""Time-series features of sensor windows, and the scikit-learn transformer that computes them.

The features are defined by the float32 operations of ``ml_features.h`` in their order: this module
performs the same IEEE float32 operations in the same order (vectorised across windows, sequential along
time), so :class:`FeatureExtractor` produces bit-identical features to the C the device runs. A model
trained on ``FeatureExtractor`` output therefore sees on the device exactly what it saw in training.

A window is ``window`` samples of ``n_axes`` interleaved channels (x0 y0 z0 x1 y1 z1 ...). Channels are the
axes, then (with ``magnitude=True``) the magnitude sqrt(x^2 + y^2 + z^2). Per channel, in this order: the
chosen statistics of :data:`STATS`, then the energy in each frequency band of ``bands`` (Hz, needs ``sr``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator, TransformerMixin

from microlearn.errors import InvalidInputError, NotFittedError

F32 = npt.NDArray[np.float32]
f32 = np.float32

STATS: tuple[str, ...] = (
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
MAX_ABS = 1e8  # ML_FEAT_MAX_ABS: fourth powers of larger samples overflow float32
MAX_WINDOW = 1 << 15


@dataclass(frozen=True)
class FeatureConfig:
    """What to compute from each window; :class:`FeatureExtractor` and the C generator share it."""

    window: int = 128
    n_axes: int = 3
    stats: tuple[str, ...] = STATS
    magnitude: bool = True
    sr: float | None = None
    bands: tuple[tuple[float, float], ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.window, int | np.integer) or not 2 <= int(self.window) <= MAX_WINDOW:
            raise InvalidInputError(f"window must be an integer number of samples, 2..{MAX_WINDOW}")
        if not isinstance(self.n_axes, int | np.integer) or not 1 <= int(self.n_axes) <= 16:
            raise InvalidInputError(f"n_axes must be an integer 1..16; got {self.n_axes!r}")
        bad = [s for s in self.stats if s not in STATS]
        if bad:
            raise InvalidInputError(f"unknown statistic(s) {bad}: choose from {list(STATS)}")
        if len(set(self.stats)) != len(self.stats):
            raise InvalidInputError(f"stats has duplicates: {list(self.stats)}")
        if self.bands:
            self.band_bins()
        if not self.stats and not self.bands:
            raise InvalidInputError("choose at least one statistic or one band")

    @property
    def n_channels(self) -> int:
        return int(self.n_axes) + (1 if self.magnitude else 0)

    @property
    def n_inputs(self) -> int:
        return int(self.window) * int(self.n_axes)

    @property
    def n_features(self) -> int:
        return self.n_channels * (len(self.stats) + len(self.bands))

    def channel_names(self) -> list[str]:
        names = ["xyz"[a] if self.n_axes <= 3 else f"a{a}" for a in range(int(self.n_axes))]
        return [*names, "mag"] if self.magnitude else names

    def feature_names(self) -> list[str]:
        out = []
        for ch in self.channel_names():
            out += [f"{ch}_{s}" for s in self.stats]
            out += [f"{ch}_band_{lo:g}_{hi:g}hz" for lo, hi in self.bands]
        return out

    def to_dict(self) -> dict[str, Any]:
        """The configuration as plain data (JSON-ready) for ``mlrt.dsp_features.Features`` on a device;
        with bands it carries the float32 DFT tables, so the device uses exactly the same ones."""
        d: dict[str, Any] = {
            "window": int(self.window),
            "n_axes": int(self.n_axes),
            "stats": list(self.stats),
            "magnitude": bool(self.magnitude),
        }
        if self.bands:
            cos_t, sin_t = dft_tables(int(self.window))
            d["sr"] = float(self.sr or 0)
            d["bands"] = [list(b) for b in self.bands]
            d["bins"] = [list(b) for b in self.band_bins()]
            d["cos"] = [float(v) for v in cos_t]
            d["sin"] = [float(v) for v in sin_t]
        return d

    def band_bins(self) -> list[tuple[int, int]]:
        """FFT bins [lo, hi) of each band: the bins k with lo <= k*sr/window < hi."""
        n = int(self.window)
        if self.sr is None or not math.isfinite(float(self.sr)) or float(self.sr) <= 0:
            raise InvalidInputError("band energies need sr, the sample rate in Hz")
        sr = float(self.sr)
        out = []
        for band in self.bands:
            lo, hi = (float(v) for v in band)
            if not 0 <= lo < hi <= sr / 2 + 1e-9:
                raise InvalidInputError(f"band {band} must satisfy 0 <= lo < hi <= sr/2 = {sr / 2:g}")
            klo = math.ceil(lo * n / sr)
            khi = min(math.ceil(hi * n / sr), n // 2 + 1)
            if hi >= sr / 2:
                khi = n // 2 + 1
            if khi <= klo:
                raise InvalidInputError(f"band {band} holds no FFT bin (bin spacing {sr / n:g} Hz): widen it")
            out.append((klo, khi))
        return out


# ---------------------------------------------------------------------------------------------- float32
def _seqsum(A: F32) -> F32:
    """Sum along axis 1 one element after another, in float32 (the C loop's order)."""
    return np.add.accumulate(A, axis=1, dtype=np.float32)[:, -1]


def _crossings(A: F32) -> F32:
    neg = A < 0
    counts = np.count_nonzero(neg[:, 1:] != neg[:, :-1], axis=1)
    return np.asarray(counts, dtype=np.float32)


def channel(W: F32, ch: int) -> F32:
    """Channel ``ch`` of windows W (n_windows, window, n_axes); ch == n_axes is the magnitude."""
    n_axes = W.shape[2]
    if ch < n_axes:
        return np.ascontiguousarray(W[:, :, ch])
    s = W[:, :, 0] * W[:, :, 0]
    for a in range(1, n_axes):
        s = s + W[:, :, a] * W[:, :, a]
    return np.asarray(np.sqrt(s), dtype=np.float32)


def channel_stats(V: F32) -> dict[str, F32]:
    """Every statistic of :data:`STATS` for each row of V (n_windows, window), float32, C's order."""
    fn = f32(V.shape[1])
    mean = _seqsum(V) / fn
    energy = _seqsum(V * V) / fn
    D = V - mean[:, None]
    D2 = D * D
    m2 = _seqsum(D2) / fn
    m3 = _seqsum(D2 * D) / fn
    m4 = _seqsum(D2 * D2) / fn
    std = np.sqrt(m2)
    mn, mx = V.min(axis=1), V.max(axis=1)
    den3 = m2 * std
    den4 = m2 * m2
    with np.errstate(divide="ignore", invalid="ignore"):
        skew = np.where(den3 > 0, m3 / np.where(den3 > 0, den3, f32(1)), f32(0)).astype(np.float32)
        kurt = np.where(den4 > 0, m4 / np.where(den4 > 0, den4, f32(1)) - f32(3), f32(0)).astype(np.float32)
    return {
        "mean": mean,
        "std": std,
        "min": mn,
        "max": mx,
        "rms": np.sqrt(energy),
        "ptp": mx - mn,
        "energy": energy,
        "zero_crossings": _crossings(V),
        "mean_crossings": _crossings(D),
        "skewness": skew,
        "kurtosis": kurt,
    }


def dft_tables(n: int) -> tuple[F32, F32]:
    """cos(2*pi*j/n) and sin(2*pi*j/n), j = 0..n-1, rounded to float32 (the C const tables)."""
    j = np.arange(n, dtype=np.float64) * (2.0 * np.pi / n)
    return np.cos(j).astype(np.float32), np.sin(j).astype(np.float32)


def band_energies(V: F32, bins: Sequence[tuple[int, int]]) -> F32:
    """Energy per band of each row of V (n_windows, n): for each band, the sum over its DFT bins k of
    |X_k|^2 / n, X = DFT(v - mean), each bin a direct float32 DFT sum in C's order (ml_feat_bands)."""
    m, n = V.shape
    cos_t, sin_t = dft_tables(n)
    D = V - (_seqsum(V) / f32(n))[:, None]
    i = np.arange(n)
    out = np.empty((m, len(bins)), dtype=np.float32)
    for b, (lo, hi) in enumerate(bins):
        s = np.zeros(m, dtype=np.float32)
        for k in range(lo, hi):
            idx = (k * i) % n
            re = _seqsum(D * cos_t[idx])
            im = _seqsum(D * sin_t[idx])
            s = s + (re * re + im * im)
        out[:, b] = s / f32(n)
    return out


def compute(cfg: FeatureConfig, W: Any) -> F32:
    """Features (n_windows, cfg.n_features) of windows W (n_windows, window * n_axes) or
    (n_windows, window, n_axes), after checking them."""
    W3 = as_windows(W, cfg)
    bins = cfg.band_bins() if cfg.bands else []
    cols: list[F32] = []
    for ch in range(cfg.n_channels):
        V = channel(W3, ch)
        st = channel_stats(V) if cfg.stats else {}
        cols += [st[s] for s in cfg.stats]
        if bins:
            be = band_energies(V, bins)
            cols += [be[:, b] for b in range(len(bins))]
    return np.ascontiguousarray(np.stack(cols, axis=1), dtype=np.float32)


def as_windows(W: Any, cfg: FeatureConfig) -> F32:
    try:
        A = np.asarray(W, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise InvalidInputError(f"windows must be numeric arrays: {e}") from e
    n, k = int(cfg.window), int(cfg.n_axes)
    if A.ndim == 3 and A.shape[1:] == (n, k):
        A = A.reshape(A.shape[0], n * k)
    if A.ndim != 2 or A.shape[1] != n * k:
        raise InvalidInputError(
            f"windows must have shape (n_windows, {n * k}) — {n} samples x {k} interleaved axes — or "
            f"(n_windows, {n}, {k}); got {A.shape}. Use dsp.sliding_windows to cut a stream."
        )
    if not np.all(np.isfinite(A)):
        raise InvalidInputError("windows contain NaN or infinite samples: fill or drop those windows first")
    if A.size and np.max(np.abs(A)) > MAX_ABS:
        raise InvalidInputError(f"samples beyond +-{MAX_ABS:g} overflow the float32 moments: scale the data")
    return np.ascontiguousarray(A, dtype=np.float32).reshape(A.shape[0], n, k)


def window_features(
    window: Any,
    stats: Sequence[str] = STATS,
    magnitude: bool = True,
    sr: float | None = None,
    bands: Sequence[tuple[float, float]] = (),
) -> F32:
    """Features of one window (window_length, n_axes) — or a batch (n_windows, window_length, n_axes) —
    as ``ml_features.h`` computes them (float32)."""
    A = np.asarray(window)
    if A.ndim == 1:
        A = A[:, None]
    if A.ndim not in (2, 3):
        raise InvalidInputError(f"window must be (samples, axes) or (windows, samples, axes); got {A.shape}")
    batch = A if A.ndim == 3 else A[None]
    cfg = FeatureConfig(
        int(batch.shape[1]), int(batch.shape[2]), tuple(stats), bool(magnitude), sr, _bands(bands)
    )
    out = compute(cfg, batch)
    return out if A.ndim == 3 else out[0]


def _bands(bands: Any) -> tuple[tuple[float, float], ...]:
    try:
        return tuple((float(lo), float(hi)) for lo, hi in (bands or ()))
    except (TypeError, ValueError) as e:
        raise InvalidInputError(f"bands must be a sequence of (low_hz, high_hz) pairs: {e}") from e


def sliding_windows(x: Any, window: int, hop: int) -> F32:
    """Cut a stream x (n_samples, n_axes) — or (n_samples,) — into overlapping windows, one per row
    (n_windows, window * n_axes), interleaved as sensors deliver samples. Incomplete tails are dropped."""
    A = np.asarray(x, dtype=np.float32)
    if A.ndim == 1:
        A = A[:, None]
    if A.ndim != 2:
        raise InvalidInputError(f"x must be (n_samples, n_axes); got shape {A.shape}")
    if int(window) < 1 or int(hop) < 1:
        raise InvalidInputError("window and hop must be positive sample counts")
    if A.shape[0] < window:
        raise InvalidInputError(f"the stream has {A.shape[0]} samples, fewer than one window of {window}")
    n = 1 + (A.shape[0] - window) // hop
    idx = np.arange(window)[None, :] + hop * np.arange(n)[:, None]
    return np.ascontiguousarray(A[idx].reshape(n, window * A.shape[1]))


# ---------------------------------------------------------------------------------------------- sklearn
class FeatureExtractor(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """scikit-learn transformer: raw sensor windows -> features, exactly as the device computes them.

    X rows are windows of ``window`` samples x ``n_axes`` interleaved axes (see :func:`sliding_windows`).
    Output: float32 (n_windows, n_features), names from :meth:`get_feature_names_out`.
    ``Pipeline([("features", FeatureExtractor(...)), ("clf", RandomForestClassifier())])`` converts with
    :func:`microlearn.convert` to C taking raw windows."""

    def __init__(
        self,
        window: int = 128,
        n_axes: int = 3,
        stats: Sequence[str] = STATS,
        magnitude: bool = True,
        sr: float | None = None,
        bands: Sequence[tuple[float, float]] = (),
    ) -> None:
        self.window = window
        self.n_axes = n_axes
        self.stats = stats
        self.magnitude = magnitude
        self.sr = sr
        self.bands = bands

    def config(self) -> FeatureConfig:
        return FeatureConfig(
            int(self.window),
            int(self.n_axes),
            tuple(self.stats),
            bool(self.magnitude),
            None if self.sr is None else float(self.sr),
            _bands(self.bands),
        )

    def fit(self, X: Any, y: Any = None) -> FeatureExtractor:
        cfg = self.config()
        as_windows(X, cfg)
        self.config_ = cfg
        self.n_features_in_ = cfg.n_inputs
        return self

    def transform(self, X: Any) -> F32:
        cfg = getattr(self, "config_", None)
        if cfg is None:
            raise NotFittedError(
                "this FeatureExtractor is not fitted yet: call fit (or fit a Pipeline) first"
            )
        return compute(cfg, X)

    def get_feature_names_out(self, input_features: Any = None) -> npt.NDArray[np.object_]:
        cfg = getattr(self, "config_", None) or self.config()
        return np.asarray(cfg.feature_names(), dtype=object)


# ---------------------------------------------------------------------------------------------- C
def features_c(cfg: FeatureConfig, name: str) -> str:
    """C defining ``int NAME_features(const float *window, float *out)`` (see
    :func:`microlearn.backends.c.features.features_c`, the FeatureExtractor stage emitter)."""
    from microlearn.backends.c.features import features_c as emit

    return emit(cfg, name)
