"""IR -> C. One module per strategy ("method"); this module holds what they share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from microlearn.backends.c import inline, packed, packed_inline, table
from microlearn.backends.c.common import CSource, check_c_name
from microlearn.errors import InvalidInputError
from microlearn.ir import TreeEnsemble


@dataclass(frozen=True)
class Method:
    name: str
    summary: str
    emit: Callable[[TreeEnsemble, str, str], CSource]


METHODS: dict[str, Method] = {
    "table": Method("table", "const node arrays in flash, walked by the loop in ml_trees.h", table.emit),
    "inline": Method("inline", "one C function of nested if/else per tree", inline.emit),
    **{m: Method(m, packed.SUMMARIES[m], packed.emitter(m)) for m in packed.INPUTS},
    **{m: Method(m, packed_inline.SUMMARIES[m], packed_inline.emitter(m)) for m in packed_inline.METHODS},
}

DEFAULT_METHOD = "table"


def methods_for(ir: TreeEnsemble) -> list[str]:
    """Names of the C methods that can encode this model."""
    return list(METHODS)


def generate(ir: TreeEnsemble, method: str, name: str, command: str = "") -> CSource:
    check_c_name(name)
    if method not in METHODS:
        raise InvalidInputError(f"unknown method {method!r}; choose one of: {', '.join(METHODS)}")
    return METHODS[method].emit(ir, name, command)


__all__ = ["DEFAULT_METHOD", "METHODS", "CSource", "Method", "check_c_name", "generate", "methods_for"]
