# mlrt neural networks (model family 6): a chain of layers read from per-layer records.
#
# Each layer kind is built by a module listed in LAYER_MODULES (record code -> module); the module's
# make_layer(code, ints, prms, off, in_shape, out_shape) returns (op, used): op(x) maps the flat input
# list to the flat output list, used is how many PRMS values the layer took. Dense and Activation live
# here; other kinds in modules of their own (one line each below).
#
# Arithmetic: the port's float. On a port whose float is a double (unix, WebAssembly, boards with double
# floats) this replays the library's float64 arithmetic in sequence, so a classifier's class is the
# library's on every row outside rounding of a tie (docs/networks.md); on a single-float port it is a
# float32 evaluation.
import math
import struct
from array import array

from mlrt._reader import bad

try:  # native-code dense layers where the port can run them (see _fast_network.py)
    from mlrt import _fast_network
except Exception:  # CPython, WebAssembly, or a port without native code: the bytecode path
    _fast_network = None
try:  # machine-word int8 dot products (see _fast_q8.py)
    from mlrt import _fast_q8
except Exception:
    _fast_q8 = None

FAMILY = 6
CLASSIFIER = 1
REGRESSOR = 2
_CR = (1 << CLASSIFIER) | (1 << REGRESSOR)
_C = 1 << CLASSIFIER
RECORD = 8

# tag -> (dtype code, critical, tasks bit mask, required): schema NETWORK in microlearn
SECTIONS = {
    b"SHAP": (6, 1, _CR, 1),
    b"LAYR": (6, 1, _CR, 1),
    b"PRMS": (8, 1, _CR, 1),
    b"MODE": (1, 1, _CR, 1),
    b"QINP": (6, 0, _CR, 0),
    b"QLYR": (6, 0, _CR, 0),
    b"QWGT": (2, 0, _CR, 0),
    b"QBIA": (6, 0, _CR, 0),
    b"QMUL": (6, 0, _CR, 0),
    b"QSHF": (2, 0, _CR, 0),
    b"QTAB": (2, 0, _CR, 0),
    b"QSCL": (8, 0, _CR, 0),
    b"LABL": (9, 0, _C, 0),
    b"FNAM": (9, 0, _CR, 0),
    b"SRCE": (9, 0, _CR, 0),
}

# layer record code -> module with make_layer (ir/network.py's layer codes)
LAYER_MODULES = {
    1: "network",
    2: "network",
    16: "network_conv",
    17: "network_conv",
    18: "network_conv",
    19: "network_conv",
    20: "network_conv",
    21: "network_conv",
}

IDENTITY, LOGISTIC, TANH, RELU, SOFTMAX = 0, 1, 2, 3, 4


def load(head, sec):
    return Network(head, sec)


def _json_list(raw, n):
    if raw is None:
        return None
    import json

    v = json.loads(bytes(raw).decode())
    if not isinstance(v, list) or len(v) != n:
        raise bad("a text section does not hold a list of %d items" % n)
    return v


def _logistic(v):
    if v >= 0:
        return 1.0 / (1.0 + math.exp(-v))
    e = math.exp(v)
    return e / (1.0 + e)


def activate(y, act):
    """Activation ``act`` on the list y (a new list; softmax over all of y)."""
    if act == IDENTITY:
        return y
    if act == RELU:
        return [v if v > 0 else 0.0 for v in y]
    if act == TANH:
        return [math.tanh(v) for v in y]
    if act == LOGISTIC:
        return [_logistic(v) for v in y]
    mx = max(y)
    e = [math.exp(v - mx) for v in y]
    s = 0.0
    for v in e:
        s += v
    return [v / s for v in e]


class Dense:
    def __init__(self, n_in, n_out, act, w, b):
        self.n_in, self.n_out, self.act = n_in, n_out, act
        self.w, self.b = w, b

    def linear(self, x):
        if _fast_network is not None:
            return _fast_network.dense(x, self.w, self.b, self.n_in, self.n_out)
        n, w = self.n_in, self.w
        out = []
        for j in range(self.n_out):
            o = j * n
            acc = 0.0
            for i in range(n):
                acc += x[i] * w[o + i]
            out.append(acc + self.b[j])
        return out

    def __call__(self, x):
        return activate(self.linear(x), self.act)


class Activation:
    def __init__(self, act):
        self.act = act

    def linear(self, x):
        return x

    def __call__(self, x):
        return activate(x, self.act)


def unfold(act):
    """(activation, parameters to skip) of a layer record's activation field: a batch normalization
    folded into the layer adds 8 to it and two parameters after the biases (bound data, not computed)."""
    if act >= 8:
        return act - 8, 2
    return act, 0


def make_layer(code, ints, prms, off, in_shape, out_shape):
    if code == 1:
        n_out, act = ints[0], ints[1]
        act, fold = unfold(act)
        if len(in_shape) != 1 or out_shape != (n_out,) or act < 0 or act > 4:
            raise bad("a dense layer record does not fit its input")
        n_in = in_shape[0]
        used = n_in * n_out + n_out
        if off + used + fold > len(prms):
            raise bad("PRMS ends inside a dense layer")
        w = array("d", prms[off : off + n_in * n_out])
        b = array("d", prms[off + n_in * n_out : off + used])
        return Dense(n_in, n_out, act, w, b), used + fold
    if code == 2:
        if ints[0] < 0 or ints[0] > 4 or out_shape != in_shape:
            raise bad("an activation record does not fit its input")
        return Activation(ints[0]), 0
    raise bad("layer kind %d is not supported by this mlrt: update mlrt" % code)


def dot_q8(x, w, off, n):
    """sum_i x[i] * w[off + i], int8 values stored as two's-complement bytes (bytecode path)."""
    acc = 0
    for i in range(n):
        a = x[i]
        b = w[off + i]
        acc += (a - 256 if a > 127 else a) * (b - 256 if b > 127 else b)
    return acc


def requant(acc, m, sh):
    """round(acc m / 2^(31 + sh)), half away from zero, saturated to int32 (ml_nn_requant)."""
    p = acc * m
    s = 31 + sh
    half = 1 << (s - 1)
    r = (p + half) >> s if p >= 0 else -((half - p) >> s)
    return 2147483647 if r > 2147483647 else (-2147483648 if r < -2147483648 else r)


def quantize_bits(v, m, sh, z):
    """z + round(v m / 2^(31 + sh)) from the float32 bits of v, saturated to int8 (ml_nn_quantize_bits)."""
    u = struct.unpack("<I", struct.pack("<f", v))[0]
    ex = (u >> 23) & 0xFF
    if ex == 0xFF:
        return z if u & 0x7FFFFF else (-128 if u >> 31 else 127)
    mant = (u & 0x7FFFFF) | (0x800000 if ex else 0)
    s = 181 + sh - (ex if ex else 1)
    if s <= 0:
        q = 1000
    elif s >= 63:
        q = 0
    else:
        q = min((mant * m + (1 << (s - 1))) >> s, 1000)
    q = z - q if u >> 31 else z + q
    return -128 if q < -128 else (127 if q > 127 else q)


def _int8_layers(sec, layers):
    """The int8 method's layers from the Q* sections: [(kind, n_in, n_out, zero, lo, table, final,
    w_off, b_off)] (dense, activation) or [(kind, runner)] (kinds 3..7, network_conv.make_q8), plus
    the weights, biases, multipliers, shifts, input (m, sh, z) and the scale."""
    qinp, recs, w = sec[b"QINP"], sec[b"QLYR"], sec[b"QWGT"]
    bq, mq, sq, tabs, scl = sec[b"QBIA"], sec[b"QMUL"], sec[b"QSHF"], sec[b"QTAB"], sec[b"QSCL"]
    if len(qinp) != 3 or len(recs) % RECORD or len(scl) != 2 or len(tabs) % 256:
        raise bad("the int8 sections have the wrong size")
    n = len(recs) // RECORD
    if n < 1 or n > len(layers) or not scl[0] > 0 or scl[0] - scl[0] != 0:
        raise bad("the int8 sections do not fit the network")
    out = []
    ow = oc = 0
    for i in range(n):
        kind, n_out, zero, lo, t, final, zx = recs[RECORD * i : RECORD * i + 7]
        if t >= len(tabs) // 256 or t < -1 or not -128 <= zero <= 127 or not -128 <= lo <= 127:
            raise bad("QLYR holds a table index, zero point or clamp out of range")
        if not -128 <= zx <= 127 or (final and (kind != 1 or i != n - 1)):
            raise bad("QLYR holds an input zero point out of range or a misplaced final layer")
        table = None if t < 0 else bytes(tabs[256 * t : 256 * (t + 1)])
        op = layers[i]
        if kind >= 3:  # convolution, pooling, reshaping, per-channel affine: network_conv.py
            if oc + n_out > len(bq) or n_out < 0:
                raise bad("QBIA ends inside an int8 layer")
            for j in range(oc, oc + n_out):
                if (mq[j] != 0 and mq[j] < 1 << 30) or sq[j] < -30 or sq[j] > 31:
                    raise bad("QMUL / QSHF hold a multiplier or shift out of range")
            from mlrt import network_conv

            run, n_w = network_conv.make_q8(
                kind,
                op,
                n_out,
                zero,
                lo,
                table,
                zx,
                w[ow:],
                bq[oc : oc + n_out],
                mq[oc : oc + n_out],
                sq[oc : oc + n_out],
            )
            if ow + n_w > len(w):
                raise bad("QWGT ends inside an int8 layer")
            out.append((kind, run))
            ow += n_w
            oc += n_out
        elif kind == 1:
            if not isinstance(op, Dense) or op.n_out != n_out or (final and i != n - 1):
                raise bad("an int8 layer does not match the network")
            if ow + op.n_in * n_out > len(w) or oc + n_out > len(bq):
                raise bad("QWGT or QBIA ends inside an int8 layer")
            for j in range(oc, oc + n_out):
                if not final and ((mq[j] != 0 and mq[j] < 1 << 30) or sq[j] < -30 or sq[j] > 31):
                    raise bad("QMUL / QSHF hold a multiplier or shift out of range")
            out.append((1, op.n_in, n_out, zero, lo, table, final, ow, oc))
            ow += op.n_in * n_out
            oc += n_out
        elif kind == 2 and isinstance(op, Activation):
            out.append((2, 0, 0, zero, lo, table, 0, 0, 0))
        else:
            raise bad("QLYR holds an int8 layer that does not match the network")
    if ow != len(w) or oc != len(bq) or out[-1][0] != 1 or not out[-1][6]:
        raise bad("the int8 layers do not use QWGT / QBIA exactly or do not end in accumulators")
    if not (1 << 30 <= qinp[0] < 1 << 31 or qinp[0] == 0) or not -128 <= qinp[2] <= 127:
        raise bad("QINP holds an input multiplier or zero point out of range")
    wb = bytearray(len(w))
    for i in range(len(w)):
        wb[i] = w[i] & 0xFF
    return out, wb, bq, mq, sq, (qinp[0], qinp[1], qinp[2]), scl[0]


def _size(shape):
    n = 1
    for d in shape:
        n *= d
    return n


class Network:
    """A neural network read from a model file. Classifier: ``predict(x)`` class index,
    ``predict_proba(x)`` probabilities; regressor: ``predict(x)`` value (or list of values)."""

    def __init__(self, head, sec):
        task, n, k = head[4], head[5], head[6]
        if task not in (CLASSIFIER, REGRESSOR):
            raise bad("task %d is not one a network has" % task)
        shap, recs, prms, mode = sec[b"SHAP"], sec[b"LAYR"], sec[b"PRMS"], sec[b"MODE"]
        n_layers = len(recs) // RECORD
        if len(recs) % RECORD or len(shap) != 4 * (n_layers + 1) or n_layers < 1 or len(mode) != 3:
            raise bad("SHAP, LAYR or MODE has the wrong size")
        if mode[0] > 1 or mode[1] > 2 or mode[2] > 1:
            raise bad("MODE holds a code out of range")
        for v in prms:
            if v - v != 0:
                raise bad("PRMS holds a NaN or infinite value")
        shapes = []
        for t in range(n_layers + 1):
            rank = shap[4 * t]
            dims = tuple(shap[4 * t + 1 : 4 * t + 4])
            if rank < 1 or rank > 3 or min(dims) < 1 or max(dims[rank:] or (1,)) != 1:
                raise bad("SHAP holds a shape that is not rank 1..3 with dimensions >= 1")
            shapes.append(dims[:rank])
        if _size(shapes[0]) != n:
            raise bad("the input shape does not hold n_features values")
        self.layers = []
        off = 0
        for i in range(n_layers):
            r = recs[RECORD * i : RECORD * (i + 1)]
            name = LAYER_MODULES.get(r[0])
            if name is None:
                raise bad("layer kind %d is not supported by this mlrt: update mlrt" % r[0])
            mod = __import__("mlrt." + name, None, None, ("make_layer",))
            op, used = mod.make_layer(r[0], list(r[1:]), prms, off, shapes[i], shapes[i + 1])
            self.layers.append(op)
            off += used
        if off != len(prms):
            raise bad("PRMS holds more values than the layers use")
        self.decision = mode[1]
        if task == CLASSIFIER and (mode[1] == 0 or (mode[1] == 2) != (_size(shapes[-1]) == 1)):
            raise bad("the decision rule does not fit the last layer")
        if (task == REGRESSOR) != (mode[1] == 0):
            raise bad("the decision rule does not fit the task")
        self.n_values = _size(shapes[-1])
        if (2 if mode[1] == 2 else self.n_values) != k:
            raise bad("the last layer's size does not match n_outputs")
        self.shapes = shapes
        self.n_features = n
        self.n_outputs = k
        self.k = k
        self.classifier = task == CLASSIFIER
        self.kind = "classifier" if self.classifier else "regressor"
        self.classes = _json_list(sec.get(b"LABL"), k) if self.classifier else None
        self.feature_names = _json_list(sec.get(b"FNAM"), n)
        self.nbytes = 8 * len(prms)
        self.int8 = False
        if sec.get(b"QLYR") is not None:
            for t in (b"QINP", b"QWGT", b"QBIA", b"QMUL", b"QSHF", b"QTAB", b"QSCL"):
                if sec.get(t) is None:
                    raise bad("a network's int8 sections are incomplete")
            q = _int8_layers(sec, self.layers)
            self._ql, self._qw, self._qb, self._qm, self._qs, self._qin, self._qscale = q
            self.int8 = True  # predict and predict_proba use the int8 network; set False for the float one
            self.nbytes += len(self._qw) + 9 * len(self._qb)

    def logits_q8(self, x):
        """The int8 network's final int32 accumulators (the logits divided by self._qscale)."""
        xa = self._input(x)
        m, sh, z = self._qin
        q = bytearray(len(xa))
        for i in range(len(xa)):
            q[i] = quantize_bits(xa[i], m, sh, z) & 0xFF
        dot = _fast_q8.dot if _fast_q8 is not None else dot_q8
        w, bq, mq, sq = self._qw, self._qb, self._qm, self._qs
        for rec in self._ql:
            if rec[0] >= 3:  # a layer of network_conv.py: its own runner
                q = rec[1](q)
                continue
            kind, n_in, n_out, zero, lo, table, final, ow, oc = rec
            if kind == 1 and final:
                return [bq[oc + j] + dot(q, w, ow + j * n_in, n_in) for j in range(n_out)]
            if kind == 1:
                out = bytearray(n_out)
                for j in range(n_out):
                    acc = bq[oc + j] + dot(q, w, ow + j * n_in, n_in)
                    v = zero + requant(acc, mq[oc + j], sq[oc + j])
                    v = lo if v < lo else (127 if v > 127 else v)
                    out[j] = (table[v + 128] if table is not None else v) & 0xFF
                q = out
            else:
                out = bytearray(len(q))
                for j in range(len(q)):
                    v = q[j] - 256 if q[j] > 127 else q[j]
                    v = lo if v < lo else v
                    out[j] = (table[v + 128] if table is not None else v) & 0xFF
                q = out
        raise bad("the int8 layers do not end in accumulators")

    def _input(self, x):
        if len(x) != self.n_features:
            raise ValueError("mlrt: x has %d values; the model takes %d features" % (len(x), self.n_features))
        return array("f", x)  # rounded to float32, as the C API takes it

    def logits(self, x):
        """The last layer's values before its output transform."""
        a = self._input(x)
        last = len(self.layers) - 1
        for i, op in enumerate(self.layers):
            a = op.linear(a) if i == last else op(a)
        return a

    def values(self, x):
        a = self._input(x)
        for op in self.layers:
            a = op(a)
        return a

    def predict(self, x):
        """Class index (self.classes[i] is its label), or the regressor's value(s)."""
        if self.int8:
            acc = self.logits_q8(x)
            if not self.classifier:  # (float)acc * scale in float32, as the C
                s = array("f", [self._qscale])[0]
                v = list(array("f", [a * s for a in array("f", acc)]))
                return v[0] if self.n_values == 1 else v
            if self.decision == 2:
                return 1 if acc[0] > 0 else 0
            best = 0
            for c in range(1, len(acc)):
                if acc[c] > acc[best]:
                    best = c
            return best
        if not self.classifier:
            v = self.values(x)
            return v[0] if self.n_values == 1 else list(v)
        z = self.logits(x)
        if self.decision == 2:
            return 1 if z[0] > 0 else 0
        best = 0
        for c in range(1, len(z)):
            if z[c] > z[best]:
                best = c
        return best

    def predict_label(self, x):
        i = self.predict(x)
        return self.classes[i] if self.classes is not None else i

    def predict_proba(self, x):
        if self.int8:
            z = [a * self._qscale for a in self.logits_q8(x)]
            if self.decision == 2:
                p = _logistic(z[0])
                return [1.0 - p, p]
            return activate(z, SOFTMAX)
        v = self.values(x)
        if self.decision == 2:
            return [1.0 - v[0], v[0]]
        return list(v)
