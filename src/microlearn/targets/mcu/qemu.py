"""Run the same harness code on QEMU (the CPU's ``Arch.qemu`` board) as an independent check.

The image's main (``harness/common/ml_bench_semihost.c``) calls ``ml_bench_entry`` on each row stored in
flash and prints the output bytes as hex through semihosting. With ``-d in_asm,exec,nochain`` QEMU logs every
translated block once and every execution of a block, from which the instructions of each call (from
``ml_bench_entry`` to the return into main) are counted, independently of unicorn.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from microlearn.errors import InvalidInputError, ToolchainError
from microlearn.targets.mcu.arch import Arch, get_arch
from microlearn.targets.mcu.build import build_image


@dataclass
class QemuRun:
    outputs: list[bytes]
    instructions: npt.NDArray[np.int64]  # per call, from QEMU's execution log


def _rows_c(inputs: Sequence[bytes], in_size: int, out_size: int) -> str:
    data = b"".join(inputs)
    body = ",".join(str(b) for b in data) or "0"
    return (
        "#include <stdint.h>\n"
        f"const uint8_t ml_bench_rows[] = {{{body}}};\n"
        f"const uint32_t ml_bench_n_rows = {len(inputs)}u;\n"
        f"const uint32_t ml_bench_in_size = {in_size}u;\n"
        f"const uint32_t ml_bench_out_size = {out_size}u;\n"
    )


def _function_range(elf: Path, name: str) -> tuple[int, int]:
    """[start, end) of function ``name`` (the Thumb bit cleared)."""
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

    with open(elf, "rb") as f:
        symtab = ELFFile(f).get_section_by_name(".symtab")
        if isinstance(symtab, SymbolTableSection):
            syms = symtab.get_symbol_by_name(name)
            if syms:
                start = int(syms[0]["st_value"]) & ~1
                return start, start + max(1, int(syms[0]["st_size"]))
    raise ToolchainError(f"{elf} has no symbol {name}")


_IN = re.compile(r"^IN:")
_INSN = re.compile(r"^0x([0-9a-f]+):")
_TRACE = re.compile(r"^Trace \d+: 0x[0-9a-f]+ \[[0-9a-f]+/([0-9a-f]+)/")


def count_calls(log: str, entry: int, caller: tuple[int, int]) -> list[int]:
    """Instructions per call of ``entry`` from a QEMU ``-d in_asm,exec,nochain`` log: from the block at
    ``entry`` up to the first block back in the ``caller`` function's address range (a call ends a
    translated block, so the return address starts a new one)."""
    sizes: dict[int, int] = {}
    counts: list[int] = []
    current: int | None = None
    block_pc: int | None = None
    for line in log.splitlines():
        if _IN.match(line):
            block_pc = None
            continue
        m = _INSN.match(line)
        if m:
            pc = int(m.group(1), 16)
            if block_pc is None:
                block_pc = pc
                sizes[pc] = 0
            sizes[block_pc] += 1
            continue
        t = _TRACE.match(line)
        if t:
            block_pc = None
            pc = int(t.group(1), 16)
            if pc == entry:
                current = 0
            elif caller[0] <= pc < caller[1] and current is not None:
                counts.append(current)
                current = None
            if current is not None:
                current += sizes[pc]
    return counts


def run_qemu(
    sources: Mapping[str, str],
    glue: str,
    inputs: Sequence[bytes],
    out_size: int,
    *,
    cpu: str | Arch = "cortex-m4f",
    timeout: float = 60.0,
) -> QemuRun:
    """Run ``ml_bench_entry`` over ``inputs`` in QEMU; outputs and instructions per call."""
    c = get_arch(cpu)
    q = c.qemu
    if q is None:
        raise InvalidInputError(f"no QEMU board for {c.name}")
    if not 0 < out_size <= 256:
        raise InvalidInputError("the QEMU harness prints 1 to 256 output bytes per call")
    sizes = {len(b) for b in inputs}
    if len(sizes) != 1:
        raise InvalidInputError("the QEMU harness needs inputs of one size")
    qemu = shutil.which(q.binary)
    if qemu is None:
        raise ToolchainError(
            f"{q.binary} not found: install it (Debian/Ubuntu: apt-get install {q.apt_package})"
        )
    srcs = dict(sources)
    srcs["ml_bench_rows.c"] = _rows_c(inputs, sizes.pop(), out_size)
    image = build_image(srcs, glue, c, main="ml_bench_semihost.c", ldscript=q.ldscript)
    entry = _function_range(image.elf, "ml_bench_entry")[0]
    caller = _function_range(image.elf, "main")
    with tempfile.TemporaryDirectory(prefix="microlearn-qemu-") as tmp:
        log = Path(tmp) / "exec.log"
        out = Path(tmp) / "semihosting.txt"
        cmd = [
            qemu,
            "-M",
            q.machine,
            *q.args,
            "-nographic",
            "-monitor",
            "none",
            "-serial",
            "none",
            "-semihosting-config",
            "enable=on,target=native,chardev=semi",
            "-chardev",
            f"file,id=semi,path={out}",
            "-d",
            "in_asm,exec,nochain",
            "-D",
            str(log),
            "-kernel",
            str(image.elf),
        ]
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as e:
            raise ToolchainError(f"QEMU did not finish within {timeout} s: {' '.join(cmd)}") from e
        if res.returncode == 1 and not res.stderr.strip():  # the harness's fault handler ended the run
            done = len([ln for ln in out.read_text().splitlines() if ln.strip()]) if out.exists() else 0
            raise ToolchainError(
                f"call {done} of ml_bench_entry faulted on QEMU's {q.machine} ({c.name}): an out-of-bounds "
                "access or an unsupported instruction in the measured C"
            )
        if res.returncode != 0:
            raise ToolchainError(f"QEMU failed ({res.returncode}):\n{res.stderr}")
        counts = count_calls(log.read_text(), entry, caller)
        lines = [ln for ln in out.read_text().splitlines() if ln.strip()]
    outputs = [bytes.fromhex(ln.strip()) for ln in lines]
    return QemuRun(outputs=outputs, instructions=np.asarray(counts, dtype=np.int64))
