"""Cortex-M names of the generic MCU targets (:mod:`microlearn.targets.mcu`), kept for existing imports."""

from microlearn.targets.base import TargetRun
from microlearn.targets.mcu import (
    ALIASES,
    BASELINE_GLUE,
    attribute_sizes,
    measure,
    measure_model,
    model_glue,
    register_targets,
)
from microlearn.targets.mcu.arch import ARCHS as CPUS
from microlearn.targets.mcu.arch import get_arch as get_cpu

__all__ = [
    "ALIASES",
    "BASELINE_GLUE",
    "CPUS",
    "TargetRun",
    "attribute_sizes",
    "get_cpu",
    "measure",
    "measure_model",
    "model_glue",
    "register_targets",
]
