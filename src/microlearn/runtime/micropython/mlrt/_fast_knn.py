# mlrt machine-code nearest neighbours for neighbors.py (@micropython.viper): when every stored example
# is an integer of int8 or int16 (the examples held as array('b') / array('h')) and so is every input
# value, the distances are integers: computed here in machine words they are exactly the float64 rule's
# (integer sums far below 2^53), and the k nearest are kept by the same rule as the bytecode path
# (an example replaces a kept one only when strictly nearer, so equal distances keep the lower index).
# neighbors.py calls it only where no sum can pass 2^31 - 1 (so 32-bit words cannot overflow).
# Importing this module fails on CPython (no micropython module) and on ports that cannot run native
# code (e.g. WebAssembly: "invalid micropython decorator"); neighbors.py then uses its bytecode path.
# Precompile with mpy-cross -march=<arch> (microlearn.deploy does).
import micropython


@micropython.viper
def ints(xf: ptr32, n: int, out, wide: int) -> int:
    """Write the float32 row xf (n values, an array('f')) into out as integers (an array('b') when wide
    is 0, array('h') when 1). Returns 1 + the largest |value| if every value is an integer of that type,
    else 0 (out is then partly written). Reads the float32 bits: no float object is made."""
    o8 = ptr8(out)
    o16 = ptr16(out)
    top = 127
    if wide:
        top = 32767
    big = 0
    i = 0
    while i < n:
        v = xf[i]
        e = (v >> 23) & 0xFF
        mant = v & 0x7FFFFF
        if e == 0 and mant == 0:
            a = 0
        elif e < 127 or e > 142:  # |v| < 1 (not 0), or >= 2^16, inf, NaN
            return 0
        else:
            sh = 150 - e  # bits of the 24-bit significand below the binary point
            sig = mant | 0x800000
            a = sig >> sh
            if (a << sh) != sig:
                return 0
        if a > top:
            if not (a == top + 1 and (v >> 31) & 1):  # -128 / -32768 are in range
                return 0
        if a > big:
            big = a
        if (v >> 31) & 1:
            a = 0 - a
        if wide:
            o16[i] = a
        else:
            o8[i] = a
        i += 1
    return big + 1


@micropython.viper
def nearest(x, ex, m: int, n: int, k: int, mc: int, wide: int, dist: ptr32, idx: ptr32) -> int:
    """The k nearest of the m examples ex (m x n, int8 in an array('b') when wide is 0, int16 in an
    array('h') when 1) to x (same type): idx[0..k-1] their indices, nearest first, dist their integer
    distances (mc 0: sum of squared differences, 1: sum of |d|, 2: max |d|). A sum stops once it
    reaches the k-th kept distance (every term is >= 0: that example is not strictly nearer). Returns
    the number kept (k). One inner loop per type and metric (a test inside the loop costs as much as
    the sum); items are read unsigned and sign-extended with (v ^ half) - half."""
    x8 = ptr8(x)
    e8 = ptr8(ex)
    x16 = ptr16(x)
    e16 = ptr16(ex)
    lim = 1
    lim <<= 30
    lim = lim - 1 + lim  # 2^31 - 1 until k are kept (a literal that large is an object on 32-bit ports)
    kept = 0
    o = 0
    j = 0
    while j < m:
        s = 0
        i = 0
        if wide:
            if mc == 0:
                while i < n and s < lim:
                    d = ((int(x16[i]) ^ 32768) - 32768) - ((int(e16[o + i]) ^ 32768) - 32768)
                    s += d * d
                    i += 1
            else:
                while i < n and s < lim:
                    d = ((int(x16[i]) ^ 32768) - 32768) - ((int(e16[o + i]) ^ 32768) - 32768)
                    if d < 0:
                        d = 0 - d
                    if mc == 1:
                        s += d
                    elif d > s:
                        s = d
                    i += 1
        elif mc == 0:
            while i < n and s < lim:
                d = ((int(x8[i]) ^ 128) - 128) - ((int(e8[o + i]) ^ 128) - 128)
                s += d * d
                i += 1
        else:
            while i < n and s < lim:
                d = ((int(x8[i]) ^ 128) - 128) - ((int(e8[o + i]) ^ 128) - 128)
                if d < 0:
                    d = 0 - d
                if mc == 1:
                    s += d
                elif d > s:
                    s = d
                i += 1
        o += n
        if s < lim:
            if kept < k:
                kept += 1
            p = kept - 1
            while p > 0 and s < dist[p - 1]:  # strictly nearer moves up
                dist[p] = dist[p - 1]
                idx[p] = idx[p - 1]
                p -= 1
            dist[p] = s
            idx[p] = j
            if kept == k:
                lim = dist[k - 1]
        j += 1
    return kept
