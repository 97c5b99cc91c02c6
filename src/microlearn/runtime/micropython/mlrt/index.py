# mlrt.index: nearest-neighbour search over stored feature vectors, on flash, in little RAM
# (MicroPython and CPython, no numpy).
#
#   from mlrt.index import Index
#   ix = Index("/data/ix", dim=32, kind="vafile")       # "brute" | "lsh" | "pq" | "vafile"
#   ix.add(key, vector, t_ms=None, label=None)          # key: int (e.g. a window's start time)
#   ix.search(vector, k=10, t0_ms=None, t1_ms=None, label=None)  # [(key, euclidean distance), ...]
#   ix.set_label(key, label); ix.close()
#
# Files: meta.json (kind, dim, the trained quantiser), vectors.bin (fixed-size records: key, t_ms, the
# float32 vector, CRC-32), codes.bin (key, t_ms, the code, CRC-32) and labels.log (JSON lines). Records
# are appended; reopening drops a torn last record. Until `train_after` vectors are in, every kind
# searches exactly; then the quantiser is fitted on them and every vector gets a code:
#   lsh     64 random hyperplanes through the mean (SimHash); the records nearest in Hamming distance
#           (`candidates` of them) are re-ranked by exact distance.
#   pq      product quantiser: dim/4 sub-vectors of 4, 16 centroids each (k-means), one byte per
#           sub-vector; asymmetric distances from a per-query table, the best `candidates` re-ranked.
#   vafile  vector-approximation file: 4 bits per dimension (cells between training quantiles); lower
#           and upper distance bounds prune the scan, survivors are checked exactly: exact answers.
import json
import math
import os
import struct
from array import array

try:
    from binascii import crc32 as _crc
except ImportError:  # pragma: no cover
    _crc = None

KINDS = ("brute", "lsh", "pq", "vafile")
M32 = 0xFFFFFFFF
INF = float("inf")
_POP = bytes(bin(i).count("1") for i in range(256))


class IndexFileError(ValueError):
    pass


def _exists(p):
    try:
        os.stat(p)
        return True
    except OSError:
        return False


def _gauss(state):
    # xorshift32 + Box-Muller: the same planes on every port
    def u():
        s = state[0]
        s ^= (s << 13) & M32
        s ^= s >> 17
        s ^= (s << 5) & M32
        state[0] = s
        return (s + 1) / 4294967297.0

    return math.sqrt(-2.0 * math.log(u())) * math.cos(2.0 * math.pi * u())


class _Recs:
    """A file of fixed-size records, each ending with its CRC-32; appended in batches."""

    def __init__(self, path, fmt):
        self.path = path
        self.fmt = fmt
        self.body = struct.calcsize(fmt)
        self.size = self.body + 4
        self.pending = []
        self.n = 0
        try:
            sz = os.stat(path)[6]
        except OSError:
            sz = 0
        n = sz // self.size
        buf = bytearray(self.size)
        # a power cut tears only the last write: drop records at the end that fail their CRC
        if n:
            with open(path, "rb") as f:
                while n:
                    f.seek((n - 1) * self.size)
                    f.readinto(buf)
                    if (
                        _crc(memoryview(buf)[: self.body]) & M32
                        == struct.unpack_from("<I", buf, self.body)[0]
                    ):
                        break
                    n -= 1
        self.n = n
        self.clean = sz == n * self.size

    def append(self, vals):
        b = bytearray(self.size)
        struct.pack_into(self.fmt, b, 0, *vals)
        struct.pack_into("<I", b, self.body, _crc(memoryview(b)[: self.body]) & M32)
        self.pending.append(b)

    def count(self):
        return self.n + len(self.pending)

    def truncate_to(self, n):
        self.flush()
        if n < self.n:
            self.n = n
            self.clean = False

    def flush(self):
        if not self.pending and self.clean:
            return
        if self.clean:
            f = open(self.path, "ab")
        else:  # overwrite the torn tail in place
            if not _exists(self.path):
                open(self.path, "wb").close()
            f = open(self.path, "r+b")
            f.seek(self.n * self.size)
        try:
            for b in self.pending:
                f.write(b)
        finally:
            f.close()
        self.n += len(self.pending)
        self.pending = []
        if not self.clean:
            # the bytes after n records are garbage: rewrite the file to its valid length
            _truncate(self.path, self.n * self.size)
            self.clean = True

    def scan(self, batch=64):
        """(index, unpacked record) of every record, oldest first."""
        self.flush()
        sz = self.size
        buf = bytearray(sz * batch)
        mv = memoryview(buf)
        j = 0
        with open(self.path, "rb") if self.n else _Empty() as f:
            while j < self.n:
                m = min(batch, self.n - j)
                f.readinto(mv[: m * sz])
                for i in range(m):
                    yield j + i, struct.unpack_from(self.fmt, buf, i * sz)
                j += m

    def read(self, f, j, buf):
        f.seek(j * self.size)
        f.readinto(buf)
        return struct.unpack_from(self.fmt, buf, 0)


class _Empty:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        pass


def _truncate(path, size):
    tmp = path + ".tmp"
    with open(path, "rb") as src, open(tmp, "wb") as dst:
        left = size
        while left:
            b = src.read(min(left, 4096))
            if not b:
                break
            dst.write(b)
            left -= len(b)
    os.remove(path)
    os.rename(tmp, path)


class Index:
    def __init__(self, path, dim=None, kind="brute", train_after=1000, candidates=None, seed=1):
        if not isinstance(path, str) or not path:
            raise IndexFileError("mlrt.index: path must be a directory name (str)")
        self.path = path
        if not _exists(path):
            os.mkdir(path)
        mp = path + "/meta.json"
        if _exists(mp):
            with open(mp) as f:
                meta = json.load(f)
            if dim is not None and dim != meta["dim"]:
                raise IndexFileError(
                    "mlrt.index: %s holds vectors of dim %d, not %d" % (path, meta["dim"], dim)
                )
            if kind != meta["kind"] and kind != "brute":
                raise IndexFileError("mlrt.index: %s is a %r index" % (path, meta["kind"]))
        else:
            if not isinstance(dim, int) or not 1 <= dim <= 1024:
                raise IndexFileError("mlrt.index: dim must be an int 1..1024")
            if kind not in KINDS:
                raise IndexFileError("mlrt.index: kind must be one of %s" % ", ".join(KINDS))
            if kind == "pq" and dim % 4:
                raise IndexFileError("mlrt.index: pq needs dim to be a multiple of 4")
            meta = {"version": 1, "dim": dim, "kind": kind, "train_after": max(16, train_after), "seed": seed}
            self._write_meta(meta)
        self.meta = meta
        self.dim = d = meta["dim"]
        self.kind = meta["kind"]
        self.candidates = candidates
        self.vecs = _Recs(path + "/vectors.bin", "<qq%df" % d)
        self.codes = None
        self.labels = {}
        lp = path + "/labels.log"
        if _exists(lp):
            with open(lp) as f:
                for line in f:
                    try:
                        k, lab = json.loads(line)
                    except ValueError:
                        continue  # a torn last line
                    self.labels[k] = lab
        self.last_t = None
        if self.vecs.n:
            f = open(self.vecs.path, "rb")
            try:
                self.last_t = self.vecs.read(f, self.vecs.n - 1, bytearray(self.vecs.size))[1]
            finally:
                f.close()
        if "model" in meta:
            self._load_model()
            self._open_codes()

    # ------------------------------------------------------------------ model
    def _write_meta(self, meta):
        tmp = self.path + "/meta.json.tmp"
        with open(tmp, "w") as f:
            json.dump(meta, f)
        try:
            os.remove(self.path + "/meta.json")
        except OSError:
            pass
        os.rename(tmp, self.path + "/meta.json")

    def _code_fmt(self):
        if self.kind == "lsh":
            return "<qqII"
        if self.kind == "pq":
            return "<qq%dB" % (self.dim // 4)
        return "<qq%dB" % ((self.dim + 1) // 2)

    def _open_codes(self):
        self.codes = _Recs(self.path + "/codes.bin", self._code_fmt())
        nv = self.vecs.count()
        if self.codes.n > nv:
            self.codes.truncate_to(nv)
        if self.codes.count() < nv:  # codes lost in a power cut: encode again
            f = open(self.vecs.path, "rb")
            buf = bytearray(self.vecs.size)
            try:
                for j in range(self.codes.count(), nv):
                    r = self.vecs.read(f, j, buf)
                    self.codes.append((r[0], r[1]) + tuple(self._encode(r[2:])))
            finally:
                f.close()
            self.codes.flush()

    def _load_model(self):
        m = self.meta["model"]
        d = self.dim
        if self.kind == "lsh":
            self.mean = array("f", m["mean"])
            st = [self.meta["seed"] & M32 or 1]
            self.planes = [array("f", [_gauss(st) for _ in range(d)]) for _ in range(64)]
        elif self.kind == "pq":
            self.cent = [[array("f", c) for c in sub] for sub in m["cent"]]
        else:
            self.bounds = [array("f", b) for b in m["bounds"]]

    def _train(self):
        d = self.dim
        rows = [array("f", r[2:]) for _, r in self.vecs.scan()]
        n = len(rows)
        if self.kind == "lsh":
            mean = [0.0] * d
            for r in rows:
                for i in range(d):
                    mean[i] += r[i]
            model = {"mean": [v / n for v in mean]}
        elif self.kind == "pq":
            model = {"cent": [_kmeans(rows, s * 4, 4, 16, 8) for s in range(d // 4)]}
        else:
            bounds = []
            for i in range(d):
                col = sorted(r[i] for r in rows)
                bounds.append([col[(n * c) // 16] for c in range(1, 16)])
            model = {"bounds": bounds}
        self.meta["model"] = model
        self._write_meta(self.meta)
        self._load_model()
        self._open_codes()

    def _encode(self, v):
        if self.kind == "lsh":
            mean = self.mean
            d = self.dim
            lo = hi = 0
            for p in range(64):
                pl = self.planes[p]
                s = 0.0
                for i in range(d):
                    s += (v[i] - mean[i]) * pl[i]
                if s > 0:
                    if p < 32:
                        lo |= 1 << p
                    else:
                        hi |= 1 << (p - 32)
            return (lo, hi)
        if self.kind == "pq":
            out = []
            for s in range(self.dim // 4):
                best = INF
                bi = 0
                o = s * 4
                for c, cv in enumerate(self.cent[s]):
                    e = (
                        (v[o] - cv[0]) ** 2
                        + (v[o + 1] - cv[1]) ** 2
                        + (v[o + 2] - cv[2]) ** 2
                        + (v[o + 3] - cv[3]) ** 2
                    )
                    if e < best:
                        best = e
                        bi = c
                out.append(bi)
            return out
        cells = [_cell(self.bounds[i], v[i]) for i in range(self.dim)]
        if len(cells) % 2:
            cells.append(0)
        return [cells[i] | (cells[i + 1] << 4) for i in range(0, len(cells), 2)]

    # ------------------------------------------------------------------ writing
    def add(self, key, vector, t_ms=None, label=None):
        """Add a vector under an int key; t_ms (default: key) orders and filters; label is optional."""
        if not isinstance(key, int):
            raise IndexFileError("mlrt.index: key must be an int")
        if len(vector) != self.dim:
            raise IndexFileError(
                "mlrt.index: the vector has %d values, the index %d" % (len(vector), self.dim)
            )
        t = key if t_ms is None else t_ms
        for x in vector:
            if not -3.4e38 <= x <= 3.4e38:
                raise IndexFileError("mlrt.index: the vector holds NaN or inf")
        if self.last_t is not None and t < self.last_t:
            raise IndexFileError(
                "mlrt.index: vectors are added in time order (t_ms %d < %d)" % (t, self.last_t)
            )
        v = array("f", vector)
        self.vecs.append((key, t) + tuple(v))
        self.last_t = t
        if self.codes is not None:
            self.codes.append((key, t) + tuple(self._encode(v)))
        if label is not None:
            self.set_label(key, label)
        if len(self.vecs.pending) >= 32:
            self.flush()
        if self.codes is None and self.kind != "brute" and self.vecs.count() >= self.meta["train_after"]:
            self._train()

    def set_label(self, key, label):
        if label is not None and not isinstance(label, str):
            raise IndexFileError("mlrt.index: a label is a str (or None to remove it)")
        with open(self.path + "/labels.log", "a") as f:
            f.write(json.dumps([key, label]) + "\n")
        self.labels[key] = label

    def flush(self):
        self.vecs.flush()
        if self.codes is not None:
            self.codes.flush()

    def close(self):
        self.flush()

    def __len__(self):
        return self.vecs.count()

    def nbytes(self):
        """Bytes on flash."""
        s = 0
        for nm in ("vectors.bin", "codes.bin", "meta.json", "labels.log"):
            try:
                s += os.stat(self.path + "/" + nm)[6]
            except OSError:
                pass
        return s

    def entries(self, t0_ms, t1_ms, last=None):
        """[(key, t_ms)] of the vectors with t0_ms <= t < t1_ms (only the newest `last` of them), found by
        binary search over the fixed-size records: O(log n) reads, whatever the index size."""
        self.flush()
        v = self.vecs
        if not v.n:
            return []
        b8 = bytearray(8)
        f = open(v.path, "rb")
        try:

            def first(t):
                lo, hi = 0, v.n
                while lo < hi:
                    mid = (lo + hi) // 2
                    f.seek(mid * v.size + 8)
                    f.readinto(b8)
                    if struct.unpack("<q", b8)[0] < t:
                        lo = mid + 1
                    else:
                        hi = mid
                return lo

            j0 = first(t0_ms)
            j1 = first(t1_ms)
            if last is not None and j1 - j0 > last:
                j0 = j1 - last
            out = []
            b16 = bytearray(16)
            for j in range(j0, j1):
                f.seek(j * v.size)
                f.readinto(b16)
                out.append(struct.unpack("<qq", b16))
            return out
        finally:
            f.close()

    # ------------------------------------------------------------------ searching
    def search(self, vector, k=10, t0_ms=None, t1_ms=None, label=None):
        """The k nearest [(key, distance), ...], nearest first, among vectors with t0_ms <= t < t1_ms
        and the given label."""
        if len(vector) != self.dim:
            raise IndexFileError(
                "mlrt.index: the query has %d values, the index %d" % (len(vector), self.dim)
            )
        self.flush()
        q = array("f", vector)
        lo = -(1 << 62) if t0_ms is None else t0_ms
        hi = 1 << 62 if t1_ms is None else t1_ms
        labels = self.labels
        ok = None
        if label is not None:

            def ok(key):
                return labels.get(key) == label

        if self.codes is None or self.kind == "brute":
            return self._brute(q, k, lo, hi, ok)
        if self.kind == "vafile":
            return self._va(q, k, lo, hi, ok)
        return self._approx(q, k, lo, hi, ok)

    def _brute(self, q, k, lo, hi, ok):
        d = self.dim
        best = []  # (squared distance, key), sorted, at most k
        worst = INF
        for _, r in self.vecs.scan():
            t = r[1]
            if t < lo or t >= hi or (ok is not None and not ok(r[0])):
                continue
            s = 0.0
            for i in range(d):
                e = r[2 + i] - q[i]
                s += e * e
                if s > worst:
                    break
            if s < worst or len(best) < k:
                _insert(best, (s, r[0]), k)
                if len(best) == k:
                    worst = best[-1][0]
        return [(key, math.sqrt(s)) for s, key in best]

    def _exact(self, cands, q, k):
        d = self.dim
        best = []
        buf = bytearray(self.vecs.size)
        f = open(self.vecs.path, "rb")
        try:
            for j in sorted(cands):
                r = self.vecs.read(f, j, buf)
                s = 0.0
                for i in range(d):
                    e = r[2 + i] - q[i]
                    s += e * e
                _insert(best, (s, r[0]), k)
        finally:
            f.close()
        return [(key, math.sqrt(s)) for s, key in best]

    def _approx(self, q, k, lo, hi, ok):
        c = self.candidates or max(20 * k, 200)
        cand = []  # (approximate distance, index)
        worst = INF
        if self.kind == "lsh":
            ql, qh = self._encode(q)
            pop = _POP
            for j, r in self.codes.scan():
                t = r[1]
                if t < lo or t >= hi or (ok is not None and not ok(r[0])):
                    continue
                x = r[2] ^ ql
                y = r[3] ^ qh
                h = (
                    pop[x & 255]
                    + pop[(x >> 8) & 255]
                    + pop[(x >> 16) & 255]
                    + pop[x >> 24]
                    + pop[y & 255]
                    + pop[(y >> 8) & 255]
                    + pop[(y >> 16) & 255]
                    + pop[y >> 24]
                )
                if h < worst or len(cand) < c:
                    _insert(cand, (h, j), c)
                    if len(cand) == c:
                        worst = cand[-1][0]
        else:
            m = self.dim // 4
            tab = []
            for s in range(m):
                o = s * 4
                row = array("f", [0.0] * 16)
                for ci, cv in enumerate(self.cent[s]):
                    row[ci] = (
                        (q[o] - cv[0]) ** 2
                        + (q[o + 1] - cv[1]) ** 2
                        + (q[o + 2] - cv[2]) ** 2
                        + (q[o + 3] - cv[3]) ** 2
                    )
                tab.append(row)
            for j, r in self.codes.scan():
                t = r[1]
                if t < lo or t >= hi or (ok is not None and not ok(r[0])):
                    continue
                s = 0.0
                for i in range(m):
                    s += tab[i][r[2 + i]]
                if s < worst or len(cand) < c:
                    _insert(cand, (s, j), c)
                    if len(cand) == c:
                        worst = cand[-1][0]
        return self._exact([j for _, j in cand], q, k)

    def _va(self, q, k, lo_t, hi_t, ok):
        d = self.dim
        # per dimension and cell: lower and upper bounds of (x - q)^2
        lbt = []
        ubt = []
        for i in range(d):
            b = self.bounds[i]
            lrow = [0.0] * 16
            urow = [0.0] * 16
            for c in range(16):
                lo = b[c - 1] if c > 0 else -INF
                hi = b[c] if c < 15 else INF
                x = q[i]
                lrow[c] = (lo - x) ** 2 if x < lo else ((x - hi) ** 2 if x > hi else 0.0)
                urow[c] = max((x - lo) ** 2, (x - hi) ** 2)
            lbt.append(lrow)
            ubt.append(urow)
        half = (d + 1) // 2
        ubs = []  # the k smallest upper bounds
        kth = INF
        cand = []  # (lower bound, index) with lower bound <= kth upper bound at the time
        limit = 4 * k + 256
        for j, r in self.codes.scan():
            t = r[1]
            if t < lo_t or t >= hi_t or (ok is not None and not ok(r[0])):
                continue
            lb = 0.0
            ub = 0.0
            for h in range(half):
                byte = r[2 + h]
                i = 2 * h
                lb += lbt[i][byte & 15]
                ub += ubt[i][byte & 15]
                if i + 1 < d:
                    lb += lbt[i + 1][byte >> 4]
                    ub += ubt[i + 1][byte >> 4]
            if lb > kth:
                continue
            cand.append((lb, j))
            if ub < kth or len(ubs) < k:
                _insert(ubs, ub, k)
                if len(ubs) == k:
                    kth = ubs[-1]
            if len(cand) > limit:  # keep the candidate list short
                cand = [c for c in cand if c[0] <= kth]
                limit = max(limit, 2 * len(cand))
        cand = sorted(c for c in cand if c[0] <= kth)
        best = []
        buf = bytearray(self.vecs.size)
        f = open(self.vecs.path, "rb")
        try:
            for lb, j in cand:
                if len(best) == k and lb > best[-1][0]:
                    break
                r = self.vecs.read(f, j, buf)
                s = 0.0
                for i in range(d):
                    e = r[2 + i] - q[i]
                    s += e * e
                _insert(best, (s, r[0]), k)
        finally:
            f.close()
        return [(key, math.sqrt(s)) for s, key in best]


def _insert(lst, item, k):
    """Insert into the sorted list lst, keeping at most k items."""
    a = 0
    b = len(lst)
    while a < b:
        m = (a + b) // 2
        if item < lst[m]:
            b = m
        else:
            a = m + 1
    lst.insert(a, item)
    if len(lst) > k:
        lst.pop()


def _cell(b, x):
    c = 0
    while c < 15 and x > b[c]:
        c += 1
    return c


def _kmeans(rows, off, w, kc, iters):
    """k-means on the w values at offset off of each row; kc centroids from spread-out rows."""
    n = len(rows)
    cent = [[rows[(i * n) // kc][off + j] for j in range(w)] for i in range(kc)]
    for _ in range(iters):
        sums = [[0.0] * w for _ in range(kc)]
        cnt = [0] * kc
        for r in rows:
            best = INF
            bi = 0
            for c in range(kc):
                cv = cent[c]
                e = 0.0
                for j in range(w):
                    z = r[off + j] - cv[j]
                    e += z * z
                if e < best:
                    best = e
                    bi = c
            cnt[bi] += 1
            sv = sums[bi]
            for j in range(w):
                sv[j] += r[off + j]
        for c in range(kc):
            if cnt[c]:
                cent[c] = [s / cnt[c] for s in sums[c]]
    return cent
