# mlrt machine-code k-means arithmetic for kmeans.py (@micropython.native): kmeans._Py's functions, the
# same float operations in the same order (a test checks that the function bodies are the same text), so
# distances, labels and the online update are bit for bit the bytecode path's; native code drops the
# interpreter's dispatch (viper would keep float objects for every operation all the same).
# Importing this module fails on CPython (no micropython module) and on ports that cannot run native
# code (e.g. WebAssembly: "invalid micropython decorator"); kmeans.py then uses its bytecode path.
# Precompile with mpy-cross -march=<arch> (microlearn.deploy does).
import micropython


@micropython.native
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


@micropython.native
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
