"""Run a harness image's ``ml_bench_entry`` on an emulated Cortex-M CPU (unicorn) and count instructions.

The image's reset handler runs once (it copies .data, zeroes .bss and, on an FPU core, enables the FPU);
then every call starts from the same registers: SP at the top of the stack region, LR at ``ml_bench_halt``,
r0/r1 pointing at the input and output buffers. Instructions are counted per translated block
(``UC_HOOK_BLOCK``) by decoding Thumb instruction lengths, so instructions inside an IT block whose
condition fails count too, as on the CPU (a per-instruction hook would miss them).
Peak stack is measured by painting the stack region before the first call and finding the lowest
word any call changed.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from microlearn.errors import InvalidInputError, ToolchainError
from microlearn.targets.armbuild import Image
from microlearn.targets.blockcount import NativeBlockCounter

FLASH = (0x00000000, 0x00400000)
RAM = (0x20000000, 0x00400000)
PPB = (0xE0000000, 0x00100000)  # system control space as plain memory (start-up code writes CPACR there)
PAINT = 0xA5C3E10F  # stack paint word (unlikely to be written by chance)
MAX_INSTRUCTIONS = 200_000_000  # per call: beyond this the call is taken to hang


def thumb_instruction_count(code: bytes) -> int:
    """Number of Thumb instructions in ``code`` (a 32-bit instruction starts with 0b11101/0b11110/0b11111)."""
    n = i = 0
    end = len(code) - 1
    while i < end:
        hw = code[i] | (code[i + 1] << 8)
        i += 4 if (hw >> 11) >= 0x1D else 2
        n += 1
    return n


class Emulator:
    """One unicorn instance for one image; call :meth:`run` as often as needed."""

    def __init__(
        self, image: Image, *, max_instructions: int = MAX_INSTRUCTIONS, native: bool | None = None
    ) -> None:
        """``native``: count with the C hook (True), the Python hook (False), or the C hook when the host
        compiler is there (None)."""
        uc_mod: Any = importlib.import_module("unicorn")
        arm_const: Any = importlib.import_module("unicorn.arm_const")
        from elftools.elf.elffile import ELFFile
        from elftools.elf.sections import SymbolTableSection

        self.image = image
        A: Any = arm_const
        self._A = A
        self._uc: Any = uc_mod.Uc(uc_mod.UC_ARCH_ARM, uc_mod.UC_MODE_THUMB | uc_mod.UC_MODE_MCLASS)
        uc = self._uc
        uc.ctl_set_cpu_model(getattr(A, image.cpu.unicorn_model))
        for base, size in (FLASH, RAM, PPB):
            uc.mem_map(base, size)
        flash = bytearray()
        with open(image.elf, "rb") as f:
            elf = ELFFile(f)
            for seg in elf.iter_segments():
                if seg["p_type"] != "PT_LOAD" or seg["p_filesz"] == 0:
                    continue
                addr, data = int(seg["p_paddr"]), seg.data()
                uc.mem_write(addr, data)  # load image (flash); reset copies .data
                if addr + len(data) <= FLASH[0] + FLASH[1]:
                    end = addr - FLASH[0] + len(data)
                    flash.extend(bytes(max(0, end - len(flash))))
                    flash[addr - FLASH[0] : end] = data
            syms = {}
            symtab = elf.get_section_by_name(".symtab")
            if not isinstance(symtab, SymbolTableSection):
                raise ToolchainError(f"{image.elf} has no symbol table")
            for s in symtab.iter_symbols():
                if s.name:
                    syms[s.name] = int(s["st_value"])
        try:
            self._entry = syms["ml_bench_entry"] & ~1
            self._halt = syms["ml_bench_halt"] & ~1
            self._main = syms["main"] & ~1
            reset = syms["ml_bench_reset"] & ~1
            self.in_addr = syms["ml_bench_in"]
            self.out_addr = syms["ml_bench_out"]
            self.io_size = syms["ml_bench_io_half"]
            self.stack_bottom = syms["ml_bench_stack_bottom"]
            self.stack_top = syms["ml_bench_stack_top"]
        except KeyError as e:
            raise ToolchainError(f"{image.elf} lacks harness symbol {e}: was it built by build_image?") from e
        self._blocks: dict[tuple[int, int], int] = {}
        self._count = 0
        self._limit = max_instructions
        self._native: NativeBlockCounter | None = None
        if native is not False:
            try:
                self._native = NativeBlockCounter(uc, bytes(flash), FLASH[0], max_instructions)
            except (ToolchainError, ImportError, AttributeError):
                if native:
                    raise
        if self._native is None:
            uc.hook_add(uc_mod.UC_HOOK_BLOCK, self._on_block)
        # start-up code, as on the CPU: up to main
        uc.reg_write(A.UC_ARM_REG_SP, self.stack_top)
        self._call(reset, self._main, "the reset handler")
        self._paint()

    def _on_block(self, uc: Any, address: int, size: int, _data: Any) -> None:
        key = (address, size)
        n = self._blocks.get(key)
        if n is None:
            n = thumb_instruction_count(bytes(uc.mem_read(address, size)))
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
            self._uc.emu_start(start | 1, until)
        except uc_mod.UcError as e:
            pc = self._uc.reg_read(self._A.UC_ARM_REG_PC)
            raise ToolchainError(
                f"{what} faulted on the emulated {self.image.cpu.name} at pc=0x{pc:08x}: {e} "
                "(an out-of-bounds access or an unsupported instruction in the measured C)"
            ) from e
        if self._native is not None:
            if self._native.uncounted:
                raise ToolchainError(f"{what} ran code outside flash; its instructions cannot be counted")
            self._count = self._native.count
        pc = self._uc.reg_read(self._A.UC_ARM_REG_PC)
        if pc & ~1 != until:
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
        A: Any = self._A
        uc = self._uc
        if out_size < 0 or out_size > self.io_size:
            raise InvalidInputError(f"output size {out_size} must be between 0 and {self.io_size} bytes")
        outs: list[bytes] = []
        counts = np.empty(len(inputs), dtype=np.int64)
        zero_out = bytes(out_size)
        regs = [getattr(A, f"UC_ARM_REG_R{i}") for i in range(2, 13)]
        for i, blob in enumerate(inputs):
            if len(blob) > self.io_size:
                raise InvalidInputError(
                    f"input {i} has {len(blob)} bytes; the harness takes at most {self.io_size}"
                )
            uc.mem_write(self.in_addr, bytes(blob))
            uc.mem_write(self.out_addr, zero_out)
            for r in regs:
                uc.reg_write(r, 0)
            uc.reg_write(A.UC_ARM_REG_R0, self.in_addr)
            uc.reg_write(A.UC_ARM_REG_R1, self.out_addr)
            uc.reg_write(A.UC_ARM_REG_SP, self.stack_top)
            uc.reg_write(A.UC_ARM_REG_LR, self._halt | 1)
            counts[i] = self._call(self._entry, self._halt, f"call {i} of ml_bench_entry")
            outs.append(bytes(uc.mem_read(self.out_addr, out_size)))
        return outs, counts
