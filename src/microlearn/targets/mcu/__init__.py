"""Microcontroller targets: one :class:`~.arch.Arch` record per CPU, and generic build, size attribution,
emulation (unicorn) and QEMU cross-check over it."""

from microlearn.targets.mcu.arch import ALIASES, ARCHS, Arch, get_arch
from microlearn.targets.mcu.build import Image, build_image
from microlearn.targets.mcu.emulator import Emulator
from microlearn.targets.mcu.measure import BASELINE_GLUE, SizeReport, attribute_sizes, describe, measure
from microlearn.targets.mcu.qemu import run_qemu
from microlearn.targets.mcu.target import (
    Glue,
    McuTarget,
    mcu_targets,
    measure_model,
    model_glue,
    register_targets,
    run_header,
)

__all__ = [
    "ALIASES",
    "ARCHS",
    "BASELINE_GLUE",
    "Arch",
    "Emulator",
    "Glue",
    "Image",
    "McuTarget",
    "SizeReport",
    "attribute_sizes",
    "build_image",
    "describe",
    "get_arch",
    "mcu_targets",
    "measure",
    "measure_model",
    "model_glue",
    "register_targets",
    "run_header",
    "run_qemu",
]
