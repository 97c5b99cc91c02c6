# mlrt.train_linear: multinomial logistic regression (MicroPython/CPython, no numpy).
# Minimises the mean cross-entropy + ||W||^2 / (2 C n) (scikit-learn's objective divided by C n) on
# standardised features by full-batch gradient descent; a step that raises the loss is undone and the
# step size halved. Train with mlrt.train.fit("logistic", ...).
import math

from mlrt.train_knn import standardise


class Logistic:
    kind = "logistic"

    def __init__(self, W, b, mean, scale):
        self.W = W
        self.b = b
        self.mean = mean
        self.scale = scale
        self.n_classes = len(b)
        self.n_features = len(mean)

    def _z(self, x):
        m, s = self.mean, self.scale
        return [(x[f] - m[f]) / s[f] for f in range(self.n_features)]

    def decision_function(self, x):
        z = self._z(x)
        out = []
        for k in range(self.n_classes):
            w = self.W[k]
            s = self.b[k]
            for f in range(self.n_features):
                s += w[f] * z[f]
            out.append(s)
        return out

    def predict_proba(self, x):
        return _softmax(self.decision_function(x))

    def predict(self, x):
        d = self.decision_function(x)
        best = 0
        for k in range(1, len(d)):
            if d[k] > d[best]:
                best = k
        return best

    def to_file(self, labels=None, feature_names=None):
        """The model as a linear model file (mlrt.writer.linear_file), on the raw features."""
        from mlrt.writer import linear_file

        W, b = self.coef()
        return linear_file(W, b, labels, feature_names)

    def coef(self):
        """(W, b) on the raw features: scores = W x + b."""
        W = [[w[f] / self.scale[f] for f in range(self.n_features)] for w in self.W]
        b = [
            self.b[k] - sum(self.W[k][f] * self.mean[f] / self.scale[f] for f in range(self.n_features))
            for k in range(self.n_classes)
        ]
        return W, b


def _softmax(d):
    m = max(d)
    e = [math.exp(v - m) for v in d]
    s = sum(e)
    return [v / s for v in e]


def _loss_grad(Z, y, W, b, lam):
    n = len(Z)
    nc = len(b)
    nf = len(W[0])
    gW = [[0.0] * nf for _ in range(nc)]
    gb = [0.0] * nc
    loss = 0.0
    for r in range(n):
        z = Z[r]
        d = []
        for k in range(nc):
            w = W[k]
            s = b[k]
            for f in range(nf):
                s += w[f] * z[f]
            d.append(s)
        p = _softmax(d)
        t = y[r]
        loss -= math.log(p[t] if p[t] > 1e-300 else 1e-300)
        p[t] -= 1.0
        for k in range(nc):
            e = p[k]
            if e != 0.0:
                g = gW[k]
                for f in range(nf):
                    g[f] += e * z[f]
                gb[k] += e
    reg = 0.0
    for k in range(nc):
        w = W[k]
        g = gW[k]
        for f in range(nf):
            reg += w[f] * w[f]
            g[f] = g[f] / n + lam * w[f]
        gb[k] /= n
    return loss / n + 0.5 * lam * reg, gW, gb


def fit(X, y, n_classes, c=1.0, iterations=30, step=1.0):
    if not c > 0 or iterations < 1:
        raise ValueError("C must be > 0 and iterations >= 1")
    mean, scale = standardise(X)
    nf = len(mean)
    Z = [[(r[f] - mean[f]) / scale[f] for f in range(nf)] for r in X]
    lam = 1.0 / (c * len(X))
    W = [[0.0] * nf for _ in range(n_classes)]
    b = [0.0] * n_classes
    loss, gW, gb = _loss_grad(Z, y, W, b, lam)
    for _ in range(iterations):
        while step > 1e-8:
            W2 = [[W[k][f] - step * gW[k][f] for f in range(nf)] for k in range(n_classes)]
            b2 = [b[k] - step * gb[k] for k in range(n_classes)]
            loss2, gW2, gb2 = _loss_grad(Z, y, W2, b2, lam)
            if loss2 <= loss:
                W, b, loss, gW, gb = W2, b2, loss2, gW2, gb2
                step *= 1.2
                break
            step *= 0.5
        else:
            break
    m = Logistic(W, b, mean, scale)
    m.loss = loss
    return m
