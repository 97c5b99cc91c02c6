"""Model files: the IR as one self-describing binary that C (ml_model.h) and MicroPython (mlrt) read.

The byte-level specification is docs/model-file.md; this module is its reference implementation.
``dumps(ir)`` writes a file, ``loads(data)`` checks every byte of one and rebuilds the IR (raising
:class:`~microlearn.errors.ModelFileError` for anything malformed).
"""

from __future__ import annotations

import itertools
import json
import struct
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from microlearn.errors import ModelFileError
from microlearn.ir import TreeEnsemble
from microlearn.ir.trees import unique_rows

MAGIC = b"MLMF"
VERSION_MAJOR = 1
VERSION_MINOR = 0

FAMILY_TREES = 1
TASK_CLASSIFIER = 1
TASK_REGRESSOR = 2

HEADER = struct.Struct("<4sHHHHIIIII")  # 32 bytes
SECTION = struct.Struct("<4sBBHII")  # 16 bytes
CRC_BYTES = 4
ALIGN = 8
FLAG_CRITICAL = 1
MAX_SECTIONS = 64
MAX_FEATURES = 32767  # feature indices are int16
MAX_CLASSES = 256  # ML_TREES_MAX_OUTPUTS in ml_trees.h

# dtype code -> numpy little-endian dtype
DTYPES: dict[int, str] = {
    1: "u1",
    2: "i1",
    3: "<u2",
    4: "<i2",
    5: "<u4",
    6: "<i4",
    7: "<f4",
    8: "<f8",
    9: "u1",  # UTF-8 text
    10: "<u8",
    11: "<i8",
}
DT_U8, DT_I16, DT_I32, DT_F32, DT_F64, DT_UTF8 = 1, 4, 6, 7, 8, 9

# tag -> (dtype code, critical). Sections a tree-ensemble reader knows.
TREE_SECTIONS: dict[bytes, tuple[int, bool]] = {
    b"ROOT": (DT_I32, True),
    b"FEAT": (DT_I16, True),
    b"MISS": (DT_U8, True),
    b"THRS": (DT_F32, True),
    b"RGHT": (DT_I32, True),
    b"PROB": (DT_F64, True),
    b"LCLS": (DT_I32, True),
    b"LVAL": (DT_F32, True),
    b"LV64": (DT_F64, False),
    b"LABL": (DT_UTF8, False),
    b"FNAM": (DT_UTF8, False),
    b"SRCE": (DT_UTF8, False),
}


@dataclass(frozen=True)
class Section:
    tag: bytes
    dtype: int
    flags: int
    offset: int
    count: int

    @property
    def nbytes(self) -> int:
        return self.count * np.dtype(DTYPES[self.dtype]).itemsize


# ---------------------------------------------------------------------------------------------- writing
def _labels_json(ir: TreeEnsemble) -> bytes | None:
    if ir.classes is None:
        return None
    labels: list[Any] = []
    for c in ir.classes:
        v = c.item() if isinstance(c, np.generic) else c
        if isinstance(v, bool) or not isinstance(v, int | str):
            return None  # only int and str labels are stored; others read back as indices
        labels.append(v)
    return json.dumps(labels, ensure_ascii=False, separators=(",", ":")).encode()


def sections_of(ir: TreeEnsemble) -> list[tuple[bytes, npt.NDArray[Any]]]:
    """The arrays a tree-ensemble file holds, in file order (identical leaf rows stored once)."""
    if ir.n_features > MAX_FEATURES:
        raise ModelFileError(
            f"the model has {ir.n_features} features; a model file holds at most {MAX_FEATURES}"
        )
    if ir.is_classifier and ir.n_outputs > MAX_CLASSES:
        raise ModelFileError(
            f"the model has {ir.n_outputs} classes; a model file holds at most {MAX_CLASSES}"
        )
    is_leaf = ir.feature < 0
    if ir.is_classifier:
        keys = np.concatenate(
            [np.ascontiguousarray(ir.leaf_value).view(np.uint64), ir.leaf_class.astype(np.uint64)[:, None]],
            axis=1,
        )
    else:
        v32 = ir.leaf_value[:, 0].astype(np.float32)
        keys = np.stack([v32.view(np.uint32).astype(np.uint64), ir.leaf_value[:, 0].view(np.uint64)], axis=1)
    keep, row_of = unique_rows(keys)
    right = np.where(is_leaf, row_of[np.where(is_leaf, ir.leaf, 0)], ir.right).astype("<i4")
    out: list[tuple[bytes, npt.NDArray[Any]]] = [
        (b"ROOT", ir.roots.astype("<i4")),
        (b"FEAT", ir.feature.astype("<i2")),
        (b"MISS", (ir.missing_left & ~is_leaf).astype("u1")),
        (b"THRS", np.where(is_leaf, np.float32(0), ir.threshold).astype("<f4")),
        (b"RGHT", right),
    ]
    if ir.is_classifier:
        out.append((b"PROB", np.ascontiguousarray(ir.leaf_value[keep]).astype("<f8").reshape(-1)))
        if ir.n_trees == 1:
            out.append((b"LCLS", ir.leaf_class[keep].astype("<i4")))
        labels = _labels_json(ir)
        if labels is not None:
            out.append((b"LABL", np.frombuffer(labels, dtype="u1")))
    else:
        out.append((b"LVAL", ir.leaf_value[keep, 0].astype("<f4")))
        out.append((b"LV64", ir.leaf_value[keep, 0].astype("<f8")))
    if ir.feature_names is not None:
        names = json.dumps(list(ir.feature_names), ensure_ascii=False, separators=(",", ":")).encode()
        out.append((b"FNAM", np.frombuffer(names, dtype="u1")))
    if ir.source:
        out.append((b"SRCE", np.frombuffer(ir.source.encode(), dtype="u1")))
    return out


def _pad(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def dumps(ir: TreeEnsemble) -> bytes:
    """The model file of ``ir`` (byte-identical for the same IR)."""
    if not isinstance(ir, TreeEnsemble):
        raise ModelFileError(f"model files hold a TreeEnsemble IR; got {type(ir).__name__}")
    arrays = sections_of(ir)
    table_end = HEADER.size + SECTION.size * len(arrays)
    offset = _pad(table_end)
    entries = []
    for tag, a in arrays:
        dtype, critical = TREE_SECTIONS[tag]
        entries.append(SECTION.pack(tag, dtype, FLAG_CRITICAL if critical else 0, 0, offset, a.size))
        offset = _pad(offset + a.nbytes)
    file_size = offset + CRC_BYTES
    task = TASK_CLASSIFIER if ir.is_classifier else TASK_REGRESSOR
    buf = bytearray(file_size)
    HEADER.pack_into(
        buf, 0, MAGIC, VERSION_MAJOR, VERSION_MINOR, FAMILY_TREES, task, ir.n_features, ir.n_outputs,
        len(arrays), file_size, 0,
    )  # fmt: skip
    pos = HEADER.size
    for e in entries:
        buf[pos : pos + SECTION.size] = e
        pos += SECTION.size
    for e, (_, a) in zip(entries, arrays, strict=True):
        off = SECTION.unpack(e)[4]
        buf[off : off + a.nbytes] = a.tobytes()
    struct.pack_into("<I", buf, file_size - CRC_BYTES, zlib.crc32(bytes(buf[: file_size - CRC_BYTES])))
    return bytes(buf)


# ---------------------------------------------------------------------------------------------- reading
def _fail(msg: str) -> ModelFileError:
    return ModelFileError(f"not a valid microlearn model file: {msg}")


def read_sections(data: bytes) -> tuple[tuple[Any, ...], dict[bytes, Section]]:
    """Check the header, CRC and section table; return the header fields and the sections by tag."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ModelFileError(f"a model file is bytes; got {type(data).__name__}")
    data = bytes(data)
    n = len(data)
    if n < HEADER.size + CRC_BYTES:
        raise _fail(f"{n} bytes is shorter than the {HEADER.size + CRC_BYTES}-byte minimum (truncated?)")
    head = HEADER.unpack_from(data, 0)
    magic, major, minor, family, task, _, _, n_sections, file_size, flags = head
    if magic != MAGIC:
        raise _fail(f"bad magic {magic!r} (expected {MAGIC!r}); is this a model file saved by microlearn?")
    if major != VERSION_MAJOR:
        raise ModelFileError(
            f"model file format version {major}.{minor} is not supported by this microlearn "
            f"(reads {VERSION_MAJOR}.x): upgrade microlearn or re-save the model with this version"
        )
    if file_size != n:
        raise _fail(f"header says {file_size} bytes but there are {n} (truncated or padded file)")
    (crc,) = struct.unpack_from("<I", data, n - CRC_BYTES)
    if zlib.crc32(data[: n - CRC_BYTES]) != crc:
        raise _fail("CRC-32 mismatch: the file is corrupted; copy it again")
    if flags != 0:
        raise _fail(f"header flags {flags:#x} are not defined in format {VERSION_MAJOR}.{VERSION_MINOR}")
    if family != FAMILY_TREES:
        raise ModelFileError(f"model family {family} is not supported by this microlearn: upgrade microlearn")
    if task not in (TASK_CLASSIFIER, TASK_REGRESSOR):
        raise _fail(f"unknown task {task}")
    if n_sections > MAX_SECTIONS:
        raise _fail(f"{n_sections} sections (at most {MAX_SECTIONS})")
    table_end = HEADER.size + SECTION.size * n_sections
    if table_end > n - CRC_BYTES:
        raise _fail("the section table runs past the end of the file")
    sections: dict[bytes, Section] = {}
    spans = []
    for k in range(n_sections):
        tag, dtype, sflags, reserved, offset, count = SECTION.unpack_from(
            data, HEADER.size + k * SECTION.size
        )
        if tag in sections:
            raise _fail(f"section {tag!r} appears twice")
        if dtype not in DTYPES or reserved != 0:
            raise _fail(f"section {tag!r} has an unknown dtype {dtype} or non-zero reserved bytes")
        s = Section(tag, dtype, sflags, offset, count)
        if offset % ALIGN or offset < table_end or offset + s.nbytes > n - CRC_BYTES:
            raise _fail(
                f"section {tag!r} at offset {offset} ({s.nbytes} bytes) is misaligned or out of bounds"
            )
        known = TREE_SECTIONS.get(tag)
        if known is None:
            if sflags & FLAG_CRITICAL:
                raise ModelFileError(
                    f"model file has a section {tag!r} this microlearn does not know and must not ignore: "
                    "upgrade microlearn"
                )
            continue  # an optional section from a later minor version
        if known[0] != dtype:
            raise _fail(f"section {tag!r} has dtype {dtype}, expected {known[0]}")
        spans.append((offset, offset + s.nbytes, tag))
        sections[tag] = s
    spans.sort()
    for (_, end, a), (start, _, b) in itertools.pairwise(spans):
        if start < end:
            raise _fail(f"sections {a!r} and {b!r} overlap")
    return head, sections


def _array(data: bytes, s: Section) -> npt.NDArray[Any]:
    return np.frombuffer(data, dtype=DTYPES[s.dtype], count=s.count, offset=s.offset)


def _json(data: bytes, s: Section | None, what: str) -> Any:
    if s is None:
        return None
    try:
        return json.loads(bytes(_array(data, s)).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise _fail(f"{what} section is not valid UTF-8 JSON: {e}") from e


def loads(data: bytes) -> TreeEnsemble:
    """Check a model file completely and rebuild its IR. Raises ModelFileError for any malformed file."""
    data = bytes(data) if isinstance(data, bytearray | memoryview) else data
    head, sec = read_sections(data)
    task, n_features, n_outputs = head[4], head[5], head[6]
    classifier = task == TASK_CLASSIFIER
    required = [b"ROOT", b"FEAT", b"MISS", b"THRS", b"RGHT", *([b"PROB"] if classifier else [b"LVAL"])]
    for tag in required:
        if tag not in sec:
            raise _fail(f"required section {tag.decode()} is missing")
    for tag in (b"LVAL", b"LV64") if classifier else (b"PROB", b"LCLS", b"LABL"):
        if tag in sec:
            raise _fail(
                f"section {tag.decode()} does not belong in a {'classifier' if classifier else 'regressor'}"
            )
    if not 1 <= n_features <= MAX_FEATURES:
        raise _fail(f"n_features {n_features} outside 1..{MAX_FEATURES}")
    if classifier and not 1 <= n_outputs <= MAX_CLASSES:
        raise _fail(f"n_outputs {n_outputs} outside 1..{MAX_CLASSES}")
    if not classifier and n_outputs != 1:
        raise _fail("a regressor has exactly one output")
    roots = _array(data, sec[b"ROOT"]).astype(np.int32)
    feature = _array(data, sec[b"FEAT"]).astype(np.int32)
    n_nodes = feature.size
    for tag in (b"MISS", b"THRS", b"RGHT"):
        if sec[tag].count != n_nodes:
            raise _fail(f"section {tag.decode()} has {sec[tag].count} entries for {n_nodes} nodes")
    miss = _array(data, sec[b"MISS"])
    thr = _array(data, sec[b"THRS"]).astype(np.float32)
    right = _array(data, sec[b"RGHT"]).astype(np.int32)
    if classifier:
        proba = _array(data, sec[b"PROB"]).astype(np.float64)
        if proba.size == 0 or proba.size % n_outputs:
            raise _fail(f"PROB has {proba.size} entries, not a positive multiple of {n_outputs} classes")
        leaf_value = proba.reshape(-1, n_outputs)
        n_leaves = leaf_value.shape[0]
        if b"LCLS" in sec:
            leaf_class = _array(data, sec[b"LCLS"]).astype(np.int32)
            if leaf_class.size != n_leaves or np.any((leaf_class < 0) | (leaf_class >= n_outputs)):
                raise _fail("LCLS must hold one class index in range per leaf")
        elif roots.size == 1:
            raise _fail("a single-tree classifier needs the LCLS section")
        else:
            leaf_class = np.argmax(leaf_value, axis=1).astype(np.int32)
    else:
        lv = sec.get(b"LV64") or sec[b"LVAL"]
        leaf_value = _array(data, lv).astype(np.float64).reshape(-1, 1)
        n_leaves = leaf_value.shape[0]
        if sec[b"LVAL"].count != n_leaves or n_leaves == 0:
            raise _fail("LVAL and LV64 must hold one value per leaf")
        if b"LV64" in sec and not np.array_equal(
            _array(data, sec[b"LV64"]).astype(np.float32), _array(data, sec[b"LVAL"])
        ):
            raise _fail("LVAL must be LV64 rounded to float32")
        leaf_class = np.zeros(n_leaves, dtype=np.int32)
    if np.any(miss > 1):
        raise _fail("MISS entries must be 0 or 1")
    is_leaf = feature == -1
    if np.any(is_leaf & ((right < 0) | (right >= n_leaves))):
        raise _fail("a leaf's row (RGHT at a leaf) is out of range")
    idx = np.arange(n_nodes, dtype=np.int32)
    left = np.where(is_leaf, -1, idx + 1).astype(np.int32)
    leaf = np.where(is_leaf, right, -1).astype(np.int32)
    right_ir = np.where(is_leaf, -1, right).astype(np.int32)
    labels = _json(data, sec.get(b"LABL"), "LABL")
    if labels is not None and (not isinstance(labels, list) or len(labels) != n_outputs):
        raise _fail(f"LABL must be a JSON list of {n_outputs} labels")
    names = _json(data, sec.get(b"FNAM"), "FNAM")
    if names is not None and (not isinstance(names, list) or len(names) != n_features):
        raise _fail(f"FNAM must be a JSON list of {n_features} names")
    source = ""
    if b"SRCE" in sec:
        try:
            source = bytes(_array(data, sec[b"SRCE"])).decode("utf-8")
        except UnicodeDecodeError as e:
            raise _fail("SRCE is not UTF-8") from e
    if roots.size == 0 or roots[0] != 0 or np.any(np.diff(roots) <= 0) or roots[-1] >= n_nodes:
        raise _fail("ROOT must start at 0 and increase strictly, inside the node arrays")
    try:
        return TreeEnsemble(
            kind="classifier" if classifier else "regressor",
            n_features=int(n_features),
            n_outputs=int(n_outputs),
            roots=roots,
            feature=feature,
            threshold=thr,
            left=left,
            right=right_ir,
            missing_left=miss.astype(bool),
            leaf=leaf,
            leaf_value=leaf_value,
            leaf_class=leaf_class,
            classes=None if labels is None else np.asarray(labels),
            source=source,
            feature_names=None if names is None else tuple(str(x) for x in names),
        )
    except ValueError as e:
        raise _fail(str(e)) from e


def load(path: str) -> TreeEnsemble:
    """Read and check a model file from disk."""
    with open(path, "rb") as f:
        return loads(f.read())
