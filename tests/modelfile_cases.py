"""Malformed model files, each with what is wrong with it (shared by the C, Python and MicroPython tests)."""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Callable

import numpy as np

from microlearn import host
from microlearn.backends import modelfile as mf


def c_errors() -> dict[str, int]:
    """The ml_error enum of ml_common.h, by name."""
    text = (host.RUNTIME_C_DIR / "ml_common.h").read_text()
    return {k: int(v) for k, v in re.findall(r"^\s+(ML_(?:OK|E_[A-Z_]+)) = (-?\d+)", text, re.M)}


ML_E = c_errors()


def fix_crc(b: bytearray) -> bytes:
    struct.pack_into("<I", b, len(b) - 4, zlib.crc32(bytes(b[:-4])))
    return bytes(b)


def corruptions(data: bytes) -> list[tuple[str, bytes]]:
    """Every way of breaking ``data`` the loaders must reject (most with a valid CRC, so the checks
    behind the CRC are reached)."""
    head, sec = mf.read_sections(data)
    n_features = head[5]
    feat = np.frombuffer(data, "<i2", sec[b"FEAT"].count, sec[b"FEAT"].offset)
    inner = int(np.flatnonzero(feat >= 0)[0])
    leaf = int(np.flatnonzero(feat < 0)[0])
    out: list[tuple[str, bytes]] = [
        ("empty", b""),
        ("truncated header", data[:20]),
        ("truncated by one byte", data[:-1]),
        ("one byte appended", data + b"\0"),
        ("half the file", data[: len(data) // 2]),
        ("flipped byte", data[:100] + bytes([data[100] ^ 0x10]) + data[101:]),
        ("bad CRC", data[:-4] + bytes(4)),
    ]

    def edit(what: str, fn: Callable[[bytearray], None]) -> None:
        b = bytearray(data)
        fn(b)
        out.append((what, fix_crc(b)))

    def put(fmt: str, off: int, v: object) -> Callable[[bytearray], None]:
        return lambda b: struct.pack_into(fmt, b, off, v)

    def sec_field(tag: bytes, field: int) -> int:
        names = [bytes(data[32 + 16 * k : 36 + 16 * k]) for k in range(head[7])]
        return 32 + 16 * names.index(tag) + field

    def node(tag: bytes, i: int) -> int:
        s = sec[tag]
        return s.offset + i * {4: 2, 6: 4, 7: 4, 1: 1}[s.dtype]

    edit("bad magic", lambda b: b.__setitem__(slice(0, 4), b"MLMX"))
    edit("format version 2", put("<H", 4, 2))
    edit("unknown family", put("<H", 8, 7))
    edit("unknown task", put("<H", 10, 9))
    edit("zero features", put("<I", 12, 0))
    edit("header flags set", put("<I", 28, 1))
    edit("too many sections", put("<I", 20, 65))
    edit("section table past the end", put("<I", 20, (len(data) - 32) // 16 + 1))
    edit("file size field wrong", put("<I", 24, len(data) + 8))
    edit("misaligned section", put("<I", sec_field(b"THRS", 8), sec[b"THRS"].offset + 4))
    edit("section past the end", put("<I", sec_field(b"RGHT", 8), len(data) - 8))
    edit("huge count", put("<I", sec_field(b"FEAT", 12), 0xFFFFFFFF))
    edit("section count off by one", put("<I", sec_field(b"MISS", 12), sec[b"MISS"].count - 1))
    edit("wrong dtype", put("<B", sec_field(b"FEAT", 4), 6))
    edit("unknown dtype", put("<B", sec_field(b"FEAT", 4), 99))
    edit("reserved bytes set", put("<H", sec_field(b"ROOT", 6), 1))
    edit(
        "duplicate section",
        lambda b: b.__setitem__(slice(sec_field(b"MISS", 0), sec_field(b"MISS", 4)), b"FEAT"),
    )
    edit(
        "required section renamed",
        lambda b: b.__setitem__(slice(sec_field(b"ROOT", 0), sec_field(b"ROOT", 4)), b"ROOX"),
    )
    if b"SRCE" in sec:

        def unknown_critical(b: bytearray) -> None:
            o = sec_field(b"SRCE", 0)
            b[o : o + 4] = b"ZZZZ"
            b[o + 5] = 1

        edit("unknown critical section", unknown_critical)
    edit("feature index = n_features", put("<h", node(b"FEAT", inner), n_features))
    edit("feature index -2", put("<h", node(b"FEAT", inner), -2))
    edit("right child points back (cycle)", put("<i", node(b"RGHT", inner), inner))
    edit("right child = left child", put("<i", node(b"RGHT", inner), inner + 1))
    edit("right child outside the tree", put("<i", node(b"RGHT", inner), sec[b"FEAT"].count + 3))
    edit("right child negative", put("<i", node(b"RGHT", inner), -5))
    edit("leaf row out of range", put("<i", node(b"RGHT", leaf), 1 << 20))
    edit("leaf row negative", put("<i", node(b"RGHT", leaf), -1))
    edit("NaN threshold", put("<f", node(b"THRS", inner), float("nan")))
    edit("missing flag 2", put("<B", node(b"MISS", inner), 2))
    edit("first root not 0", put("<i", sec[b"ROOT"].offset, 1))
    if sec[b"ROOT"].count > 1:
        edit("roots not increasing", put("<i", sec[b"ROOT"].offset + 4, 0))
    if b"PROB" in sec:
        edit("NaN probability", put("<d", sec[b"PROB"].offset, float("nan")))
        edit("classes = 0", put("<I", 16, 0))
        edit("classes not dividing PROB", put("<I", 16, sec[b"PROB"].count + 1))
    if b"LCLS" in sec:
        edit("leaf class out of range", put("<i", sec[b"LCLS"].offset, head[6]))
    if b"LVAL" in sec:
        edit("infinite leaf value", put("<f", sec[b"LVAL"].offset, float("inf")))
        edit("regressor with 2 outputs", put("<I", 16, 2))
    return out
