# mlrt model-file reader: header, section table, CRC-32 (docs/model-file.md).
# Runs on MicroPython >= 1.22 and CPython. Reads section by section, so loading from a path never holds
# the whole file in RAM: peak = the arrays kept + the largest section, once.
import struct
from array import array

MAGIC = b"MLMF"
VERSION_MAJOR = 1
HEADER = "<4sHHHHIIIII"
HEADER_SIZE = 32
SECTION = "<4sBBHII"
SECTION_SIZE = 16
MAX_SECTIONS = 64
CRITICAL = 1

# dtype code -> (array typecode or None for raw bytes, item size)
DTYPES = {
    1: ("B", 1),
    2: ("b", 1),
    3: ("H", 2),
    4: ("h", 2),
    5: ("I", 4),
    6: ("i", 4),
    7: ("f", 4),
    8: ("d", 8),
    9: (None, 1),
    10: ("Q", 8),
    11: ("q", 8),
}

try:
    from binascii import crc32 as _crc32
except ImportError:  # a port built without binascii.crc32
    _crc32 = None

_NIBBLE = (
    0x00000000,
    0x1DB71064,
    0x3B6E20C8,
    0x26D930AC,
    0x76DC4190,
    0x6B6B51F4,
    0x4DB26158,
    0x5005713C,
    0xEDB88320,
    0xF00F9344,
    0xD6D6A3E8,
    0xCB61B38C,
    0x9B64C2B0,
    0x86D3D2D4,
    0xA00AE278,
    0xBDBDF21C,
)


def crc32_py(data, crc=0):
    """CRC-32 (the zlib one), a nibble at a time; used where binascii.crc32 is missing."""
    crc ^= 0xFFFFFFFF
    t = _NIBBLE
    for b in data:
        crc = (crc >> 4) ^ t[(crc ^ b) & 15]
        crc = (crc >> 4) ^ t[(crc ^ (b >> 4)) & 15]
    return crc ^ 0xFFFFFFFF


def crc32(data, crc=0):
    if _crc32 is None:
        return crc32_py(data, crc)
    return _crc32(data, crc) & 0xFFFFFFFF


# other microlearn files: named instead of "bad magic"
OTHER_MAGICS = {b"MLFB": "a mel filterbank file (load it with mlrt.dsp_mel.MelFilterbank), not a model file"}


def bad(msg):
    return ValueError("mlrt: not a valid model file: " + msg)


def check_magic(magic):
    if magic == MAGIC:
        return
    if magic in OTHER_MAGICS:
        raise ValueError("mlrt: this is " + OTHER_MAGICS[magic])
    raise bad("bad magic %r (expected %r); was it saved by microlearn?" % (magic, MAGIC))


def empty(typecode, n):
    """array(typecode) of n items whose values the caller overwrites, made without a temporary buffer."""
    a = array(typecode)
    if hasattr(a, "frombytes"):  # CPython
        a.frombytes(bytes(n * a.itemsize))
        return a
    return array(typecode, range(n))


def to_array(typecode, raw):
    """A typed array holding the little-endian bytes ``raw`` (one copy)."""
    a = array(typecode)
    if hasattr(a, "frombytes"):  # CPython
        a.frombytes(raw)
        return a
    return array(typecode, raw)  # MicroPython initialises from raw bytes


class _Source:
    """Sequential reader over a path or a bytes-like object, keeping a running CRC-32."""

    def __init__(self, src):
        self.f = None
        self.mv = None
        self.path = src if isinstance(src, str) else None
        if isinstance(src, str):
            self.f = open(src, "rb")
            self.size = self.f.seek(0, 2)  # the real length: a header's size is never trusted
            self.f.seek(0)
        else:
            self.mv = memoryview(src)
            self.size = len(self.mv)
        self.pos = 0
        self.crc = 0
        self.buf = None

    def read(self, n, crc=True):
        if self.f is not None:
            b = self.f.read(n)
        else:
            b = bytes(self.mv[self.pos : self.pos + n])
        if b is None or len(b) != n:
            raise bad("truncated at byte %d (wanted %d more bytes)" % (self.pos, n))
        self.pos += n
        if crc:
            self.crc = crc32(b, self.crc)
        return b

    def read_array(self, tc, nbytes, itemsize):
        """The next nbytes as array(tc). From a file on MicroPython: read straight into the array, so a
        section is never held twice."""
        if self.f is None or hasattr(array(tc), "frombytes"):  # bytes source, or CPython
            return to_array(tc, self.read(nbytes))
        # an array of the right size without a temporary buffer (the values are overwritten)
        a = bytearray(nbytes) if tc == "B" else empty(tc, nbytes // itemsize)
        if self.f.readinto(a) != nbytes:
            raise bad("truncated at byte %d (wanted %d more bytes)" % (self.pos, nbytes))
        self.pos += nbytes
        self.crc = crc32(a, self.crc)
        return a

    def peek4(self):
        b = self.f.read(4)
        self.f.seek(0)
        return b

    def skip(self, n):
        """Pass n bytes (into the CRC) without making garbage: a heap with garbage between the objects a
        model keeps has no room left for its large arrays."""
        if self.f is None:
            if self.pos + n > self.size:
                raise bad("truncated at byte %d (wanted %d more bytes)" % (self.pos, n))
            self.crc = crc32(self.mv[self.pos : self.pos + n], self.crc)
            self.pos += n
            return
        buf = self.buf
        if buf is None:
            buf = self.buf = bytearray(256)
        mv = memoryview(buf)
        while n > 0:
            k = 256 if n > 256 else n
            if self.f.readinto(mv[:k]) != k:
                raise bad("truncated at byte %d (wanted %d more bytes)" % (self.pos, k))
            self.crc = crc32(mv[:k], self.crc)
            self.pos += k
            n -= k

    def at_end(self):
        return self.pos == self.size

    def close(self):
        if self.f is not None:
            self.f.close()
            self.f = None


class Stored:
    """A section left in the model file (a module's LAZY tags, when loading from a path): read(off, n)
    opens the file and returns n bytes at byte off of the section. Loading from bytes, data is a view
    of them (a module that keeps the section makes it a copy)."""

    def __init__(self, path, offset, nbytes, data=None):
        self.path = path
        self.offset = offset
        self.nbytes = nbytes
        self.data = data

    def __len__(self):
        return self.nbytes

    def read(self, off, n):
        if off < 0 or off + n > self.nbytes:
            raise IndexError("mlrt: read past the end of a section")
        if self.data is not None:
            return self.data[off : off + n]
        with open(self.path, "rb") as f:
            f.seek(self.offset + off)
            b = f.read(n)
        if b is None or len(b) != n:
            raise OSError("mlrt: the model file %s changed after loading; load it again" % self.path)
        return b

    def open(self):
        """A file handle for chunk (None when the section is in RAM); the caller closes it."""
        return None if self.data is not None else open(self.path, "rb")

    def chunk(self, f, off, n):
        """n bytes (a bytes object) at byte off of the section; f: from open()."""
        if self.data is not None:
            return bytes(self.data[off : off + n])
        f.seek(self.offset + off)
        b = f.read(n)
        if b is None or len(b) != n:
            raise OSError("mlrt: the model file %s changed while loading; load it again" % self.path)
        return b

    def array(self, tc):
        """The whole section as array(tc)."""
        f = self.open()
        try:
            return to_array(tc, self.chunk(f, 0, self.nbytes))
        finally:
            if f is not None:
                f.close()

    def read_many(self, offs, n):
        """n bytes at each byte offset of offs (a list), the file opened once."""
        if self.data is not None:
            return [self.read(o, n) for o in offs]
        out = []
        with open(self.path, "rb") as f:
            for o in offs:
                if o < 0 or o + n > self.nbytes:
                    raise IndexError("mlrt: read past the end of a section")
                f.seek(self.offset + o)
                b = f.read(n)
                if b is None or len(b) != n:
                    raise OSError("mlrt: the model file %s changed after loading; load it again" % self.path)
                out.append(b)
        return out

    def blocks(self, size):
        """The section in successive blocks of size bytes (the last one may be shorter)."""
        if self.data is not None:
            for o in range(0, self.nbytes, size):
                yield self.data[o : o + size]
            return
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            left = self.nbytes
            while left > 0:
                b = f.read(size if size < left else left)
                if not b:
                    raise OSError("mlrt: the model file %s changed after loading; load it again" % self.path)
                left -= len(b)
                yield b


def read(src, families):
    """Read a model file. ``families``: family code -> module name (mlrt.FAMILIES); the module's
    ``SECTIONS`` (tag -> (dtype, critical, tasks bit mask, required); a module serving several families:
    ``SECTIONS_BY_FAMILY = {code: SECTIONS}``) says which sections to keep, its ``AS_BITS`` which
    float32 sections come as array('i') of their bits and its ``LAZY`` which come as a Stored (left in
    the file when loading from a path, so they never take RAM).

    Returns (header tuple, {tag: array or bytes}, family module). Unknown optional sections are skipped;
    an unknown critical one, a bad CRC or any inconsistency raises ValueError."""
    s = _Source(src)
    try:
        return _read(s, families)
    finally:
        s.close()


def family_module(families, family):
    name = families.get(family)
    if name is None:
        raise ValueError("mlrt: model family %d is not supported by this mlrt: update mlrt" % family)
    return __import__("mlrt." + name, None, None, ("SECTIONS",))


def family_sections(mod, family):
    """The SECTIONS of a family module; a module serving several families has SECTIONS_BY_FAMILY."""
    by = getattr(mod, "SECTIONS_BY_FAMILY", None)
    return mod.SECTIONS if by is None else by[family]


def _read(s, families):
    if s.size >= 4:
        check_magic(bytes(s.mv[:4]) if s.mv is not None else s.peek4())
    head = struct.unpack(HEADER, s.read(HEADER_SIZE))
    magic, major, minor, family, task, n_features, n_outputs, n_sections, file_size, flags = head
    check_magic(magic)
    if major != VERSION_MAJOR:
        raise ValueError(
            "mlrt: model file format %d.%d is not supported (this mlrt reads %d.x): update mlrt or "
            "re-save the model" % (major, minor, VERSION_MAJOR)
        )
    if file_size != s.size:
        # also before any section is read: a corrupted size is a format error, never a MemoryError
        raise bad("header says %d bytes but there are %d (truncated or padded?)" % (file_size, s.size))
    if flags != 0:
        raise ValueError("mlrt: unknown header flags %#x: update mlrt" % flags)
    if n_sections > MAX_SECTIONS:
        raise bad("%d sections (at most %d)" % (n_sections, MAX_SECTIONS))
    table_end = HEADER_SIZE + SECTION_SIZE * n_sections
    if table_end + 4 > file_size:
        raise bad("the section table runs past the end of the file")
    mod = family_module(families, family)
    wanted = family_sections(mod, family)
    as_bits = getattr(mod, "AS_BITS", ())
    lazy = getattr(mod, "LAZY", ())
    task_bit = 1 << task if task < 8 else 0
    tasks = 0
    for spec in wanted.values():
        tasks |= spec[2]
    if not tasks & task_bit:
        raise bad("task %d is not one this model family has" % task)
    entries = []
    for _ in range(n_sections):
        tag, dtype, sflags, reserved, offset, count = struct.unpack(SECTION, s.read(SECTION_SIZE))
        if dtype not in DTYPES or reserved != 0:
            raise bad("section %r: unknown dtype %d" % (tag, dtype))
        nbytes = count * DTYPES[dtype][1]
        if offset % 8 or offset < table_end or offset + nbytes > file_size - 4:
            raise bad("section %r is misaligned or out of bounds" % tag)
        spec = wanted.get(tag)
        if spec is not None:
            if spec[0] != dtype:
                raise bad("section %r has dtype %d, expected %d" % (tag, dtype, spec[0]))
            if not spec[2] & task_bit:
                raise bad("section %r does not belong in a file of task %d" % (tag, task))
        elif sflags & CRITICAL:
            raise ValueError(
                "mlrt: the model file needs section %r, which this mlrt does not know: update mlrt" % tag
            )
        entries.append((offset, nbytes, tag, dtype))
    entries.sort()
    out = {}
    end = table_end
    for offset, nbytes, tag, dtype in entries:
        if offset < end:
            raise bad("section %r overlaps the one before it" % tag)
        if tag in out:
            raise bad("section %r appears twice" % tag)
        s.skip(offset - s.pos)
        if tag in lazy:  # left in the file (a path) or copied as bytes; the module reads it as it needs
            s.skip(nbytes)  # still part of the CRC
            if s.f is not None:
                out[tag] = Stored(s.path, offset, nbytes)
            else:  # a view of the caller's bytes while loading; the module copies what it keeps
                out[tag] = Stored(None, offset, nbytes, s.mv[offset : offset + nbytes])
        elif tag in wanted:
            tc = "i" if tag in as_bits and dtype == 7 else DTYPES[dtype][0]
            out[tag] = s.read(nbytes) if tc is None else s.read_array(tc, nbytes, DTYPES[dtype][1])
        else:
            s.skip(nbytes)
            out[tag] = None  # seen (for the duplicate check), not kept
        end = offset + nbytes
    s.skip(file_size - 4 - s.pos)
    computed = s.crc
    (stored,) = struct.unpack("<I", s.read(4, False))
    if stored != computed:
        raise bad("CRC-32 mismatch: the file is corrupted; copy it again")
    if not s.at_end():
        raise bad("data after the end the header states (%d bytes)" % file_size)
    for tag in [t for t in out if out[t] is None]:
        del out[tag]
    for tag, spec in wanted.items():
        if spec[3] and spec[2] & task_bit and tag not in out:
            raise bad("required section %s is missing" % tag.decode())
        if spec[0] == 9 and tag in out:  # text sections: UTF-8 (schema.py Utf8 / JsonList)
            try:
                out[tag].decode("utf-8")
            except Exception:
                raise bad("section %s is not UTF-8" % tag.decode())
    return head, out, mod
