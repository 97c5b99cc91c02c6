# mlrt boosted trees (gradient boosting, histogram gradient boosting) and isolation forests: tree-ensemble
# files (family 1) with the BOST section; docs/boosting.md states the semantics.
#
# Splits compare integer keys of the float32 input bits, as mlrt.trees does; categorical nodes test the
# category bitsets. Raw scores start at the base score and add each tree's leaf value in tree order, in
# the port's float: on a port with double floats (unix, WebAssembly) that is the library's float64
# arithmetic, bit for bit; a model the library sums in float32 is rounded to float32 after every addition.
import math
from array import array

from mlrt._reader import bad, to_array
from mlrt.trees import INF, _check_values, _json_list, _keys

POSTS = ("none", "sigmoid", "exponential", "softmax", "exp", "isolation", "softplus")
NAN_KEY = 0x7F800001


def _code(v, n, what):
    if v != int(v) or not 0 <= v < n:
        raise bad("BOST: %s code out of range" % what)
    return int(v)


def _sigmoid(z):
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _log1p(e):
    # log(1 + e) for e >= 0, accurate for tiny e too (MicroPython has no math.log1p)
    u = 1.0 + e
    return e if u == 1.0 else math.log(u) * e / (u - 1.0)


class Boosted:
    """Boosted trees read from a model file: predict, predict_proba, decision_function, score."""

    def __init__(self, head, sec):
        task, nf, no = head[4], head[5], head[6]
        self.kind = {1: "classifier", 2: "regressor", 3: "anomaly"}.get(task)
        if self.kind is None:
            raise bad("task %d is not one boosted trees have" % task)
        self.classifier = task == 1
        self.n_features = nf
        self.n_outputs = no
        for tag in (b"BASE", b"TOUT", b"LVAL"):
            if tag not in sec:
                raise bad("a boosted-trees file needs the %s section" % tag.decode())
        b = sec[b"BOST"]
        if len(b) != 10:
            raise bad("BOST must hold 10 values")
        for v in b:
            if v - v != 0:
                raise bad("BOST holds a NaN or infinite value")
        self.n_raw = _code(b[0], 257, "n_raw")
        self.mean = _code(b[1], 2, "aggregation") == 1
        self.f32 = _code(b[2], 2, "accumulate") == 1
        self.post = POSTS[_code(b[3], len(POSTS), "post-transform")]
        self.decide = _code(b[4], 4, "decide")
        self.trunc = _code(b[5], 2, "category cast") == 1
        self.words = _code(b[6], 257, "category words")
        self.params = (b[7], b[8])
        self.scale = b[7] if self.post == "sigmoid" and b[7] != 0 else 1.0
        if self.post == "sigmoid" and b[7] < 0:
            raise bad("BOST: a sigmoid's scale must not be negative")
        self._base = sec[b"BASE"]
        if len(self._base) != self.n_raw or self.n_raw < 1:
            raise bad("BASE must hold BOST n_raw values")
        for v in self._base:
            if v - v != 0:
                raise bad("BASE holds a NaN or infinite value")
        if self.classifier:
            want = 1 if no == 2 else no
            if no < 2 or self.n_raw != want:
                raise bad("a classifier of %d classes has %d raw scores" % (no, want))
        elif no != 1 or self.n_raw != 1:
            raise bad("a %s has one output" % self.kind)
        fits = {
            "classifier": ("none", "sigmoid", "exponential")
            if self.n_raw == 1
            else ("none", "sigmoid", "softmax"),
            "regressor": ("none", "sigmoid", "exp", "softplus"),
            "anomaly": ("isolation",),
        }[self.kind]
        if self.post not in fits:
            raise bad("post-transform %s does not fit a %s" % (self.post, self.kind))
        if self.decide == 3 and (not self.classifier or self.n_raw != 1 or self.post != "none" or b[2] != 1):
            raise bad("decide 3 (raw > 0.5) is for binary float32 models without probabilities")
        lval = sec[b"LVAL"]
        lv64 = sec.get(b"LV64")
        if not self.f32 and lv64 is None:
            raise bad("a model summed in float64 needs the LV64 section")
        _check_values(lval, lv64)
        self._value = lv64 if lv64 is not None else lval
        self.n_leaves = len(lval)
        self._roots = sec[b"ROOT"]
        self._feat = sec[b"FEAT"]
        self._miss = sec[b"MISS"]
        self._thr = _keys(sec[b"THRS"])  # float32 bits (mlrt.trees.AS_BITS) made keys in place
        self._right = sec[b"RGHT"]
        self._tout = sec[b"TOUT"]
        self.n_trees = len(self._roots)
        self.n_nodes = len(self._feat)
        self._cset = sec.get(b"CSET")
        self._clft = sec.get(b"CLFT")
        self._cbit = sec.get(b"CBIT")
        self._check()
        self.classes = _json_list(sec.get(b"LABL"), no) if self.classifier else None
        self.feature_names = _json_list(sec.get(b"FNAM"), nf)
        self._count = [0] * self.n_raw
        for k in self._tout:
            self._count[k] += 1
        if self.mean and 0 in self._count:
            raise bad("a mean over no trees")
        self.nbytes = 17 * self.n_nodes + 4 * self.n_trees + (4 if self.f32 else 8) * self.n_leaves

    def _check(self):
        nf, nn, nl, nt = self.n_features, self.n_nodes, self.n_leaves, self.n_trees
        if not 1 <= nf <= 32767 or nt < 1 or nl < 1:
            raise bad("empty model or too many features")
        for a in (self._miss, self._thr, self._right):
            if len(a) != nn:
                raise bad("node arrays differ in length")
        if len(self._tout) != nt:
            raise bad("TOUT needs one output per tree")
        for k in self._tout:
            if not 0 <= k < self.n_raw:
                raise bad("TOUT holds an output out of range")
        n_sets = 0
        if self._cset is not None:
            if self._clft is None or self._cbit is None:
                raise bad("CSET needs CLFT and CBIT")
            if not 1 <= self.words <= 256 or len(self._cbit) % self.words:
                raise bad("CBIT does not hold sets of BOST words")
            if len(self._cset) != nn or len(self._clft) != nn:
                raise bad("CSET and CLFT need one entry per node")
            n_sets = len(self._cbit) // self.words
        elif self._clft is not None or self._cbit is not None or self.words:
            raise bad("CLFT, CBIT and BOST words need CSET")
        roots, feat, right, thr = self._roots, self._feat, self._right, self._thr
        miss, cset = self._miss, self._cset
        if roots[0] != 0:
            raise bad("the first tree must start at node 0")
        for t in range(nt):
            start = roots[t]
            stop = roots[t + 1] if t + 1 < nt else nn
            if not start < stop <= nn:
                raise bad("tree %d has no nodes or ends outside the node arrays" % t)
            for i in range(start, stop):
                f = feat[i]
                r = right[i]
                if thr[i] > INF or thr[i] < -INF or miss[i] > 1:
                    raise bad("node %d has a NaN threshold or a MISS other than 0 or 1" % i)
                c = cset[i] if cset is not None else -1
                if cset is not None and (not -1 <= c < n_sets or self._clft[i] > 1):
                    raise bad("node %d has a category set out of range" % i)
                if f < 0:
                    if f != -1 or not 0 <= r < nl or c != -1:
                        raise bad("leaf %d is malformed" % i)
                elif f >= nf or not i + 1 < r < stop:
                    raise bad("node %d is malformed (feature or child)" % i)

    # ------------------------------------------------------------------ prediction
    def _inputs(self, x):
        if len(x) != self.n_features:
            raise ValueError("mlrt: expected %d features, got %d" % (self.n_features, len(x)))
        xf = x if type(x) is array and type(x[0]) is float and len(bytes(x)) == 4 * len(x) else array("f", x)
        return xf, to_array("i", bytes(xf))

    def _member(self, s, v):
        w = self.words
        top = 32 * w
        if self.trunc:
            if not (v > -1.0 and v < top):
                return 0
        elif not (v >= 0.0 and v < top):
            return 0
        c = int(v)
        if not self.trunc and c != v:
            return 0
        return (self._cbit[s * w + (c >> 5)] >> (c & 31)) & 1

    def _row(self, xf, xb, t):
        feat, thr, right, miss, cset = self._feat, self._thr, self._right, self._miss, self._cset
        i = self._roots[t]
        f = feat[i]
        while f >= 0:
            v = xb[f]
            nan = v & 0x7FFFFFFF > INF
            if cset is not None and cset[i] >= 0:
                left = miss[i] if nan else self._member(cset[i], xf[f]) == self._clft[i]
            elif nan:
                left = miss[i]
            else:
                left = (v if v >= 0 else -(v & 0x7FFFFFFF)) <= thr[i]
            i = i + 1 if left else right[i]
            f = feat[i]
        return right[i]

    def raw(self, x):
        """The raw scores (a list), in the library's order."""
        xf, xb = self._inputs(x)
        val, tout = self._value, self._tout
        acc = [0.0 if self.mean else v for v in self._base]
        if self.f32:
            r32 = array("f", acc)
            for t in range(self.n_trees):
                k = tout[t]
                r32[k] = r32[k] + val[self._row(xf, xb, t)]
            if self.mean:
                for k in range(self.n_raw):
                    r32[k] = r32[k] / self._count[k]
                    r32[k] = r32[k] + self._base[k]
            return list(r32)
        for t in range(self.n_trees):
            acc[tout[t]] += val[self._row(xf, xb, t)]
        if self.mean:
            for k in range(self.n_raw):
                acc[k] = acc[k] / self._count[k] + self._base[k]
        return acc

    def decision_function(self, x):
        """Raw scores: one value (binary, regression) or a list (multi-class); an anomaly model's
        score - offset (negative: outlier)."""
        if self.kind == "anomaly":
            return self.score(x) - self.params[1]
        r = self.raw(x)
        return r[0] if self.n_raw == 1 else r

    def predict_proba(self, x):
        """Class probabilities (a list of floats)."""
        if not self.classifier or self.post == "none":
            raise TypeError("mlrt: this model has no probabilities")
        r = self.raw(x)
        if self.n_raw == 1:
            p = _sigmoid(2.0 * r[0] if self.post == "exponential" else self.scale * r[0])
            return [1.0 - p, p]
        if self.post == "sigmoid":  # one-vs-all: a sigmoid per class, not normalised
            return [_sigmoid(self.scale * v) for v in r]
        m = max(r)
        e = [math.exp(v - m) for v in r]
        s = sum(e)
        return [v / s for v in e]

    def score(self, x):
        """Anomaly score: scikit-learn's score_samples (larger: more normal)."""
        if self.kind != "anomaly":
            raise TypeError("mlrt: score is for anomaly models")
        d = self.params[0]
        q = self.raw(x)[0] / d if d != 0 else 1.0
        return -(2.0 ** (-q))

    def predict(self, x):
        """Class index (classifier), value (regressor), or 1 / -1 (inlier / outlier)."""
        if self.kind == "anomaly":
            return -1 if self.decision_function(x) < 0 else 1
        r = self.raw(x)
        if self.kind == "regressor":
            if self.post == "sigmoid":
                return _sigmoid(self.scale * r[0])
            if self.post == "softplus":
                z = r[0]
                return z + _log1p(math.exp(-z)) if z > 0 else _log1p(math.exp(z))
            return math.exp(r[0]) if self.post == "exp" else r[0]
        if self.decide == 3:
            return 1 if r[0] > 0.5 else 0
        if self.n_raw == 1:
            if self.decide == 0:
                return 1 if r[0] >= 0 else 0
            return 1 if r[0] > 0 else 0
        best = 0
        for k in range(1, self.n_raw):
            if r[k] > r[best]:
                best = k
        return best

    def predict_label(self, x):
        i = self.predict(x)
        return self.classes[i] if self.classes is not None else i

    def __repr__(self):
        return "<mlrt.Boosted %s: %d features, %d raw scores, %d trees, %d nodes>" % (
            self.kind,
            self.n_features,
            self.n_raw,
            self.n_trees,
            self.n_nodes,
        )
