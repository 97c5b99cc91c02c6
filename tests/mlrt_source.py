"""mlrt's machine-code modules (_fast*.py) read by CPython, which has no native emitter: the same source
with shims for the micropython decorators and viper's pointer types, so tests can run the operations
against the bytecode path's."""

from __future__ import annotations

import importlib.util
import inspect
import sys
import types
from pathlib import Path
from typing import Any


class _Ptr:
    """A viper pointer: loads give the unsigned item, stores keep the low bits (two's complement)."""

    def __init__(self, obj: Any, size: int) -> None:
        self.b = memoryview(obj).cast("B")
        self.size = size

    def __getitem__(self, i: int) -> int:
        s = self.size
        return int.from_bytes(self.b[i * s : (i + 1) * s], "little")

    def __setitem__(self, i: int, v: int) -> None:
        s = self.size
        self.b[i * s : (i + 1) * s] = (v & ((1 << (8 * s)) - 1)).to_bytes(s, "little")


def _ptr(size: int) -> Any:
    return lambda obj: obj if isinstance(obj, _Ptr) else _Ptr(obj, size)


def _viper(f: Any) -> Any:
    """Arguments annotated ptr8/ptr16/ptr32 become pointers, as viper makes them."""
    sig = inspect.signature(f)

    def call(*args: Any) -> Any:
        conv = [
            p.annotation(a) if p.annotation in _PTRS else a
            for p, a in zip(sig.parameters.values(), args, strict=True)
        ]
        return f(*conv)

    return call


_PTRS = (_ptr(1), _ptr(2), _ptr(4))  # ptr8, ptr16, ptr32


def load_source(path: Path) -> types.ModuleType:
    """The module at path (an mlrt machine-code module) as CPython code: @micropython.native is a plain
    decorator, @micropython.viper turns arguments annotated ptr8/ptr16/ptr32 into pointers over the
    objects' bytes. Checks the operations, not the machine code."""
    shim = types.ModuleType("micropython")
    shim.viper = _viper  # type: ignore[attr-defined]
    shim.native = lambda f: f  # type: ignore[attr-defined]
    saved = sys.modules.get("micropython")
    sys.modules["micropython"] = shim
    try:
        spec = importlib.util.spec_from_file_location(path.stem + "_src", path)
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        for name, ptr in zip(("ptr8", "ptr16", "ptr32"), _PTRS, strict=True):
            setattr(mod, name, ptr)
        spec.loader.exec_module(mod)
    finally:
        if saved is None:
            del sys.modules["micropython"]
        else:
            sys.modules["micropython"] = saved
    return mod
