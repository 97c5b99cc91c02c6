# mlrt machine-code int8 dot products for network.py's int8 path (@micropython.viper: machine-word integer
# arithmetic, no objects per product). x and w are bytearrays holding int8 values as two's-complement
# bytes. Importing this module fails on CPython and on ports without native code (e.g. WebAssembly);
# network.py then uses its bytecode dot product, which computes the same integers. Precompile with
# mpy-cross -march=<arch> (microlearn.deploy does).
import micropython


@micropython.viper
def dot(x: ptr8, w: ptr8, off: int, n: int) -> int:
    """sum_i x[i] * w[off + i] over int8 values (an int32 for n < 2^17)."""
    acc = 0
    i = 0
    while i < n:
        a = int(x[i])
        if a > 127:
            a -= 256
        b = int(w[off + i])
        if b > 127:
            b -= 256
        acc += a * b
        i += 1
    return acc
