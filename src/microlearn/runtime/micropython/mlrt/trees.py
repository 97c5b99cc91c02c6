# mlrt tree ensembles: decision trees, random forests, extra trees; scikit-learn's exact semantics.
#
# Inputs are rounded to float32 (array('f', x)) and compared with float32 thresholds, so a port with
# double floats (unix, WebAssembly) and one with single floats decide every split alike. Classifier
# probabilities are summed tree by tree in the port's float (double: bit-exact scikit-learn).
from array import array

from mlrt._reader import bad

FAMILY = 1
CLASSIFIER = 1
REGRESSOR = 2

# tag -> dtype code (docs/model-file.md)
SECTIONS = {
    b"ROOT": 6,
    b"FEAT": 4,
    b"MISS": 1,
    b"THRS": 7,
    b"RGHT": 6,
    b"PROB": 8,
    b"LCLS": 6,
    b"LVAL": 7,
    b"LV64": 8,
    b"LABL": 9,
    b"FNAM": 9,
    b"SRCE": 9,
}

try:  # native-code walker where the port can run it (see _fast.py)
    from mlrt import _fast
except Exception:  # CPython, WebAssembly, or a port without viper: the bytecode path below
    _fast = None


class Trees:
    """A tree ensemble read from a model file. ``predict(x)``: class index (classifier) or value."""

    def __init__(self, head, sec):
        task, n_features, n_outputs = head[4], head[5], head[6]
        self.classifier = task == CLASSIFIER
        self.kind = "classifier" if self.classifier else "regressor"
        self.n_features = n_features
        self.n_outputs = n_outputs
        for tag in (b"ROOT", b"FEAT", b"MISS", b"THRS", b"RGHT"):
            if tag not in sec:
                raise bad("required section %s is missing" % tag.decode())
        self._roots = sec[b"ROOT"]
        self._feat = sec[b"FEAT"]
        self._miss = sec[b"MISS"]
        self._thr = sec[b"THRS"]
        self._right = sec[b"RGHT"]
        self.n_trees = len(self._roots)
        self.n_nodes = len(self._feat)
        self.classes = None
        self.feature_names = None
        self._leaf_class = None
        if self.classifier:
            if b"PROB" not in sec or b"LVAL" in sec:
                raise bad("a classifier needs PROB and no LVAL")
            self._proba = sec[b"PROB"]
            if not 1 <= n_outputs <= 256 or len(self._proba) % n_outputs:
                raise bad("PROB does not hold n_leaves x %d probabilities" % n_outputs)
            self.n_leaves = len(self._proba) // n_outputs
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
            if b"LVAL" not in sec or b"PROB" in sec or n_outputs != 1:
                raise bad("a regressor needs LVAL, one output and no PROB")
            self._value = sec.get(b"LV64") or sec[b"LVAL"]
            self.n_leaves = len(sec[b"LVAL"])
            if len(self._value) != self.n_leaves:
                raise bad("LV64 and LVAL differ in length")
        self.feature_names = _json_list(sec.get(b"FNAM"), n_features)
        self._check()
        for a in (self._proba,) if self.classifier else (self._value, sec[b"LVAL"]):
            for v in a:
                if v - v != 0:  # NaN or infinite
                    raise bad("a leaf holds a NaN or infinite value")
        # bytes of the arrays the model keeps
        nn = self.n_nodes
        self.nbytes = 4 * self.n_trees + 11 * nn
        if self.classifier:
            self.nbytes += 8 * len(self._proba) + (4 * self.n_leaves if self._leaf_class is not None else 0)
        else:
            self.nbytes += (8 if b"LV64" in sec else 4) * self.n_leaves
        self._fast = None
        if _fast is not None:
            self._fast = _fast.prepare(self)

    def _check(self):
        """Every index in range, every walk ends at a leaf: children lie after their parent, inside
        its tree (so there are no cycles), leaves point at existing leaf rows."""
        nf, nn, nl = self.n_features, self.n_nodes, self.n_leaves
        if not 1 <= nf <= 32767 or self.n_trees < 1 or nl < 1:
            raise bad("empty model or too many features")
        for a in (self._miss, self._thr, self._right):
            if len(a) != nn:
                raise bad("node arrays differ in length")
        roots, feat, right, thr, miss = self._roots, self._feat, self._right, self._thr, self._miss
        if roots[0] != 0:
            raise bad("the first tree must start at node 0")
        for t in range(self.n_trees):
            start = roots[t]
            stop = roots[t + 1] if t + 1 < self.n_trees else nn
            if not start < stop <= nn:
                raise bad("tree %d has no nodes or ends outside the node arrays" % t)
            for i in range(start, stop):
                f = feat[i]
                r = right[i]
                if f < 0:
                    if f != -1 or not 0 <= r < nl:
                        raise bad("leaf %d is malformed" % i)
                elif f >= nf or not i + 1 < r < stop or thr[i] != thr[i] or miss[i] > 1:
                    raise bad("node %d is malformed (feature, child or threshold)" % i)

    # ------------------------------------------------------------------ prediction
    def _row(self, x):
        if len(x) != self.n_features:
            raise ValueError("mlrt: expected %d features, got %d" % (self.n_features, len(x)))
        return array("f", x)  # round to float32 exactly as scikit-learn's X.astype(float32)

    def _leaf(self, xf, t):
        feat, thr, right, miss = self._feat, self._thr, self._right, self._miss
        i = self._roots[t]
        f = feat[i]
        while f >= 0:
            v = xf[f]
            if v <= thr[i] or (miss[i] and v != v):  # NaN goes left only where MISS says so
                i += 1
            else:
                i = right[i]
            f = feat[i]
        return right[i]

    def leaves(self, x):
        """Leaf row each tree reaches, as a list."""
        xf = self._row(x)
        return [self._leaf(xf, t) for t in range(self.n_trees)]

    def _sums(self, xf):
        nc = self.n_outputs
        p = self._proba
        acc = [0.0] * nc
        for t in range(self.n_trees):
            base = self._leaf(xf, t) * nc
            for c in range(nc):
                acc[c] += p[base + c]
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

    def predict(self, x):
        """Class index (classifier; self.classes[i] is its label) or value (regressor)."""
        xf = self._row(x)
        fast = self._fast
        if fast is not None:
            r = fast.predict(self, xf)
            if r is not None:
                return r
        if self.classifier:
            if self.n_trees == 1:
                return self._leaf_class[self._leaf(xf, 0)]
            acc = self._sums(xf)
            n = self.n_trees
            for c in range(self.n_outputs):  # divide first: two sums can round to equal means
                acc[c] /= n
            best = 0
            for c in range(1, self.n_outputs):
                if acc[c] > acc[best]:
                    best = c
            return best
        v = self._value
        s = 0.0
        for t in range(self.n_trees):
            s += v[self._leaf(xf, t)]
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


def _json_list(raw, n):
    if raw is None:
        return None
    try:
        import json

        v = json.loads(raw.decode("utf-8"))
    except ImportError:
        return None  # a port without json: labels are not available, indices are
    except Exception:
        raise bad("a JSON section does not parse")
    if not isinstance(v, list) or len(v) != n:
        raise bad("a JSON section does not list %d items" % n)
    return v
