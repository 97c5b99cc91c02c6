# mlrt.train: train small models on the device or in the browser (MicroPython or CPython, no numpy).
#
#   from mlrt import train
#   model = train.fit("forest", X, y, n_classes, {"n_trees": 10, "max_depth": 8, "seed": 1})
#   model.predict(x)              # class index
#   res = train.evaluate(model, Xv, yv, n_classes)   # {"accuracy": ..., "confusion": [[...]]}
#
# X: a list of rows (sequences of floats), y: a list of class indices 0..n_classes-1. Every random
# choice comes from Rng(seed), so a run gives the same model on every port.
# Kinds: "tree" / "forest" (mlrt.train_trees, CART with Gini), "knn" (mlrt.train_knn),
# "logistic" (mlrt.train_linear, multinomial logistic regression).


class Rng:
    """Park-Miller minimal standard generator (the same numbers on every port)."""

    def __init__(self, seed=1):
        self.s = (int(seed) % 2147483646) + 1

    def next(self):
        self.s = (self.s * 48271) % 2147483647
        return self.s

    def below(self, n):
        """A random integer 0 <= r < n."""
        return self.next() % n

    def shuffle(self, a):
        for i in range(len(a) - 1, 0, -1):
            j = self.below(i + 1)
            a[i], a[j] = a[j], a[i]
        return a


def split(n, val_fraction, seed=1, y=None):
    """(train indices, validation indices): a seeded shuffle, stratified by y when given, with at least
    one training row per class that has one."""
    rng = Rng(seed)
    if y is None:
        idx = rng.shuffle(list(range(n)))
        k = int(n * val_fraction)
        return sorted(idx[k:]), sorted(idx[:k])
    by = {}
    for i in range(n):
        by.setdefault(y[i], []).append(i)
    tr, va = [], []
    for c in sorted(by):
        idx = rng.shuffle(by[c])
        k = int(len(idx) * val_fraction + 0.5)
        if k >= len(idx):
            k = len(idx) - 1
        va.extend(idx[:k])
        tr.extend(idx[k:])
    return sorted(tr), sorted(va)


def confusion(y_true, y_pred, n_classes):
    """n_classes x n_classes counts: row = true class, column = predicted class."""
    m = [[0] * n_classes for _ in range(n_classes)]
    for t, p in zip(y_true, y_pred):
        m[t][p] += 1
    return m


def evaluate(model, X, y, n_classes):
    pred = [model.predict(x) for x in X]
    ok = 0
    for t, p in zip(y, pred):
        if t == p:
            ok += 1
    return {
        "accuracy": ok / len(y) if y else None,
        "confusion": confusion(y, pred, n_classes),
        "predictions": pred,
    }


def check(X, y, n_classes):
    if not X:
        raise ValueError("no training rows: label some windows first")
    nf = len(X[0])
    for r in X:
        if len(r) != nf:
            raise ValueError("training rows differ in length")
        for v in r:
            if v - v != 0:
                raise ValueError("a training row holds NaN or inf")
    for c in y:
        if not 0 <= c < n_classes:
            raise ValueError("a class index is out of range")


def fit(kind, X, y, n_classes, params=None):
    """Train a model of this kind; returns an object with predict(x) -> class index."""
    p = params or {}
    check(X, y, n_classes)
    if kind in ("tree", "forest"):
        from mlrt import train_trees

        n_trees = 1 if kind == "tree" else int(p.get("n_trees", 10))
        return train_trees.fit(
            X,
            y,
            n_classes,
            n_trees=n_trees,
            max_depth=int(p.get("max_depth", 8)),
            min_samples_leaf=int(p.get("min_samples_leaf", 1)),
            seed=int(p.get("seed", 1)),
            bootstrap=kind == "forest",
        )
    if kind == "knn":
        from mlrt import train_knn

        return train_knn.fit(X, y, n_classes, k=int(p.get("k", 5)))
    if kind == "logistic":
        from mlrt import train_linear

        return train_linear.fit(
            X, y, n_classes, c=float(p.get("C", 1.0)), iterations=int(p.get("iterations", 30))
        )
    raise ValueError("unknown model kind %r: tree, forest, knn or logistic" % kind)
