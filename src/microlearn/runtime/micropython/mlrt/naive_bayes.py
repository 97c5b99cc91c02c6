# mlrt Gaussian naive Bayes (scikit-learn's GaussianNB).
#
# jll[c] = log_prior[c] + (norm[c] - 0.5 * sum((x_i - theta[c][i])^2 / var[c][i])) in the port's float,
# the row-independent terms read from the file as scikit-learn computed them (no logarithm here). On a
# port whose float is a double (unix, WebAssembly, most 32-bit boards with double floats) this is the
# float64 replay of docs/naive_bayes.md, whose class is scikit-learn's on every row outside float64
# rounding of a tie. On a single-float port it is a float32 evaluation (docs/naive_bayes.md says how far).
import math
from array import array

from mlrt._reader import bad

FAMILY = 3
CLASSIFIER = 1
_C = 1 << CLASSIFIER

# tag -> (dtype code, critical, tasks bit mask, required): schema.NAIVE_BAYES in microlearn
SECTIONS = {
    b"THET": (8, 1, _C, 1),
    b"VARS": (8, 1, _C, 1),
    b"PRIO": (8, 1, _C, 1),
    b"LPRI": (8, 1, _C, 1),
    b"NORM": (8, 1, _C, 1),
    b"MODE": (1, 1, _C, 1),
    b"LABL": (9, 0, _C, 0),
    b"FNAM": (9, 0, _C, 0),
    b"SRCE": (9, 0, _C, 0),
}


def load(head, sec):
    return GaussianNB(head, sec)


def _json_list(raw, n):
    if raw is None:
        return None
    import json

    v = json.loads(bytes(raw).decode())
    if not isinstance(v, list) or len(v) != n:
        raise bad("a text section does not hold a list of %d items" % n)
    return v


class GaussianNB:
    """A Gaussian naive Bayes classifier read from a model file. ``predict(x)``: class index;
    ``predict_proba(x)``, ``predict_log_proba(x)``, ``joint_log_likelihood(x)``: lists of k values."""

    def __init__(self, head, sec):
        task, n, k = head[4], head[5], head[6]
        if task != CLASSIFIER:
            raise bad("task %d is not one a Gaussian naive Bayes model has" % task)
        th, var, pr, lp, nm, mode = (sec[t] for t in (b"THET", b"VARS", b"PRIO", b"LPRI", b"NORM", b"MODE"))
        if n < 1 or k < 2 or len(th) != k * n or len(var) != k * n:
            raise bad("THET / VARS do not hold %d classes x %d features" % (k, n))
        if len(pr) != k or len(lp) != k or len(nm) != k or len(mode) != 1 or mode[0] > 1:
            raise bad("PRIO, LPRI, NORM or MODE has the wrong size or a code out of range")
        for v in var:
            if not v > 0 or v - v != 0:
                raise bad("VARS holds a variance that is not a finite value > 0")
        for a in (th, nm, pr):
            for v in a:
                if v - v != 0:
                    raise bad("THET, NORM or PRIO holds a NaN or infinite value")
        for v in lp:
            if v != v or v > 0:
                raise bad("LPRI holds a NaN or a log-prior above 0")
        self.n_features = n
        self.n_outputs = k
        self.k = k
        self.kind = "classifier"
        self.classifier = True
        self._th, self._var, self._lp, self._nm = th, var, lp, nm
        self.classes = _json_list(sec.get(b"LABL"), k)
        self.feature_names = _json_list(sec.get(b"FNAM"), n)
        self.nbytes = 8 * (2 * k * n + 3 * k)

    def joint_log_likelihood(self, x):
        if len(x) != self.n_features:
            raise ValueError("mlrt: x has %d values; the model takes %d features" % (len(x), self.n_features))
        xa = array("f", x)  # rounded to float32, as the C API takes it
        n, th, var = self.n_features, self._th, self._var
        out = []
        for c in range(self.k):
            o = c * n
            acc = 0.0
            for i in range(n):
                d = xa[i] - th[o + i]
                acc += (d * d) / var[o + i]
            out.append(self._lp[c] + (self._nm[c] - 0.5 * acc))
        return out

    def predict(self, x):
        """Class index (self.classes[i] is its label): the first largest joint log-likelihood."""
        s = self.joint_log_likelihood(x)
        best = 0
        for c in range(1, self.k):
            if s[c] > s[best]:
                best = c
        return best

    def predict_label(self, x):
        i = self.predict(x)
        return self.classes[i] if self.classes is not None else i

    def predict_log_proba(self, x):
        s = self.joint_log_likelihood(x)
        mx = max(s)
        t = 0.0
        for v in s:
            t += math.exp(v - mx)
        lse = mx + math.log(t)
        return [v - lse for v in s]

    def predict_proba(self, x):
        return [math.exp(v) for v in self.predict_log_proba(x)]
