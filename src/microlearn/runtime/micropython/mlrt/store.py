# mlrt.store: an append-only time-series store of float records for MicroPython and CPython (no numpy).
#
#   from mlrt.store import Store
#   s = Store("/data/acc", fields=("x", "y", "z"))     # creates the directory, or reopens it
#   s.append(t_ms, (x, y, z))                            # t_ms: int milliseconds, never decreasing
#   s.flush()                                            # what is flushed survives a power cut
#   for t, v in s.range(t0_ms, t1_ms): ...               # v: tuple of float32 values, t0 <= t < t1
#   s.aggregate(t0_ms, t1_ms, 60000)                     # [(bin start, {"mean": (..), ...}), ...]
#   s.close()
#
# On flash: one directory with `meta.json` and segment files `<level>-<seq>.seg` per level (level 0 holds
# the records, levels 1.. the aggregate cells, by default 1 s, 1 min and 1 h). A segment file is a
# sequence of blocks; a block is written by one append and never changed:
#
#   header  <HHqI  magic 0x4C4D, n records, t_first (ms), span = t_last - t_first (ms)
#   n records of a fixed size   level 0: <I dt, then one float32 per field
#                               level k: <II dt, count, then per field mean (f64), M2 (f64), min, max (f32)
#   crc32 of header + records   <I
#
# Reopening checks every block of the newest segment of each level; a block cut short or failing its CRC
# and everything after it in that segment are ignored, and appends go to a new segment, so a power cut at
# any byte keeps every record of every block that was written completely. Aggregate cells are derived
# data: a block of level k is only written after the blocks of the finer levels it comes from, and on
# reopening the cells not yet complete are rebuilt from the finer levels. RAM does not grow with the data:
# one block buffer per level, one accumulator per level and 12 bytes per segment file.
import binascii
import json
import math
import os
import struct
from array import array

MAGIC = 0x4C4D
HDR = "<HHqI"
HDR_SIZE = 16
U32 = 0xFFFFFFFF
STATS = ("count", "sum", "mean", "min", "max", "std", "var")
NAN = float("nan")
FLT_MAX = 3.4028234663852886e38
_crc = binascii.crc32


class StoreError(ValueError):
    pass


def _isdir(p):
    try:
        return os.stat(p)[0] & 0x4000 != 0
    except OSError:
        return False


def _size(p):
    try:
        return os.stat(p)[6]
    except OSError:
        return -1


class _Log:
    """One level: segment files of blocks of fixed-size records, and the block being filled in RAM."""

    def __init__(self, store, level, fmt, nrec):
        self.st = store
        self.level = level
        self.fmt = fmt
        self.rsize = struct.calcsize(fmt)
        self.nrec = nrec
        self.buf = bytearray(HDR_SIZE + nrec * self.rsize + 4)
        self.n = 0
        self.t_first = 0
        self.t_last = None  # newest record time, in files or buffer
        self.seqs = []  # segment numbers, oldest first
        self.firsts = []  # time of each segment's first record
        self.sizes = []  # bytes of each segment
        self.full = False  # the newest segment takes no more blocks (its tail was invalid)

    def path(self, seq):
        return "%s/%d-%08d.seg" % (self.st.path, self.level, seq)

    # ---------------------------------------------------------------- opening
    def open(self, names):
        pre = "%d-" % self.level
        seqs = []
        for nm in names:
            if nm.startswith(pre) and nm.endswith(".seg"):
                try:
                    seqs.append(int(nm[len(pre) : -4]))
                except ValueError:
                    pass
        seqs.sort()
        hb = bytearray(HDR_SIZE)
        for seq in seqs:
            p = self.path(seq)
            first = None
            with open(p, "rb") as f:
                if f.readinto(hb) == HDR_SIZE:
                    m, n, t0, span = struct.unpack(HDR, hb)
                    if m == MAGIC and 0 < n <= self.nrec:
                        first = t0
            if first is None:  # no complete first header: an empty or torn segment
                os.remove(p)
                continue
            self.seqs.append(seq)
            self.firsts.append(first)
            self.sizes.append(_size(p))
        if self.seqs:
            # check the newest segment block by block; stop at the first invalid one
            end, last = self._scan(self.seqs[-1])
            if end < self.sizes[-1]:
                self.full = True
                self.st.bad_tail += 1
            if end == 0:  # not one valid block: drop the file, check the one before
                os.remove(self.path(self.seqs[-1]))
                self.seqs.pop()
                self.firsts.pop()
                self.sizes.pop()
                self.full = False
                if self.seqs:
                    end, last = self._scan(self.seqs[-1])
                    self.full = end < self.sizes[-1]
            self.t_last = last

    def _scan(self, seq):
        """(bytes of valid blocks, time of the last record) of one segment."""
        end = 0
        last = None
        b = self.buf
        mv = memoryview(b)
        with open(self.path(seq), "rb") as f:
            while True:
                k = f.readinto(mv[:HDR_SIZE])
                if k != HDR_SIZE:
                    break
                m, n, t0, span = struct.unpack_from(HDR, b, 0)
                if m != MAGIC or not 0 < n <= self.nrec:
                    break
                body = n * self.rsize + 4
                if f.readinto(mv[HDR_SIZE : HDR_SIZE + body]) != body:
                    break
                self.st.bytes_read += HDR_SIZE + body
                crc = struct.unpack_from("<I", b, HDR_SIZE + body - 4)[0]
                if _crc(mv[: HDR_SIZE + body - 4]) & U32 != crc:
                    break
                end += HDR_SIZE + body
                last = t0 + span
        return end, last

    # ---------------------------------------------------------------- writing
    def put(self, t, vals):
        if self.n and (self.n == self.nrec or t - self.t_first > U32):
            self.st._write(self.level)
        if self.n == 0:
            self.t_first = t
        struct.pack_into(self.fmt, self.buf, HDR_SIZE + self.n * self.rsize, t - self.t_first, *vals)
        self.n += 1
        self.t_last = t

    def write_block(self):
        n = self.n
        if not n:
            return
        b = self.buf
        mv = memoryview(b)
        k = HDR_SIZE + n * self.rsize
        last = self.t_last
        struct.pack_into(HDR, b, 0, MAGIC, n, self.t_first, last - self.t_first)
        struct.pack_into("<I", b, k, _crc(mv[:k]) & U32)
        k += 4
        st = self.st
        if not self.seqs or self.full or self.sizes[-1] + k > st.seg_bytes:
            seq = self.seqs[-1] + 1 if self.seqs else 1
            self.seqs.append(seq)
            self.firsts.append(self.t_first)
            self.sizes.append(0)
            self.full = False
            new = True
        else:
            new = False
        with open(self.path(self.seqs[-1]), "ab") as f:
            f.write(mv[:k])
        self.sizes[-1] += k
        st.bytes_written += k
        self.n = 0
        if new:
            st._retain()

    def drop_oldest(self):
        os.remove(self.path(self.seqs[0]))
        self.seqs.pop(0)
        self.firsts.pop(0)
        self.sizes.pop(0)

    # ---------------------------------------------------------------- reading
    def blocks(self, t0, t1):
        """(t_first, n, buffer, offset of the first record) of every block that may hold times in [t0, t1)."""
        st = self.st
        fs = self.firsts
        nseg = len(fs)
        rs = self.rsize
        if nseg:
            b = bytearray(HDR_SIZE + self.nrec * rs + 4)
            mv = memoryview(b)
        for i in range(nseg):
            if fs[i] >= t1:
                break
            if i + 1 < nseg and fs[i + 1] < t0:
                continue
            f = open(self.path(self.seqs[i]), "rb")
            try:
                while True:
                    if f.readinto(mv[:HDR_SIZE]) != HDR_SIZE:
                        break
                    m, n, tf, span = struct.unpack_from(HDR, b, 0)
                    if m != MAGIC or not 0 < n <= self.nrec:
                        st.bad_blocks += 1
                        break
                    body = n * rs + 4
                    st.bytes_read += HDR_SIZE
                    if tf >= t1:
                        return
                    if tf + span < t0:
                        f.seek(body, 1)
                        continue
                    if f.readinto(mv[HDR_SIZE : HDR_SIZE + body]) != body:
                        break
                    st.bytes_read += body
                    crc = struct.unpack_from("<I", b, HDR_SIZE + body - 4)[0]
                    if _crc(mv[: HDR_SIZE + body - 4]) & U32 != crc:
                        st.bad_blocks += 1
                        break
                    yield tf, n, b, HDR_SIZE
            finally:
                f.close()
        if self.n and self.t_first < t1:
            yield self.t_first, self.n, self.buf, HDR_SIZE

    def records(self, t0, t1):
        """Unpacked records (tuples, dt made absolute in place of slot 0) with t0 <= t < t1."""
        rs = self.rsize
        fmt = self.fmt
        for tf, n, b, off in self.blocks(t0, t1):
            for j in range(n):
                r = struct.unpack_from(fmt, b, off + j * rs)
                t = tf + r[0]
                if t >= t1:
                    return
                if t >= t0:
                    yield t, r


class Store:
    """A store of float records under directory `path` (see the top of this file)."""

    def __init__(
        self,
        path,
        fields=("x", "y", "z"),
        levels=(1000, 60000, 3600000),
        block_records=128,
        segment_bytes=262144,
        max_age_ms=None,
        max_bytes=None,
    ):
        if not isinstance(path, str) or not path:
            raise StoreError("mlrt.store: path must be a directory name (str)")
        while len(path) > 1 and path.endswith("/"):
            path = path[:-1]
        self.path = path
        self.bytes_read = 0
        self.bytes_written = 0
        self.bad_blocks = 0
        self.bad_tail = 0
        meta_p = path + "/meta.json"
        if _isdir(path) and _size(meta_p) >= 0:
            with open(meta_p) as f:
                meta = json.load(f)
            if meta.get("version") != 1:
                raise StoreError("mlrt.store: %s was written by a newer mlrt: update mlrt" % path)
            if fields is not None and list(fields) != meta["fields"]:
                raise StoreError(
                    "mlrt.store: %s holds fields %r, not %r: open it with those fields or fields=None"
                    % (path, meta["fields"], list(fields))
                )
            fields = meta["fields"]
            levels = meta["levels"]
            block_records = meta["block_records"]
        else:
            fields = self._check_new(fields, levels, block_records)
            levels = list(levels)
            if not _isdir(path):
                _mkdirs(path)
            meta = {"version": 1, "fields": fields, "levels": levels, "block_records": block_records}
            tmp = meta_p + ".tmp"
            with open(tmp, "w") as f:
                json.dump(meta, f)
            os.rename(tmp, meta_p)
        if segment_bytes < 4096:
            raise StoreError("mlrt.store: segment_bytes must be at least 4096")
        self.fields = tuple(fields)
        self.nf = nf = len(fields)
        self.levels = tuple(levels)
        self.res = (1,) + self.levels
        self.seg_bytes = segment_bytes
        if max_age_ms is None or isinstance(max_age_ms, int):
            max_age_ms = (max_age_ms,) * (len(levels) + 1)
        if len(max_age_ms) != len(levels) + 1:
            raise StoreError("mlrt.store: max_age_ms is one int, or one per level (records first)")
        self.max_age = tuple(max_age_ms)
        if max_bytes is not None and max_bytes < 2 * (len(levels) + 1) * segment_bytes:
            raise StoreError(
                "mlrt.store: max_bytes must be at least 2 x segment_bytes per level (%d here): raise it or "
                "lower segment_bytes" % (2 * (len(levels) + 1) * segment_bytes)
            )
        self.max_bytes = max_bytes
        self.rfmt = "<I" + "f" * nf
        self.afmt = "<II" + "d" * (2 * nf) + "f" * (2 * nf)
        self.logs = [_Log(self, 0, self.rfmt, block_records)]
        for k in range(len(levels)):
            self.logs.append(_Log(self, k + 1, self.afmt, max(8, block_records // 4)))
        # accumulators of the cells not yet complete, one per aggregate level: [t, n, mean, m2, min, max]
        self.acc = [None] * (len(levels) + 1)
        self._f32 = array("f", [0.0] * nf)
        self._c1 = None
        self._n1 = 0
        self._k1 = [0.0] * nf
        self._s1 = [0.0] * nf
        self._q1 = [0.0] * nf
        self._mn1 = [0.0] * nf
        self._mx1 = [0.0] * nf
        names = os.listdir(path)
        for lg in self.logs:
            lg.open(names)
        self._rebuild()
        self.closed = False

    @staticmethod
    def _check_new(fields, levels, block_records):
        if fields is None:
            raise StoreError("mlrt.store: fields=None only reopens an existing store; give the field names")
        fields = [str(f) for f in fields]
        if not 0 < len(fields) <= 64:
            raise StoreError("mlrt.store: give 1 to 64 field names")
        prev = 1
        for r in levels:
            if not isinstance(r, int) or r <= prev or r % prev:
                raise StoreError(
                    "mlrt.store: levels must be increasing ms resolutions, each a multiple of the one before"
                )
            prev = r
        if not 8 <= block_records <= 4096:
            raise StoreError("mlrt.store: block_records must be 8..4096")
        return fields

    # ------------------------------------------------------------------ writing
    def append(self, t_ms, values):
        """Add one record: t_ms (int ms, >= the previous record's) and one number per field."""
        lg = self.logs[0]
        if lg.t_last is not None and t_ms < lg.t_last:
            raise StoreError(
                "mlrt.store: time %d is before the last record's (%d): records are appended in time order"
                % (t_ms, lg.t_last)
            )
        nf = self.nf
        if len(values) != nf:
            raise StoreError("mlrt.store: give %d values (%s), not %d" % (nf, self.fields, len(values)))
        v = self._f32
        for i in range(nf):
            x = values[i]
            if not -FLT_MAX <= x <= FLT_MAX:
                raise StoreError(
                    "mlrt.store: value %r of field %s is NaN, inf or beyond float32" % (x, self.fields[i])
                )
            v[i] = x  # rounded to float32 as stored
        lg.put(t_ms, v)
        if len(self.res) > 1:
            self._add1(t_ms, v)

    def _add1(self, t_ms, v):
        # the first level's cell as sums shifted by the cell's first value: cheap, and as accurate as
        # Welford's update for the spread of values within one cell
        nf = self.nf
        c = t_ms - t_ms % self.res[1]
        if c != self._c1:
            if self._n1:
                self._complete1()
            self._c1 = c
            self._n1 = 1
            for i in range(nf):
                x = v[i]
                self._k1[i] = self._mn1[i] = self._mx1[i] = x
                self._s1[i] = self._q1[i] = 0.0
            return
        self._n1 += 1
        k1, s1, q1, mn, mx = self._k1, self._s1, self._q1, self._mn1, self._mx1
        for i in range(nf):
            x = v[i]
            d = x - k1[i]
            s1[i] += d
            q1[i] += d * d
            if x < mn[i]:
                mn[i] = x
            elif x > mx[i]:
                mx[i] = x

    def _complete1(self):
        n = self._n1
        self._n1 = 0
        nf = self.nf
        mean = [0.0] * nf
        m2 = [0.0] * nf
        for i in range(nf):
            s = self._s1[i]
            mean[i] = self._k1[i] + s / n
            q = self._q1[i] - s * s / n
            m2[i] = q if q > 0.0 else 0.0
        self.acc[1] = [self._c1, n, mean, m2, list(self._mn1), list(self._mx1)]
        self._complete(1)

    def _feed(self, level, t, n, mean, m2, mn, mx):
        """Merge one finer cell (or record, m2 None) starting at t into the accumulator of `level`."""
        res = self.res[level]
        c = t - t % res
        a = self.acc[level]
        nf = self.nf
        if a is None and c < self._done(level):
            return  # already in a complete cell (a finer level was rebuilt after losing a block)
        if a is not None and a[0] != c:
            self._complete(level)
            a = None
        if a is None:
            m2l = list(m2) if m2 is not None else [0.0] * nf
            self.acc[level] = [c, n, list(mean), m2l, list(mn), list(mx)]
            return
        na = a[1]
        nt = na + n
        am, am2, amn, amx = a[2], a[3], a[4], a[5]
        for i in range(nf):
            d = mean[i] - am[i]
            am[i] += d * n / nt
            am2[i] += d * d * na * n / nt
            if m2 is not None:
                am2[i] += m2[i]
            if mn[i] < amn[i]:
                amn[i] = mn[i]
            if mx[i] > amx[i]:
                amx[i] = mx[i]
        a[1] = nt

    def _complete(self, level):
        a = self.acc[level]
        self.acc[level] = None
        self.logs[level].put(a[0], [a[1]] + a[2] + a[3] + a[4] + a[5])
        if level + 1 < len(self.res):
            # the float32-rounded min/max, as written
            lg = self.logs[level]
            r = struct.unpack_from(self.afmt, lg.buf, HDR_SIZE + (lg.n - 1) * lg.rsize)
            nf = self.nf
            self._feed(level + 1, a[0], a[1], a[2], a[3], r[2 + 2 * nf : 2 + 3 * nf], r[2 + 3 * nf :])

    def _write(self, level):
        # finer levels first: what a coarse block holds is always on flash in the finer levels
        for k in range(level + 1):
            self.logs[k].write_block()

    def flush(self):
        """Write the records and completed cells still in RAM; after this they survive a power cut."""
        self._write(len(self.logs) - 1)

    def close(self):
        if not self.closed:
            self.flush()
            self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _rebuild(self):
        """Rebuild the incomplete cells of every level from the finer levels after reopening."""
        top = len(self.res) - 1
        for level in range(top, 0, -1):
            done = self._done(level)
            fin = self.logs[level - 1]
            if level == 1:
                for t, r in fin.records(done, 1 << 62):
                    self._add1(t, r[1:])
            else:
                nf = self.nf
                for t, r in fin.records(done, 1 << 62):
                    self._feed(
                        level,
                        t,
                        r[1],
                        r[2 : 2 + nf],
                        r[2 + nf : 2 + 2 * nf],
                        r[2 + 2 * nf : 2 + 3 * nf],
                        r[2 + 3 * nf :],
                    )

    def _done(self, level):
        """End of the last complete cell of `level` (cells before it are in its files or buffer)."""
        t = self.logs[level].t_last
        return -(1 << 62) if t is None else t + self.res[level]

    def _retain(self):
        newest = self.logs[0].t_last
        for k, lg in enumerate(self.logs):
            age = self.max_age[k]
            if age is not None and newest is not None:
                while len(lg.seqs) > 1 and lg.firsts[1] <= newest - age:
                    lg.drop_oldest()
        if self.max_bytes is not None:
            # keep room for every level's newest segment to fill up, so the files never exceed max_bytes
            for lg in self.logs:
                while len(lg.seqs) > 1 and self._committed() > self.max_bytes:
                    lg.drop_oldest()

    def _committed(self):
        s = len(self.logs) * self.seg_bytes
        for lg in self.logs:
            for z in lg.sizes[:-1]:
                s += z
        return s

    def nbytes(self):
        """Bytes of the segment files on flash."""
        s = 0
        for lg in self.logs:
            for z in lg.sizes:
                s += z
        return s

    # ------------------------------------------------------------------ reading
    def range(self, t0_ms, t1_ms):
        """Iterator of (t_ms, values) for the records with t0_ms <= t_ms < t1_ms, oldest first."""
        for t, r in self.logs[0].records(t0_ms, t1_ms):
            yield t, r[1:]

    def first_time(self):
        fs = self.logs[0].firsts
        if fs:
            return fs[0]
        return self.logs[0].t_first if self.logs[0].n else None

    def last_time(self):
        return self.logs[0].t_last

    def cells(self, t0_ms, t1_ms, step_ms):
        """Cells (t, n, means, m2s, mins, maxs) covering [t0, t1), each inside one step, read from the
        coarsest level whose resolution divides step_ms, the edges from finer levels."""
        top = 0
        for k in range(1, len(self.res)):
            if step_ms % self.res[k] == 0:
                top = k
        return self._cells(top, t0_ms, t1_ms)

    def _cells(self, level, t0, t1):
        if t0 >= t1:
            return
        if level == 0:
            for t, r in self.logs[0].records(t0, t1):
                v = r[1:]
                yield t, 1, v, None, v, v
            return
        res = self.res[level]
        a = -((-t0) // res) * res
        b = t1 - t1 % res
        d = self._done(level)
        if b > d:
            b = d
        if a >= b:
            for c in self._cells(level - 1, t0, t1):
                yield c
            return
        for c in self._cells(level - 1, t0, a):
            yield c
        nf = self.nf
        for t, r in self.logs[level].records(a, b):
            yield t, r[1], r[2 : 2 + nf], r[2 + nf : 2 + 2 * nf], r[2 + 2 * nf : 2 + 3 * nf], r[2 + 3 * nf :]
        for c in self._cells(level - 1, b, t1):
            yield c

    def aggregate(self, t0_ms, t1_ms, step_ms, stats=("count", "mean", "min", "max", "std")):
        """[(bin start, {stat: tuple of one value per field}), ...] for each non-empty bin of step_ms
        (bins start at multiples of step_ms) in [t0_ms, t1_ms). std and var use ddof=1 (NaN for one
        value), like pandas."""
        if not isinstance(step_ms, int) or step_ms <= 0:
            raise StoreError("mlrt.store: step_ms must be a positive int")
        for s in stats:
            if s not in STATS:
                raise StoreError("mlrt.store: unknown stat %r; choose from %s" % (s, ", ".join(STATS)))
        out = []
        nf = self.nf
        cur = None
        for t, n, mean, m2, mn, mx in self.cells(t0_ms, t1_ms, step_ms):
            b = t - t % step_ms
            if cur is not None and cur[0] == b:
                na = cur[1]
                nt = na + n
                cm, cm2, cmn, cmx = cur[2], cur[3], cur[4], cur[5]
                for i in range(nf):
                    dd = mean[i] - cm[i]
                    cm[i] += dd * n / nt
                    cm2[i] += dd * dd * na * n / nt
                    if m2 is not None:
                        cm2[i] += m2[i]
                    if mn[i] < cmn[i]:
                        cmn[i] = mn[i]
                    if mx[i] > cmx[i]:
                        cmx[i] = mx[i]
                cur[1] = nt
                continue
            if cur is not None:
                out.append(_result(cur, stats, nf))
            cur = [b, n, list(mean), list(m2) if m2 is not None else [0.0] * nf, list(mn), list(mx)]
        if cur is not None:
            out.append(_result(cur, stats, nf))
        return out

    def thin(self, t0_ms, t1_ms, n_out, field=0, method="minmax"):
        """Points (t, value) of one field for a plot n_out wide: "minmax" keeps each pixel's first, min, max
        and last point, "lttb" keeps n_out points by largest-triangle-three-buckets. RAM ~ n_out."""
        from mlrt import thin

        i = self.fields.index(field) if isinstance(field, str) else field

        def pts():
            for t, v in self.range(t0_ms, t1_ms):
                yield t, v[i]

        if method == "minmax":
            return thin.minmax(pts(), t0_ms, t1_ms, n_out)
        if method == "lttb":
            return thin.lttb(pts, n_out)
        raise StoreError("mlrt.store: thin method is 'minmax' or 'lttb'")


def _result(c, stats, nf):
    n = c[1]
    d = {}
    for s in stats:
        if s == "count":
            d[s] = (n,) * nf
        elif s == "sum":
            d[s] = tuple(m * n for m in c[2])
        elif s == "mean":
            d[s] = tuple(c[2])
        elif s == "min":
            d[s] = tuple(c[4])
        elif s == "max":
            d[s] = tuple(c[5])
        elif s == "var":
            d[s] = tuple(m2 / (n - 1) if n > 1 else NAN for m2 in c[3])
        else:
            d[s] = tuple(
                math.sqrt(m2 / (n - 1)) if n > 1 and m2 > 0 else (0.0 if n > 1 else NAN) for m2 in c[3]
            )
    return c[0], d


def _mkdirs(path):
    cur = None
    for p in path.split("/"):
        cur = p if cur is None else cur + "/" + p
        if p and not _isdir(cur):
            os.mkdir(cur)
