"""A native ``UC_HOOK_BLOCK`` callback that counts instructions, compiled with the host C compiler.

unicorn calls a Python hook once per executed block (about a microsecond each); a tree walk runs hundreds
of blocks per inference. This hook, in C, decodes instruction lengths (Thumb-2 or RISC-V with compressed
instructions, as :func:`~.arch.instruction_count`) from a copy of the flash image and
adds them to a counter in its user data, and stops the emulation past a limit, at native speed. The
counts are the same as the Python hook's (a test checks it); without a host compiler the emulator keeps
the Python hook.
"""

from __future__ import annotations

import ctypes
import importlib
from typing import Any

from microlearn import host
from microlearn.targets.mcu.arch import ISA_CODES

HOOK_C = r"""#include <stdint.h>

typedef struct ml_blockcount {
    const uint8_t *code; /* copy of flash from address `base` */
    uint64_t base;
    uint64_t len;
    uint64_t count;     /* instructions executed since reset to 0 */
    uint64_t limit;     /* stop the emulation when count exceeds it */
    uint64_t uncounted; /* blocks outside the copied code (not counted) */
    int (*stop)(void *uc);
    uint32_t isa;       /* 0: Thumb-2, 1: RISC-V with C */
} ml_blockcount;

void ml_blockcount_hook(void *uc, uint64_t address, uint32_t size, void *user);

void ml_blockcount_hook(void *uc, uint64_t address, uint32_t size, void *user) {
    ml_blockcount *s = (ml_blockcount *)user;
    if (address < s->base || address - s->base + size > s->len) {
        s->uncounted += 1u;
        return;
    }
    const uint8_t *p = s->code + (address - s->base);
    uint32_t i = 0;
    uint64_t n = 0;
    if (s->isa == 0u) {
        while (i + 1u < size) {
            uint32_t hw = (uint32_t)p[i] | ((uint32_t)p[i + 1u] << 8);
            i += (hw >> 11) >= 0x1Du ? 4u : 2u;
            n += 1u;
        }
    } else {
        while (i + 1u < size) {
            i += (p[i] & 3u) == 3u ? 4u : 2u;
            n += 1u;
        }
    }
    s->count += n;
    if (s->count > s->limit) {
        (void)s->stop(uc);
    }
}
"""


class _State(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_void_p),
        ("base", ctypes.c_uint64),
        ("len", ctypes.c_uint64),
        ("count", ctypes.c_uint64),
        ("limit", ctypes.c_uint64),
        ("uncounted", ctypes.c_uint64),
        ("stop", ctypes.c_void_p),
        ("isa", ctypes.c_uint32),
    ]


class NativeBlockCounter:
    """Installs the C hook on a unicorn ``Uc``; ``count`` reads the counter, ``reset()`` zeroes it."""

    def __init__(self, uc: Any, code: bytes, base: int, limit: int, isa: str) -> None:
        uc_mod: Any = importlib.import_module("unicorn")
        lowlevel: Any = importlib.import_module("unicorn.unicorn_py3.unicorn")
        uclib = lowlevel.uclib
        lib = host.build({"ml_blockcount.c": HOOK_C})
        self._lib = lib  # keep the library (and the hook's code) loaded as long as the hook
        self._code = ctypes.create_string_buffer(code, len(code))
        self._state = _State(
            ctypes.cast(self._code, ctypes.c_void_p),
            base,
            len(code),
            0,
            limit,
            0,
            ctypes.cast(uclib.uc_emu_stop, ctypes.c_void_p),
            ISA_CODES[isa],
        )
        handle = ctypes.c_size_t()
        fn = ctypes.cast(lib.ml_blockcount_hook, ctypes.c_void_p)
        status = uclib.uc_hook_add(
            uc._uch,
            ctypes.byref(handle),
            uc_mod.UC_HOOK_BLOCK,
            fn,
            ctypes.cast(ctypes.byref(self._state), ctypes.c_void_p),
            ctypes.c_uint64(1),
            ctypes.c_uint64(0),
        )
        if status != 0:
            raise uc_mod.UcError(status)

    @property
    def count(self) -> int:
        return int(self._state.count)

    @property
    def uncounted(self) -> int:
        return int(self._state.uncounted)

    def reset(self) -> None:
        self._state.count = 0
        self._state.uncounted = 0
