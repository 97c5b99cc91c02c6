# mlrt machine-code dense layers for network.py (@micropython.native): the same float operations in the
# same order as network.Dense.linear, so both paths give the same values bit for bit. (Viper would need
# float objects for every product; native keeps the bytecode path's float arithmetic and drops the
# interpreter.) Importing this module fails on CPython (no micropython module) and on ports that cannot
# run native code (e.g. WebAssembly); network.py then uses its bytecode path. Precompile with
# mpy-cross -march=<arch> (microlearn.deploy does).
import micropython


@micropython.native
def dense(x, w, b, n_in, n_out):
    """[sum_i x[i] * w[j * n_in + i] (left to right, from 0.0) + b[j] for j in range(n_out)]."""
    out = []
    o = 0
    for j in range(n_out):
        acc = 0.0
        for i in range(n_in):
            acc += x[i] * w[o + i]
        out.append(acc + b[j])
        o += n_in
    return out
