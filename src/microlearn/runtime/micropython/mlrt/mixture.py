# mlrt Gaussian mixture (scikit-learn's GaussianMixture and BayesianGaussianMixture), family 8.
#
# wlp[k] = const[k] - 0.5 |(x - mean[k]) C[k]|^2 in the port's float; predict = the first largest,
# predict_proba = its softmax, score = its logsumexp (score_samples). On a port whose float is a double
# this is the float64 evaluation of docs/anomaly.md.
import math
from array import array

from mlrt._reader import bad

FAMILY = 8
CLUSTER = 4
_K = 1 << CLUSTER

# tag -> (dtype code, critical, tasks bit mask, required): schema.MIXTURE in microlearn
SECTIONS = {
    b"MEAN": (8, 1, _K, 1),
    b"PCHL": (8, 1, _K, 1),
    b"CNST": (8, 1, _K, 1),
    b"MODE": (1, 1, _K, 1),
    b"FNAM": (9, 0, _K, 0),
    b"SRCE": (9, 0, _K, 0),
}


def load(head, sec):
    return GaussianMixture(head, sec)


class GaussianMixture:
    """``predict(x)``: component index; ``predict_proba(x)``: k probabilities; ``score(x)``: the
    log-likelihood (score_samples)."""

    def __init__(self, head, sec):
        task, n, k = head[4], head[5], head[6]
        if task != CLUSTER:
            raise bad("task %d is not one a Gaussian mixture has" % task)
        mean, pc, cst, mode = (sec[t] for t in (b"MEAN", b"PCHL", b"CNST", b"MODE"))
        if len(mode) != 2 or mode[0] > 3 or mode[1] > 1:
            raise bad("MODE must hold a covariance type 0..3 and a Bayesian flag 0..1")
        cov = mode[0]
        need = (k * n * n, n * n, k * n, k)[cov]
        if n < 1 or k < 1 or len(mean) != k * n or len(cst) != k or len(pc) != need:
            raise bad("MEAN / PCHL / CNST do not hold %d components x %d features" % (k, n))
        for a in (mean, pc, cst):
            for v in a:
                if v - v != 0:
                    raise bad("MEAN, PCHL or CNST holds a NaN or infinite value")
        if cov >= 2:
            for v in pc:
                if not v > 0:
                    raise bad("PCHL of a diag or spherical mixture must be > 0")
        self.n_features = n
        self.n_outputs = k
        self.k = k
        self.kind = "cluster"
        self._cov, self._mean, self._pc, self._cst = cov, mean, pc, cst
        self.nbytes = 8 * (len(mean) + len(pc) + k)

    def weighted_log_prob(self, x):
        n = self.n_features
        if len(x) != n:
            raise ValueError("mlrt: x has %d values; the model takes %d features" % (len(x), n))
        xa = array("f", x)  # rounded to float32, as the C API takes it
        cov, mean, pc = self._cov, self._mean, self._pc
        out = []
        for c in range(self.k):
            mo = c * n
            d = [xa[i] - mean[mo + i] for i in range(n)]
            q = 0.0
            if cov <= 1:
                co = c * n * n if cov == 0 else 0
                for j in range(n):
                    y = 0.0
                    for i in range(j + 1):
                        y += d[i] * pc[co + i * n + j]
                    q += y * y
            elif cov == 2:
                for i in range(n):
                    y = d[i] * pc[mo + i]
                    q += y * y
            else:
                s = pc[c]
                for i in range(n):
                    y = d[i] * s
                    q += y * y
            out.append(self._cst[c] - 0.5 * q)
        return out

    def predict(self, x):
        w = self.weighted_log_prob(x)
        best = 0
        for c in range(1, self.k):
            if w[c] > w[best]:
                best = c
        return best

    def _lse(self, w):
        mx = max(w)
        t = 0.0
        for v in w:
            t += math.exp(v - mx)
        return mx + math.log(t)

    def score(self, x):
        return self._lse(self.weighted_log_prob(x))

    def predict_proba(self, x):
        w = self.weighted_log_prob(x)
        lse = self._lse(w)
        return [math.exp(v - lse) for v in w]
