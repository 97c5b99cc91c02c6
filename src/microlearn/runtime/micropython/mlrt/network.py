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
from array import array

from mlrt._reader import bad

try:  # native-code dense layers where the port can run them (see _fast_network.py)
    from mlrt import _fast_network
except Exception:  # CPython, WebAssembly, or a port without native code: the bytecode path
    _fast_network = None

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


def make_layer(code, ints, prms, off, in_shape, out_shape):
    if code == 1:
        n_out, act = ints[0], ints[1]
        if len(in_shape) != 1 or out_shape != (n_out,) or act < 0 or act > 4:
            raise bad("a dense layer record does not fit its input")
        n_in = in_shape[0]
        used = n_in * n_out + n_out
        if off + used > len(prms):
            raise bad("PRMS ends inside a dense layer")
        w = array("d", prms[off : off + n_in * n_out])
        b = array("d", prms[off + n_in * n_out : off + used])
        return Dense(n_in, n_out, act, w, b), used
    if code == 2:
        if ints[0] < 0 or ints[0] > 4 or out_shape != in_shape:
            raise bad("an activation record does not fit its input")
        return Activation(ints[0]), 0
    raise bad("layer kind %d is not supported by this mlrt: update mlrt" % code)


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
        v = self.values(x)
        if self.decision == 2:
            return [1.0 - v[0], v[0]]
        return list(v)
