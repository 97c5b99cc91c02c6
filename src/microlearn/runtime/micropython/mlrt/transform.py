# mlrt preprocessing stages: scalers, imputer, normalizer, PCA, with scikit-learn's arithmetic.
#
# The same operations as ml_transform.h in the same order. Every float32 result is rounded by storing it
# into an array('f'). A float32 operation computed in a double-float port's float and then rounded to
# float32 is the float32 operation itself (for +, -, *, /, sqrt, double has more than 2 * 24 + 2 bits),
# so on ports whose floats are doubles (unix, WebAssembly, most desktop builds) every stage except PCA
# and the l2 normalizer is bit-identical to scikit-learn; single-float ports are exact for the float32
# operations and within one float32 rounding for the float64 ones. PCA accumulates in the port's float.
#
#   st = Elementwise(n, ops, f32_consts, f64_consts)   # usually built from a model file's sections
#   y = st.transform(x)                                 # array('f') of st.n_outputs values
from array import array
from math import sqrt

SUB = 1
ADD = 2
MUL = 3
DIV = 4
CLIP = 5
WIDE = 0x10  # the operation runs in float64 with a float64 constant, rounded to float32

NORM_L1 = 1
NORM_L2 = 2
NORM_MAX = 3
NORM_TINY = 1.1920928955078125e-06  # 10 * FLT_EPSILON rounded to float32: smaller norms divide by 1


def _isfinite(v):
    return v == v and v - v == 0


class Elementwise:
    """Per-feature operations in order. ``ops``: op codes (SUB..CLIP, | WIDE); float32 constants of the
    narrow ops and clip bounds (lo then hi) one row of n after the other in ``c32``, float64 constants of
    the wide ops in ``c64``."""

    def __init__(self, n, ops, c32, c64):
        self.n_inputs = self.n_features = self.n_outputs = n
        self.nbytes = 4 * len(c32) + 8 * len(c64)
        plan = []
        i32 = i64 = 0
        for code in ops:
            op = code & 0x0F
            if op < SUB or op > CLIP or (code & WIDE and op == CLIP) or code & ~0x1F:
                raise ValueError("mlrt: unknown stage operation %d" % code)
            src, at = (c64, i64) if code & WIDE else (c32, i32)
            k = 2 * n if op == CLIP else n
            if at + k > len(src):
                raise ValueError("mlrt: stage constants do not match its operations")
            # each operation keeps its own constants (a slice copy: no index arithmetic per value)
            c = src[at : at + n]
            hi = src[at + n : at + 2 * n] if op == CLIP else None
            if op == DIV:
                for t in c:
                    if t == 0:
                        raise ValueError("mlrt: a stage divides by zero")
            plan.append((op, c, hi))
            if code & WIDE:
                i64 += k
            else:
                i32 += k
        if i32 != len(c32) or i64 != len(c64):
            raise ValueError("mlrt: stage constants do not match its operations")
        self._plan = plan

    def transform(self, x, out=None):
        n = self.n_outputs
        if len(x) != n:
            raise ValueError("mlrt: the stage takes %d values, got %d" % (n, len(x)))
        v = out if out is not None else array("f", bytes(4 * n))
        for i in range(n):
            v[i] = x[i]
        for op, c, hi in self._plan:
            # one loop per operation: the float result of each step is rounded by the array('f') store
            if op == SUB:
                for i in range(n):
                    v[i] = v[i] - c[i]
            elif op == ADD:
                for i in range(n):
                    v[i] = v[i] + c[i]
            elif op == MUL:
                for i in range(n):
                    v[i] = v[i] * c[i]
            elif op == DIV:
                for i in range(n):
                    v[i] = v[i] / c[i]
            else:
                for i in range(n):
                    t = v[i]
                    if t == t:
                        lo = c[i]
                        t = t if t > lo else lo
                        lo = hi[i]
                        v[i] = t if t < lo else lo
        return v


class Impute:
    """SimpleImputer: out[j] = x[keep[j]], NaN replaced by fill[j] (float32)."""

    def __init__(self, n_in, keep, fill):
        if len(keep) != len(fill):
            raise ValueError("mlrt: imputer needs one fill value per kept feature")
        last = -1
        for k in keep:
            if not last < k < n_in:
                raise ValueError("mlrt: imputer feature index out of range or not increasing")
            last = k
        self.n_inputs = self.n_features = n_in
        self.n_outputs = len(keep)
        self.nbytes = 8 * len(keep)
        self._keep = keep
        self._fill = fill

    def transform(self, x, out=None):
        if len(x) != self.n_inputs:
            raise ValueError("mlrt: the stage takes %d values, got %d" % (self.n_inputs, len(x)))
        n = self.n_outputs
        v = out if out is not None else array("f", bytes(4 * n))
        keep, fill = self._keep, self._fill
        for j in range(n):
            t = x[keep[j]]
            v[j] = t if t == t else fill[j]
        return v


def pairwise_abs(a, lo, n, acc):
    """numpy's float32 pairwise sum of |a[lo:lo+n]|; acc: array('f') of 9 scratch values."""
    if n < 8:
        acc[8] = 0.0
        for i in range(lo, lo + n):
            acc[8] = acc[8] + abs(a[i])
        return acc[8]
    if n > 128:
        n2 = n // 2
        n2 -= n2 % 8
        s1 = pairwise_abs(a, lo, n2, acc)
        s2 = pairwise_abs(a, lo + n2, n - n2, acc)
        acc[8] = s1 + s2
        return acc[8]
    for j in range(8):
        acc[j] = abs(a[lo + j])
    i = 8
    end = n - n % 8
    while i < end:
        for j in range(8):
            acc[j] = acc[j] + abs(a[lo + i + j])
        i += 8
    acc[0] = acc[0] + acc[1]
    acc[2] = acc[2] + acc[3]
    acc[4] = acc[4] + acc[5]
    acc[6] = acc[6] + acc[7]
    acc[0] = acc[0] + acc[2]
    acc[4] = acc[4] + acc[6]
    acc[8] = acc[0] + acc[4]
    while i < n:
        acc[8] = acc[8] + abs(a[lo + i])
        i += 1
    return acc[8]


class Normalize:
    """Normalizer: x divided by its l1, l2 or max norm (float32). Refuses NaN and infinity, as
    scikit-learn does (ValueError)."""

    def __init__(self, n, norm):
        if norm not in (NORM_L1, NORM_L2, NORM_MAX):
            raise ValueError("mlrt: unknown norm %d" % norm)
        self.n_inputs = self.n_features = self.n_outputs = n
        self.nbytes = 36
        self.norm = norm
        self._acc = array("f", bytes(36))

    def transform(self, x, out=None):
        n = self.n_outputs
        if len(x) != n:
            raise ValueError("mlrt: the stage takes %d values, got %d" % (n, len(x)))
        for t in x:
            if not _isfinite(t):
                raise ValueError("mlrt: the normalizer needs finite inputs")
        acc = self._acc
        if self.norm == NORM_L1:
            s = pairwise_abs(x, 0, n, acc)
        elif self.norm == NORM_L2:
            acc[8] = 0.0
            for t in x:
                acc[7] = t * t
                acc[8] = acc[8] + acc[7]
            acc[8] = sqrt(acc[8])
            s = acc[8]
        else:
            s = 0.0
            for t in x:
                t = abs(t)
                s = t if t > s else s
        if s < NORM_TINY:
            s = 1.0
        v = out if out is not None else array("f", bytes(4 * n))
        for i in range(n):
            v[i] = x[i] / s
        return v


class Project:
    """PCA: (x . components[j] - offset[j]) / scale[j] accumulated in the port's float, in index order,
    rounded to float32. Refuses NaN and infinity (ValueError)."""

    def __init__(self, n_in, n_out, comp, offset, scale=None):
        if len(comp) != n_in * n_out or len(offset) != n_out or (scale is not None and len(scale) != n_out):
            raise ValueError("mlrt: PCA arrays do not match its sizes")
        self.n_inputs = self.n_features = n_in
        self.n_outputs = n_out
        self.nbytes = 8 * (len(comp) + len(offset) + (len(scale) if scale is not None else 0))
        self._c = comp
        self._off = offset
        self._scale = scale

    def transform(self, x, out=None):
        d, k = self.n_inputs, self.n_outputs
        if len(x) != d:
            raise ValueError("mlrt: the stage takes %d values, got %d" % (d, len(x)))
        for t in x:
            if not _isfinite(t):
                raise ValueError("mlrt: PCA needs finite inputs")
        v = out if out is not None else array("f", bytes(4 * k))
        c, sc = self._c, self._scale
        for j in range(k):
            acc = 0.0
            o = j * d
            for i in range(d):
                acc += x[i] * c[o + i]
            acc -= self._off[j]
            if sc is not None:
                acc /= sc[j]
            v[j] = acc
        return v


FAMILY = 33
TRANSFORM = 5
_T = 1 << TRANSFORM
KIND_ELEMENTWISE = 1
KIND_IMPUTE = 2
KIND_NORMALIZE = 3
KIND_PROJECT = 4

# tag -> (dtype code, critical, tasks bit mask, required): microlearn/backends/modelfile/transform.py STAGE
SECTIONS = {
    b"KIND": (1, 1, _T, 1),
    b"OPS ": (1, 1, _T, 0),
    b"C32 ": (7, 1, _T, 0),
    b"C64 ": (8, 1, _T, 0),
    b"KEEP": (6, 1, _T, 0),
    b"FILL": (7, 1, _T, 0),
    b"NORM": (1, 1, _T, 0),
    b"COMP": (8, 1, _T, 0),
    b"OFFS": (8, 1, _T, 0),
    b"SCAL": (8, 1, _T, 0),
    b"SRCE": (9, 0, _T, 0),
}


def _finite(a, tag):
    for v in a:
        if not _isfinite(v):
            raise ValueError("mlrt: not a valid model file: %s holds a NaN or infinite value" % tag)


def load(head, sec):
    """The stage of a stage file (family 33): header and sections as _reader.read gives them."""
    if head[4] != TRANSFORM:
        raise ValueError("mlrt: not a valid model file: a preprocessing stage is a transform")
    kind = sec[b"KIND"]
    if len(kind) != 1:
        raise ValueError("mlrt: not a valid model file: KIND holds one value")
    for tag in (b"C32 ", b"C64 ", b"FILL", b"COMP", b"OFFS", b"SCAL"):
        if tag in sec:
            _finite(sec[tag], tag.decode().strip())
    return from_sections(kind[0], head[5], head[6], sec)


def from_sections(kind, n_in, n_out, sec):
    """The stage of a record: its KIND, inputs and outputs, sections by tag."""
    try:
        if kind == KIND_ELEMENTWISE:
            if n_in != n_out:
                raise ValueError("mlrt: a per-feature stage has as many outputs as inputs")
            return Elementwise(
                n_in, sec[b"OPS "], sec.get(b"C32 ") or array("f"), sec.get(b"C64 ") or array("d")
            )
        if kind == KIND_IMPUTE:
            if len(sec[b"KEEP"]) != n_out:
                raise ValueError("mlrt: imputer record does not match its outputs")
            return Impute(n_in, sec[b"KEEP"], sec[b"FILL"])
        if kind == KIND_NORMALIZE:
            if n_in != n_out or len(sec[b"NORM"]) != 1:
                raise ValueError("mlrt: malformed normalizer record")
            return Normalize(n_in, sec[b"NORM"][0])
        if kind == KIND_PROJECT:
            sc = sec.get(b"SCAL")
            if sc is not None:
                for v in sc:
                    if not v > 0:
                        raise ValueError("mlrt: PCA whitening scales must be positive")
            return Project(n_in, n_out, sec[b"COMP"], sec[b"OFFS"], sc)
    except KeyError:
        raise ValueError("mlrt: a stage record misses a required section")
    raise ValueError("mlrt: unknown stage kind %d" % kind)
