# mlrt k-means (scikit-learn's KMeans, MiniBatchKMeans): the nearest centre, the distances, and the
# online update of MiniBatchKMeans.partial_fit on batches received on the device.
#
# predict: squared euclidean distances from the float32-rounded input to every centre in the port's
# float (double on unix and WebAssembly: the float64 rule of docs/kmeans.md), the lowest index among
# equal distances. partial_fit: scikit-learn's _mini_batch_step (sample weights optional) without random
# reassignment, centres and weight sums held as float32 (array 'f') and every intermediate rounded to
# float32: on a port whose float is a double each operation on two float32 values is computed exactly
# enough (53 >= 2*24+2 bits) that the float32 rounding is the correctly rounded float32 result, so the
# update is the one scikit-learn computes on float32 data, bit for bit, wherever the labels agree.
from array import array

from mlrt._reader import bad

try:  # machine-code distances and update where the port can run them (see _fast_kmeans.py)
    from mlrt import _fast_kmeans
except Exception:  # CPython, WebAssembly, or a port without native code: _Py below
    _fast_kmeans = None

FAMILY = 5
CLUSTER = 4
_K = 1 << CLUSTER
MAX_COUNT = 1e15

# tag -> (dtype code, critical, tasks bit mask, required): schema.KMEANS in microlearn
SECTIONS = {
    b"CENT": (8, 1, _K, 1),
    b"MODE": (1, 1, _K, 1),
    b"KMWS": (8, 0, _K, 0),
    b"FNAM": (9, 0, _K, 0),
    b"SRCE": (9, 0, _K, 0),
}


def load(head, sec):
    return KMeans(head, sec)


class _Py:
    """The bytecode arithmetic (_fast_kmeans holds the same functions as machine code)."""

    @staticmethod
    def dist2(xa, c, k, n):
        """Squared euclidean distances from xa to each of the k centres in c, summed in feature order."""
        out = []
        o = 0
        for _ in range(k):
            s = 0.0
            for i in range(n):
                d = xa[i] - c[o + i]
                s += d * d
            o += n
            out.append(s)
        return out

    @staticmethod
    def step(c, w, xs, labels, sw, t, k, n):
        """scikit-learn's _minibatch_update_dense in float32: c and w are array('f'), t an array('f') of 2
        where each intermediate is rounded; sw: the sample weights (array('f')) or None for 1 each."""
        for j in range(k):
            t[1] = 0.0
            for r in range(len(xs)):
                if labels[r] == j:
                    t[1] = t[1] + (1.0 if sw is None else sw[r])
            if not t[1] > 0:
                continue
            o = j * n
            for i in range(n):
                c[o + i] = c[o + i] * w[j]
            for r in range(len(xs)):
                if labels[r] == j:
                    xa = xs[r]
                    for i in range(n):
                        if sw is None:
                            c[o + i] = c[o + i] + xa[i]
                        else:
                            t[0] = xa[i] * sw[r]
                            c[o + i] = c[o + i] + t[0]
            w[j] = w[j] + t[1]
            t[0] = 1.0 / w[j]
            alpha = t[0]
            for i in range(n):
                c[o + i] = c[o + i] * alpha


class KMeans:
    """A k-means model read from a model file. ``predict(x)``: the nearest centre's index;
    ``transform(x)``: the distance to every centre; ``partial_fit(rows)``: one mini-batch step (needs the
    weight sums a MiniBatchKMeans file holds)."""

    def __init__(self, head, sec):
        task, n, k = head[4], head[5], head[6]
        if task != CLUSTER:
            raise bad("task %d is not one a k-means model has" % task)
        c, mode, ws = sec[b"CENT"], sec[b"MODE"], sec.get(b"KMWS")
        if n < 1 or k < 1 or len(c) != k * n:
            raise bad("CENT does not hold %d centres x %d features" % (k, n))
        if len(mode) != 1 or mode[0] > 1:
            raise bad("MODE holds a code out of range")
        for v in c:
            if v - v != 0:
                raise bad("CENT holds a NaN or infinite value")
        if ws is not None:
            if len(ws) != k:
                raise bad("KMWS holds %d weight sums, not %d" % (len(ws), k))
            for w in ws:
                if not 0.0 <= w <= MAX_COUNT:
                    raise bad("KMWS holds a weight sum outside [0, 1e15]")
        self.n_features = n
        self.n_outputs = k
        self.n_clusters = k
        self.float32 = mode[0] == 1
        self._c = c  # float64 as stored, for predict and transform
        self._c32 = None  # float32 centres once learning has started
        self.counts = None if ws is None else array("f", ws)
        self.feature_names = None

    @property
    def nbytes(self):
        c = (4 * len(self._c32)) if self._c32 is not None else 8 * len(self._c)
        return c + (4 * len(self.counts) if self.counts is not None else 0)

    def _dist2(self, xa):
        c = self._c32 if self._c32 is not None else self._c
        return (_fast_kmeans or _Py).dist2(xa, c, self.n_clusters, self.n_features)

    def _x32(self, x):
        if len(x) != self.n_features:
            raise ValueError("mlrt: x has %d values; the model takes %d features" % (len(x), self.n_features))
        return array("f", x)

    def predict(self, x):
        """Index of the nearest centre (the lowest among equal distances)."""
        d = self._dist2(self._x32(x))
        best = 0
        for j in range(1, len(d)):
            if d[j] < d[best]:
                best = j
        if d[best] != d[best]:
            raise ValueError("mlrt: x holds NaN")
        return best

    def transform(self, x):
        """The euclidean distance of x to every centre."""
        return [v**0.5 for v in self._dist2(self._x32(x))]

    def partial_fit(self, rows, sample_weight=None):
        """One mini-batch step on ``rows`` (a list of rows) with ``sample_weight`` (one number >= 0 per
        row, rounded to float32; None: 1 each): returns their labels (by the centres before the step);
        centres whose members' weights sum to more than 0 move to the weighted mean of their old weight
        and the members."""
        if self.counts is None:
            raise ValueError(
                "mlrt: this model has no weight sums (a MiniBatchKMeans file has): no online update"
            )
        xs = [self._x32(r) for r in rows]
        for xa in xs:
            for v in xa:
                if v - v != 0:
                    raise ValueError("mlrt: a row holds NaN or an infinite value")
        sw = None
        if sample_weight is not None:
            if len(sample_weight) != len(xs):
                raise ValueError(
                    "mlrt: %d sample weights for %d rows: give one per row" % (len(sample_weight), len(xs))
                )
            sw = array("f", sample_weight)
            for v in sw:
                if not (v >= 0 and v - v == 0):
                    raise ValueError("mlrt: a sample weight is negative, NaN or infinite: give weights >= 0")
        if self._c32 is None:
            self._c32 = array("f", self._c)
        labels = [self.predict(xa) for xa in xs]
        t = array("f", [0.0, 0.0])  # float32 rounding of each intermediate
        (_fast_kmeans or _Py).step(
            self._c32, self.counts, xs, labels, sw, t, self.n_clusters, self.n_features
        )
        return labels

    def centers(self):
        """The current centres as a list of rows."""
        c = self._c32 if self._c32 is not None else self._c
        n = self.n_features
        return [list(c[j * n : (j + 1) * n]) for j in range(self.n_clusters)]
