# mlrt machine-code tree walker (@micropython.viper): the walk of trees.py over the same packed array
# (Trees._pack: 2 words per node), with the same integer keys and fixed-point votes, so it decides
# exactly as the bytecode path does, in machine words instead of objects.
# Importing this module fails on CPython (no micropython module) and on ports that cannot run native
# code (e.g. WebAssembly: "invalid micropython decorator"); mlrt then uses the bytecode path.
# Precompile with mpy-cross -march=<arch>. Works with 32- and 64-bit machine words: ptr32 loads are
# sign-normalised with (k ^ s) - s, s = 1 << 31 (a no-op where the word is 32 bits).
import micropython


@micropython.viper
def _walk(a: ptr32, x, acc: ptr32, atype: int) -> int:
    """Classifier of several trees: argmax of the votes, -1 for a near-tie. Otherwise (a[1] == 0):
    acc[t] = leaf row of tree t, returns 0. x: the row, an array('f'); with atype (id(array)) != 0
    that is checked here first, as _is_f32 does (-2 if x is not an array('f') of acc[nc] items), so
    predict makes one call for everything."""
    s = 1
    s <<= 31  # the sign bit, as a machine word (a constant 1 << 31 would be an object on 32 bits)
    mag = s - 1
    inf = mag - 0x7FFFFF  # key of +inf
    n = a[0]
    nc = a[1]
    if atype:
        w = s << 1  # 0 where the machine word is 32 bits
        o = ptr32(id(x))
        if w:
            if (o[0] & (w - 1)) | (o[1] << 32) != atype or o[4] != acc[nc] or o[2] & 0xFF != 102:
                return 0 - 2
        elif o[0] != atype or o[2] != acc[nc] or o[1] & 0xFF != 102:
            return 0 - 2
    xf = ptr32(x)
    for c in range(nc):
        acc[c] = 0
    for t in range(n):
        i = a[2 + t]
        w = a[i + 1]
        while w & 0xFFFF != 0xFFFF:
            v = xf[w & 0x7FFF]
            if v & s:  # negative float: key -magnitude; a negative NaN becomes a positive one
                v = 0 - (v & mag)
                if v < 0 - inf:
                    v = inf + 1
            if v <= (a[i] ^ s) - s or (v > inf and w & 0x8000):
                i += 2
            else:
                i += (w >> 15) & 0x1FFFE
            w = a[i + 1]
        if nc == 0:
            acc[t] = a[i]
            continue
        r = a[i]
        j = r + 2
        e = a[r + 1]
        while j < e:
            v = a[j]
            c = v & 0xFF
            acc[c] = acc[c] + (v >> 8)
            j += 1
    if nc == 0:
        return 0
    best = 0
    top = acc[0]
    second = 0 - 1
    c = 1
    while c < nc:
        v = acc[c]
        if v > top:
            second = top
            top = v
            best = c
        elif v > second:
            second = v
        c += 1
    if nc == 1 or top - second > n + 1:  # trees.margin(n)
        return best
    return 0 - 1


@micropython.viper
def _is_f32(x, atype: int, n: int) -> int:
    """1 if x is an array('f') of n items, else 0, read from the array object without allocating:
    mp_obj_array_t is { base (type pointer); typecode : 8, free : ...; len; items } (py/objarray.h,
    unchanged since MicroPython 1.0), so on a little-endian port the type is word 0, the typecode the
    first byte of word 1 and the length word 2. trees.py checks this reading on known arrays at
    import before it relies on it. atype: id(array)."""
    w = 1
    w <<= 31
    w <<= 1  # 0 where the machine word is 32 bits
    o = ptr32(id(x))
    if w:  # 64-bit words: the type pointer in two halves, the length at word 2
        if (o[0] & (w - 1)) | (o[1] << 32) != atype or o[4] != n:
            return 0
        return 1 if o[2] & 0xFF == 102 else 0
    if o[0] != atype or o[2] != n:
        return 0
    return 1 if o[1] & 0xFF == 102 else 0


def prepare(m):
    """The walker for model m (trees.Trees)."""
    return _Walker(m)


class _Walker:
    def __init__(self, m):
        from array import array

        self.a = m._a
        self.votes = m._a[1] != 0
        self.acc = array("i", bytes(4 * ((m.n_outputs if self.votes else m.n_trees) + 1)))
        self.acc[len(self.acc) - 1] = m.n_features  # for _walk's own check of x (votes only)
        self.leaf_class = m._leaf_class if m.classifier else None
        self.value = None if m.classifier else m._value
        self.n = m.n_trees

    def predict(self, xf):
        """Class index or value for xf (array('f')); None where the bytecode path must decide (a
        near-tie of votes)."""
        acc = self.acc
        r = _walk(self.a, xf, acc, 0)
        if self.votes:
            return r if r >= 0 else None
        if self.leaf_class is not None:
            return self.leaf_class[acc[0]]
        return self._mean(acc)

    def _mean(self, acc):
        v = self.value
        s = 0.0
        n = self.n
        for t in range(n):
            s += v[acc[t]]
        return s / n if n > 1 else s
