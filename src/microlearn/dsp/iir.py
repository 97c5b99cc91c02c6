"""IIR filters in second-order sections, A/C frequency weighting, and a sound level meter.

The numpy reference for ``ml_iir.h`` / ``ml_slm.h`` and ``mlrt.dsp_iir``:

* :func:`sosfilt` — scipy.signal.sosfilt with input checks (transposed direct form II, scipy's sos layout).
* :func:`weighting_sos` — A or C weighting for a sample rate: the IEC 61672-1 analog prototype (poles at
  20.6 Hz, 107.7 Hz, 737.9 Hz, 12194 Hz) through the bilinear transform, normalised to 0 dB at 1 kHz.
  :func:`class1_deviation` checks the design against the class 1 tolerance limits.
* :class:`SoundLevelMeter` / :func:`sound_level` — frequency-weighted, Fast/Slow time-weighted levels:
  Leq over each interval, Lmax and Lmin of the time-weighted level, calibrated to dB SPL from the
  microphone's sensitivity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import signal

from microlearn.errors import InvalidInputError

F64 = npt.NDArray[np.float64]

# IEC 61672-1 pole frequencies of the A and C weightings (Hz).
F1, F2, F3, F4 = 20.598997, 107.65265, 737.86223, 12194.217

# IEC 61672-1 nominal frequencies (Hz) and class 1 limits (dB above, dB below the design goal);
# math.inf where the standard sets no lower limit.
IEC61672_CLASS1: tuple[tuple[float, float, float], ...] = (
    (10, 3.5, math.inf),
    (12.5, 3.0, math.inf),
    (16, 2.5, 4.5),
    (20, 2.5, 2.5),
    (25, 2.5, 2.0),
    (31.5, 2.0, 2.0),
    (40, 1.5, 1.5),
    (50, 1.5, 1.5),
    (63, 1.5, 1.5),
    (80, 1.5, 1.5),
    (100, 1.5, 1.5),
    (125, 1.5, 1.5),
    (160, 1.5, 1.5),
    (200, 1.5, 1.5),
    (250, 1.4, 1.4),
    (315, 1.4, 1.4),
    (400, 1.4, 1.4),
    (500, 1.4, 1.4),
    (630, 1.4, 1.4),
    (800, 1.4, 1.4),
    (1000, 1.1, 1.1),
    (1250, 1.4, 1.4),
    (1600, 1.6, 1.6),
    (2000, 1.6, 1.6),
    (2500, 1.6, 1.6),
    (3150, 1.6, 1.6),
    (4000, 1.6, 1.6),
    (5000, 2.1, 2.1),
    (6300, 2.1, 2.6),
    (8000, 2.1, 3.1),
    (10000, 2.6, 3.6),
    (12500, 3.0, 6.0),
    (16000, 3.5, 17.0),
    (20000, 4.0, math.inf),
)

TIME_CONSTANTS = {"fast": 0.125, "slow": 1.0}
MS_FLOOR = 1e-30  # mean squares below this read as this (levels never go to -inf)
AES17_SINE_DB = 10.0 * math.log10(2.0)  # a full-scale sine has mean square 1/2 and reads 0 dBFS


# ---------------------------------------------------------------------------------------------- checks
def _finite_signal(x: Any, what: str = "x") -> F64:
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise InvalidInputError(f"{what} must be an array of numbers: {e}") from e
    if a.ndim == 0:
        raise InvalidInputError(f"{what} must be an array of samples, not a scalar")
    if not np.all(np.isfinite(a)):
        raise InvalidInputError(
            f"{what} contains NaN or infinite samples: remove or replace them (e.g. np.nan_to_num) first"
        )
    return a


def check_sos(sos: Any) -> F64:
    """``sos`` as a float64 (n_sections, 6) array with a0 == 1, or a clear error."""
    try:
        s = np.asarray(sos, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise InvalidInputError(f"sos must be an array of numbers: {e}") from e
    if s.ndim != 2 or s.shape[1] != 6 or s.shape[0] < 1:
        raise InvalidInputError(
            f"sos must have shape (n_sections, 6) as scipy.signal's output='sos' gives; got {s.shape}"
        )
    if not np.all(np.isfinite(s)):
        raise InvalidInputError("sos contains NaN or infinite coefficients")
    if not np.all(s[:, 3] == 1.0):
        raise InvalidInputError("sos[:, 3] (a0) must be 1: divide each section's row by its a0")
    return s


# ---------------------------------------------------------------------------------------------- sosfilt
def sosfilt(sos: Any, x: Any, axis: int = -1, zi: Any = None) -> Any:
    """scipy.signal.sosfilt(sos, x, axis, zi), after checking that x and zi are finite and sos is valid.

    Same arguments, defaults and result as scipy: ``y``, or ``(y, zf)`` when ``zi`` is given. The C and
    MicroPython versions compute in float32; with float32 ``sos`` and ``x`` scipy does too, and the C
    result is then bit-identical on IEEE hosts (see docs/dsp.md)."""
    s = check_sos(sos)
    xa = np.asarray(x)
    _finite_signal(xa)
    if xa.dtype == np.float32 and np.asarray(sos).dtype == np.float32:
        s32: Any = np.asarray(sos, dtype=np.float32)
    else:
        s32 = s
    if zi is None:
        return signal.sosfilt(s32, xa, axis=axis)
    _finite_signal(zi, "zi")
    return signal.sosfilt(s32, xa, axis=axis, zi=zi)


# ---------------------------------------------------------------------------------------------- weighting
def weighting_db(kind: str, f: Any) -> F64:
    """The IEC 61672-1 design goal of the A or C weighting in dB at frequencies ``f`` (Hz)."""
    k = _kind(kind)
    f2 = np.asarray(f, dtype=np.float64) ** 2
    c = 20 * np.log10(F4**2 * f2 / ((f2 + F1**2) * (f2 + F4**2)))
    if k == "C":
        return np.asarray(c - 20 * np.log10(_c_at(1000.0)), dtype=np.float64)
    a = c + 20 * np.log10(f2 / np.sqrt((f2 + F2**2) * (f2 + F3**2)))
    return np.asarray(a - 20 * np.log10(_a_at(1000.0)), dtype=np.float64)


def _c_at(f: float) -> float:
    return F4**2 * f**2 / ((f**2 + F1**2) * (f**2 + F4**2))


def _a_at(f: float) -> float:
    return _c_at(f) * f**2 / math.sqrt((f**2 + F2**2) * (f**2 + F3**2))


def _kind(kind: str) -> str:
    k = str(kind).upper()
    if k not in ("A", "C"):
        raise InvalidInputError(f"weighting must be 'A' or 'C' (or 'Z' for none where allowed); got {kind!r}")
    return k


def _check_sr(sr: Any) -> float:
    try:
        r = float(sr)
    except (TypeError, ValueError) as e:
        raise InvalidInputError(f"sr must be a sample rate in Hz, got {sr!r}") from e
    if not math.isfinite(r) or r < 1000.0:
        raise InvalidInputError(f"sr must be a sample rate of at least 1000 Hz for weighting; got {sr!r}")
    return r


def weighting_sos(kind: str, sr: float) -> F64:
    """Second-order sections of the A (3 sections) or C (2 sections) weighting at sample rate ``sr``.

    The analog prototype of IEC 61672-1 mapped by the bilinear transform, scaled to exactly 0 dB at 1 kHz.
    At 44.1 kHz and above it is within the class 1 limits at every nominal frequency up to 20 kHz; at lower
    rates up to a limit :func:`class1_max_frequency` reports (the warping of the bilinear transform
    attenuates the top octave)."""
    k = _kind(kind)
    r = _check_sr(sr)
    w = [2 * math.pi * f for f in (F1, F2, F3, F4)]
    if k == "A":
        zeros, poles = [0.0] * 4, [-w[0], -w[0], -w[1], -w[2], -w[3], -w[3]]
    else:
        zeros, poles = [0.0] * 2, [-w[0], -w[0], -w[3], -w[3]]
    zd, pd, kd = signal.bilinear_zpk(np.array(zeros), np.array(poles), 1.0, r)
    sos = np.asarray(signal.zpk2sos(zd, pd, kd), dtype=np.float64)
    _, h = signal.sosfreqz(sos, worN=[1000.0], fs=r)
    sos[0, :3] /= abs(h[0])
    return sos


def a_weighting(sr: float) -> F64:
    """A-weighting second-order sections for sample rate ``sr`` (see :func:`weighting_sos`)."""
    return weighting_sos("A", sr)


def c_weighting(sr: float) -> F64:
    """C-weighting second-order sections for sample rate ``sr`` (see :func:`weighting_sos`)."""
    return weighting_sos("C", sr)


def class1_deviation(sos: Any, sr: float, kind: str) -> list[tuple[float, float, bool]]:
    """For each IEC 61672-1 nominal frequency below ``sr / 2``: (frequency, response minus design goal in
    dB, within the class 1 limits)."""
    s = check_sos(sos)
    r = _check_sr(sr)
    rows = [(f, up, lo) for f, up, lo in IEC61672_CLASS1 if f < r / 2]
    fr = np.array([f for f, _, _ in rows])
    _, h = signal.sosfreqz(s, worN=fr, fs=r)
    dev = 20 * np.log10(np.maximum(np.abs(h), 1e-300)) - weighting_db(kind, fr)
    return [(float(f), float(d), bool(-lo <= d <= up)) for (f, up, lo), d in zip(rows, dev, strict=True)]


def class1_max_frequency(kind: str, sr: float) -> float:
    """The highest nominal frequency up to which :func:`weighting_sos` meets every class 1 limit."""
    best = 0.0
    for f, _, ok in class1_deviation(weighting_sos(kind, sr), sr, kind):
        if not ok:
            break
        best = f
    return best


# ---------------------------------------------------------------------------------------------- level meter
def time_weighting_alpha(time_weighting: str, sr: float) -> float:
    """The per-sample smoothing factor 1 - exp(-1 / (sr * tau)) of Fast (0.125 s) or Slow (1 s)."""
    tw = str(time_weighting).lower()
    if tw not in TIME_CONSTANTS:
        raise InvalidInputError(f"time_weighting must be 'fast' or 'slow'; got {time_weighting!r}")
    return -math.expm1(-1.0 / (float(sr) * TIME_CONSTANTS[tw]))


def calibration_offset_db(sensitivity_dbfs: float | None) -> float:
    """dB added to 10*log10(mean square of full-scale samples).

    ``sensitivity_dbfs``: what the microphone reads for a 94 dB SPL (1 Pa) 1 kHz tone, in dBFS where a
    full-scale sine is 0 dBFS (digital MEMS datasheets give e.g. -26 dBFS). Levels are then dB SPL.
    ``None``: levels are dBFS (a full-scale sine reads 0 dB)."""
    if sensitivity_dbfs is None:
        return AES17_SINE_DB
    s = float(sensitivity_dbfs)
    if not math.isfinite(s) or s > 0:
        raise InvalidInputError(
            f"sensitivity_dbfs must be a finite dBFS value <= 0; got {sensitivity_dbfs!r}"
        )
    return AES17_SINE_DB + 94.0 - s


def level_db(ms: Any, offset_db: float) -> F64:
    return np.asarray(10.0 * np.log10(np.maximum(ms, MS_FLOOR)) + offset_db, dtype=np.float64)


@dataclass
class SoundLevelMeter:
    """A streaming sound level meter (numpy reference of ``ml_slm.h``).

    Feed blocks with :meth:`process`; :meth:`read` returns (Leq, Lmax, Lmin) in dB over the samples fed
    since the previous read, and starts the next interval. The frequency weighting ('A', 'C' or 'Z' for
    none) and the exponential time weighting ('fast' or 'slow') keep their state across reads."""

    sr: float
    weighting: str = "A"
    time_weighting: str = "fast"
    sensitivity_dbfs: float | None = None
    sos: F64 = field(init=False)
    alpha: float = field(init=False)
    offset_db: float = field(init=False)
    _zi: F64 = field(init=False, repr=False)
    _ms: float = field(init=False, repr=False, default=0.0)
    _acc: list[F64] = field(init=False, repr=False, default_factory=list)

    def __post_init__(self) -> None:
        w = str(self.weighting).upper()
        self.sos = np.array([[1.0, 0, 0, 1.0, 0, 0]]) if w == "Z" else weighting_sos(w, _check_sr(self.sr))
        self.alpha = time_weighting_alpha(self.time_weighting, _check_sr(self.sr))
        self.offset_db = calibration_offset_db(self.sensitivity_dbfs)
        self._zi = np.zeros((self.sos.shape[0], 2))

    def process(self, x: Any) -> None:
        xa = _finite_signal(x)
        if xa.ndim != 1:
            raise InvalidInputError(f"x must be 1-D (one channel of samples); got shape {xa.shape}")
        y, self._zi = signal.sosfilt(self.sos, xa, zi=self._zi)
        sq = y * y
        a = self.alpha
        ms, _zf = signal.lfilter([a], [1.0, a - 1.0], sq, zi=[(1.0 - a) * self._ms])
        if ms.size:
            self._ms = float(ms[-1])
        self._acc.append(np.stack([sq, ms]))

    def read(self) -> tuple[float, float, float]:
        """(Leq, Lmax, Lmin) in dB over the samples since the previous read."""
        if not self._acc or sum(a.shape[1] for a in self._acc) == 0:
            raise InvalidInputError("no samples since the last read: call process() with samples first")
        sq, ms = np.concatenate(self._acc, axis=1)
        self._acc = []
        off = self.offset_db
        return (
            float(level_db(np.mean(sq), off)),
            float(level_db(np.max(ms), off)),
            float(level_db(np.min(ms), off)),
        )

    @property
    def level(self) -> float:
        """The current time-weighted level in dB."""
        return float(level_db(self._ms, self.offset_db))


def sound_level(
    x: Any,
    sr: float,
    weighting: str = "A",
    time_weighting: str = "fast",
    interval: float | None = None,
    sensitivity_dbfs: float | None = None,
) -> F64:
    """Levels of a recording, one row per interval: columns Leq, Lmax, Lmin (dB).

    ``interval`` in seconds (rounded to whole samples; the last row covers what remains); ``None`` gives
    one row for the whole signal. See :class:`SoundLevelMeter` for the other arguments."""
    xa = _finite_signal(x)
    if xa.ndim != 1 or xa.size == 0:
        raise InvalidInputError(f"x must be a non-empty 1-D array of samples; got shape {xa.shape}")
    n = interval_samples(interval, sr, xa.size)
    meter = SoundLevelMeter(sr, weighting, time_weighting, sensitivity_dbfs)
    rows = []
    for i in range(0, xa.size, n):
        meter.process(xa[i : i + n])
        rows.append(meter.read())
    return np.array(rows, dtype=np.float64)


def interval_samples(interval: float | None, sr: float, n_total: int) -> int:
    if interval is None:
        return n_total
    n = round(float(interval) * float(sr))
    if not math.isfinite(float(interval)) or n < 1:
        raise InvalidInputError(
            f"interval must be a positive number of seconds (>= 1 sample); got {interval!r}"
        )
    return int(n)


# ---------------------------------------------------------------------------------------------- C constants
def sos_c(name: str, sos: Any) -> str:
    """``static const float NAME_sos[]`` (scipy layout, float32) and ``#define NAME_UPPER_N_SECTIONS``."""
    from microlearn.backends.c.common import array_lines, check_c_name, f32

    check_c_name(name)
    s = check_sos(sos)
    vals = [f32(v) for v in s.astype(np.float32).ravel()]
    return (
        f"#define {name.upper()}_N_SECTIONS {s.shape[0]}\n"
        f"static const float {name}_sos[{s.size}] = {{\n{array_lines(vals, per_line=6)}\n}};\n"
    )


def slm_c_config(
    name: str,
    sr: float,
    weighting: str = "A",
    time_weighting: str = "fast",
    sensitivity_dbfs: float | None = None,
) -> str:
    """C constants for ``ml_slm_init(&m, NAME_sos, NAME_N_SECTIONS, NAME_ALPHA, NAME_OFFSET_DB)``."""
    from microlearn.backends.c.common import f32

    m = SoundLevelMeter(sr, weighting, time_weighting, sensitivity_dbfs)
    up = name.upper()
    return (
        f"/* {name}: {str(weighting).upper()}-weighting at {float(sr):g} Hz, "
        f"{time_weighting} time weighting, "
        f"{'dBFS' if sensitivity_dbfs is None else f'dB SPL (sensitivity {sensitivity_dbfs:g} dBFS)'} */\n"
        + sos_c(name, m.sos)
        + f"#define {up}_ALPHA {f32(m.alpha)}\n#define {up}_OFFSET_DB {f32(m.offset_db)}\n"
    )
