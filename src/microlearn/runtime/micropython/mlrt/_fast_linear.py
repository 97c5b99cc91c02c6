# mlrt machine-code scores for linear.py (@micropython.native): the same float operations in the same
# order as Linear._scores and the max|x| of Linear.predict, so the fast-path bound and the exact integer
# replay of near ties decide exactly as the bytecode path does. (Viper would need float objects for
# every product; native keeps the float arithmetic of the bytecode path and drops the interpreter.)
# Importing this module fails on CPython (no micropython module) and on ports that cannot run native
# code (e.g. WebAssembly: "invalid micropython decorator"); linear.py then uses its bytecode path.
# Precompile with mpy-cross -march=<arch>.
import micropython


@micropython.native
def scores(xa, w, b, k, n):
    """[b[c] + sum_i xa[i] * w[c * n + i] for c in range(k)], summed left to right."""
    out = []
    o = 0
    for c in range(k):
        acc = b[c]
        for i in range(n):
            acc += xa[i] * w[o + i]
        out.append(acc)
        o += n
    return out


@micropython.native
def absmax(xa):
    """max(|v| for v in xa), 0.0 for none (NaN entries are skipped, as in linear.py)."""
    xm = 0.0
    for v in xa:
        a = -v if v < 0 else v
        if a > xm:
            xm = a
    return xm
