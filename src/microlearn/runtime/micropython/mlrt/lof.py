# mlrt local outlier factor (scikit-learn's LocalOutlierFactor(novelty=True), euclidean), family 10.
#
# The k nearest training rows (brute force, the earlier row first at equal distance), reach_j =
# max(d_j, kdist_j), lrd(x) = 1 / (mean(reach) + 1e-10), score = -mean(lrd_j / lrd(x)) in the port's
# float; decision = score - offset, predict 1 where that is >= 0, else -1 (docs/anomaly.md).
import math
from array import array

from mlrt._reader import bad

FAMILY = 10
SCORE = 3
_S = 1 << SCORE

# tag -> (dtype code, critical, tasks bit mask, required): schema.LOF in microlearn
SECTIONS = {
    b"FITX": (8, 1, _S, 1),
    b"LRDS": (8, 1, _S, 1),
    b"KDST": (8, 1, _S, 1),
    b"PARM": (8, 1, _S, 1),
    b"FNAM": (9, 0, _S, 0),
    b"SRCE": (9, 0, _S, 0),
}


def load(head, sec):
    return LocalOutlierFactor(head, sec)


class LocalOutlierFactor:
    """``score(x)`` (score_samples), ``decision_function(x)``, ``predict(x)`` (1 / -1)."""

    def __init__(self, head, sec):
        task, n, k = head[4], head[5], head[6]
        if task != SCORE or k != 1:
            raise bad("a local outlier factor scores (task 3, one output)")
        fx, lrd, kd, pa = (sec[t] for t in (b"FITX", b"LRDS", b"KDST", b"PARM"))
        m = len(lrd)
        if n < 1 or m < 2 or len(fx) != m * n or len(kd) != m or len(pa) != 2:
            raise bad("FITX / LRDS / KDST / PARM do not describe a local outlier factor of %d features" % n)
        for v in fx:
            if v - v != 0:
                raise bad("FITX holds a NaN or infinite value")
        for v in lrd:
            if not 2.2250738585072014e-308 <= v <= 1125899906842624.0:
                raise bad("LRDS holds a density outside 2^-1022 .. 2^50")
        for v in kd:
            if not 0 <= v <= 1125899906842624.0:
                raise bad("KDST holds a distance outside 0 .. 2^50")
        if pa[0] - pa[0] != 0 or pa[1] - pa[1] != 0 or not 1 <= pa[0] < m or pa[0] != int(pa[0]):
            raise bad("PARM must hold k (an integer 1 .. n_rows - 1) and a finite offset")
        self.n_features = n
        self.n_outputs = 1
        self.kind = "score"
        self._fx, self._lrd, self._kd, self._m = fx, lrd, kd, m
        self.k, self.offset = int(pa[0]), pa[1]
        self.nbytes = 8 * (len(fx) + 2 * m + 2)

    def score(self, x):
        n, k = self.n_features, self.k
        if len(x) != n:
            raise ValueError("mlrt: x has %d values; the model takes %d features" % (len(x), n))
        xa = array("f", x)  # rounded to float32, as the C API takes it
        fx = self._fx
        bd, bi = [], []
        for i in range(self._m):
            o = i * n
            d2 = 0.0
            for j in range(n):
                d = xa[j] - fx[o + j]
                d2 += d * d
            if len(bd) < k or d2 < bd[-1]:
                j = len(bd)
                while j > 0 and bd[j - 1] > d2:
                    j -= 1
                bd.insert(j, d2)
                bi.insert(j, i)
                if len(bd) > k:
                    bd.pop()
                    bi.pop()
        reach = 0.0
        for j in range(k):
            d = math.sqrt(bd[j])
            kd = self._kd[bi[j]]
            reach += d if d > kd else kd
        xl = 1.0 / (reach / k + 1e-10)
        s = 0.0
        for j in range(k):
            s += self._lrd[bi[j]] / xl
        return -(s / k)

    def decision_function(self, x):
        return self.score(x) - self.offset

    def predict(self, x):
        return 1 if self.decision_function(x) >= 0 else -1
