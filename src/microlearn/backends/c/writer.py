"""The one header writer of the C backend, and the literals every emitter uses.

Every generated header is: a comment (the IR's summary, the method, the API), an include guard, the
includes of the runtime headers it needs, ``NAME_N_FEATURES`` / ``NAME_N_CLASSES`` / ``NAME_N_OUTPUTS``,
``extern "C"``, then the emitter's body. User text (labels, feature names, the command line) only
reaches the comment, through :func:`comment_text`, which escapes it so that it can never end the
comment, splice lines or carry anything but printable ASCII.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from microlearn._version import __version__
from microlearn.errors import InvalidInputError
from microlearn.ir.base import IR, Task

C_KEYWORDS = frozenset(
    """auto break case char const continue default do double else enum extern float for goto if inline int
    long register restrict return short signed sizeof static struct switch typedef union unsigned void
    volatile while _Bool _Complex _Imaginary bool true false class new delete template this namespace
    operator private public protected virtual friend using typename""".split()
)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

Returns = Literal["int32", "float", "void", "status"]


@dataclass(frozen=True)
class CFunction:
    """One public function ``NAME_<name>(const float *x[, float *out])`` of a generated header.

    ``returns``: "int32" (an index), "float" (a value), "void" (writes ``width`` floats to out) or
    "status" (an int, 0 or an error code, and writes ``width`` floats to out)."""

    name: str
    returns: Returns
    width: int = 0

    @property
    def c_type(self) -> str:
        return {"int32": "int32_t", "float": "float", "void": "void", "status": "int"}[self.returns]

    @property
    def has_out(self) -> bool:
        return self.returns in ("void", "status")

    def signature(self, name: str) -> str:
        args = "const float *x, float *out" if self.has_out else "const float *x"
        return f"{self.c_type} {name}_{self.name}({args})"


@dataclass(frozen=True)
class CSource:
    """Generated C: the header text plus what builds, pipelines and targets need to know."""

    name: str
    header: str
    method: str
    task: Task
    n_features: int
    n_outputs: int
    const_bytes: int
    runtime_headers: tuple[str, ...] = ()
    api: tuple[CFunction, ...] = ()
    body: str = field(default="", repr=False)  # the header minus comment, guard, includes and extern "C"
    defines: str = field(default="", repr=False)  # the NAME_N_* defines (and an emitter's own)
    arena_bytes: int | None = None  # NAME_ARENA_BYTES: the working buffer one call declares on the stack

    @property
    def filename(self) -> str:
        return f"{self.name}.h"

    @property
    def kind(self) -> str:
        return {Task.CLASSIFY: "classifier", Task.REGRESS: "regressor"}.get(self.task, self.task.value)

    def function(self, name: str) -> CFunction | None:
        return next((f for f in self.api if f.name == name), None)


def check_c_name(name: str) -> None:
    """A model name becomes C identifiers: letters, digits and '_' only, not a keyword, not ``ml_…``."""
    if not isinstance(name, str) or not _IDENT.fullmatch(name) or name in C_KEYWORDS:
        raise InvalidInputError(
            f"{name!r} is not a valid C identifier: use letters, digits and '_', not starting with a digit "
            "and not a C keyword (e.g. name='gesture')"
        )
    if name.startswith("ml_"):
        raise InvalidInputError(f"{name!r}: the prefix 'ml_' is reserved for the microlearn runtime")


# ---------------------------------------------------------------------------------------------- literals
def f32(v: float | np.floating) -> str:
    """A C float literal that parses to exactly this float32 value."""
    x = np.float32(v)
    if np.isinf(x):  # scikit-learn's "only NaN goes right" splits have threshold +inf
        return "INFINITY" if x > 0 else "-INFINITY"
    if np.isnan(x):
        raise InvalidInputError("cannot write NaN as a C float literal")
    pos = np.format_float_positional(x, unique=True, trim="0")
    sci = np.format_float_scientific(x, unique=True, trim="0").replace("+", "")
    return (pos if len(pos) <= len(sci) else sci) + "f"


def f64(v: float | np.floating) -> str:
    """A C double literal that parses to exactly this float64 value."""
    x = float(v)
    if not np.isfinite(x):
        raise InvalidInputError(f"cannot write non-finite double {x!r} as a C literal")
    s = repr(x)
    if "e" not in s and "." not in s:
        s += ".0"
    return s


def array_lines(items: Sequence[str], per_line: int = 8, indent: str = "    ") -> str:
    rows = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
    return ",\n".join(indent + r for r in rows)


# ---------------------------------------------------------------------------------------------- comment
def comment_text(s: str) -> str:
    """``s`` made safe inside a C block comment on one line: printable ASCII stays, a backslash is
    doubled, anything else (newlines, control and non-ASCII characters) becomes \\xNN / \\uNNNN /
    \\UNNNNNNNN; then the sequences that end or open a comment or form a trigraph are broken up."""
    out = []
    for ch in s:
        o = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif 0x20 <= o < 0x7F:
            out.append(ch)
        elif o < 0x100:
            out.append(f"\\x{o:02x}")
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    t = "".join(out)
    while "*/" in t or "/*" in t or "??" in t:
        t = t.replace("*/", "*\\/").replace("/*", "/\\*").replace("??", "?\\?")
    return t


def comment(lines: Sequence[str]) -> str:
    body = "\n".join((" * " + comment_text(ln)).rstrip() for ln in lines)
    return f"/*\n{body}\n */\n"


def guard(name: str) -> str:
    return f"ML_MODEL_{name.upper()}_H"


def defines(ir: IR, name: str, extra: Sequence[tuple[str, int]] = ()) -> str:
    """``NAME_N_FEATURES`` (inputs), ``NAME_N_CLASSES`` (classifiers), ``NAME_N_OUTPUTS`` + extras."""
    up = name.upper()
    out = [f"#define {up}_N_FEATURES {ir.n_inputs}"]
    if ir.task is Task.CLASSIFY:
        out.append(f"#define {up}_N_CLASSES {ir.n_outputs}")
    out.append(f"#define {up}_N_OUTPUTS {ir.n_outputs}")
    out += [f"#define {up}_{k} {v}" for k, v in extra]
    return "\n".join(out) + "\n"


def api_lines(name: str, api: Sequence[CFunction]) -> list[str]:
    return [f"  {f.signature(name)};" + (f"  ({f.width} floats out)" if f.has_out else "") for f in api]


def header(
    ir: IR,
    name: str,
    method: str,
    body: str,
    *,
    api: Sequence[CFunction],
    const_bytes: int,
    runtime_headers: Sequence[str],
    command: str = "",
    notes: Sequence[str] = (),
    extra_defines: Sequence[tuple[str, int]] = (),
) -> CSource:
    """Assemble the header of ``ir`` around an emitter's ``body`` (which must use only ``name``-prefixed
    identifiers and the runtime headers listed)."""
    check_c_name(name)
    up = name.upper()
    lines = [f'{name}.h - converted by microlearn {__version__} (method "{method}")', *ir.summary()]
    lines.append(f"const data: {const_bytes} bytes")
    if command:
        lines.append(f"made by: {command}")
    lines += ["", "API (all functions static inline; include this header from any number of .c/.cpp files):"]
    lines += api_lines(name, api)
    lines.append(f"x points to {up}_N_FEATURES floats.")
    lines += list(notes)
    if runtime_headers:
        lines.append("Needs " + ", ".join(runtime_headers) + " on the include path.")
    g = guard(name)
    math = "#include <math.h>\n" if ("INFINITY" in body or "NAN" in body) else ""
    incs = "".join(f'#include "{h}"\n' for h in runtime_headers)
    defs = defines(ir, name, extra_defines)
    text = (
        comment(lines)
        + f"#ifndef {g}\n#define {g}\n\n"
        + f"#include <stddef.h>\n#include <stdint.h>\n{math}{incs}\n"
        + '#ifdef __cplusplus\nextern "C" {\n#endif\n\n'
        + defs
        + "\n"
        + body
        + "\n#ifdef __cplusplus\n}\n#endif\n\n"
        + f"#endif /* {g} */\n"
    )
    return CSource(
        name=name,
        header=text,
        method=method,
        task=ir.task,
        n_features=ir.n_inputs,
        n_outputs=ir.n_outputs,
        const_bytes=const_bytes,
        runtime_headers=tuple(runtime_headers),
        api=tuple(api),
        body=body,
        defines=defs,
        arena_bytes=dict(extra_defines).get("ARENA_BYTES"),
    )
