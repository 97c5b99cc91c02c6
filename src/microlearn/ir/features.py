"""The FeatureExtractor as a pipeline stage: raw sensor windows -> time-series features (float32).

The features are defined by the float32 operations of ``ml_features.h`` in their order, and
:func:`microlearn.dsp.features.compute` performs the same operations in the same order, so the
reference is bit-identical to what the C stage computes (``Reference.bound`` is zero)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from microlearn.dsp.features import FeatureConfig, compute
from microlearn.ir.base import Reference, Task

SOURCE = "microlearn.dsp.FeatureExtractor"


@dataclass(frozen=True)
class FeatureStage:
    """A TRANSFORM stage: ``window * n_axes`` interleaved samples in, ``config.n_features`` features out."""

    config: FeatureConfig
    source: str = SOURCE
    input_rule: str = "windows must hold no NaN or infinite samples and none beyond +-1e8"

    @property
    def task(self) -> Task:
        return Task.TRANSFORM

    @property
    def n_inputs(self) -> int:
        return self.config.n_inputs

    @property
    def n_outputs(self) -> int:
        return self.config.n_features

    @property
    def feature_names(self) -> tuple[str, ...] | None:
        return None  # raw samples have no names

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(self.config.feature_names())

    @property
    def classes(self) -> None:
        return None

    def summary(self) -> list[str]:
        c = self.config
        bands = f"; band energies {list(c.bands)} Hz at sr={c.sr:g}" if c.bands and c.sr else ""
        return [
            f"{self.source}: window {c.window} samples x {c.n_axes} interleaved axes",
            f"-> {c.n_features} features",
            f"features: {', '.join(c.stats)} of channels {', '.join(c.channel_names())}{bands}",
        ]

    def reference(self, X: npt.NDArray[np.float32]) -> Reference:
        out = compute(self.config, X)
        return Reference(outputs=out, bound=np.zeros(out.shape[0], dtype=np.float64))
