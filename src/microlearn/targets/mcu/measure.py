"""Measure C on an emulated microcontroller CPU: flash, RAM, stack, instructions per call, and the results.

:func:`measure` takes any C (``sources``) plus a glue text defining
``void ml_bench_entry(const void *in, void *out)`` and runs it over input blobs.

Sizes are attributed from the linker map against a baseline image whose glue does nothing: flash = code,
const data and .data image of the glue and user objects, plus every library member (libgcc soft-float,
libc, libm) that only the measured image pulls in, minus the baseline glue; RAM = their .data + .bss plus
the peak stack of one call (painted stack). Static frame sizes (``-fstack-usage``) go to ``extra``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from microlearn.targets.base import TargetRun
from microlearn.targets.mcu.arch import Arch, get_arch
from microlearn.targets.mcu.build import GLUE_OBJECT, HARNESS_OBJECTS, Image, ObjectSizes, build_image
from microlearn.targets.mcu.emulator import Emulator

BASELINE_GLUE = """#include "ml_bench.h"

void ml_bench_entry(const void *in, void *out) {
    (void)in;
    (void)out;
}
"""


@dataclass
class SizeReport:
    """What the measured code costs in flash and static RAM, and where it comes from."""

    code_bytes: int
    const_bytes: int
    data_bytes: int
    bss_bytes: int
    library_bytes: int  # code, const and data of the library members only the measured image pulls in
    library_members: dict[str, int]  # "libgcc.a(adddf3.o)" -> flash bytes
    static_ram_bytes: int
    image_flash_delta: int  # whole image minus baseline, from the ELF section headers
    image_ram_delta: int
    softfloat_double: list[str]
    softfloat_float: list[str]

    @property
    def flash_bytes(self) -> int:
        return self.code_bytes + self.const_bytes + self.data_bytes + self.library_bytes

    def as_extra(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("static_ram_bytes")
        return d


def attribute_sizes(image: Image, baseline: Image) -> SizeReport:
    """Sizes of the glue and user objects plus the library members that only ``image`` pulls in, minus
    the baseline's (empty) glue, from the linker maps of ``image`` and ``baseline``."""
    own = [o for o in image.objects if "(" not in o and o not in HARNESS_OBJECTS]
    pulled = [m for m in image.objects if "(" in m and m not in baseline.objects]
    base_glue = baseline.objects.get(GLUE_OBJECT, ObjectSizes())

    def total(names: Sequence[str], attr: str) -> int:
        return sum(getattr(image.objects.get(n, ObjectSizes()), attr) for n in names)

    data = total(own, "data") - base_glue.data
    bss = total(own + pulled, "bss") - base_glue.bss
    double, single = image.arch.softfloat(_function_symbols(image.elf) - _function_symbols(baseline.elf))
    return SizeReport(
        code_bytes=total(own, "text") - base_glue.text,
        const_bytes=total(own, "rodata") - base_glue.rodata,
        data_bytes=data,
        bss_bytes=bss,
        library_bytes=total(pulled, "flash"),
        library_members={m: image.objects[m].flash for m in pulled},
        static_ram_bytes=data + total(pulled, "data") + bss,
        image_flash_delta=image.section_flash - baseline.section_flash,
        image_ram_delta=image.section_ram - baseline.section_ram,
        softfloat_double=double,
        softfloat_float=single,
    )


@functools.lru_cache(maxsize=16)
def _function_symbols(elf: Path) -> frozenset[str]:
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

    with open(elf, "rb") as f:
        symtab = ELFFile(f).get_section_by_name(".symtab")
        if not isinstance(symtab, SymbolTableSection):
            return frozenset()
        return frozenset(
            s.name for s in symtab.iter_symbols() if s.name and s["st_info"]["type"] == "STT_FUNC"
        )


def measure(
    sources: Mapping[str, str],
    glue: str,
    cpu: str | Arch,
    inputs: Sequence[bytes],
    out_size: int,
    *,
    include_dirs: Sequence[str | Path] = (),
    cflags: Sequence[str] = (),
) -> TargetRun:
    """Cross-compile ``sources`` + ``glue`` for ``cpu`` (an :class:`~.arch.Arch` or its name), call
    ``ml_bench_entry`` once per input blob on the emulated CPU and measure. ``outputs`` is a
    ``(len(inputs), out_size)`` uint8 array of the output blobs (view it as the dtype the glue writes,
    e.g. ``run.outputs.view("<f4")``)."""
    arch = get_arch(cpu)
    image = build_image(sources, glue, arch, include_dirs=include_dirs, cflags=cflags)
    baseline = build_image({}, BASELINE_GLUE, arch, cflags=cflags)
    sizes = attribute_sizes(image, baseline)
    emu = Emulator(image)
    outs, counts = emu.run(inputs, out_size)
    peak = emu.peak_stack()
    outputs = np.frombuffer(b"".join(outs), dtype=np.uint8).reshape(len(outs), out_size).copy()
    extra = sizes.as_extra()
    extra.update(
        cpu=arch.name,
        static_ram_bytes=sizes.static_ram_bytes,
        stack_usage=dict(image.stack_usage),
        instructions=counts,
        elf=str(image.elf),
    )
    return TargetRun(
        outputs=outputs,
        flash_bytes=sizes.flash_bytes,
        ram_bytes=sizes.static_ram_bytes + peak,
        stack_bytes=peak,
        instructions_mean=float(counts.mean()) if len(counts) else None,
        instructions_min=int(counts.min()) if len(counts) else None,
        instructions_max=int(counts.max()) if len(counts) else None,
        extra=extra,
    )


def describe(
    run_extra: Mapping[str, Any], stack_bytes: int | None, arena_bytes: int | None = None
) -> list[str]:
    """Lines splitting an MCU run's costs: code, const, library members, static RAM, stack (and the
    network's activation arena within it), soft float."""
    e = run_extra
    lib = e.get("library_members", {})
    arena = "" if arena_bytes is None else f" (of which activation arena {arena_bytes:,} B)"
    return [
        f"code {e['code_bytes']:,} B + const {e['const_bytes']:,} B + library {e['library_bytes']:,} B "
        f"({len(lib)} members); static RAM {e['static_ram_bytes']:,} B + peak stack {stack_bytes or 0:,} B"
        + arena,
        f"soft-float double routines: {', '.join(e['softfloat_double']) or 'none'}",
        f"soft-float single routines: {', '.join(e['softfloat_float']) or 'none'}",
    ]
