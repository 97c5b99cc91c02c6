# mlrt.train_knn: k-nearest-neighbours classifier (MicroPython/CPython, no numpy).
# Features are standardised with the training rows' mean and standard deviation; distance is
# Euclidean; the class with most votes among the k nearest wins, ties going to the class of the
# nearest neighbour among the tied ones. Train with mlrt.train.fit("knn", ...).
# to_file() writes it as a pipeline file: the standardising stage, then a nearest-neighbours model
# (family 4) holding the standardised training rows; read back by mlrt.load it predicts with
# scikit-learn's tie rules (ties of votes: the lowest class index), which this in-RAM model does not.
from array import array


def standardise(X):
    """(mean, scale) per feature; a constant feature gets scale 1."""
    n = len(X)
    nf = len(X[0])
    mean = [0.0] * nf
    for r in X:
        for f in range(nf):
            mean[f] += r[f]
    mean = [m / n for m in mean]
    var = [0.0] * nf
    for r in X:
        for f in range(nf):
            d = r[f] - mean[f]
            var[f] += d * d
    scale = []
    for v in var:
        s = (v / n) ** 0.5
        scale.append(s if s > 0 else 1.0)
    return mean, scale


class KNN:
    kind = "knn"

    def __init__(self, X, y, n_classes, k):
        self.n_features = len(X[0])
        self.n_classes = n_classes
        self.k = min(k, len(X))
        self.mean, self.scale = standardise(X)
        self.rows = [self._z(r) for r in X]
        self._raw = X
        self.y = list(y)

    def to_file(self, labels=None, feature_names=None, before=()):
        """A pipeline file (mlrt.writer): the stage files ``before`` (e.g. a feature extractor), then
        (x - mean) / scale in float64 rounded to float32, then the k nearest of the training rows
        standardised by that same stage."""
        import mlrt
        from mlrt import writer

        stage = writer.scaler_file(self.mean, self.scale)
        scaler = mlrt.load(stage)
        rows = [scaler.transform(self._raw[i]) for i in range(len(self._raw))]
        final = writer.neighbors_file(rows, self.y, self.n_classes, self.k, labels, feature_names)
        return writer.pipeline_file(list(before) + [stage], final, "microlearn.studio.KNeighborsClassifier")

    def _z(self, x):
        m, s = self.mean, self.scale
        return array("d", [(x[f] - m[f]) / s[f] for f in range(self.n_features)])

    def predict(self, x):
        z = self._z(x)
        nf = self.n_features
        best = []  # (distance, class), sorted, at most k
        k = self.k
        for r, c in zip(self.rows, self.y):
            d = 0.0
            for f in range(nf):
                t = r[f] - z[f]
                d += t * t
            if len(best) < k or d < best[-1][0]:
                j = len(best)
                while j > 0 and best[j - 1][0] > d:
                    j -= 1
                best.insert(j, (d, c))
                if len(best) > k:
                    best.pop()
        votes = [0] * self.n_classes
        for _, c in best:
            votes[c] += 1
        top = max(votes)
        for _, c in best:
            if votes[c] == top:
                return c
        return 0


def fit(X, y, n_classes, k=5):
    if k < 1:
        raise ValueError("k must be >= 1")
    return KNN(X, y, n_classes, k)
