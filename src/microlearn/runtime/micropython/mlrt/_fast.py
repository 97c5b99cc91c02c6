# mlrt native-code tree walker: the same algorithm as trees.py, compiled to machine code by
# @micropython.native, so it decides exactly as the bytecode path does. Importing this module fails on
# CPython (no micropython module) and on ports that cannot run native code (e.g. WebAssembly: "invalid
# micropython decorator"); mlrt then uses the bytecode path. Precompile with mpy-cross -march=<arch>.
import micropython


@micropython.native
def _leaf(feat, thr, right, miss, i, xf):
    f = feat[i]
    while f >= 0:
        v = xf[f]
        if v <= thr[i] or (miss[i] and v != v):
            i += 1
        else:
            i = right[i]
        f = feat[i]
    return right[i]


@micropython.native
def predict(m, xf):
    feat, thr, right, miss, roots = m._feat, m._thr, m._right, m._miss, m._roots
    n = m.n_trees
    if m.classifier:
        if n == 1:
            return m._leaf_class[_leaf(feat, thr, right, miss, roots[0], xf)]
        nc = m.n_outputs
        p = m._proba
        acc = [0.0] * nc
        for t in range(n):
            base = _leaf(feat, thr, right, miss, roots[t], xf) * nc
            for c in range(nc):
                acc[c] += p[base + c]
        best = 0
        top = acc[0] / n
        for c in range(1, nc):
            v = acc[c] / n
            if v > top:
                best = c
                top = v
        return best
    v = m._value
    s = 0.0
    for t in range(n):
        s += v[_leaf(feat, thr, right, miss, roots[t], xf)]
    return s / n if n > 1 else s


def prepare(m):
    return _Walker()


class _Walker:
    def predict(self, m, xf):
        return predict(m, xf)
