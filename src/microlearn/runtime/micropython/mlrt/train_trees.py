# mlrt.train_trees: CART decision trees and random forests (Gini), pure MicroPython/CPython.
# Inputs are rounded to float32 first and thresholds are float32 values between two neighbouring
# training values, so the trees decide exactly as mlrt, ml_trees.h and microlearn's host reference do
# once written with mlrt.writer (trees_file). Train with mlrt.train.fit("tree" | "forest", ...).
import math
from array import array

from mlrt.train import Rng

_b = array("f", [0.0])


def _f32(v):
    _b[0] = v
    return _b[0]


class TreeModel:
    """A trained tree ensemble: trees in the layout mlrt.writer.trees_file takes."""

    def __init__(self, n_features, n_classes, trees, kind):
        self.n_features = n_features
        self.n_classes = n_classes
        self.trees = trees
        self.kind = kind
        self.n_nodes = sum(len(t[0]) for t in trees)

    def predict_proba(self, x):
        x = array("f", x)
        acc = [0.0] * self.n_classes
        for feature, threshold, right, leaf in self.trees:
            i = 0
            while feature[i] >= 0:
                i = i + 1 if x[feature[i]] <= threshold[i] else right[i]
            row = leaf[right[i]]
            for c in range(self.n_classes):
                acc[c] += row[c]
        n = len(self.trees)
        if n > 1:
            acc = [v / n for v in acc]
        return acc

    def predict(self, x):
        p = self.predict_proba(x)
        best = 0
        for c in range(1, len(p)):
            if p[c] > p[best]:
                best = c
        return best

    def to_file(self, labels=None, feature_names=None):
        from mlrt.writer import trees_file

        src = "microlearn.studio.DecisionTree" if len(self.trees) == 1 else "microlearn.studio.RandomForest"
        return trees_file(self.n_features, self.n_classes, self.trees, labels, feature_names, src)


def fit(
    X, y, n_classes, n_trees=10, max_depth=8, min_samples_leaf=1, seed=1, bootstrap=True, max_features=None
):
    """Train n_trees CART trees (one tree: all rows, all features; a forest: bootstrap samples and
    sqrt(n_features) candidate features per split, unless max_features says otherwise)."""
    if n_trees < 1 or max_depth < 1 or min_samples_leaf < 1:
        raise ValueError("n_trees, max_depth and min_samples_leaf must be >= 1")
    if max_depth > 32:
        max_depth = 32
    nf = len(X[0])
    n = len(X)
    if max_features is None:
        max_features = nf if n_trees == 1 else max(1, int(math.sqrt(nf)))
    rng = Rng(seed)
    data = _Columns(X, rng)
    trees = []
    for _ in range(n_trees):
        if bootstrap and n_trees > 1:
            idx = [rng.below(n) for _ in range(n)]
        else:
            idx = data.perm[:]
        b = _Builder(data, y, n_classes, max_depth, min_samples_leaf, min(max_features, nf), rng)
        b.grow(idx, 0)
        trees.append((b.feature, b.threshold, b.right, b.leaf))
    return TreeModel(nf, n_classes, trees, "tree" if n_trees == 1 else "forest")


class _Columns:
    """Per feature: the sorted distinct float32 values and each row's key (rank << bits) | row, so a
    node's rows sort as plain small integers (MicroPython's sort calls a key function per comparison)."""

    def __init__(self, X, rng):
        n = len(X)
        nf = len(X[0])
        bits = 1
        while (1 << bits) < n:
            bits += 1
        self.bits = bits
        self.mask = (1 << bits) - 1
        # rows in a seeded random order: MicroPython's quicksort is quadratic on sorted input
        self.perm = rng.shuffle(list(range(n)))
        self.values = []
        self.rank = []
        self.key = []
        for f in range(nf):
            col = array("f", [X[r][f] for r in range(n)])
            vals = sorted(set(col))
            pos = {}
            for k in range(len(vals)):
                pos[vals[k]] = k
            rk = array("i", [pos[v] for v in col])
            self.values.append(array("f", vals))
            self.rank.append(rk)
            self.key.append(array("i", [(rk[r] << bits) | r for r in range(n)]))


class _Builder:
    def __init__(self, data, y, n_classes, max_depth, min_leaf, max_features, rng):
        self.data = data
        self.y = y
        self.nc = n_classes
        self.max_depth = max_depth
        self.min_leaf = min_leaf
        self.max_features = max_features
        self.rng = rng
        self.feature = []
        self.threshold = []
        self.right = []
        self.leaf = []

    def _leaf(self, counts, n):
        self.feature.append(-1)
        self.threshold.append(0.0)
        self.right.append(len(self.leaf))
        self.leaf.append([c / n for c in counts])

    def grow(self, idx, depth):
        y = self.y
        counts = [0] * self.nc
        for i in idx:
            counts[y[i]] += 1
        n = len(idx)
        pure = max(counts) == n
        split = None
        if not pure and depth < self.max_depth and n >= 2 * self.min_leaf:
            split = self._best(idx, counts)
        if split is None:
            self._leaf(counts, n)
            return
        f, r, thr = split
        rk = self.data.rank[f]
        left = [i for i in idx if rk[i] <= r]
        right = [i for i in idx if rk[i] > r]
        node = len(self.feature)
        self.feature.append(f)
        self.threshold.append(thr)
        self.right.append(0)
        self.grow(left, depth + 1)
        self.right[node] = len(self.feature)
        self.grow(right, depth + 1)

    def _candidates(self):
        nf = len(self.data.rank)
        feats = list(range(nf))
        if self.max_features >= nf:
            return feats
        rng = self.rng
        for i in range(self.max_features):  # partial Fisher-Yates
            j = i + rng.below(nf - i)
            feats[i], feats[j] = feats[j], feats[i]
        return feats[: self.max_features]

    def _best(self, idx, counts):
        """(feature, rank, float32 threshold) maximising the Gini gain, or None when no split separates.
        Rows whose rank is <= rank go left; threshold lies between that value and the next."""
        y = self.y
        n = len(idx)
        nc = self.nc
        min_leaf = self.min_leaf
        bits = self.data.bits
        mask = self.data.mask
        tot2 = 0
        for c in counts:
            tot2 += c * c
        best = tot2 / n + 1e-12  # a split must lower the weighted Gini impurity
        found = None
        for f in self._candidates():
            key = self.data.key[f]
            order = sorted([key[i] for i in idx])
            if order[0] >> bits == order[-1] >> bits:
                continue
            cl = [0] * nc
            cr = counts[:]
            sl2 = 0
            sr2 = tot2
            prev = order[0] >> bits
            nl = 0
            for v in order:
                r = v >> bits
                if r != prev and nl >= min_leaf and n - nl >= min_leaf:
                    score = sl2 / nl + sr2 / (n - nl)
                    if score > best:
                        best = score
                        found = (f, prev, r)
                prev = r
                c = y[v & mask]
                sl2 += 2 * cl[c] + 1
                cl[c] += 1
                sr2 -= 2 * cr[c] - 1
                cr[c] -= 1
                nl += 1
        if found is None:
            return None
        f, ra, rb = found
        vals = self.data.values[f]
        a = vals[ra]
        b = vals[rb]
        t = _f32((a + b) / 2)
        if t == b:
            t = a
        return f, ra, t
