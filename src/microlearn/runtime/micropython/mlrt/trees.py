# mlrt tree ensembles: decision trees, random forests, extra trees; scikit-learn's exact semantics.
#
# Inputs are rounded to float32 (array('f', x)) and every split compares integer keys of float32 bits
# (key(v) <= key(t) exactly when v <= t), so a port with double floats (unix, WebAssembly), one with
# single floats and one that drops float mantissa bits all decide every split alike, and no float object
# is made while walking. Classifiers add fixed-point votes (microlearn.passes.votes, the scheme the C
# methods use: probability x 2**S, S = min(21, 30 - bitlen(n_trees)), rounded half to even; only the
# non-zero ones) and take the argmax where it leads by more than n_trees + 1 units; otherwise (rare
# near-ties) the probabilities are summed tree by tree in the port's float (double: bit-exact
# scikit-learn).
from array import array
from struct import unpack_from

from mlrt._reader import bad, empty, to_array

FAMILY = 1
CLASSIFIER = 1
REGRESSOR = 2

INF = 0x7F800000  # key of +inf; keys above it are NaN
ROW_SUM_TOL = 1.0 / 1048576  # probability rows sum to 1 within n_outputs x 2**-20

_C = 1 << CLASSIFIER
_R = 1 << REGRESSOR
_S = 1 << 3  # anomaly score (boosted trees: isolation forests)
_A = _C | _R | _S

# tag -> (dtype code, critical, tasks bit mask, required): microlearn/backends/modelfile/schema.py TREES
SECTIONS = {
    b"ROOT": (6, 1, _A, 1),
    b"FEAT": (4, 1, _A, 1),
    b"MISS": (1, 1, _A, 1),
    b"THRS": (7, 1, _A, 1),
    b"RGHT": (6, 1, _A, 1),
    b"PROB": (8, 1, _C, 0),
    b"LCLS": (6, 1, _C, 0),
    b"LVAL": (7, 1, _A, 0),
    b"LV64": (8, 0, _A, 0),
    b"LABL": (9, 0, _C, 0),
    b"FNAM": (9, 0, _A, 0),
    b"SRCE": (9, 0, _A, 0),
    b"BOST": (8, 1, _A, 0),
    b"BASE": (8, 1, _A, 0),
    b"TOUT": (6, 1, _A, 0),
    b"CSET": (6, 1, _A, 0),
    b"CLFT": (1, 1, _A, 0),
    b"CBIT": (6, 1, _A, 0),
}
BOOST_ONLY = (b"BASE", b"TOUT", b"CSET", b"CLFT", b"CBIT")


def scale_bits(n_trees):
    """S of the vote scheme: votes are leaf probabilities x 2**S (microlearn.passes.votes)."""
    s = 30 - len(bin(n_trees)) + 2
    return 21 if s > 21 else s


def margin(n_trees):
    """Lead (in units of 2**-S) above which the votes' class is scikit-learn's class."""
    return n_trees + 1


def load(head, sec):
    if b"BOST" in sec:
        from mlrt import boost

        for tag, tc in ((b"FEAT", "h"), (b"MISS", "B"), (b"THRS", "i"), (b"RGHT", "i"), (b"PROB", "d")):
            if tag in sec:  # LAZY sections as arrays (THRS as float32 bits, AS_BITS)
                sec[tag] = sec[tag].array(tc)
        return boost.Boosted(head, sec)
    for tag in BOOST_ONLY:
        if tag in sec:
            raise bad("%s needs the BOST section (boosted trees)" % tag.decode())
    return Trees(head, sec)


AS_BITS = (b"THRS",)  # read as array('i') of float32 bits: keys are made in place
# left in the file when loading from a path (never held in RAM whole): the node arrays are packed from
# it block by block, PROB is read for near-ties and predict_proba
LAZY = (b"FEAT", b"MISS", b"THRS", b"RGHT", b"PROB")
BLOCK = 64  # nodes per block while packing

try:  # native-code walker where the port can run it (see _fast.py)
    from mlrt import _fast
except Exception:  # CPython, WebAssembly, or a port without viper: the bytecode path below
    _fast = None


try:  # can predict tell an array('f') from other arrays (memoryview.itemsize)?
    _ITEMSIZE = memoryview(array("f")).itemsize == 4
except AttributeError:
    _ITEMSIZE = False
_ATYPE = 0  # id(array) where _fast._is_f32 reads array objects right on this port (checked here)
if _fast is not None:
    try:
        _t = id(array)
        if (
            _fast._is_f32(array("f", (0.0, 1.0)), _t, 2)
            and not _fast._is_f32(array("f", (0.0, 1.0)), _t, 3)
            and not _fast._is_f32(array("d", (0.0, 1.0)), _t, 2)
            and not _fast._is_f32(array("i", (0, 1)), _t, 2)
            and not _fast._is_f32(memoryview(array("f", (0.0, 1.0))), _t, 2)
            and not _fast._is_f32([0.0, 1.0], _t, 2)
        ):
            _ATYPE = _t
    except Exception:
        pass


def _is_f32(x):
    """Whether x is an array('f') (x is already known to be an array of floats)."""
    if _ATYPE:
        return _fast._is_f32(x, _ATYPE, len(x)) == 1
    return _ITEMSIZE and memoryview(x).itemsize == 4


class Trees:
    """A tree ensemble read from a model file. ``predict(x)``: class index (classifier) or value."""

    def __init__(self, head, sec):
        task, n_features, n_outputs = head[4], head[5], head[6]
        self.classifier = task == CLASSIFIER
        self.kind = "classifier" if self.classifier else "regressor"
        self.n_features = n_features
        self.n_outputs = n_outputs
        self._roots = sec[b"ROOT"]
        self._nodes = (sec[b"FEAT"], sec[b"MISS"], sec[b"THRS"], sec[b"RGHT"])  # _reader.Stored
        self.n_trees = len(self._roots)
        self.n_nodes = len(sec[b"FEAT"]) // 2
        self.classes = None
        self.feature_names = None
        self._leaf_class = None
        self._prob = None
        if task not in (CLASSIFIER, REGRESSOR):
            raise bad("task %d is not one a tree ensemble has" % task)
        need = b"PROB" if self.classifier else b"LVAL"
        if need not in sec:
            raise bad("required section %s is missing" % need.decode())
        if self.classifier:
            self._prob = sec[b"PROB"]  # a _reader.Stored: float64 rows, read only for near-ties and proba
            if not 1 <= n_outputs <= 256 or len(self._prob) % (8 * n_outputs):
                raise bad("PROB does not hold n_leaves x %d probabilities" % n_outputs)
            self.n_leaves = len(self._prob) // (8 * n_outputs)
            if b"LCLS" in sec:
                self._leaf_class = sec[b"LCLS"]
                if len(self._leaf_class) != self.n_leaves:
                    raise bad("LCLS needs one class per leaf")
                for c in self._leaf_class:
                    if not 0 <= c < n_outputs:
                        raise bad("LCLS holds a class out of range")
            elif self.n_trees == 1:
                raise bad("a single-tree classifier needs LCLS")
            self.classes = _json_list(sec.get(b"LABL"), n_outputs)
        else:
            if n_outputs != 1:
                raise bad("a regressor has one output")
            self._value = sec.get(b"LV64") or sec[b"LVAL"]
            self.n_leaves = len(sec[b"LVAL"])
            if len(self._value) != self.n_leaves:
                raise bad("LV64 and LVAL differ in length")
        self.feature_names = _json_list(sec.get(b"FNAM"), n_features)
        self._check()
        if self.classifier and self._prob.data is not None:
            self._prob.data = bytes(self._prob.data)  # a copy: the caller's bytes are not kept
        if not self.classifier:
            _check_values(sec[b"LVAL"], sec.get(b"LV64"))
        lv64 = b"LV64" in sec
        sec.clear()  # the file's node arrays go as soon as they are packed
        self._pack()
        self.nbytes = 4 * len(self._a)  # bytes of the arrays the model keeps
        if self.classifier:
            if self._prob.data is not None:  # loaded from bytes: PROB is kept as a copy
                self.nbytes += len(self._prob)
            if self._leaf_class is not None:
                self.nbytes += 4 * self.n_leaves
        else:
            self.nbytes += (8 if lv64 else 4) * self.n_leaves
        self._fast = self._walk = None
        if _fast is not None:
            self._fast = _fast.prepare(self)
            if self._a[1] and _ATYPE:  # a classifier of several trees: votes
                self._walk = _fast._walk
                self._acc = self._fast.acc

    def _rows(self):
        """(leaf row, its probabilities as a tuple of floats) for every PROB row, in order, read from the
        file block by block, each row checked: values in [0, 1] summing to 1 (schema.py: Range, RowSums)."""
        nc = self.n_outputs
        rb = 8 * nc
        fmt = "<%dd" % nc
        tol = nc * ROW_SUM_TOL
        row = 0
        for blk in self._prob.blocks(rb * (512 // rb + 1)):
            if len(blk) % rb:
                raise bad("PROB could not be read in whole rows")
            for o in range(0, len(blk), rb):
                p = unpack_from(fmt, blk, o)
                s = 0.0
                for v in p:
                    if not 0.0 <= v <= 1.0:  # also NaN
                        raise bad("a leaf probability is outside [0, 1]")
                    s += v
                if not -tol <= s - 1.0 <= tol:
                    raise bad("a leaf's probabilities do not sum to 1")
                yield row, p
                row += 1

    def _pack(self):
        """One array('i') for both walkers: [n_trees, n_vote_classes, root offsets..., nodes..., leaf
        records...]; the file's node arrays are dropped.

        A node is 2 ints. A split node: the threshold key, then feature | MISS << 15 | (right child - node)
        << 16 (in nodes; the left child is the next node). A leaf: its leaf row (regressor, single tree)
        or the offset of its leaf row's record, then -1. A record (classifiers of several trees): the leaf
        row, the offset past its last vote, its votes. A vote is q << 8 | class: leaf probability x 2**S
        (scale_bits), rounded half to even; zero ones are left out."""
        nn, n, nc, nl = self.n_nodes, self.n_trees, self.n_outputs, self.n_leaves
        votes = self.classifier and n > 1
        one = 1 << scale_bits(n)
        size = 0
        if self.classifier:  # every row checked (and the votes counted) in one pass over PROB
            for _, p in self._rows():
                size += 2
                for v in p:
                    if round(v * one):
                        size += 1
        base = 2 + n
        rbase = base + 2 * nn
        a = empty("i", rbase + (size if votes else 0))  # every item is written below
        a[0] = n
        a[1] = nc if votes else 0
        for t in range(n):
            a[2 + t] = base + 2 * self._roots[t]
        self._roots = None
        if votes:  # rec[l]: offset of leaf row l's record
            rec = empty("i", nl)
            j = rbase
            for leaf, p in self._rows():
                rec[leaf] = j
                a[j] = leaf
                k = j + 2
                for c in range(nc):
                    q = round(p[c] * one)
                    if q:
                        a[k] = q << 8 | c
                        k += 1
                a[j + 1] = k
                j = k
        for i0, feat, miss, thr, right in self._blocks():
            for j in range(len(feat)):
                o = base + 2 * (i0 + j)
                f = feat[j]
                if f < 0:
                    row = right[j]
                    a[o] = rec[row] if votes else row
                    a[o + 1] = -1
                else:
                    d = right[j] - i0 - j
                    if d > 0xFFFF:
                        raise bad(
                            "a tree's right subtree starts more than 65535 nodes after its parent: too "
                            "large for mlrt (fewer nodes: max_depth, max_leaf_nodes)"
                        )
                    v = thr[j]
                    a[o] = -(v & 0x7FFFFFFF) if v < 0 else v  # the key (_keys)
                    w = f | miss[j] << 15 | d << 16
                    a[o + 1] = w - 0x100000000 if w > 0x7FFFFFFF else w
        self._nodes = None
        self._a = a

    def _blocks(self):
        """The node arrays BLOCK nodes at a time: (first node, FEAT, MISS, THRS bits, RGHT) as arrays,
        read from the file (one handle) or from the caller's bytes."""
        fs, ms, ts, rs = self._nodes
        f = fs.open()
        try:
            nn = self.n_nodes
            for i0 in range(0, nn, BLOCK):
                m = BLOCK if nn - i0 > BLOCK else nn - i0
                yield (
                    i0,
                    to_array("h", fs.chunk(f, 2 * i0, 2 * m)),
                    ms.chunk(f, i0, m),
                    to_array("i", ts.chunk(f, 4 * i0, 4 * m)),
                    to_array("i", rs.chunk(f, 4 * i0, 4 * m)),
                )
        finally:
            if f is not None:
                f.close()

    def _check(self):
        """Every index in range, every walk ends at a leaf: children lie after their parent, inside
        its tree (so there are no cycles), leaves point at existing leaf rows."""
        nf, nn, nl, n = self.n_features, self.n_nodes, self.n_leaves, self.n_trees
        if not 1 <= nf <= 32767 or n < 1 or nl < 1:
            raise bad("empty model or too many features")
        fs, ms, ts, rs = self._nodes
        if len(fs) != 2 * nn or len(ms) != nn or len(ts) != 4 * nn or len(rs) != 4 * nn:
            raise bad("node arrays differ in length")
        roots = self._roots
        if roots[0] != 0:
            raise bad("the first tree must start at node 0")
        for t in range(n):
            stop = roots[t + 1] if t + 1 < n else nn
            if not roots[t] < stop <= nn:
                raise bad("tree %d has no nodes or ends outside the node arrays" % t)
        t = 0
        stop = roots[1] if n > 1 else nn
        for i0, feat, miss, thr, right in self._blocks():
            for j in range(len(feat)):
                i = i0 + j
                if i == stop:
                    t += 1
                    stop = roots[t + 1] if t + 1 < n else nn
                f = feat[j]
                r = right[j]
                if thr[j] & 0x7FFFFFFF > INF or miss[j] > 1:
                    raise bad("node %d has a NaN threshold or a MISS other than 0 or 1" % i)
                if f < 0:
                    if f != -1 or not 0 <= r < nl:
                        raise bad("leaf %d is malformed" % i)
                elif f >= nf or not i + 1 < r < stop:
                    raise bad("node %d is malformed (feature or child)" % i)

    # ------------------------------------------------------------------ prediction
    def _f32(self, x):
        """x as array('f'): x itself when it already is one, else a copy rounded to float32 exactly as
        scikit-learn's X.astype(float32)."""
        if len(x) != self.n_features:
            raise ValueError("mlrt: expected %d features, got %d" % (self.n_features, len(x)))
        if type(x) is array and type(x[0]) is float and _is_f32(x):
            return x  # the only float array of 4-byte items is 'f'
        return array("f", x)

    def _row(self, x):
        """The float32 bits of x as signed integers (array('i'))."""
        return to_array("i", bytes(self._f32(x)))

    def _leaf(self, xb, t):
        """Offset of the leaf node tree t reaches for float32 bits xb."""
        a = self._a
        i = a[2 + t]
        w = a[i + 1]
        while w != -1:
            v = xb[w & 0x7FFF]
            if v < 0:  # negative float: key -magnitude; a negative NaN becomes a positive one
                v = -(v & 0x7FFFFFFF)
                if v < -0x7F800000:
                    v = 0x7F800001
            if v <= a[i] or (v > 0x7F800000 and w & 0x8000):  # NaN goes left only where MISS says
                i += 2
            else:
                i += (w >> 15) & 0x1FFFE
            w = a[i + 1]
        return i

    def _leaf_row(self, i):
        """The leaf row of the leaf node at offset i."""
        a = self._a
        return a[a[i]] if a[1] else a[i]

    def leaves(self, x):
        """Leaf row each tree reaches, as a list."""
        xb = self._row(x)
        return [self._leaf_row(self._leaf(xb, t)) for t in range(self.n_trees)]

    def _sums(self, xb):
        """Per class, the sum over trees (in tree order) of the PROB rows reached, in the port's float."""
        nc = self.n_outputs
        rb = 8 * nc
        fmt = "<%dd" % nc
        acc = [0.0] * nc
        offs = [self._leaf_row(self._leaf(xb, t)) * rb for t in range(self.n_trees)]
        for b in self._prob.read_many(offs, rb):
            p = unpack_from(fmt, b, 0)
            for c in range(nc):
                acc[c] += p[c]
        return acc

    def predict_proba(self, x):
        """Class probabilities (a list of floats), as scikit-learn's predict_proba."""
        if not self.classifier:
            raise TypeError("mlrt: predict_proba is for classifiers; this model is a regressor")
        acc = self._sums(self._row(x))
        n = self.n_trees
        if n > 1:
            for c in range(self.n_outputs):
                acc[c] /= n
        return acc

    def _argmax_exact(self, xb):
        acc = self._sums(xb)
        n = self.n_trees
        for c in range(self.n_outputs):  # divide first: two sums can round to equal means
            acc[c] /= n
        best = 0
        for c in range(1, self.n_outputs):
            if acc[c] > acc[best]:
                best = c
        return best

    def _argmax_votes(self, xb):
        """Argmax of the fixed-point votes, or -1 where the top two are too close to tell."""
        a = self._a
        acc = [0] * self.n_outputs
        for t in range(2, 2 + self.n_trees):  # the walk of _leaf, inlined
            i = a[t]
            w = a[i + 1]
            while w != -1:
                v = xb[w & 0x7FFF]
                if v < 0:
                    v = -(v & 0x7FFFFFFF)
                    if v < -0x7F800000:
                        v = 0x7F800001
                if v <= a[i] or (v > 0x7F800000 and w & 0x8000):
                    i += 2
                else:
                    i += (w >> 15) & 0x1FFFE
                w = a[i + 1]
            r = a[i]
            for j in range(r + 2, a[r + 1]):
                v = a[j]
                acc[v & 0xFF] += v >> 8
        return _top(acc, margin(self.n_trees))

    def predict(self, x):
        """Class index (classifier; self.classes[i] is its label) or value (regressor)."""
        w = self._walk
        if w is not None and type(x) is array:  # the walker checks typecode and length (-2: not 'f')
            r = w(self._a, x, self._acc, _ATYPE)
            if r >= 0:
                return r
            if r == -1:  # a near tie of votes: the exact sums decide
                return self._argmax_exact(self._row(x))
        fast = self._fast
        if fast is not None:
            r = fast.predict(self._f32(x))
            # None only for a near-tie of votes, which the walker has already found: exact sums
            return r if r is not None else self._argmax_exact(self._row(x))
        return self._predict(self._row(x))

    # kept apart from predict: MicroPython puts a call's frame on the heap once it has more than a few
    # locals, which costs more than the walk itself
    def _predict(self, xb):
        if self.classifier:
            if self.n_trees == 1:
                return self._leaf_class[self._a[self._leaf(xb, 0)]]
            r = self._argmax_votes(xb)
            return r if r >= 0 else self._argmax_exact(xb)
        v = self._value
        a = self._a
        s = 0.0
        for t in range(self.n_trees):
            s += v[a[self._leaf(xb, t)]]
        n = self.n_trees
        return s / n if n > 1 else s

    def predict_label(self, x):
        """The class label (from the file) of predict(x)."""
        i = self.predict(x)
        return self.classes[i] if self.classes is not None else i

    def __repr__(self):
        return "<mlrt.Trees %s: %d features, %d outputs, %d trees, %d nodes%s>" % (
            self.kind,
            self.n_features,
            self.n_outputs,
            self.n_trees,
            self.n_nodes,
            ", native" if self._fast is not None else "",
        )


def _keys(k):
    """Integer keys of float32 values, in place of their bits (array('i')): the bits for v >= 0, minus
    the magnitude bits for v < 0 (so -0.0 and 0.0 share key 0)."""
    for i in range(len(k)):
        v = k[i]
        if v < 0:
            k[i] = -(v & 0x7FFFFFFF)
    return k


def _top(acc, n):
    """First index of the largest of acc if it beats every other by more than n (margin(n_trees)), else
    -1."""
    if len(acc) == 1:
        return 0
    best = 0
    top = acc[0]
    second = -1
    for c in range(1, len(acc)):
        v = acc[c]
        if v > top:
            second = top
            top = v
            best = c
        elif v > second:
            second = v
    return best if top - second > n else -1


def _check_values(lval, lv64):
    """Finite leaf values; LVAL = LV64 rounded to float32 (schema.py: Finite, Float32Of)."""
    for v in lval:
        if v - v != 0:  # NaN or infinite
            raise bad("a leaf holds a NaN or infinite value")
    if lv64 is not None:
        f = array("f", lv64)
        for i in range(len(f)):
            if lv64[i] - lv64[i] != 0 or f[i] != lval[i]:
                raise bad("LVAL must be LV64 rounded to float32")


def _json_list(raw, n):
    if raw is None:
        return None
    try:
        import json

        v = json.loads(raw.decode("utf-8"))
    except ImportError:
        return None  # a port without json: labels are not available, indices are
    except MemoryError:
        raise
    except Exception:
        raise bad("a JSON section does not parse")
    if not isinstance(v, list) or len(v) != n:
        raise bad("a JSON section does not list %d items" % n)
    for x in v:
        if type(x) is not str and type(x) is not int:
            raise bad("a JSON section lists something other than strings and integers")
    return v
