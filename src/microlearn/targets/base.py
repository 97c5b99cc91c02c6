"""What running a model on one target yields: outputs per row, and what it cost there."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt


@dataclass
class TargetRun:
    outputs: npt.NDArray[Any]  # class index (int) or value (float) per row
    flash_bytes: int | None = None
    ram_bytes: int | None = None
    stack_bytes: int | None = None
    instructions_mean: float | None = None
    instructions_min: int | None = None
    instructions_max: int | None = None
    proba: npt.NDArray[np.float32] | None = None  # classifier probabilities, where the target gives them
    extra: dict[str, Any] = field(default_factory=dict)
