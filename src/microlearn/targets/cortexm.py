"""Measure C on emulated Cortex-M CPUs: flash, RAM, stack, instructions per call, and the results.

Generic: :func:`measure` takes any C (``sources``) plus a glue text defining
``void ml_bench_entry(const void *in, void *out)`` and runs it over input blobs. :func:`measure_model`
is the tree-model case: the glue calls ``NAME_predict(x)`` and nothing else.

Sizes are attributed from the linker map against a baseline image whose glue does nothing: flash = code,
const data and .data image of the glue and user objects, plus every library member (libgcc soft-float,
libc, libm) that only the measured image pulls in, minus the baseline glue; RAM = their .data + .bss plus
the peak stack of one call (painted stack). Static frame sizes (``-fstack-usage``) go to ``extra``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from microlearn.errors import InvalidInputError
from microlearn.targets.armbuild import (
    ALIASES,
    CPUS,
    GLUE_OBJECT,
    HARNESS_OBJECTS,
    Cpu,
    Image,
    ObjectSizes,
    build_image,
    get_cpu,
)
from microlearn.targets.base import TargetRun
from microlearn.targets.emulator import Emulator

if TYPE_CHECKING:
    from microlearn.model import Model

__all__ = [
    "ALIASES",
    "BASELINE_GLUE",
    "CPUS",
    "Cpu",
    "SizeReport",
    "attribute_sizes",
    "get_cpu",
    "measure",
    "measure_model",
    "model_glue",
    "register_targets",
]

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
    syms = _function_symbols(image) - _function_symbols(baseline)
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
        softfloat_double=sorted(s for s in syms if s.startswith("__aeabi_d")),
        softfloat_float=sorted(s for s in syms if s.startswith("__aeabi_f")),
    )


@functools.lru_cache(maxsize=16)
def _symbols_of(elf: Path) -> frozenset[str]:
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

    with open(elf, "rb") as f:
        symtab = ELFFile(f).get_section_by_name(".symtab")
        if not isinstance(symtab, SymbolTableSection):
            return frozenset()
        return frozenset(
            s.name for s in symtab.iter_symbols() if s.name and s["st_info"]["type"] == "STT_FUNC"
        )


def _function_symbols(image: Image) -> frozenset[str]:
    return _symbols_of(image.elf)


def measure(
    sources: Mapping[str, str],
    glue: str,
    cpu: str,
    inputs: Sequence[bytes],
    out_size: int,
    *,
    include_dirs: Sequence[str | Path] = (),
    cflags: Sequence[str] = (),
) -> TargetRun:
    """Cross-compile ``sources`` + ``glue`` for ``cpu``, call ``ml_bench_entry`` once per input blob on the
    emulated CPU and measure. ``outputs`` is a ``(len(inputs), out_size)`` uint8 array of the output
    blobs (view it as the dtype the glue writes, e.g. ``run.outputs.view("<f4")``)."""
    c = get_cpu(cpu)
    image = build_image(sources, glue, c, include_dirs=include_dirs, cflags=cflags)
    baseline = build_image({}, BASELINE_GLUE, c, cflags=cflags)
    sizes = attribute_sizes(image, baseline)
    emu = Emulator(image)
    outs, counts = emu.run(inputs, out_size)
    peak = emu.peak_stack()
    outputs = np.frombuffer(b"".join(outs), dtype=np.uint8).reshape(len(outs), out_size).copy()
    extra = sizes.as_extra()
    extra.update(
        cpu=c.name,
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


Kind = Literal["classifier", "regressor"]


def model_glue(header_name: str, name: str, kind: Kind) -> str:
    """Glue for a generated tree model: one ``NAME_predict(x)`` call per input row."""
    if kind == "classifier":
        ctype = "int32_t"
    elif kind == "regressor":
        ctype = "float"
    else:
        raise InvalidInputError(f"kind must be 'classifier' or 'regressor', not {kind!r}")
    return f"""#include <stdint.h>

#include "ml_bench.h"
#include "{header_name}"

void ml_bench_entry(const void *in, void *out) {{
    *({ctype} *)out = {name}_predict((const float *)in);
}}
"""


def _rows(X: Any) -> npt.NDArray[np.float32]:
    A = np.asarray(X)
    if A.ndim != 2:
        raise InvalidInputError(f"X must be 2-D (rows x features), got shape {A.shape}")
    if not np.issubdtype(A.dtype, np.number):
        raise InvalidInputError(f"X must be numeric, got dtype {A.dtype}")
    return np.ascontiguousarray(A, dtype="<f4")


def measure_model(
    c_header_text: str,
    header_name: str,
    name: str,
    kind: Kind,
    X: Any,
    cpu: str,
) -> TargetRun:
    """Run a generated tree model (``NAME_predict``) over the rows of ``X`` on the emulated ``cpu``.
    ``outputs``: class indices (int32) for a classifier, float32 values for a regressor."""
    X32 = _rows(X)
    m = re.search(rf"^#define {re.escape(name.upper())}_N_FEATURES (\d+)", c_header_text, re.MULTILINE)
    if m is not None and X32.shape[1] != int(m.group(1)):
        raise InvalidInputError(f"X has {X32.shape[1]} columns; the model {name} takes {m.group(1)} features")
    glue = model_glue(header_name, name, kind)
    run = measure({header_name: c_header_text}, glue, cpu, [r.tobytes() for r in X32], 4)
    dtype = "<i4" if kind == "classifier" else "<f4"
    run.outputs = run.outputs.reshape(-1).view(dtype).astype(np.int32 if kind == "classifier" else np.float32)
    return run


def run_model(model: Model, X: npt.NDArray[np.float32], cpu: str) -> TargetRun:
    """A converted :class:`microlearn.Model` on an emulated CPU (the ``verify`` target)."""
    name = "mlmodel"
    kind: Kind = "classifier" if model.ir.task.value == "classify" else "regressor"
    return measure_model(model.to_c(name), f"{name}.h", name, kind, X, cpu)


def register_targets(targets: dict[str, Any]) -> None:
    """Add the Cortex-M CPUs (and their aliases) to ``microlearn.verify``'s target table."""
    for name in [*CPUS, *ALIASES]:
        targets.setdefault(name, functools.partial(run_model, cpu=name))
