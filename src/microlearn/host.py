"""Compile C with the system compiler into a shared library, cached by content hash, and load it.

The cache lives under the user cache dir (``$MICROLEARN_CACHE_DIR`` overrides it), never in the current
directory. A library is keyed by the compiler's identity, the flags and every source byte, so the same C
is compiled once per machine however often tests or ``predict`` ask for it.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from microlearn import progress
from microlearn.errors import CompileError, ToolchainError

RUNTIME_C_DIR = Path(__file__).parent / "runtime" / "c"


def runtime_closure(names: Sequence[str]) -> list[str]:
    """The runtime headers ``names`` with every runtime header they include, sorted."""
    import re

    todo, seen = list(names), []
    while todo:
        h = todo.pop(0)
        if h in seen or not (RUNTIME_C_DIR / h).exists():
            continue
        seen.append(h)
        todo += re.findall(r'^#include "(ml_[a-z0-9_]+\.h)"', (RUNTIME_C_DIR / h).read_text(), re.MULTILINE)
    return sorted(seen)


DEFAULT_CFLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-fPIC", "-shared")
# Sources larger than this are compiled at -O0: gcc's optimiser is super-linear in the size of one
# function (a 1.4 MB "fast" forest: 130 s at -O2, 16 s at -O0) and a host check needs the C's semantics,
# not its speed (C99 mode keeps float contraction off at every level, so results are the same).
BIG_SOURCE_BYTES = 512 * 1024
DEFAULT_TIMEOUT_S = 600.0


def timeout_s() -> float:
    """Seconds a host compile may take (``$MICROLEARN_HOST_TIMEOUT`` overrides the default 600)."""
    try:
        return float(os.environ.get("MICROLEARN_HOST_TIMEOUT", DEFAULT_TIMEOUT_S))
    except ValueError:
        return DEFAULT_TIMEOUT_S


def cflags_for(sources: Mapping[str, str], cflags: Sequence[str] = DEFAULT_CFLAGS) -> tuple[str, ...]:
    """``cflags`` with -O2 lowered to -O0 for sources larger than :data:`BIG_SOURCE_BYTES`."""
    if sum(len(t) for t in sources.values()) <= BIG_SOURCE_BYTES:
        return tuple(cflags)
    return tuple("-O0" if f.startswith("-O") else f for f in cflags)


def cache_dir() -> Path:
    env = os.environ.get("MICROLEARN_CACHE_DIR")
    if env:
        base = Path(env)
    else:
        import platformdirs

        base = Path(platformdirs.user_cache_dir("microlearn"))
    path = base / "host"
    path.mkdir(parents=True, exist_ok=True)
    return path


def find_cc(cc: str | None = None) -> str:
    name = cc or os.environ.get("CC") or "cc"
    path = shutil.which(name)
    if path is None:
        raise ToolchainError(
            f"C compiler {name!r} not found: install one (Debian: apt-get install gcc) or set $CC"
        )
    return path


@functools.lru_cache(maxsize=8)
def _cc_identity(cc: str) -> str:
    out = subprocess.run([cc, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.splitlines()[0] if out.stdout else cc


def content_key(*parts: str | bytes) -> str:
    """A short stable hash of all parts, in order."""
    h = hashlib.sha256()
    for p in parts:
        b = p.encode() if isinstance(p, str) else p
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()[:24]


def compile_shared(
    sources: Mapping[str, str],
    *,
    include_dirs: Sequence[str | Path] = (),
    cflags: Sequence[str] = DEFAULT_CFLAGS,
    cc: str | None = None,
    timeout: float | None = None,
) -> Path:
    """Compile ``sources`` (file name -> text; ``.c`` files are compiled, others are headers beside them)
    into one shared library and return its path. Cached: the same inputs return the same file at once.
    The runtime headers are always on the include path. A compile running longer than ``timeout``
    seconds (default :func:`timeout_s`) is stopped with a :class:`ToolchainError`."""
    ccp = find_cc(cc)
    incs = [str(RUNTIME_C_DIR), *(str(d) for d in include_dirs)]
    header_bytes = []
    for d in incs:
        dp = Path(d)
        if dp.is_dir():
            for h in sorted(dp.glob("*.h")):
                header_bytes.append(h.name + "\0" + h.read_text())
    key = content_key(
        _cc_identity(ccp),
        "\0".join(cflags),
        "\0".join(incs),
        *header_bytes,
        *(f"{name}\0{text}" for name, text in sorted(sources.items())),
    )
    out = cache_dir() / f"lib{key}.so"
    if out.exists():
        return out
    with tempfile.TemporaryDirectory(prefix="microlearn-") as tmp:
        tdir = Path(tmp)
        for name, text in sources.items():
            (tdir / name).write_text(text)
        c_files = [str(tdir / n) for n in sorted(sources) if n.endswith(".c")]
        if not c_files:
            raise CompileError("compile_shared needs at least one .c source")
        tmp_out = tdir / "out.so"
        cmd = [ccp, *cflags, *(f"-I{d}" for d in incs), f"-I{tdir}", "-o", str(tmp_out), *c_files, "-lm"]
        limit = timeout_s() if timeout is None else timeout
        size = sum(len(t) for t in sources.values())
        try:
            with progress.busy(f"compiling {size / 1e6:,.1f} MB of C for this machine"):
                res = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=limit)
        except subprocess.TimeoutExpired:
            raise ToolchainError(
                f"compiling {size / 1e6:,.1f} MB of generated C took more than {limit:.0f} s and was "
                "stopped: "
                "use a smaller model or a method whose C compiles fast (table, packed), or allow more "
                "time with MICROLEARN_HOST_TIMEOUT=seconds"
            ) from None
        if res.returncode != 0:
            raise CompileError(f"C compilation failed:\n$ {' '.join(cmd)}\n{res.stderr}")
        staged = out.with_suffix(f".{os.getpid()}.tmp")
        shutil.copyfile(tmp_out, staged)
        os.replace(staged, out)  # atomic: parallel test workers never see half a library
    return out


def load_library(path: str | Path) -> ctypes.CDLL:
    return ctypes.CDLL(str(path))


def build(
    sources: Mapping[str, str],
    *,
    include_dirs: Sequence[str | Path] = (),
    cflags: Sequence[str] = DEFAULT_CFLAGS,
    cc: str | None = None,
    timeout: float | None = None,
) -> ctypes.CDLL:
    """Compile (or take from the cache) and load."""
    return load_library(
        compile_shared(sources, include_dirs=include_dirs, cflags=cflags, cc=cc, timeout=timeout)
    )
