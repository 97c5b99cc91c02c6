"""The host target: the generated C compiled by this machine's C compiler (microlearn.host), called
through a small C wrapper made from the header's API (whatever the family or task) and ctypes."""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from microlearn import host
from microlearn.backends.c.writer import CFunction, CSource
from microlearn.errors import InvalidInputError, ToolchainError
from microlearn.ir.base import Task
from microlearn.targets.base import Artifacts, TargetRun, register_target

_OUT_C = {"int32": "int32_t", "float": "float", "void": "float", "status": "float"}


def wrapper_c(src: CSource) -> str:
    """C defining ``int ml_host_<fn>(const float *X, int32_t n, T *out)`` for every API function of
    ``src``: row i of X is ``src.n_features`` floats; returns 0, or the first non-zero status."""
    nf = src.n_features
    lines = ["#include <stddef.h>", "#include <stdint.h>", f'#include "{src.filename}"', ""]
    for f in src.api:
        fn = f"{src.name}_{f.name}"
        t = _OUT_C[f.returns]
        lines.append(f"int ml_host_{f.name}(const float *X, int32_t n, {t} *out);")
        lines.append(f"int ml_host_{f.name}(const float *X, int32_t n, {t} *out)\n{{\n    int32_t i;")
        lines.append("    for (i = 0; i < n; i++) {")
        x = f"X + (size_t)i * {nf}"
        if f.returns in ("int32", "float"):
            lines.append(f"        out[i] = {fn}({x});")
        elif f.returns == "void":
            lines.append(f"        {fn}({x}, out + (size_t)i * {f.width});")
        else:
            lines.append(f"        int rc = {fn}({x}, out + (size_t)i * {f.width});")
            lines.append("        if (rc != 0) {\n            return rc;\n        }")
        lines.append("    }\n    return 0;\n}\n")
    return "\n".join(lines)


@dataclass
class HostLibrary:
    """A generated header compiled for this machine; :meth:`call` runs one API function over rows."""

    src: CSource
    cflags: tuple[str, ...] = host.DEFAULT_CFLAGS
    lib: ctypes.CDLL = field(init=False, repr=False)

    def __post_init__(self) -> None:
        files = {self.src.filename: self.src.header, "ml_host_wrapper.c": wrapper_c(self.src)}
        self.cflags = host.cflags_for(files, self.cflags)  # -O0 for huge headers: minutes become seconds
        self.lib = host.build(files, cflags=self.cflags)

    def has(self, name: str) -> bool:
        return self.src.function(name) is not None

    def call(self, name: str, X32: npt.NDArray[np.float32]) -> npt.NDArray[Any]:
        f: CFunction | None = self.src.function(name)
        if f is None:
            raise InvalidInputError(
                f"this model has no {name}; it has: {', '.join(g.name for g in self.src.api)}"
            )
        X = np.ascontiguousarray(X32, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.src.n_features:
            raise InvalidInputError(f"rows must be (n, {self.src.n_features}) float32; got {X.shape}")
        n = X.shape[0]
        if f.returns == "int32":
            out: npt.NDArray[Any] = np.empty(n, dtype=np.int32)
        elif f.returns == "float":
            out = np.empty(n, dtype=np.float32)
        else:
            out = np.empty((n, f.width), dtype=np.float32)
        fn = getattr(self.lib, f"ml_host_{name}")
        fn.restype = ctypes.c_int
        rc = fn(ctypes.c_void_p(X.ctypes.data), ctypes.c_int32(n), ctypes.c_void_p(out.ctypes.data))
        if rc != 0:
            raise InvalidInputError(f"the generated C rejected an input row in {name} (code {rc})")
        return out


def outputs_name(task: Task, src: CSource) -> str:
    """The API function whose result is the task's ``TargetRun.outputs``."""
    if task is Task.SCORE:
        return "score"
    if task is Task.TRANSFORM:
        return "transform"
    if task is Task.REGRESS and src.function("predict") is None:
        return "predict_values"
    return "predict"


def run_library(lib: HostLibrary, task: Task, X32: npt.NDArray[np.float32]) -> TargetRun:
    out = lib.call(outputs_name(task, lib.src), X32)
    with_proba = task in (Task.CLASSIFY, Task.CLUSTER) and lib.has("predict_proba")
    proba = lib.call("predict_proba", X32) if with_proba else None
    scores = lib.call("decision_function", X32) if lib.has("decision_function") else None
    extra: dict[str, Any] = {}
    if task is Task.SCORE and lib.has("predict"):
        extra["predict"] = lib.call("predict", X32)  # the inlier (1) / outlier (-1) decision
    return TargetRun(outputs=out, proba=proba, scores=scores, extra=extra)


@dataclass
class HostTarget:
    """The generated C compiled and run on this machine."""

    name: str = "host"

    def available(self) -> str | None:
        try:
            host.find_cc()
        except ToolchainError as e:
            return str(e)
        return None

    def run(self, art: Artifacts, X: npt.NDArray[np.float32]) -> TargetRun:
        src = art.c_source()
        run = run_library(HostLibrary(src), art.ir.task, X)
        run.arena_bytes = src.arena_bytes
        return run


register_target(HostTarget())
