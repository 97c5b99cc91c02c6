# mlrt linear models: logistic regression, linear SVMs, SGD, ridge, perceptron, least squares, lasso ...
#
# Scores x . w + b in the port's float (double on unix / WebAssembly, single on most boards) with an error
# bound computed from the port's own rounding; a class is decided there when the bound separates the top
# two scores. Otherwise (rare near ties) the scores are computed exactly with integers (the bits of the
# float32 inputs and of the float64 coefficients), so the class is that of the exact scores, which is
# scikit-learn's on every row whose margin exceeds float64 rounding (docs/linear.md).
import math
import struct
from array import array

from mlrt._reader import bad

try:  # native-code scores where the port can run them (see _fast_linear.py)
    from mlrt import _fast_linear
except Exception:  # CPython, WebAssembly, or a port without native code: the bytecode path below
    _fast_linear = None

FAMILY = 2
CLASSIFIER = 1
REGRESSOR = 2

_C = 1 << CLASSIFIER
_R = 1 << REGRESSOR

# tag -> (dtype code, critical, tasks bit mask, required): schema.LINEAR in microlearn
SECTIONS = {
    b"COEF": (8, 1, _C | _R, 1),
    b"INTC": (8, 1, _C | _R, 1),
    b"MODE": (1, 1, _C | _R, 1),
    b"LABL": (9, 0, _C, 0),
    b"FNAM": (9, 0, _C | _R, 0),
    b"SRCE": (9, 0, _C | _R, 0),
}

LOGISTIC = 1
SOFTMAX = 2
MHUBER = 3


def _unit():
    """Unit roundoff of the port's float, doubled (covers ports that truncate instead of rounding)."""
    k = 10
    while k < 80 and 1.0 + 2.0**-k != 1.0:
        k += 1
    return 2.0 ** (1 - k)


U = _unit()
DOUBLE = U < 1e-10
TINY = 2.0**-1000 if DOUBLE else 2.0**-100  # absolute error of the underflowing operations of a row
LIMITS = (2, 3, 4, 4, 3)


def load(head, sec):
    return Linear(head, sec)


def _json_list(raw, n):
    if raw is None:
        return None
    import json

    v = json.loads(bytes(raw).decode())
    if not isinstance(v, list) or len(v) != n:
        raise bad("a text section does not hold a list of %d items" % n)
    return v


def _finite(a, tag):
    for v in a:
        if v - v != 0:
            raise bad("%s holds a NaN or infinite value" % tag)


class Linear:
    """A linear model read from a model file. ``predict(x)``: class index (classifier), value (one
    output) or list of values; ``predict_proba(x)``, ``decision_function(x)``."""

    def __init__(self, head, sec):
        task, n, n_out = head[4], head[5], head[6]
        if task not in (CLASSIFIER, REGRESSOR):
            raise bad("task %d is not one a linear model has" % task)
        self.classifier = task == CLASSIFIER
        self.kind = "classifier" if self.classifier else "regressor"
        coef, b, mode = sec[b"COEF"], sec[b"INTC"], sec[b"MODE"]
        k = len(b)
        if n < 1 or k < 1 or len(coef) != k * n:
            raise bad("COEF holds %d values, not %d rows x %d features" % (len(coef), k, n))
        if len(mode) != 5:
            raise bad("MODE holds %d codes, not 5" % len(mode))
        for i in range(5):
            if mode[i] >= LIMITS[i]:
                raise bad("MODE holds a code out of range")
        want = (2 if k == 1 else k) if self.classifier else k
        if n_out != want:
            raise bad("%d rows of coefficients make %d outputs, the header says %d" % (k, want, n_out))
        _finite(coef, "COEF")
        _finite(b, "INTC")
        self.n_features = n
        self.n_outputs = n_out
        self.k = k
        self.f32 = mode[0] == 1
        self.proba_kind = mode[3]
        self.norm = mode[4]
        if self.proba_kind == SOFTMAX and k == 1:
            raise bad("softmax needs one row of coefficients per class")
        self._w = coef
        self._b = b
        # fast-path bound of row c: max|x_i| * ea[c] + eb[c]
        g = 2 * (n + 3) * U
        ea = array("d" if DOUBLE else "f")
        eb = array("d" if DOUBLE else "f")
        for c in range(k):
            s = 0.0
            tiny = 0
            for i in range(c * n, c * n + n):
                s += abs(coef[i])
                if not DOUBLE:
                    m, e = _f64(coef, i)
                    if m and e + len(bin(abs(m))) - 2 < -124:
                        tiny += 1  # below 2^-124: may read back as 0 on a single-float port
            ea.append(g * s * (1 + g) + tiny * 2.0**-123)
            eb.append(g * abs(b[c]) * (1 + g) + TINY * (n + 2))
        self._ea, self._eb = ea, eb
        self.classes = _json_list(sec.get(b"LABL"), n_out) if self.classifier else None
        self.feature_names = _json_list(sec.get(b"FNAM"), n)
        self.nbytes = 8 * (len(coef) + k) + 2 * (4 if not DOUBLE else 8) * k
        self.exact_rows = 0  # rows decided by the exact integer replay (for tests and curiosity)
        self._fast = _fast_linear  # None: bytecode path; set to None to time the bytecode path

    # ------------------------------------------------------------------ scores
    def _x32(self, x):
        if len(x) != self.n_features:
            raise ValueError("mlrt: x has %d values; the model takes %d features" % (len(x), self.n_features))
        return array("f", x)  # rounded to float32, as scikit-learn casts its input

    def _scores(self, xa):
        n, w, b = self.n_features, self._w, self._b
        if self._fast is not None:
            return self._fast.scores(xa, w, b, self.k, n)
        out = []
        for c in range(self.k):
            acc = b[c]
            o = c * n
            for i in range(n):
                acc += xa[i] * w[o + i]
            out.append(acc)
        return out

    def decision_function(self, x):
        """The scores (one per row of coefficients) in the port's float."""
        return self._scores(self._x32(x))

    # ------------------------------------------------------------------ exact replay
    def _exact(self, xa):
        """Exact scores as integers over a common power of two: [(mantissa sum per row)], exponent."""
        n, k = self.n_features, self.k
        xs = []
        for i in range(n):
            bits = struct.unpack_from("<I", xa, 4 * i)[0]
            e = (bits >> 23) & 0xFF
            m = bits & 0x7FFFFF
            if e == 0xFF:
                return None  # inf / NaN: no exact value
            if e:
                m |= 0x800000
            else:
                e = 1
            xs.append((-m if bits >> 31 else m, e - 150))
        terms = []
        emin = None
        for c in range(k):
            row = []
            for i in range(n):
                mw, ew = _f64(self._w, c * n + i)
                mx, ex = xs[i]
                if mw and mx:
                    e = ex + ew
                    row.append((mx * mw, e))
                    if emin is None or e < emin:
                        emin = e
            mb, eb = _f64(self._b, c)
            if mb:
                row.append((mb, eb))
                if emin is None or eb < emin:
                    emin = eb
            terms.append(row)
        if emin is None:
            return [0] * k
        return [sum(m << (e - emin) for m, e in row) for row in terms]

    def _replay(self, xa):
        v = self._exact(xa)
        self.exact_rows += 1
        if v is None:  # non-finite input: the port's float decides (scikit-learn refuses such rows)
            v = self._scores(xa)
        if self.k == 1:
            return 1 if v[0] > 0 else 0
        best = 0
        for c in range(1, self.k):
            if v[c] > v[best]:
                best = c
        return best

    # ------------------------------------------------------------------ predictions
    def predict(self, x):
        """Class index (classifier; self.classes[i] is its label), value (one output) or list of values."""
        xa = self._x32(x)
        s = self._scores(xa)
        if not self.classifier:
            return s[0] if self.k == 1 else s
        if self._fast is not None:
            xm = self._fast.absmax(xa)
        else:
            xm = 0.0
            for v in xa:
                a = -v if v < 0 else v
                if a > xm:
                    xm = a
        ea, eb = self._ea, self._eb
        if self.k == 1:
            t = xm * ea[0] + eb[0]
            if s[0] > t:
                return 1
            if s[0] < -t:
                return 0
            return self._replay(xa)
        best = 0
        for c in range(1, self.k):
            if s[c] > s[best]:
                best = c
        tb = xm * ea[best] + eb[best]
        for c in range(self.k):
            if c != best and not (s[best] - s[c] > tb + xm * ea[c] + eb[c]):
                return self._replay(xa)
        return best

    def predict_label(self, x):
        """The class label (from the file) of predict(x)."""
        i = self.predict(x)
        return self.classes[i] if self.classes is not None else i

    def predict_proba(self, x):
        """Class probabilities, as scikit-learn's predict_proba (in the port's float)."""
        if not self.classifier or not self.proba_kind:
            raise ValueError("mlrt: this model has no predict_proba (scikit-learn's has none either)")
        s = self._scores(self._x32(x))
        k, kind, norm = self.k, self.proba_kind, self.norm
        if kind == SOFTMAX:
            mx = max(s)
            p = [math.exp(v - mx) for v in s]
            t = sum(p)
            return [v / t for v in p]
        if k == 1:
            p1 = _sigmoid(s[0]) if kind == LOGISTIC else _mhuber(s[0])
            return [1.0 - p1, p1]
        p = [(_sigmoid(v) if kind == LOGISTIC else _mhuber(v)) for v in s]
        if not norm:
            return p
        t = sum(p)
        if t == 0:
            return [1.0 / k] * k if norm == 1 else p
        return [v / t for v in p]


def _f64(a, i):
    """(mantissa, exponent) of a[i] from the bits the array holds (exact on every port)."""
    bits = struct.unpack_from("<Q", a, 8 * i)[0]
    e = (bits >> 52) & 0x7FF
    m = bits & 0xFFFFFFFFFFFFF
    if e:
        m |= 0x10000000000000
    else:
        e = 1
    return (-m if bits >> 63 else m), e - 1075


ZERO_BELOW = -709.7827128933841 if DOUBLE else -88.72284  # scipy's expit is 0 from here down


def _sigmoid(v):
    if v <= ZERO_BELOW:
        return 0.0
    return 1.0 / (1.0 + math.exp(-v))


def _mhuber(v):
    t = 1.0 if v > 1.0 else (-1.0 if v < -1.0 else v)
    return (t + 1.0) / 2.0
