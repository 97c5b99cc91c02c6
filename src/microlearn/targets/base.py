"""The Target protocol, what a target is given (:class:`Artifacts`) and what it yields (:class:`TargetRun`).

Targets take an IR and the artefacts generated from it; they never import the ``Model`` facade or the
CLI. ``verify`` asks each target to ``run`` the same float32 rows and compares the outputs with
``ir.reference`` by the comparator of ``ir.task``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from microlearn.ir.base import IR

if TYPE_CHECKING:
    from microlearn.backends.c.writer import CSource


@dataclass
class TargetRun:
    """Outputs per row and what they cost on the target.

    ``outputs`` by task: class (or cluster) index per row (CLASSIFY, CLUSTER), value(s) per row (REGRESS,
    SCORE), (n, k) values (TRANSFORM)."""

    outputs: npt.NDArray[Any]
    flash_bytes: int | None = None
    ram_bytes: int | None = None
    stack_bytes: int | None = None
    arena_bytes: int | None = None  # the generated C's working buffer (NAME_ARENA_BYTES), part of the stack
    instructions_mean: float | None = None
    instructions_min: int | None = None
    instructions_max: int | None = None
    proba: npt.NDArray[np.float32] | None = None  # classifier probabilities, where the target gives them
    scores: npt.NDArray[np.float32] | None = None  # decision_function / distances, where it gives them
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Artifacts:
    """What targets run: the IR, the C method, and (made on first use, then kept) the generated C
    header and the model file bytes."""

    ir: IR
    method: str
    name: str = "mlmodel"
    command: str = ""
    _c: CSource | None = field(default=None, init=False, repr=False)
    _file: bytes | None = field(default=None, init=False, repr=False)

    def c_source(self) -> CSource:
        if self._c is None:
            from microlearn import progress
            from microlearn.backends.c.registry import generate

            with progress.busy(f"writing the C of {self.method}"):
                self._c = generate(self.ir, self.method, self.name, self.command)
        return self._c

    def model_file(self) -> bytes:
        if self._file is None:
            from microlearn.backends import modelfile

            dumps: Any = modelfile.dumps
            self._file = bytes(dumps(self.ir))
        return self._file


@runtime_checkable
class Target(Protocol):
    """Somewhere a converted model runs: the host C compiler, an emulated MCU, MicroPython ..."""

    @property
    def name(self) -> str: ...

    def available(self) -> str | None:
        """None if the target can run here, else why not (what to install)."""
        ...

    def run(self, art: Artifacts, X: npt.NDArray[np.float32]) -> TargetRun: ...


# ---------------------------------------------------------------------------------------------- registry
TARGETS: dict[str, Target] = {}


def register_target(target: Target, *aliases: str) -> None:
    """Make ``target`` (and its aliases) known to ``verify``. The first registration of a name wins."""
    for name in (target.name, *aliases):
        TARGETS.setdefault(name, target)
