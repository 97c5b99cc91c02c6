"""microlearn.dsp: signal processing and features that give the same numbers in numpy, C and MicroPython.

Each block has a numpy reference here, with the arguments and defaults of the library function of the
same name (numpy, scipy.signal, librosa); the C headers (runtime/c) and the MicroPython runtime
(mlrt.dsp_*) compute the same thing on the device. :func:`run` calls any block in any of the three::

    from microlearn import dsp
    S = dsp.melspectrogram(y, sr=16000, n_fft=512, hop_length=256, n_mels=40)
    S_c = dsp.run("melspectrogram", y, backend="c", sr=16000, n_fft=512, hop_length=256, n_mels=40)
    S_mp = dsp.run("melspectrogram", y, backend="micropython", sr=16000, n_fft=512, hop_length=256, n_mels=40)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from microlearn.dsp.audio import (
    Framer,
    SparseMel,
    frame,
    get_window,
    magnitude_spectrum,
    mel_filters,
    mel_sparse,
    melspectrogram,
    mfcc,
    power_spectrum,
    power_to_db,
    rfft,
)
from microlearn.dsp.features import FeatureConfig, FeatureExtractor, window_features
from microlearn.dsp.iir import (
    SoundLevelMeter,
    a_weighting,
    c_weighting,
    slm_c_config,
    sos_c,
    sosfilt,
    sound_level,
    weighting_sos,
)
from microlearn.errors import InvalidInputError

BACKENDS = ("numpy", "c", "micropython")

# block -> (numpy reference, C run, MicroPython run) as "module:function" under microlearn.dsp
BLOCKS: dict[str, tuple[str, str, str]] = {
    "rfft": ("audio:rfft", "_audio_c:rfft", "_audio_mp:rfft"),
    "power_spectrum": ("audio:power_spectrum", "_audio_c:power_spectrum", "_audio_mp:power_spectrum"),
    "magnitude_spectrum": (
        "audio:magnitude_spectrum",
        "_audio_c:magnitude_spectrum",
        "_audio_mp:magnitude_spectrum",
    ),
    "get_window": ("audio:get_window", "_audio_c:get_window", "_audio_mp:get_window"),
    "frame": ("audio:frame", "_audio_c:frame", "_audio_mp:frame"),
    "melspectrogram": ("audio:melspectrogram", "_audio_c:melspectrogram", "_audio_mp:melspectrogram"),
    "power_to_db": ("audio:power_to_db", "_audio_c:power_to_db", "_audio_mp:power_to_db"),
    "mfcc": ("audio:mfcc", "_audio_c:mfcc", "_audio_mp:mfcc"),
    "sosfilt": ("iir:sosfilt", "_sensor_backends:sosfilt_c", "_sensor_backends:sosfilt_micropython"),
    "sound_level": (
        "iir:sound_level",
        "_sensor_backends:sound_level_c",
        "_sensor_backends:sound_level_micropython",
    ),
    "window_features": (
        "features:window_features",
        "_sensor_backends:window_features_c",
        "_sensor_backends:window_features_micropython",
    ),
}


def block(name: str, backend: str = "numpy") -> Callable[..., Any]:
    """The function computing block ``name`` in ``backend`` ("numpy", "c" or "micropython")."""
    if name not in BLOCKS:
        raise InvalidInputError(f"unknown DSP block {name!r}; one of: {', '.join(sorted(BLOCKS))}")
    if backend not in BACKENDS:
        raise InvalidInputError(f"unknown backend {backend!r}; one of: {', '.join(BACKENDS)}")
    module, fn = BLOCKS[name][BACKENDS.index(backend)].split(":")
    f: Callable[..., Any] = getattr(importlib.import_module(f"microlearn.dsp.{module}"), fn)
    return f


def run(name: str, *args: Any, backend: str = "numpy", **kwargs: Any) -> Any:
    """Compute DSP block ``name`` with the numpy reference, the C runtime (compiled for this machine) or
    the MicroPython runtime (run in the real MicroPython, WebAssembly). Arguments and defaults are those
    of the reference function of that name (e.g. ``rfft`` as numpy.fft.rfft, ``sosfilt`` as
    scipy.signal.sosfilt, ``melspectrogram`` and ``mfcc`` as librosa.feature's)."""
    return block(name, backend)(*args, **kwargs)


__all__ = [
    "BACKENDS",
    "BLOCKS",
    "FeatureConfig",
    "FeatureExtractor",
    "Framer",
    "SoundLevelMeter",
    "SparseMel",
    "a_weighting",
    "block",
    "c_weighting",
    "frame",
    "get_window",
    "magnitude_spectrum",
    "mel_filters",
    "mel_sparse",
    "melspectrogram",
    "mfcc",
    "power_spectrum",
    "power_to_db",
    "rfft",
    "run",
    "slm_c_config",
    "sos_c",
    "sosfilt",
    "sound_level",
    "weighting_sos",
    "window_features",
]
