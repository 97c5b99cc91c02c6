# mlrt Mahalanobis distance (scikit-learn's EllipticEnvelope and MinCovDet), family 7.
#
# distance = (x - location) P (x - location), score = -distance, decision = score - offset, predict 1
# where decision >= 0 else -1, in the port's float. On a port whose float is a double this is the
# float64 replay of docs/anomaly.md: its decision is scikit-learn's on every row outside the stated
# rounding bound of the threshold.
from array import array

from mlrt._reader import bad

FAMILY = 7
SCORE = 3
_S = 1 << SCORE

# tag -> (dtype code, critical, tasks bit mask, required): schema.MAHALANOBIS in microlearn
SECTIONS = {
    b"LOCN": (8, 1, _S, 1),
    b"PREC": (8, 1, _S, 1),
    b"OFFS": (8, 1, _S, 1),
    b"MODE": (1, 1, _S, 1),
    b"FNAM": (9, 0, _S, 0),
    b"SRCE": (9, 0, _S, 0),
}


def load(head, sec):
    return Mahalanobis(head, sec)


class Mahalanobis:
    """``score(x)`` (score_samples), ``decision_function(x)``, ``predict(x)`` (1 / -1),
    ``mahalanobis(x)``."""

    def __init__(self, head, sec):
        task, n, k = head[4], head[5], head[6]
        if task != SCORE or k != 1:
            raise bad("a Mahalanobis model scores (task 3, one output)")
        loc, prec, off, mode = (sec[t] for t in (b"LOCN", b"PREC", b"OFFS", b"MODE"))
        if n < 1 or len(loc) != n or len(prec) != n * n or len(off) != 1 or len(mode) != 1 or mode[0] > 1:
            raise bad("LOCN / PREC / OFFS / MODE do not describe %d features" % n)
        for a in (loc, prec, off):
            for v in a:
                if v - v != 0:
                    raise bad("LOCN, PREC or OFFS holds a NaN or infinite value")
        self.n_features = n
        self.n_outputs = 1
        self.kind = "score"
        self._loc, self._p, self.offset = loc, prec, off[0]
        self.nbytes = 8 * (n * n + n + 1)

    def mahalanobis(self, x):
        n = self.n_features
        if len(x) != n:
            raise ValueError("mlrt: x has %d values; the model takes %d features" % (len(x), n))
        xa = array("f", x)  # rounded to float32, as the C API takes it
        loc, p = self._loc, self._p
        d = [xa[i] - loc[i] for i in range(n)]
        q = 0.0
        for i in range(n):
            o = i * n
            t = 0.0
            for j in range(n):
                t += d[j] * p[o + j]
            q += t * d[i]
        return q

    def score(self, x):
        return -self.mahalanobis(x)

    def decision_function(self, x):
        return -self.mahalanobis(x) - self.offset

    def predict(self, x):
        return 1 if self.decision_function(x) >= 0 else -1
