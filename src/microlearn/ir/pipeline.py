"""A pipeline as an IR: transform stages, then a final model; it takes the first stage's raw input."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from microlearn.errors import InvalidInputError
from microlearn.ir.base import IR, Reference, Task


@dataclass(frozen=True)
class Pipeline:
    """``stages`` (TRANSFORM IRs, each taking the previous one's outputs) then ``final`` (any IR).

    Task, outputs and classes are the final's; ``n_inputs`` is the first stage's."""

    stages: tuple[IR, ...]
    final: IR
    source: str = "sklearn.pipeline.Pipeline"
    feature_names: tuple[str, ...] | None = None  # names of the raw input columns, where known

    def __post_init__(self) -> None:
        if not self.stages:
            raise InvalidInputError("a Pipeline IR needs at least one stage before the final model")
        for i, st in enumerate(self.stages):
            if st.task is not Task.TRANSFORM:
                raise InvalidInputError(f"pipeline stage {i} ({st.source}) is not a transform")
        chain = [*self.stages, self.final]
        for i in range(len(chain) - 1):
            a, b = chain[i], chain[i + 1]
            if a.n_outputs != b.n_inputs:
                raise InvalidInputError(
                    f"pipeline step {i} ({a.source}) makes {a.n_outputs} features but step {i + 1} "
                    f"({b.source}) takes {b.n_inputs}"
                )

    @property
    def task(self) -> Task:
        return self.final.task

    @property
    def n_inputs(self) -> int:
        return self.stages[0].n_inputs

    @property
    def n_outputs(self) -> int:
        return self.final.n_outputs

    @property
    def classes(self) -> npt.NDArray[np.generic] | None:
        return self.final.classes

    @property
    def steps(self) -> tuple[IR, ...]:
        return (*self.stages, self.final)

    def summary(self) -> list[str]:
        lines = [
            f"{self.source}: {len(self.stages)} stage(s) then the final model; input: {self.n_inputs} values"
        ]
        for i, st in enumerate(self.steps):
            head = "final" if i == len(self.stages) else f"stage {i}"
            sub = st.summary()
            lines += [f"{head}: {sub[0]}", *("  " + s for s in sub[1:])]
        return lines

    def transform_stages(self, X: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """The reference output of all stages (the final model's input)."""
        out = X
        for st in self.stages:
            out = np.asarray(st.reference(out).outputs)
        return out

    def reference(self, X: npt.NDArray[np.float32]) -> Reference:
        return self.final.reference(self.transform_stages(X))
