"""One record per microcontroller CPU: everything the generic build, emulator and QEMU check need to know.

A new MCU is one :class:`Arch` here plus its harness folder (``targets/harness/<harness>/``: start-up
code ``ml_bench_startup.c`` defining ``ml_bench_reset``, ``ml_bench_halt`` and a fault handler that ends a
QEMU run, the semihosting call in ``ml_bench_arch.h``, and the memory map ``ml_bench.ld`` that INCLUDEs
``common/ml_bench_sections.ld``); CPUs of one family share a folder.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from microlearn.errors import InvalidInputError

Region = tuple[int, int]  # (base address, size in bytes)


@dataclass(frozen=True)
class Emulation:
    """How unicorn runs this CPU: names of the constants in ``unicorn`` / ``const_module``."""

    uc_arch: str  # "UC_ARCH_ARM"
    uc_modes: tuple[str, ...]  # OR-ed together: ("UC_MODE_THUMB", "UC_MODE_MCLASS")
    uc_cpu: str  # CPU model constant in const_module, e.g. "UC_CPU_ARM_CORTEX_M4"
    const_module: str  # "unicorn.arm_const"
    sp: str  # register constants (in const_module)
    pc: str
    link: str  # return-address register: the harness points it at ml_bench_halt
    args: tuple[str, str]  # first two argument registers: in, out
    scratch: tuple[str, ...]  # zeroed before every call, so calls start alike
    code_bit: int = 0  # OR-ed into code addresses (1: the Thumb bit)


@dataclass(frozen=True)
class Qemu:
    """The QEMU system emulator that cross-checks outputs and instruction counts."""

    binary: str  # "qemu-system-arm"
    machine: str  # "-M" value
    apt_package: str
    ldscript: str = "ml_bench.ld"  # the harness memory map that fits this board
    args: tuple[str, ...] = ()  # further arguments, e.g. ("-bios", "none")


@dataclass(frozen=True)
class Arch:
    """A CPU a model can be measured on."""

    name: str
    description: str
    gcc: str  # cross compiler (binutils are found beside it)
    apt_packages: str  # what to install when it is missing
    cflags: tuple[str, ...]  # CPU flags, used for compiling and linking
    ldflags: tuple[str, ...]  # C library selection etc. (with -nostartfiles, --gc-sections added)
    harness: str  # folder under targets/harness/
    flash: Region
    ram: Region  # .data/.bss; the stack and IO regions are found from harness symbols
    emulation: Emulation
    isa: str  # instruction decoder: "thumb" (16/32-bit Thumb-2) or "rvc" (RISC-V with compressed)
    # regex matching the soft-float library routines; its first group that matched starts with "d" for a
    # routine on double, "s" or "f" for one on float (a conversion counts by its source type)
    softfloat_pattern: str
    qemu: Qemu | None = None
    other_regions: tuple[Region, ...] = ()  # further memory the emulator maps (e.g. Arm's system space)
    libs: tuple[str, ...] = ("-lm",)
    aliases: tuple[str, ...] = ()

    def softfloat(self, symbols: Iterable[str]) -> tuple[list[str], list[str]]:
        """The soft-float routines among ``symbols``: (those on double, those on float), sorted."""
        pattern = re.compile(self.softfloat_pattern)
        double: list[str] = []
        single: list[str] = []
        for s in sorted(symbols):
            m = pattern.match(s)
            if m:
                mode = next(g for g in m.groups() if g)
                (double if mode[0] == "d" else single).append(s)
        return double, single


# libgcc's generic names: __adddf3, __ledf2, __fixdfsi, __floatsidf, __truncdfsf2 / __addsf3, __extendsfdf2:
# the first floating mode in the name (a conversion by its source, int -> float by its result)
_GENERIC_SOFTFLOAT = r"^__[a-z]+?([sd]f)(?:si|di|ti|sf|df)?[0-9]?$"


def _cortex_m(
    name: str, description: str, cflags: tuple[str, ...], uc_cpu: str, qemu: Qemu, aliases: tuple[str, ...]
) -> Arch:
    return Arch(
        name=name,
        description=description,
        gcc="arm-none-eabi-gcc",
        apt_packages="gcc-arm-none-eabi libnewlib-arm-none-eabi binutils-arm-none-eabi",
        cflags=cflags,
        ldflags=("--specs=nano.specs",),
        harness="cortex-m",
        flash=(0x00000000, 0x00400000),
        ram=(0x20000000, 0x00400000),
        other_regions=((0xE0000000, 0x00100000),),  # system control space (start-up writes CPACR there)
        emulation=Emulation(
            uc_arch="UC_ARCH_ARM",
            uc_modes=("UC_MODE_THUMB", "UC_MODE_MCLASS"),
            uc_cpu=uc_cpu,
            const_module="unicorn.arm_const",
            sp="UC_ARM_REG_SP",
            pc="UC_ARM_REG_PC",
            link="UC_ARM_REG_LR",
            args=("UC_ARM_REG_R0", "UC_ARM_REG_R1"),
            scratch=tuple(f"UC_ARM_REG_R{i}" for i in range(2, 13)),
            code_bit=1,
        ),
        isa="thumb",
        # run-time ABI names: __aeabi_dadd, __aeabi_cdcmple, __aeabi_d2f, __aeabi_i2d ... / __aeabi_fadd,
        # __aeabi_f2d, __aeabi_ui2f ...
        softfloat_pattern=r"^__aeabi_(?:c?([df])[a-z0-9]*|[uil]+2([df]))$",
        qemu=qemu,
        aliases=aliases,
    )


CORTEX_M4F = _cortex_m(
    "cortex-m4f",
    "Cortex-M4 with single-precision FPU (ARMv7E-M, hard float)",
    ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"),
    "UC_CPU_ARM_CORTEX_M4",
    Qemu("qemu-system-arm", "mps2-an386", "qemu-system-arm"),
    ("m4f",),
)

# unicorn has no M0+ model; its Cortex-M0 runs the same ARMv6-M instruction set. QEMU's microbit board
# (nRF51, Cortex-M0) has little memory: its own memory map.
CORTEX_M0PLUS = _cortex_m(
    "cortex-m0plus",
    "Cortex-M0+ (ARMv6-M, no FPU: float arithmetic in libgcc)",
    ("-mcpu=cortex-m0plus", "-mthumb", "-mfloat-abi=soft"),
    "UC_CPU_ARM_CORTEX_M0",
    Qemu("qemu-system-arm", "microbit", "qemu-system-arm", ldscript="ml_bench_microbit.ld"),
    ("m0plus", "m0+", "cortex-m0+"),
)

RV32IMC = Arch(
    name="rv32imc",
    description="RISC-V RV32IMC (ESP32-C3, CH32V class; no FPU: float arithmetic in libgcc)",
    gcc="riscv64-unknown-elf-gcc",
    apt_packages="gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf",
    cflags=("-march=rv32imc", "-mabi=ilp32", "--specs=picolibc.specs"),  # picolibc's headers and libraries
    ldflags=(),
    harness="rv32",
    flash=(0x80000000, 0x00400000),
    ram=(0x80400000, 0x00200000),
    emulation=Emulation(
        uc_arch="UC_ARCH_RISCV",
        uc_modes=("UC_MODE_RISCV32",),
        uc_cpu="UC_CPU_RISCV32_BASE32",
        const_module="unicorn.riscv_const",
        sp="UC_RISCV_REG_SP",
        pc="UC_RISCV_REG_PC",
        link="UC_RISCV_REG_RA",
        args=("UC_RISCV_REG_A0", "UC_RISCV_REG_A1"),
        scratch=(
            *(f"UC_RISCV_REG_A{i}" for i in range(2, 8)),
            *(f"UC_RISCV_REG_T{i}" for i in range(7)),
            *(f"UC_RISCV_REG_S{i}" for i in range(12)),
            "UC_RISCV_REG_GP",
            "UC_RISCV_REG_TP",
        ),
    ),
    isa="rvc",
    softfloat_pattern=_GENERIC_SOFTFLOAT,
    qemu=Qemu("qemu-system-riscv32", "virt", "qemu-system-misc", args=("-bios", "none")),
    aliases=("riscv32", "esp32c3", "esp32-c3"),
)

ARCHS: dict[str, Arch] = {a.name: a for a in (CORTEX_M4F, CORTEX_M0PLUS, RV32IMC)}
ALIASES: dict[str, str] = {alias: a.name for a in ARCHS.values() for alias in a.aliases}


def get_arch(name: str | Arch) -> Arch:
    """The CPU called ``name`` (or one of its aliases)."""
    if isinstance(name, Arch):
        return name
    key = ALIASES.get(name.lower(), name.lower())
    arch = ARCHS.get(key)
    if arch is None:
        raise InvalidInputError(
            f"unknown CPU {name!r}; choose one of {sorted(ARCHS)} (aliases {sorted(ALIASES)})"
        )
    return arch


def instruction_count(isa: str, code: bytes) -> int:
    """Number of instructions in ``code`` (one translated block) for the instruction set ``isa``."""
    n = i = 0
    end = len(code) - 1
    if isa == "thumb":  # a 32-bit instruction's first halfword starts with 0b11101, 0b11110 or 0b11111
        while i < end:
            hw = code[i] | (code[i + 1] << 8)
            i += 4 if (hw >> 11) >= 0x1D else 2
            n += 1
    elif isa == "rvc":  # low two bits 0b11: 32-bit; otherwise a 16-bit compressed instruction
        while i < end:
            i += 4 if (code[i] & 3) == 3 else 2
            n += 1
    else:
        raise InvalidInputError(f"unknown instruction set {isa!r}")
    return n


ISA_CODES = {"thumb": 0, "rvc": 1}  # the native block counter's decoder switch
