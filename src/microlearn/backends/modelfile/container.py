"""The model-file container: header, section table, 8-byte aligned sections, CRC-32 (docs/model-file.md).

This module knows nothing of model families: it packs and checks the bytes every family shares. What a
family's sections mean and which values they may hold is declared in ``schema.py``; how an IR becomes
sections is in the family's codec (``trees.py``, ``pipeline.py``, ...), found through ``registry.py``.
"""

from __future__ import annotations

import itertools
import json
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from microlearn.errors import ModelFileError

MAGIC = b"MLMF"
VERSION_MAJOR = 1
VERSION_MINOR = 0

# Other microlearn files start with their own magic; every model loader names them instead of only
# saying "bad magic".
OTHER_MAGICS: dict[bytes, str] = {
    b"MLFB": "a mel filterbank file (load it with mlrt.dsp_mel.MelFilterbank or "
    "microlearn.dsp filterbank_from_bytes), not a model file",
}

# Header task codes (the IR's Task, in file form)
TASK_CLASSIFY = 1
TASK_REGRESS = 2
TASK_SCORE = 3
TASK_CLUSTER = 4
TASK_TRANSFORM = 5
TASK_NAMES = {1: "classify", 2: "regress", 3: "score", 4: "cluster", 5: "transform"}

HEADER = struct.Struct("<4sHHHHIIIII")  # 32 bytes
SECTION = struct.Struct("<4sBBHII")  # 16 bytes
CRC_BYTES = 4
ALIGN = 8
FLAG_CRITICAL = 1
MAX_SECTIONS = 64

# dtype code -> (name, numpy little-endian dtype)
DT_U8, DT_I8, DT_U16, DT_I16, DT_U32, DT_I32, DT_F32, DT_F64, DT_TEXT, DT_U64, DT_I64 = range(1, 12)
DTYPES: dict[int, tuple[str, str]] = {
    DT_U8: ("u8", "u1"),
    DT_I8: ("i8", "i1"),
    DT_U16: ("u16", "<u2"),
    DT_I16: ("i16", "<i2"),
    DT_U32: ("u32", "<u4"),
    DT_I32: ("i32", "<i4"),
    DT_F32: ("f32", "<f4"),
    DT_F64: ("f64", "<f8"),
    DT_TEXT: ("text", "u1"),  # UTF-8, one byte per element
    DT_U64: ("u64", "<u8"),
    DT_I64: ("i64", "<i8"),
}


def itemsize(dtype: int) -> int:
    return np.dtype(DTYPES[dtype][1]).itemsize


@dataclass(frozen=True)
class Header:
    family: int
    task: int
    n_features: int
    n_outputs: int
    minor: int = VERSION_MINOR


@dataclass(frozen=True)
class Section:
    tag: bytes
    dtype: int
    flags: int
    offset: int
    count: int

    @property
    def critical(self) -> bool:
        return bool(self.flags & FLAG_CRITICAL)

    @property
    def nbytes(self) -> int:
        return self.count * itemsize(self.dtype)


def fail(msg: str) -> ModelFileError:
    return ModelFileError(f"not a valid microlearn model file: {msg}")


def pad8(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


# ---------------------------------------------------------------------------------------------- writing
def pack(header: Header, sections: Sequence[tuple[bytes, int, bool, npt.NDArray[Any]]]) -> bytes:
    """The file of ``header`` and ``sections`` ((tag, dtype, critical, array) in file order)."""
    if len(sections) > MAX_SECTIONS:
        raise ModelFileError(f"{len(sections)} sections; a model file holds at most {MAX_SECTIONS}")
    table_end = HEADER.size + SECTION.size * len(sections)
    offset = pad8(table_end)
    placed = []
    for tag, dtype, critical, a in sections:
        raw = np.ascontiguousarray(a, dtype=DTYPES[dtype][1]).reshape(-1)
        placed.append((tag, dtype, critical, offset, raw))
        offset = pad8(offset + raw.nbytes)
    file_size = offset + CRC_BYTES
    buf = bytearray(file_size)
    HEADER.pack_into(
        buf, 0, MAGIC, VERSION_MAJOR, header.minor, header.family, header.task, header.n_features,
        header.n_outputs, len(sections), file_size, 0,
    )  # fmt: skip
    for k, (tag, dtype, critical, off, raw) in enumerate(placed):
        flags = FLAG_CRITICAL if critical else 0
        SECTION.pack_into(buf, HEADER.size + k * SECTION.size, tag, dtype, flags, 0, off, raw.size)
        buf[off : off + raw.nbytes] = raw.tobytes()
    struct.pack_into("<I", buf, file_size - CRC_BYTES, zlib.crc32(bytes(buf[: file_size - CRC_BYTES])))
    return bytes(buf)


# ---------------------------------------------------------------------------------------------- reading
@dataclass(frozen=True)
class Container:
    """A file whose header, CRC and section table are sound; ``sections`` holds every entry by tag,
    known to its family or not."""

    data: bytes
    header: Header
    sections: dict[bytes, Section]

    def array(self, tag: bytes) -> npt.NDArray[Any]:
        s = self.sections[tag]
        return np.frombuffer(self.data, dtype=DTYPES[s.dtype][1], count=s.count, offset=s.offset)


def check_magic(magic: bytes) -> None:
    if magic == MAGIC:
        return
    other = OTHER_MAGICS.get(bytes(magic))
    if other is not None:
        raise ModelFileError(f"this is {other}")
    raise fail(f"bad magic {magic!r} (expected {MAGIC!r}); is this a model file saved by microlearn?")


def unpack(data: bytes | bytearray | memoryview) -> Container:
    """Check magic, version, length, CRC and the section table (bounds, alignment, dtypes, duplicates,
    overlaps). Raises ModelFileError."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ModelFileError(f"a model file is bytes; got {type(data).__name__}")
    data = bytes(data)
    n = len(data)
    if n >= 4:
        check_magic(data[:4])
    if n < HEADER.size + CRC_BYTES:
        raise fail(f"{n} bytes is shorter than the {HEADER.size + CRC_BYTES}-byte minimum (truncated?)")
    _, major, minor, family, task, n_features, n_outputs, n_sections, file_size, flags = HEADER.unpack_from(
        data, 0
    )
    if major != VERSION_MAJOR:
        raise ModelFileError(
            f"model file format version {major}.{minor} is not supported by this microlearn "
            f"(reads {VERSION_MAJOR}.x): upgrade microlearn or re-save the model with this version"
        )
    if file_size != n:
        raise fail(f"header says {file_size} bytes but there are {n} (truncated or padded file)")
    (crc,) = struct.unpack_from("<I", data, n - CRC_BYTES)
    if zlib.crc32(data[: n - CRC_BYTES]) != crc:
        raise fail("CRC-32 mismatch: the file is corrupted; copy it again")
    if flags != 0:
        raise ModelFileError(
            f"model file header flags {flags:#x} are not defined in format {VERSION_MAJOR}.{VERSION_MINOR}: "
            "upgrade microlearn"
        )
    if n_sections > MAX_SECTIONS:
        raise fail(f"{n_sections} sections (at most {MAX_SECTIONS})")
    table_end = HEADER.size + SECTION.size * n_sections
    if table_end > n - CRC_BYTES:
        raise fail("the section table runs past the end of the file")
    sections: dict[bytes, Section] = {}
    for k in range(n_sections):
        tag, dtype, sflags, reserved, offset, count = SECTION.unpack_from(
            data, HEADER.size + k * SECTION.size
        )
        if tag in sections:
            raise fail(f"section {tag!r} appears twice")
        if dtype not in DTYPES or reserved != 0:
            raise fail(f"section {tag!r} has an unknown dtype {dtype} or non-zero reserved bytes")
        s = Section(tag, dtype, sflags, offset, count)
        if offset % ALIGN or offset < table_end or offset + s.nbytes > n - CRC_BYTES:
            raise fail(
                f"section {tag!r} at offset {offset} ({s.nbytes} bytes) is misaligned or out of bounds"
            )
        sections[tag] = s
    spans = sorted((s.offset, s.offset + s.nbytes, s.tag) for s in sections.values())
    for (_, end, a), (start, _, b) in itertools.pairwise(spans):
        if start < end:
            raise fail(f"sections {a!r} and {b!r} overlap")
    return Container(data, Header(family, task, n_features, n_outputs, minor), sections)


def read_sections(data: bytes) -> tuple[tuple[Any, ...], dict[bytes, Section]]:
    """The raw header fields and every section by tag (for tools and tests that patch files)."""
    c = unpack(data)
    return HEADER.unpack_from(c.data, 0), c.sections


# ---------------------------------------------------------------------------------------- text sections
def text_array(b: bytes) -> npt.NDArray[np.uint8]:
    """A UTF-8 text section's content."""
    return np.frombuffer(b, dtype=np.uint8)


def json_text(values: Sequence[Any]) -> bytes:
    return json.dumps(list(values), ensure_ascii=False, separators=(",", ":")).encode()


def labels_json(classes: Any) -> bytes | None:
    """The LABL section's JSON of class labels, or None (no classes, or labels other than int and str,
    which read back as indices)."""
    if classes is None:
        return None
    out: list[Any] = []
    for c in classes:
        v = c.item() if isinstance(c, np.generic) else c
        if isinstance(v, bool) or not isinstance(v, int | str):
            return None
        out.append(v)
    return json_text(out)


def text_sections(
    classes: Any, feature_names: Sequence[str] | None, source: str
) -> list[tuple[bytes, npt.NDArray[np.uint8]]]:
    """The optional LABL, FNAM and SRCE sections every family writes, in that order."""
    out: list[tuple[bytes, npt.NDArray[np.uint8]]] = []
    labels = labels_json(classes)
    if labels is not None:
        out.append((b"LABL", text_array(labels)))
    if feature_names is not None:
        out.append((b"FNAM", text_array(json_text(feature_names))))
    if source:
        out.append((b"SRCE", text_array(source.encode())))
    return out
