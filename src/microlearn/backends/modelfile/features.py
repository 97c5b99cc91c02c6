"""The FeatureExtractor stage codec (family 32): a FeatureConfig as sections (schema.FEATURES).

The file carries the band bins and the float32 DFT tables the device uses, so every runtime computes
exactly the features the model was trained on; reading checks that they are the ones the configuration
derives (only the Python reader can recompute them bit for bit; C and mlrt check their ranges).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from microlearn.backends.modelfile.container import TASK_TRANSFORM, fail
from microlearn.backends.modelfile.registry import Encoded, register_family
from microlearn.backends.modelfile.schema import FEATURES, Decoded
from microlearn.dsp.features import STATS, FeatureConfig, dft_tables
from microlearn.errors import InvalidInputError
from microlearn.ir.features import FeatureStage


def dump(st: FeatureStage) -> Encoded:
    c = st.config
    out: list[tuple[bytes, npt.NDArray[Any]]] = [
        (b"WIND", np.array([c.window])),
        (b"AXES", np.array([c.n_axes])),
        (b"MAGN", np.array([int(c.magnitude)])),
        (b"STAT", np.array([STATS.index(s) for s in c.stats])),
    ]
    if c.bands:
        cos_t, sin_t = dft_tables(int(c.window))
        out += [
            (b"BINS", np.array(c.band_bins()).reshape(-1)),
            (b"DCOS", cos_t),
            (b"DSIN", sin_t),
            (b"BAND", np.array(c.bands, dtype=np.float64).reshape(-1)),
            (b"SRAT", np.array([float(c.sr or 0.0)])),
        ]
    if st.source:
        out.append((b"SRCE", np.frombuffer(st.source.encode(), dtype=np.uint8)))
    return Encoded(TASK_TRANSFORM, c.n_inputs, c.n_features, out)


def check_shape(
    window: int,
    n_axes: int,
    magnitude: int,
    stats: list[int],
    bins: list[int],
    n_dft: int,
    n_features: int,
    n_outputs: int,
) -> None:
    """What spans sections (the same checks as ml_features_stage_check and mlrt.features)."""
    if len(set(stats)) != len(stats):
        raise fail("STAT repeats a statistic")
    nb = len(bins) // 2
    if not stats and not nb:
        raise fail("a feature stage computes at least one statistic or band")
    for b in range(nb):
        if not 0 <= bins[2 * b] < bins[2 * b + 1] <= window // 2 + 1:
            raise fail(f"band {b}: bins [{bins[2 * b]}, {bins[2 * b + 1]}) outside 0 .. WIND / 2 + 1")
    if nb and n_dft != window:
        raise fail(f"DCOS/DSIN hold {n_dft} values for a window of {window}")
    if n_features != window * n_axes:
        raise fail(f"n_features {n_features} is not WIND x AXES = {window * n_axes}")
    if n_outputs != (n_axes + magnitude) * (len(stats) + nb):
        raise fail(f"n_outputs {n_outputs} is not channels x (statistics + bands)")


def load(d: Decoded) -> FeatureStage:
    a = d.arrays
    window, n_axes, magnitude = int(a[b"WIND"][0]), int(a[b"AXES"][0]), int(a[b"MAGN"][0])
    stats = [int(v) for v in a[b"STAT"]]
    bins = [int(v) for v in a[b"BINS"]] if b"BINS" in a else []
    if bool(bins) != (b"DCOS" in a) or bool(bins) != (b"DSIN" in a):
        raise fail("band energies need BINS, DCOS and DSIN together")
    check_shape(window, n_axes, magnitude, stats, bins, d.dims.get("n_dft", 0), d.header.n_features,
                d.header.n_outputs)  # fmt: skip
    bands = tuple(tuple(float(v) for v in p) for p in a[b"BAND"].reshape(-1, 2)) if b"BAND" in a else ()
    if len(bands) != len(bins) // 2:
        raise fail("BAND must give (lo, hi) in Hz for each band of BINS")
    sr = float(a[b"SRAT"][0]) if b"SRAT" in a else None
    try:
        cfg = FeatureConfig(
            window=window,
            n_axes=n_axes,
            stats=tuple(STATS[i] for i in stats),
            magnitude=bool(magnitude),
            sr=sr if bands else None,
            bands=bands,  # type: ignore[arg-type]
        )
    except InvalidInputError as e:
        raise fail(f"feature configuration: {e}") from e
    if bands:
        cos_t, sin_t = dft_tables(window)
        if [x for b in cfg.band_bins() for x in b] != bins or not (
            np.array_equal(cos_t, a[b"DCOS"]) and np.array_equal(sin_t, a[b"DSIN"])
        ):
            raise fail("BINS, DCOS or DSIN are not what the bands and window give")
    return FeatureStage(cfg, d.text(b"SRCE") or "")


register_family(code=FEATURES.code, ir_type=FeatureStage, dump=dump, load=load, schema=FEATURES)
