"""Run a harness image's ``ml_bench_entry`` on an emulated CPU (unicorn) and count instructions.

The image's start-up code runs once (it copies .data, zeroes .bss and, on an FPU core, enables the FPU);
then every call starts from the same registers: SP at the top of the stack region, the return-address
register (LR, RA) at ``ml_bench_halt``, the first two argument registers pointing at the input and output
buffers. Instructions are counted per translated block (``UC_HOOK_BLOCK``) by decoding instruction
lengths (:func:`~.arch.instruction_count`), so Thumb instructions inside an IT block whose condition
fails count too, as on the CPU (a per-instruction hook would miss them). Peak stack is measured by
painting the stack region before the first call and finding the lowest word any call changed.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from microlearn import progress
from microlearn.errors import InvalidInputError, ToolchainError
from microlearn.targets.mcu.arch import instruction_count
from microlearn.targets.mcu.blockcount import NativeBlockCounter
from microlearn.targets.mcu.build import Image

PAINT = 0xA5C3E10F  # stack paint word (unlikely to be written by chance)
MAX_INSTRUCTIONS = 200_000_000  # per call: beyond this the call is taken to hang
HARNESS_SYMBOLS = (
    "ml_bench_entry",
    "ml_bench_halt",
    "main",
    "ml_bench_reset",
    "ml_bench_in",
    "ml_bench_out",
    "ml_bench_io_half",
    "ml_bench_stack_bottom",
    "ml_bench_stack_top",
)


def _regions(image: Image, syms: dict[str, int]) -> list[tuple[int, int]]:
    """Flash, RAM, stack, IO and the CPU's other regions, 4 KiB aligned and merged where they touch."""
    a = image.arch
    io = (syms["ml_bench_in"], 2 * syms["ml_bench_io_half"])
    stack = (syms["ml_bench_stack_bottom"], syms["ml_bench_stack_top"] - syms["ml_bench_stack_bottom"])
    spans = sorted(
        (base & ~0xFFF, (base + size + 0xFFF) & ~0xFFF)
        for base, size in (a.flash, a.ram, stack, io, *a.other_regions)
    )
    merged: list[list[int]] = []
    for lo, hi in spans:
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return [(lo, hi - lo) for lo, hi in merged]


class Emulator:
    """One unicorn instance for one image; call :meth:`run` as often as needed."""

    def __init__(
        self, image: Image, *, max_instructions: int = MAX_INSTRUCTIONS, native: bool | None = None
    ) -> None:
        """``native``: count with the C hook (True), the Python hook (False), or the C hook when the host
        compiler is there (None)."""
        uc_mod: Any = importlib.import_module("unicorn")
        from elftools.elf.elffile import ELFFile
        from elftools.elf.sections import SymbolTableSection

        self.image = image
        em = image.arch.emulation
        self._isa = image.arch.isa
        self._bit = em.code_bit
        K: Any = importlib.import_module(em.const_module)
        self._reg = {
            "sp": getattr(K, em.sp),
            "pc": getattr(K, em.pc),
            "link": getattr(K, em.link),
            "in": getattr(K, em.args[0]),
            "out": getattr(K, em.args[1]),
        }
        self._scratch = [getattr(K, r) for r in em.scratch]
        mode = 0
        for m in em.uc_modes:
            mode |= getattr(uc_mod, m)
        self._uc: Any = uc_mod.Uc(getattr(uc_mod, em.uc_arch), mode)
        uc = self._uc
        uc.ctl_set_cpu_model(getattr(K, em.uc_cpu))
        syms: dict[str, int] = {}
        segments: list[tuple[int, bytes]] = []
        with open(image.elf, "rb") as f:
            elf = ELFFile(f)
            for seg in elf.iter_segments():
                if seg["p_type"] == "PT_LOAD" and seg["p_filesz"] > 0:
                    segments.append((int(seg["p_paddr"]), seg.data()))
            symtab = elf.get_section_by_name(".symtab")
            if not isinstance(symtab, SymbolTableSection):
                raise ToolchainError(f"{image.elf} has no symbol table")
            for s in symtab.iter_symbols():
                if s.name:
                    syms[s.name] = int(s["st_value"])
        missing = [s for s in HARNESS_SYMBOLS if s not in syms]
        if missing:
            raise ToolchainError(f"{image.elf} lacks harness symbols {missing}: was it built by build_image?")
        for base, size in _regions(image, syms):
            uc.mem_map(base, size)
        fbase, fsize = image.arch.flash
        flash = bytearray()
        for addr, data in segments:
            uc.mem_write(addr, data)  # the load image (flash); start-up code copies .data
            if fbase <= addr and addr + len(data) <= fbase + fsize:
                end = addr - fbase + len(data)
                flash.extend(bytes(max(0, end - len(flash))))
                flash[addr - fbase : end] = data
        mask = ~self._bit
        self._entry = syms["ml_bench_entry"] & mask
        self._halt = syms["ml_bench_halt"] & mask
        self._main = syms["main"] & mask
        reset = syms["ml_bench_reset"] & mask
        self.in_addr = syms["ml_bench_in"]
        self.out_addr = syms["ml_bench_out"]
        self.io_size = syms["ml_bench_io_half"]
        self.stack_bottom = syms["ml_bench_stack_bottom"]
        self.stack_top = syms["ml_bench_stack_top"]
        self._blocks: dict[tuple[int, int], int] = {}
        self._count = 0
        self._limit = max_instructions
        self._native: NativeBlockCounter | None = None
        if native is not False:
            try:
                self._native = NativeBlockCounter(uc, bytes(flash), fbase, max_instructions, self._isa)
            except (ToolchainError, ImportError, AttributeError):
                if native:
                    raise
        if self._native is None:
            uc.hook_add(uc_mod.UC_HOOK_BLOCK, self._on_block)
        # start-up code, as on the CPU: up to main
        uc.reg_write(self._reg["sp"], self.stack_top)
        self._call(reset, self._main, "the start-up code")
        self._paint()

    def _on_block(self, uc: Any, address: int, size: int, _data: Any) -> None:
        key = (address, size)
        n = self._blocks.get(key)
        if n is None:
            n = instruction_count(self._isa, bytes(uc.mem_read(address, size)))
            self._blocks[key] = n
        self._count += n
        if self._count > self._limit:
            uc.emu_stop()

    def _call(self, start: int, until: int, what: str) -> int:
        uc_mod: Any = importlib.import_module("unicorn")

        self._count = 0
        if self._native is not None:
            self._native.reset()
        try:
            self._uc.emu_start(start | self._bit, until)
        except uc_mod.UcError as e:
            pc = self._uc.reg_read(self._reg["pc"])
            raise ToolchainError(
                f"{what} faulted on the emulated {self.image.arch.name} at pc=0x{pc:08x}: {e} "
                "(an out-of-bounds access or an unsupported instruction in the measured C)"
            ) from e
        if self._native is not None:
            if self._native.uncounted:
                raise ToolchainError(f"{what} ran code outside flash; its instructions cannot be counted")
            self._count = self._native.count
        pc = self._uc.reg_read(self._reg["pc"])
        if pc & ~self._bit != until:
            raise ToolchainError(
                f"{what} did not return within {self._limit:,} instructions (pc=0x{pc:08x}): it hangs"
            )
        return self._count

    def _paint(self) -> None:
        n = (self.stack_top - self.stack_bottom) // 4
        self._uc.mem_write(self.stack_bottom, PAINT.to_bytes(4, "little") * n)

    def peak_stack(self) -> int:
        """Deepest stack use (bytes below the top) of any call since the emulator was made."""
        raw = bytes(self._uc.mem_read(self.stack_bottom, self.stack_top - self.stack_bottom))
        words = np.frombuffer(raw, dtype="<u4")
        touched = np.nonzero(words != PAINT)[0]
        if len(touched) == 0:
            return 0
        return int(self.stack_top - (self.stack_bottom + 4 * int(touched[0])))

    def run(self, inputs: Sequence[bytes], out_size: int) -> tuple[list[bytes], npt.NDArray[np.int64]]:
        """Call ``ml_bench_entry`` once per input blob; return the output blobs (``out_size`` bytes each)
        and the exact number of instructions each call executed (entry to return)."""
        uc = self._uc
        reg = self._reg
        if out_size < 0 or out_size > self.io_size:
            raise InvalidInputError(f"output size {out_size} must be between 0 and {self.io_size} bytes")
        outs: list[bytes] = []
        counts = np.empty(len(inputs), dtype=np.int64)
        zero_out = bytes(out_size)
        what = f"emulating {self.image.arch.name}"
        rows = progress.bar(enumerate(inputs), what, total=len(inputs), unit="row")
        for i, blob in rows:
            if len(blob) > self.io_size:
                raise InvalidInputError(
                    f"input {i} has {len(blob)} bytes; the harness takes at most {self.io_size}"
                )
            uc.mem_write(self.in_addr, bytes(blob))
            uc.mem_write(self.out_addr, zero_out)
            for r in self._scratch:
                uc.reg_write(r, 0)
            uc.reg_write(reg["in"], self.in_addr)
            uc.reg_write(reg["out"], self.out_addr)
            uc.reg_write(reg["sp"], self.stack_top)
            uc.reg_write(reg["link"], self._halt | self._bit)
            counts[i] = self._call(self._entry, self._halt, f"call {i} of ml_bench_entry")
            outs.append(bytes(uc.mem_read(self.out_addr, out_size)))
        return outs, counts
