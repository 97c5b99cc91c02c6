"""Generated models on an emulated MCU: the glue that calls the model, and the verify-facing target.

The glue is generated from the model's task and output count alone (the public C API every family
follows, docs/architecture.md), so a new family needs no change here:

| task | glue (one call per row) | output blob |
|---|---|---|
| classify | ``NAME_predict`` (+ ``NAME_predict_proba`` when asked) | int32 index (+ n_outputs float32) |
| cluster | ``NAME_predict`` | int32 index |
| regress | ``NAME_predict`` (one output) or ``NAME_predict_values`` | n_outputs float32 |
| score | ``NAME_score`` and ``NAME_predict`` | float32 score, int32 inlier (1) / outlier (-1) |
| transform | ``NAME_transform`` | int32 status, n_outputs float32 |
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from microlearn.backends.c.writer import CSource
from microlearn.errors import InvalidInputError
from microlearn.ir.base import Task
from microlearn.targets.base import Artifacts, TargetRun
from microlearn.targets.mcu.arch import ALIASES, ARCHS, Arch, get_arch
from microlearn.targets.mcu.build import toolchain_missing
from microlearn.targets.mcu.measure import measure

_KINDS = {"classifier": Task.CLASSIFY, "regressor": Task.REGRESS}  # the names measure_model takes


def as_task(t: Any) -> Task:
    """A :class:`Task`, its value ("classify") or a kind ("classifier", "regressor") as a Task."""
    if isinstance(t, Task):
        return t
    if isinstance(t, str):
        if t in _KINDS:
            return _KINDS[t]
        try:
            return Task(t)
        except ValueError:
            pass
    raise InvalidInputError(f"task must be one of {[x.value for x in Task]}, not {t!r}")


class Decoded(NamedTuple):
    outputs: npt.NDArray[Any]  # (n,) index / value, or (n, k) values
    proba: npt.NDArray[np.float32] | None
    extra: dict[str, Any]


@dataclass(frozen=True)
class Glue:
    """C calling a generated model once per input row, and how to read what it writes (see the module
    docs for the layout of each task's output blob)."""

    text: str
    task: Task
    n_outputs: int
    proba: bool  # a classifier also writes its n_outputs probabilities
    calls: tuple[str, ...]  # the model's API functions it calls, e.g. ("predict", "predict_proba")

    @property
    def out_size(self) -> int:
        """Bytes written per row."""
        k = self.n_outputs
        return {
            Task.CLASSIFY: 4 + (4 * k if self.proba else 0),
            Task.CLUSTER: 4,
            Task.REGRESS: 4 * k,
            Task.SCORE: 8,
            Task.TRANSFORM: 4 + 4 * k,
        }[self.task]

    def decode(self, raw: npt.NDArray[np.uint8]) -> Decoded:
        """Outputs of every row from the (rows, out_size) bytes the glue wrote."""

        def i32(lo: int, hi: int) -> npt.NDArray[np.int32]:
            return raw[:, lo:hi].copy().view("<i4").astype(np.int32)

        def f32(lo: int, hi: int) -> npt.NDArray[np.float32]:
            return raw[:, lo:hi].copy().view("<f4").astype(np.float32)

        end = self.out_size
        if self.task in (Task.CLASSIFY, Task.CLUSTER):
            return Decoded(i32(0, 4).reshape(-1), f32(4, end) if self.proba else None, {})
        if self.task is Task.REGRESS:
            v = f32(0, end)
            return Decoded(v.reshape(-1) if self.n_outputs == 1 else v, None, {})
        if self.task is Task.SCORE:
            return Decoded(f32(0, 4).reshape(-1), None, {"predict": i32(4, 8).reshape(-1)})
        status = i32(0, 4).reshape(-1)
        v = f32(4, end)
        v[status != 0] = np.nan  # a failed call has no outputs
        return Decoded(v, None, {"status": status})


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HEADER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*\.h$")


def model_glue(header_name: str, name: str, task: Any, n_outputs: int = 1, *, proba: bool = False) -> Glue:
    """The glue for a generated model ``name`` (in ``header_name``) of ``task`` with ``n_outputs``
    outputs. ``proba``: a classifier also writes its probabilities (their instructions are counted too)."""
    tk = as_task(task)
    if not _IDENT.match(name):
        raise InvalidInputError(f"model name {name!r} is not a C identifier")
    if not _HEADER.match(header_name):
        raise InvalidInputError(
            f"header name {header_name!r}: use letters, digits, '_', '-', '.' and end in .h"
        )
    k = int(n_outputs)
    if k < 1:
        raise InvalidInputError(f"n_outputs must be at least 1, not {n_outputs}")
    proba = proba and tk is Task.CLASSIFY
    x = "(const float *)in"
    if tk in (Task.CLASSIFY, Task.CLUSTER):
        calls: tuple[str, ...] = ("predict", "predict_proba") if proba else ("predict",)
        body = f"    *(int32_t *)out = {name}_predict({x});\n"
        if proba:
            body += f"    {name}_predict_proba({x}, (float *)out + 1);\n"
    elif tk is Task.REGRESS and k > 1:
        calls = ("predict_values",)
        body = f"    {name}_predict_values({x}, (float *)out);\n"
    elif tk is Task.REGRESS:
        calls = ("predict",)
        body = f"    *(float *)out = {name}_predict({x});\n"
    elif tk is Task.SCORE:
        calls = ("score", "predict")
        body = f"    *(float *)out = {name}_score({x});\n    *((int32_t *)out + 1) = {name}_predict({x});\n"
    else:
        calls = ("transform",)
        body = f"    *(int32_t *)out = (int32_t){name}_transform({x}, (float *)out + 1);\n"
    text = f"""#include <stdint.h>

#include "ml_bench.h"
#include "{header_name}"

void ml_bench_entry(const void *in, void *out) {{
{body}}}
"""
    return Glue(text, tk, k, proba, calls)


def rows(X: Any, n_features: int | None = None, name: str = "model") -> npt.NDArray[np.float32]:
    A = np.asarray(X)
    if A.ndim != 2:
        raise InvalidInputError(f"X must be 2-D (rows x features), got shape {A.shape}")
    if not np.issubdtype(A.dtype, np.number):
        raise InvalidInputError(f"X must be numeric, got dtype {A.dtype}")
    if n_features is not None and A.shape[1] != n_features:
        raise InvalidInputError(f"X has {A.shape[1]} columns; the model {name} takes {n_features} features")
    return np.ascontiguousarray(A, dtype="<f4")


def run_header(
    header: str,
    name: str,
    task: Any,
    X: Any,
    cpu: str | Arch,
    *,
    n_outputs: int = 1,
    n_features: int | None = None,
    proba: bool = False,
    header_name: str | None = None,
    extra_sources: Mapping[str, str] | None = None,
    api: Sequence[str] | None = None,
) -> TargetRun:
    """Run the generated model ``name`` (header text ``header``) over the rows of ``X`` on the emulated
    ``cpu``: outputs decoded by task (see the module docs), costs measured as :func:`measure` does.
    ``api``: the functions the header provides (``predict``, ...), checked against what the glue calls."""
    if n_features is None:
        m = re.search(rf"^#define {re.escape(name.upper())}_N_FEATURES (\d+)", header, re.MULTILINE)
        n_features = int(m.group(1)) if m else None
    X32 = rows(X, n_features, name)
    header_name = header_name or f"{name}.h"
    glue = model_glue(header_name, name, task, n_outputs, proba=proba)
    missing = [] if api is None else [f"{name}_{c}" for c in glue.calls if c not in api]
    if missing:
        raise InvalidInputError(
            f"the generated C has no {', '.join(missing)}, which a {glue.task.value} model must provide "
            f"(it has: {', '.join(f'{name}_{a}' for a in api or ())})"
        )
    run = measure(
        {header_name: header, **(extra_sources or {})},
        glue.text,
        cpu,
        [r.tobytes() for r in X32],
        glue.out_size,
    )
    decoded = glue.decode(run.outputs)
    run.outputs = decoded.outputs
    run.proba = decoded.proba
    run.extra.update(decoded.extra)
    return run


def measure_model(
    c_header_text: str, header_name: str, name: str, kind: str, X: Any, cpu: str | Arch
) -> TargetRun:
    """A generated one-output model (``kind`` "classifier" or "regressor", or a task) over the rows of ``X``
    on the emulated ``cpu``: class indices (int32) or float32 values."""
    return run_header(c_header_text, name, kind, X, cpu, header_name=header_name)


class McuTarget:
    """An emulated MCU as a ``verify`` target: builds the generated C for ``arch`` and runs every row."""

    def __init__(self, arch: str | Arch, *, name: str | None = None, proba: bool = False) -> None:
        self.arch = get_arch(arch)
        self.name = name or self.arch.name
        self.proba = proba

    def __repr__(self) -> str:
        return f"McuTarget({self.arch.name!r})"

    def available(self) -> str | None:
        """None when this machine can build and emulate for the CPU, else what is missing."""
        return toolchain_missing(self.arch)

    def run(self, art: Artifacts, X: npt.NDArray[np.float32]) -> TargetRun:
        """``art`` gives the generated C (``art.c_source()``)."""
        return self.run_source(art.c_source(), X)

    def run_source(self, src: CSource, X: npt.NDArray[np.float32]) -> TargetRun:
        """The generated C's model over the rows of ``X``; with ``proba`` a classifier's probabilities
        too, where it has them."""
        api = [f.name for f in src.api]
        run = run_header(
            src.header,
            src.name,
            src.task,
            X,
            self.arch,
            n_outputs=src.n_outputs,
            n_features=src.n_features,
            proba=self.proba and "predict_proba" in api,
            header_name=src.filename,
            api=api or None,
        )
        run.arena_bytes = src.arena_bytes
        return run


def mcu_targets() -> dict[str, McuTarget]:
    """Every CPU as a target, under its name and its aliases."""
    out = {name: McuTarget(a) for name, a in ARCHS.items()}
    out.update({alias: McuTarget(name, name=alias) for alias, name in ALIASES.items()})
    return out


def register_targets(targets: dict[str, Any]) -> None:
    """Add the MCUs (and their aliases) to ``microlearn.verify``'s target table."""
    for name, target in mcu_targets().items():
        targets.setdefault(name, target)
