# mlrt nearest neighbours: KNeighborsClassifier / KNeighborsRegressor (uniform or distance weights) and
# NearestCentroid, with examples added and removed at run time (on-device learning: label new examples
# on the device).
#
# Rule (docs/neighbors.md): distances from the float32-rounded input to every example (squared
# euclidean, manhattan or minkowski sum |d|^p, summed in feature order; chebyshev max |d|) in the port's
# float; the k nearest, an example replacing a kept one only when strictly nearer (equal distances keep
# the lower index); the most frequent class among them (or the sum of 1/distance), the lowest class
# index among equal counts. On ports whose float is double (unix, WebAssembly) this is scikit-learn's
# class outside float64 ties of the k-th distance; on single-float ports the distances are float32 and
# near ties may differ.
#
# Storage: the examples are held in the smallest array type that keeps every value exactly: array('b')
# (int8), array('h') (int16), array('f') (float32), else the port's float. With integer examples and an
# integer input row (every value an integer of the examples' type) the distances are integers; where the
# port runs native code, _fast_knn computes them (and keeps the k nearest by the same rule) in machine
# words: the same distances, the same neighbours, about a hundred times faster than this module's loop
# (docs/micropython.md).
from array import array

from mlrt._reader import bad

try:  # machine-code integer distances where the port can run them (see _fast_knn.py)
    from mlrt import _fast_knn
except Exception:  # CPython, WebAssembly, or a port without viper: the bytecode path below
    _fast_knn = None

_TOP = 2147483647  # no integer sum may pass 2^31 - 1 (machine words of 32 bits)
_RANGE = {"b": 127, "h": 32767}

FAMILY = 4
CLASSIFIER = 1
REGRESSOR = 2
_C = 1 << CLASSIFIER
_R = 1 << REGRESSOR

# tag -> (dtype code, critical, tasks bit mask, required): schema.NEIGHBORS in microlearn
SECTIONS = {
    b"EXMP": (8, 1, _C | _R, 1),
    b"EXLB": (6, 1, _C, 1),
    b"KNBR": (5, 1, _C | _R, 1),
    b"EXVL": (8, 1, _R, 1),
    b"MNKP": (8, 1, _C | _R, 0),
    b"LABL": (9, 0, _C, 0),
    b"FNAM": (9, 0, _C | _R, 0),
    b"SRCE": (9, 0, _C | _R, 0),
}
METRICS = ("euclidean", "manhattan", "chebyshev", "minkowski")


def load(head, sec):
    return Neighbors(head, sec)


def _json_list(raw, n):
    if raw is None:
        return None
    import json

    v = json.loads(bytes(raw).decode())
    if not isinstance(v, list) or len(v) != n:
        raise bad("a text section does not hold a list of %d items" % n)
    return v


def _tf():
    try:
        return array("d"), 8
    except ValueError:  # a port without double arrays
        return array("f"), 4


def _fits(vals, code):
    """Whether every value of vals is held exactly by an array of type code ('b', 'h' or 'f')."""
    if code == "f":
        f = array("f", vals)
        for i in range(len(f)):
            if f[i] != vals[i]:
                return False
        return True
    top = _RANGE[code]
    for v in vals:
        if v != int(v) or not -top - 1 <= v <= top:
            return False
    return True


def _store(vals):
    """(array, type code): vals in the smallest array type that holds each exactly ('b', 'h', 'f'),
    else in the port's float ('d', or 'f' where there are no double arrays)."""
    for code in ("b", "h", "f"):
        if _fits(vals, code):
            return array(code, [int(v) for v in vals] if code != "f" else vals), code
    x, isz = _tf()
    for v in vals:
        x.append(v)
    return x, "d" if isz == 8 else "f"


def _maxabs(vals):
    top = 0
    for v in vals:
        a = v if v >= 0 else -v
        if a > top:
            top = a
    return int(top)


class Neighbors:
    """A nearest-neighbour classifier read from a model file. ``predict(x)``: class index;
    ``add(x, label)`` / ``remove(index)``: change the stored examples (capacity: ``capacity``, None for
    no limit but the heap)."""

    def __init__(self, head, sec):
        task, n, n_out = head[4], head[5], head[6]
        if task not in (CLASSIFIER, REGRESSOR):
            raise bad("task %d is not one a nearest-neighbour model has" % task)
        reg = task == REGRESSOR
        ex, knbr = sec[b"EXMP"], sec[b"KNBR"]
        if len(knbr) != 7:
            raise bad("KNBR holds %d codes, not 7" % len(knbr))
        vals = sec[b"EXVL"] if reg else None
        m = len(vals) if reg else len(sec[b"EXLB"])
        lab = array("H", bytes(2 * m)) if reg else sec[b"EXLB"]
        if reg:
            if n_out != 1:
                raise bad("a nearest-neighbour regressor has one output, the header says %d" % n_out)
            for v in vals:
                if v - v != 0:
                    raise bad("EXVL holds a NaN or infinite value")
        if n < 1 or m < 1 or len(ex) != m * n:
            raise bad("EXMP holds %d values, not %d examples x %d features" % (len(ex), m, n))
        k, metric = knbr[0], knbr[1]
        pw = sec.get(b"MNKP")
        if (pw is not None) != (metric == 3) or (pw is not None and len(pw) != 1):
            raise bad("MNKP (minkowski's p) is present exactly when the metric is 3")
        self.p = 2.0
        if pw is not None:
            if not 1.0 <= pw[0] <= 1024.0:
                raise bad("MNKP: p outside [1, 1024]")
            self.p = pw[0]
        if metric >= len(METRICS) or knbr[2] > 1 or knbr[3] > 2 or knbr[5] > 1 or knbr[6] > 1:
            raise bad("KNBR holds a code out of range")
        if k < 1 or k > m:
            raise bad("k = %d, not 1 .. %d" % (k, m))
        for c in lab:
            if c < 0 or c >= n_out:
                raise bad("EXLB holds a class index out of range")
        for v in ex:
            if v - v != 0:
                raise bad("EXMP holds a NaN or infinite value")
        self.classifier = not reg
        self.kind = "regressor" if reg else "classifier"
        self._v = None
        if reg:
            self._v, self._visz = _tf()
            for v in vals:
                self._v.append(v)
        self.n_features = n
        self.n_outputs = n_out
        self.k = k
        self.metric = METRICS[metric]
        self._mcode = metric
        self._distance = knbr[6] == 1
        self._x, self._xcode = _store(ex)
        self._set_fast()
        self._y = array("H", lab)
        self.capacity = None
        self.classes = _json_list(sec.get(b"LABL"), n_out)
        self.feature_names = _json_list(sec.get(b"FNAM"), n)

    def _set_fast(self):
        """The machine-code integer path's state for the examples' storage type (None: bytecode only)."""
        code = self._xcode
        self._fast = None
        if _fast_knn is not None and code in _RANGE and self._mcode != 3:
            self._fast = (
                code == "h",
                array(code, bytes((1 + (code == "h")) * self.n_features)),  # the input as integers
                array("i", bytes(4 * self.k)),  # distances
                array("i", bytes(4 * self.k)),  # indices
            )
            self._emax = _maxabs(self._x)

    @property
    def storage(self):
        """How the examples are held: 'int8', 'int16', 'float32' or 'float64'."""
        return {"b": "int8", "h": "int16", "f": "float32", "d": "float64"}[self._xcode]

    @property
    def n_examples(self):
        return len(self._y)

    @property
    def nbytes(self):
        isz = {"b": 1, "h": 2, "f": 4, "d": 8}[self._xcode]
        v = self._visz * len(self._v) if self._v is not None else 0
        return isz * len(self._x) + v + 2 * len(self._y)

    def _x32(self, x):
        if len(x) != self.n_features:
            raise ValueError("mlrt: x has %d values; the model takes %d features" % (len(x), self.n_features))
        return array("f", x)  # rounded to float32, as the C runtime's input

    def predict(self, x):
        """Class index of x (the rule above); a regressor: the (1/distance-weighted) mean target of the k
        nearest."""
        if self._distance and self._v is not None:
            idx = self._nearest(x)
            w = self._weights()
            num = den = 0.0
            for p in range(len(idx)):
                num += self._v[idx[p]] * w[p]
                den += w[p]
            return num / den
        if self._distance:
            votes = self._weighted(x)
            best = 0
            for c in range(1, self.n_outputs):
                if votes[c] > votes[best]:
                    best = c
            return best
        if self._v is not None:
            s = 0.0
            for j in self._nearest(x):
                s += self._v[j]
            return s / self.k
        votes = self._votes(x)
        best = 0
        for c in range(1, self.n_outputs):
            if votes[c] > votes[best]:
                best = c
        return best

    def _weights(self):
        """1 / distance of each of the k nearest just found (only the zero-distance ones count, with
        weight 1, when there are any): scikit-learn's weights='distance'."""
        d = self._dist
        if 0.0 in d:
            return [1.0 if v == 0.0 else 0.0 for v in d]
        mc = self._mcode
        if mc == 0:
            return [1.0 / v**0.5 for v in d]
        if mc == 3:
            r = 1.0 / self.p
            return [1.0 / v**r for v in d]
        return [1.0 / v for v in d]

    def _weighted(self, x):
        """Per class, the sum of the weights of the k nearest."""
        idx = self._nearest(x)
        w = self._weights()
        votes = [0.0] * self.n_outputs
        for p in range(len(idx)):
            votes[self._y[idx[p]]] += w[p]
        return votes

    def predict_proba(self, x):
        """Share of the k nearest examples in each class (weights='distance': of their weights)."""
        if self._distance:
            v = self._weighted(x)
            s = sum(v)
            return [a / s for a in v]
        votes = self._votes(x)
        return [v / self.k for v in votes]

    def _votes(self, x):
        votes = [0] * self.n_outputs
        for j in self._nearest(x):
            votes[self._y[j]] += 1
        return votes

    def _nearest(self, x):
        xa = self._x32(x)
        n, k, ex, mc, pw = self.n_features, self.k, self._x, self._mcode, self.p
        m = len(self._y)
        if m < k:
            raise ValueError("mlrt: %d examples stored, k = %d: add examples first" % (m, k))
        fast = self._fast
        if fast is not None:
            wide, xq, dq, iq = fast
            big = _fast_knn.ints(xa, n, xq, wide)
            if big:  # an integer row: the largest sum must stay below 2^31
                d = big - 1 + self._emax
                if (n * d * d if mc == 0 else n * d if mc == 1 else d) <= _TOP:
                    _fast_knn.nearest(xq, ex, m, n, k, mc, wide, dq, iq)
                    self._dist = [float(dq[p]) for p in range(k)]
                    return [iq[p] for p in range(k)]
        dist = []
        idx = []
        o = 0
        for j in range(m):
            s = 0.0
            for i in range(n):
                d = xa[i] - ex[o + i]
                if mc == 0:
                    s += d * d
                elif mc == 1:
                    s += d if d >= 0 else -d
                elif mc == 3:
                    s += (d if d >= 0 else -d) ** pw
                else:
                    a = d if d >= 0 else -d
                    if a > s or a != a:
                        s = a
            o += n
            if s != s:
                raise ValueError("mlrt: x holds NaN")
            if len(dist) == k:
                if not s < dist[-1]:
                    continue
                dist.pop()
                idx.pop()
            p = len(dist)
            while p > 0 and s < dist[p - 1]:  # strictly nearer moves up: equal distances keep index order
                p -= 1
            dist.insert(p, s)
            idx.insert(p, j)
        self._dist = dist
        return idx

    # ------------------------------------------------------------------ on-device learning
    def add(self, x, label, name=None):
        """Store example x (rounded to float32) of class index ``label`` (a regressor: its target value)
        after the others. ``label`` = n_outputs starts a new class (called ``name``, else its index)."""
        new = False
        if self._v is not None:
            if label - label != 0:
                raise ValueError("mlrt: the target value is NaN or infinite")
        elif label == self.n_outputs and label < 65535:
            new = True
        elif not 0 <= label < self.n_outputs:
            raise ValueError(
                "mlrt: label %d is not a class index 0 .. %d (or %d, a new class)"
                % (label, self.n_outputs - 1, self.n_outputs)
            )
        if self.capacity is not None and len(self._y) >= self.capacity:
            raise ValueError("mlrt: the model holds its capacity of %d examples" % self.capacity)
        xa = self._x32(x)
        for v in xa:
            if v - v != 0:
                raise ValueError("mlrt: x holds NaN or an infinite value")
        if self._xcode in _RANGE and not _fits(xa, self._xcode):
            self._widen(xa)
        for v in xa:
            self._x.append(int(v) if self._xcode in _RANGE else v)
        if self._fast is not None:
            self._emax = max(self._emax, _maxabs(xa))
        if self._v is not None:
            self._v.append(label)
            label = 0
        self._y.append(label)
        if new:
            self.n_outputs += 1
            if self.classes is not None:
                self.classes.append(label if name is None else name)

    def _widen(self, xa):
        """Move integer examples to the narrowest type that also holds xa (float32 values)."""
        code = "h" if self._xcode == "b" and _fits(xa, "h") else "f"
        self._x = array(code, self._x)
        self._xcode = code
        self._set_fast()

    def remove(self, index):
        """Remove example number ``index``; the later ones move down one place (order is kept)."""
        m = len(self._y)
        if not 0 <= index < m:
            raise ValueError("mlrt: no example %d (%d stored)" % (index, m))
        n = self.n_features
        x = self._x
        for i in range(index * n, (m - 1) * n):
            x[i] = x[i + n]
        y = self._y
        for i in range(index, m - 1):
            y[i] = y[i + 1]
        self._x = x[: (m - 1) * n]
        self._y = y[: m - 1]
        v = self._v
        if v is not None:
            for i in range(index, m - 1):
                v[i] = v[i + 1]
            self._v = v[: m - 1]
