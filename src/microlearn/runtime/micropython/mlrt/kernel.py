# mlrt kernel expansion (scikit-learn's OneClassSVM), family 9.
#
# sum = sum_i coef[i] K(sv[i], x) with libsvm's kernels in the port's float; score = sum
# (score_samples), decision_function = sum - rho, predict = 1 when that is > 0, else -1. On a port whose
# float is a double this is the float64 evaluation of docs/anomaly.md.
import math
from array import array

from mlrt._reader import bad

FAMILY = 9
SCORE = 3
_S = 1 << SCORE

# tag -> (dtype code, critical, tasks bit mask, required): schema.KERNEL in microlearn
SECTIONS = {
    b"SVEC": (8, 1, _S, 1),
    b"DCOF": (8, 1, _S, 1),
    b"PARM": (8, 1, _S, 1),
    b"MODE": (1, 1, _S, 1),
    b"FNAM": (9, 0, _S, 0),
    b"SRCE": (9, 0, _S, 0),
}


def load(head, sec):
    return KernelExpansion(head, sec)


def _powi(base, times):
    tmp, ret = base, 1.0
    t = times
    while t > 0:
        if t % 2 == 1:
            ret *= tmp
        tmp = tmp * tmp
        t //= 2
    return ret


class KernelExpansion:
    """``score(x)`` (score_samples), ``decision_function(x)``, ``predict(x)`` (1 / -1)."""

    def __init__(self, head, sec):
        task, n, k = head[4], head[5], head[6]
        if task != SCORE or k != 1:
            raise bad("a kernel expansion scores (task 3, one output)")
        sv, co, pa, mode = (sec[t] for t in (b"SVEC", b"DCOF", b"PARM", b"MODE"))
        m = len(co)
        if n < 1 or m < 1 or len(sv) != m * n or len(pa) != 4 or len(mode) != 1 or mode[0] > 3:
            raise bad("SVEC / DCOF / PARM / MODE do not describe a kernel expansion of %d features" % n)
        for a in (sv, co, pa):
            for v in a:
                if v - v != 0:
                    raise bad("SVEC, DCOF or PARM holds a NaN or infinite value")
        if not 0 <= pa[3] <= 64 or pa[3] != int(pa[3]):
            raise bad("PARM[3] (degree) must be an integer 0 .. 64")
        self.n_features = n
        self.n_outputs = 1
        self.kind = "score"
        self._sv, self._co, self._m = sv, co, m
        self._kernel = mode[0]
        self._gamma, self._coef0, self.rho, self._degree = pa[0], pa[1], pa[2], int(pa[3])
        self.nbytes = 8 * (len(sv) + m + 4)

    def score(self, x):
        n = self.n_features
        if len(x) != n:
            raise ValueError("mlrt: x has %d values; the model takes %d features" % (len(x), n))
        xa = array("f", x)  # rounded to float32, as the C API takes it
        sv, kern, g, c0 = self._sv, self._kernel, self._gamma, self._coef0
        acc = 0.0
        for i in range(self._m):
            o = i * n
            v = 0.0
            if kern == 2:
                for j in range(n):
                    d = xa[j] - sv[o + j]
                    v += d * d
                kv = math.exp(-g * v)
            else:
                for j in range(n):
                    v += xa[j] * sv[o + j]
                if kern == 0:
                    kv = v
                elif kern == 1:
                    kv = _powi(g * v + c0, self._degree)
                else:
                    kv = math.tanh(g * v + c0)
            acc += self._co[i] * kv
        return acc

    def decision_function(self, x):
        return self.score(x) - self.rho

    def predict(self, x):
        return 1 if self.decision_function(x) > 0 else -1
