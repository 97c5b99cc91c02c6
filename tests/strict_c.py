"""Compile a generated header's caller with every warning as an error (C99 and C++11), for the tests that
check the generated C builds cleanly in a user's project."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

STRICT = ["-Wall", "-Wextra", "-Wpedantic", "-Wconversion", "-Wshadow", "-Wdouble-promotion", "-Werror"]


def need(compiler: str) -> None:
    if shutil.which(compiler) is None:
        pytest.skip(f"{compiler} is not installed")


def compile_strict(compiler: str, std: str, flags: Sequence[str], include: Path, src: Path) -> None:
    """Compile ``src`` to an object file (``include`` on the path); no warning may be printed."""
    cmd = [compiler, std, *STRICT, *flags, "-I", str(include), "-c", "-o", str(include / "o.o"), str(src)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0 and res.stderr == "", res.stderr
