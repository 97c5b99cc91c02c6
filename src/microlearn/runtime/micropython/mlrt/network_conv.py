# mlrt convolution, pooling, reshaping and per-channel layers of a network (model family 6, layer
# codes 16..21; records as microlearn's backends/modelfile/network_conv.py writes them).
#
# Tensors are flat lists in row-major channels-last order (a sequence (L, C) is an image of one row).
# Arithmetic: the port's float (double on unix / WebAssembly ports: the exact network within float64
# rounding, docs/keras.md).
#
# The window loops are the functions conv, depthwise and pool below; _fast_conv.py holds the same
# functions as @micropython.native (same source, so the same float operations in the same order) and
# viper integer kernels for the int8 method, used where the port can import it.
from array import array

from mlrt._reader import bad, empty
from mlrt.network import activate, requant, unfold

try:  # machine code where the port can run it (see _fast_conv.py)
    from mlrt import _fast_conv
except Exception:  # CPython, WebAssembly, or a port without native code: the bytecode functions below
    _fast_conv = None

PADDINGS = ("valid", "same", "causal")


def _image(shape):
    if len(shape) == 3:
        return shape
    if len(shape) == 2:
        return (1, shape[0], shape[1])
    raise bad("a convolution or pooling layer takes a sequence or an image")


def _out(size, k, stride, dil, padding):
    span = (k - 1) * dil + 1
    if padding == 0:
        return ((size - span) // stride + 1 if size >= span else 0), 0
    if padding == 2:
        return (size - 1) // stride + 1, span - 1
    out = -(-size // stride)
    total = (out - 1) * stride + span - size
    if total < 0:
        total = 0
    return out, total // 2


class _Geom:
    def __init__(self, in_shape, out_shape, kh, kw, st, dl, pad, c_out):
        h, w, c = _image(in_shape)
        sh, sw = st // 65536, st % 65536
        dh, dw = dl // 65536, dl % 65536
        if min(kh, kw, sh, sw, dh, dw) < 1 or pad < 0 or pad > 2:
            raise bad("a window record holds a size, stride, dilation or padding out of range")
        oh, pt = _out(h, kh, sh, dh, pad)
        ow, pl = _out(w, kw, sw, dw, pad)
        if oh < 1 or ow < 1 or _image(out_shape) != (oh, ow, c_out):
            raise bad("a window layer's output does not match the next shape")
        self.h, self.w, self.c, self.oh, self.ow = h, w, c, oh, ow
        self.kh, self.kw, self.sh, self.sw, self.dh, self.dw = kh, kw, sh, sw, dh, dw
        self.pt, self.pl = pt, pl
        # the geometry as the window functions take it
        self.t = (h, w, c, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl)

    def taps(self, oy, ox):
        """(kernel tap index, input position) of the window at output (oy, ox), inside the input."""
        out = []
        for i in range(self.kh):
            iy = oy * self.sh - self.pt + i * self.dh
            if iy < 0 or iy >= self.h:
                continue
            for j in range(self.kw):
                ix = ox * self.sw - self.pl + j * self.dw
                if 0 <= ix < self.w:
                    out.append((i * self.kw + j, iy * self.w + ix))
        return out


# ------------------------------------------------------------------------------------ window functions
# t = (h, w, c, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl): input height, width, channels; output height,
# width; kernel size, strides, dilations; top and left padding (_Geom). Taps in kernel order (row i,
# then column j), those falling in the padding skipped. _fast_conv.py repeats these three functions
# word for word under @micropython.native (a test compares the syntax trees).
def conv(x, k, b, t, f):
    """Convolution of x (h, w, c) with kernel k (kh, kw, c, f) plus biases b: a list (oh, ow, f)."""
    h, w, c, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl = t
    y = []
    for oy in range(oh):
        for ox in range(ow):
            acc = [0.0] * f
            for i in range(kh):
                iy = oy * sh - pt + i * dh
                if iy < 0 or iy >= h:
                    continue
                for j in range(kw):
                    ix = ox * sw - pl + j * dw
                    if ix < 0 or ix >= w:
                        continue
                    xo = (iy * w + ix) * c
                    ko = (i * kw + j) * c * f
                    for ch in range(c):
                        v = x[xo + ch]
                        kk = ko + ch * f
                        for fi in range(f):
                            acc[fi] += v * k[kk + fi]
            for fi in range(f):
                y.append(acc[fi] + b[fi])
    return y


def depthwise(x, k, b, t, m):
    """Depthwise convolution, kernel k (kh, kw, c, m), output channel o = ch * m + mm: (oh, ow, c m)."""
    h, w, c, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl = t
    cm = c * m
    y = []
    for oy in range(oh):
        for ox in range(ow):
            acc = [0.0] * cm
            for i in range(kh):
                iy = oy * sh - pt + i * dh
                if iy < 0 or iy >= h:
                    continue
                for j in range(kw):
                    ix = ox * sw - pl + j * dw
                    if ix < 0 or ix >= w:
                        continue
                    xo = (iy * w + ix) * c
                    ko = (i * kw + j) * cm
                    for o in range(cm):
                        acc[o] += x[xo + o // m] * k[ko + o]
            for o in range(cm):
                y.append(acc[o] + b[o])
    return y


def pool(x, t, op):
    """Max (op 0) or average (op 1, over the taps inside the input) pooling: a list (oh, ow, c)."""
    h, w, c, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl = t
    y = []
    for oy in range(oh):
        for ox in range(ow):
            acc = [0.0] * c
            n = 0
            for i in range(kh):
                iy = oy * sh - pt + i * dh
                if iy < 0 or iy >= h:
                    continue
                for j in range(kw):
                    ix = ox * sw - pl + j * dw
                    if ix < 0 or ix >= w:
                        continue
                    xo = (iy * w + ix) * c
                    if op != 0:
                        for ch in range(c):
                            acc[ch] += x[xo + ch]
                    elif n == 0:
                        for ch in range(c):
                            acc[ch] = x[xo + ch]
                    else:
                        for ch in range(c):
                            v = x[xo + ch]
                            if v > acc[ch]:
                                acc[ch] = v
                    n += 1
            for ch in range(c):
                y.append(acc[ch] if op == 0 else acc[ch] / n)
    return y


class Conv:
    # kernel in Keras' order (kh, kw, C, F): k[(tap * C + c) * F + f]
    def __init__(self, g, f, act, k, b):
        self.g, self.f, self.act, self.k, self.b = g, f, act, k, b

    def linear(self, x):
        fn = _fast_conv.conv if _fast_conv is not None else conv
        return fn(x, self.k, self.b, self.g.t, self.f)

    def __call__(self, x):
        return activate(self.linear(x), self.act)


class Depthwise:
    # kernel (kh, kw, C, M): k[tap * C * M + o] for output channel o = c * M + m
    def __init__(self, g, m, act, k, b):
        self.g, self.m, self.act, self.k, self.b = g, m, act, k, b

    def linear(self, x):
        fn = _fast_conv.depthwise if _fast_conv is not None else depthwise
        return fn(x, self.k, self.b, self.g.t, self.m)

    def __call__(self, x):
        return activate(self.linear(x), self.act)


class Pool:
    def __init__(self, g, op):
        self.g, self.op = g, op

    def __call__(self, x):
        fn = _fast_conv.pool if _fast_conv is not None else pool
        return fn(x, self.g.t, self.op)

    linear = __call__


class GlobalPool:
    def __init__(self, op, n, c):
        self.op, self.n, self.c = op, n, c

    def __call__(self, x):
        n, c = self.n, self.c
        y = []
        for ch in range(c):
            acc = x[ch]
            for p in range(1, n):
                v = x[p * c + ch]
                if self.op == 0:
                    if v > acc:
                        acc = v
                else:
                    acc += v
            y.append(acc if self.op == 0 else acc / n)
        return y

    linear = __call__


class Reshape:
    def __call__(self, x):
        return x

    linear = __call__


class Affine:
    def __init__(self, s, o):
        self.s, self.o = s, o

    def __call__(self, x):
        s, o = self.s, self.o
        c = len(s)
        return [x[i] * s[i % c] + o[i % c] for i in range(len(x))]

    linear = __call__


def _size(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def _take(prms, off, n, what):
    if off + n > len(prms):
        raise bad("PRMS ends inside a %s layer" % what)
    return array("d", prms[off : off + n])


def make_layer(code, ints, prms, off, in_shape, out_shape):
    if code == 16 or code == 17:
        n_f, kh, kw, st, dl, pad, act = ints[:7]
        act, fold = unfold(act)
        if act < 0 or act > 3 or n_f < 1:
            raise bad("a convolution record holds an unknown activation or no filters")
        c = _image(in_shape)[2]
        c_out = n_f if code == 16 else c * n_f
        g = _Geom(in_shape, out_shape, kh, kw, st, dl, pad, c_out)
        n = kh * kw * c * n_f
        k = _take(prms, off, n, "convolution")
        b = _take(prms, off + n, c_out, "convolution")
        _take(prms, off + n + c_out, fold, "convolution")
        if code == 16:
            return Conv(g, n_f, act, k, b), n + c_out + fold
        return Depthwise(g, n_f, act, k, b), n + c_out + fold
    if code == 18:
        op, kh, kw, st, pad = ints[:5]
        if op < 0 or op > 1 or pad < 0 or pad > 1:
            raise bad("a pooling record holds an unknown op or padding")
        c = _image(in_shape)[2]
        return Pool(_Geom(in_shape, out_shape, kh, kw, st, 65537, pad, c), op), 0
    if code == 19:
        op, n = ints[0], ints[1]
        h, w, c = _image(in_shape)
        if op < 0 or op > 1 or n != h * w or tuple(out_shape) != (c,):
            raise bad("a global pooling record does not fit its input")
        return GlobalPool(op, n, c), 0
    if code == 20:
        rank = ints[0]
        if rank < 1 or rank > 3 or tuple(ints[1 : 1 + rank]) != tuple(out_shape):
            raise bad("a reshape record does not match the next shape")
        if _size(in_shape) != _size(out_shape):
            raise bad("a reshape changes the number of values")
        return Reshape(), 0
    if code == 21:
        c = in_shape[-1]
        if ints[0] < 0 or ints[0] > 1 or tuple(out_shape) != tuple(in_shape):
            raise bad("an affine record does not fit its input")
        v = _take(prms, off, 2 * c + 1, "per-channel affine")
        return Affine(v[:c], v[c : 2 * c]), 2 * c + 1
    raise bad("layer kind %d is not supported by this mlrt: update mlrt" % code)


# ---------------------------------------------------------------------------------------------- int8
# The int8 method of these layers (QLYR kinds 3..7, microlearn's passes/quantize_conv.py and
# runtime/c/ml_conv.h): tensors are bytearrays of int8 codes (two's complement), accumulators Python
# ints, so every result equals the C's bit for bit.
def _signed(q, zx):
    return [(v - 256 if v > 127 else v) - zx for v in q]


def _div_round(s, n):
    mag = (abs(s) + n // 2) // n
    return mag if s >= 0 else -mag


def out_params(n, b, m, sh, zero, lo, table):
    """_fast_conv.out_q8's parameters for n sums over the channels of biases b, multipliers m and shifts
    sh (every word >= 0, see there), or None where it cannot give network.requant's results: a bias or
    multiplier outside int32 / [0, 2^31), a shift outside -30..31 (QMUL / QSHF's ranges)."""
    p = [n, len(b), zero + 128, lo + 128, 0 if table is None else 1]
    for ch in range(len(b)):
        bc, mc, sc = b[ch], m[ch], sh[ch]
        if not (-(1 << 31) <= bc < 1 << 31 and 0 <= mc < 1 << 31 and -30 <= sc <= 31):
            return None
        p += [(bc >> 16) + 32768, bc & 0xFFFF, mc & 0x7FFF, (mc >> 15) & 0x7FFF, mc >> 30, 30 + sc]
    return array("i", p)


class _OutQ8:
    """clamp(zero + requant(acc, m, sh), lo, 127), then the table, as one byte."""

    def __init__(self, b, m, sh, zero, lo, table):
        self.b, self.m, self.sh, self.zero, self.lo, self.table = b, m, sh, zero, lo, table

    def put(self, y, o, acc, ch):
        v = self.zero + requant(acc, self.m[ch], self.sh[ch])
        v = self.lo if v < self.lo else (127 if v > 127 else v)
        y[o] = (self.table[v + 128] if self.table is not None else v) & 0xFF


class ConvQ8(_OutQ8):
    def __init__(self, op, w, b, m, sh, zx, zero, lo, table):
        _OutQ8.__init__(self, b, m, sh, zero, lo, table)
        self.op, self.w, self.zx = op, w, zx
        g = op.g
        dw = isinstance(op, Depthwise)
        # _fast_conv.conv_q8's parameters: the geometry, filters (0: depthwise), multiplier (0: conv),
        # the input's zero point + 128; its int32 sums are exact while no sum can pass 2^31 - 1 (at most
        # kh kw c products of |x - zx| <= 255 and |w| <= 128; the biases are added here)
        self.t8 = array("i", g.t + ((0, op.m) if dw else (op.f, 0)) + (zx + 128,))
        self.fits = g.kh * g.kw * (1 if dw else g.c) * 255 * 128 < 2147483647
        self.acc = None
        self.p8 = None  # _fast_conv.out_q8's parameters, made with acc (False: out of its range)
        self.s = [31 + v for v in sh]  # requant's shifts and halves, per channel
        self.half = [1 << (30 + v) for v in sh]

    def __call__(self, q):
        g = self.op.g
        if _fast_conv is not None and self.fits:
            acc = self.acc
            if acc is None:  # made once, overwritten by every call
                acc = self.acc = empty("i", g.oh * g.ow * len(self.b))
                p8 = out_params(len(acc), self.b, self.m, self.sh, self.zero, self.lo, self.table)
                self.p8 = False if p8 is None else p8
            _fast_conv.conv_q8(q, self.w, acc, self.t8)
            if self.p8 is not False:
                y = bytearray(len(acc))
                _fast_conv.out_q8(acc, y, self.p8, self.table if self.table is not None else self.p8)
                return y
        else:
            acc = self.sums(q)
        b, m, sh, half, zero, lo, table = self.b, self.m, self.s, self.half, self.zero, self.lo, self.table
        n = len(b)
        y = bytearray(len(acc))
        ch = 0
        for o in range(len(acc)):
            # network.requant inline (its int32 saturation cannot change the clamped byte)
            p = (b[ch] + acc[o]) * m[ch]
            v = zero + ((p + half[ch]) >> sh[ch] if p >= 0 else -((half[ch] - p) >> sh[ch]))
            v = lo if v < lo else (127 if v > 127 else v)
            y[o] = (table[v + 128] if table is not None else v) & 0xFF
            ch += 1
            if ch == n:
                ch = 0
        return y

    def sums(self, q):
        """The bytecode path: every output's sum of products (without its bias), flat (oh, ow, n_out)."""
        op, w = self.op, self.w
        g = op.g
        c = g.c
        x = _signed(q, self.zx)
        depthwise = isinstance(op, Depthwise)
        n_out = len(self.b)
        out = []
        for oy in range(g.oh):
            for ox in range(g.ow):
                acc = [0] * n_out
                for tap, pos in g.taps(oy, ox):
                    xo = pos * c
                    ko = tap * c * (op.m if depthwise else op.f)
                    if depthwise:
                        mm = op.m
                        for ch in range(n_out):
                            acc[ch] += x[xo + ch // mm] * w[ko + ch]
                        continue
                    f = op.f
                    for ch in range(c):
                        v = x[xo + ch]
                        if v:
                            kk = ko + ch * f
                            for fi in range(f):
                                acc[fi] += v * w[kk + fi]
                out.extend(acc)
        return out


class AffineQ8(_OutQ8):
    def __init__(self, w, b, m, sh, zx, zero):
        _OutQ8.__init__(self, b, m, sh, zero, -128, None)
        self.w, self.zx = w, zx

    def __call__(self, q):
        x = _signed(q, self.zx)
        c = len(self.w)
        y = bytearray(len(x))
        for i in range(len(x)):
            ch = i % c
            self.put(y, i, self.b[ch] + x[i] * self.w[ch], ch)
        return y


class PoolQ8:
    def __init__(self, op):
        self.op = op
        self.t8 = None  # _fast_conv.pool_q8's geometry (local pooling)

    def __call__(self, q):
        op = self.op
        if isinstance(op, GlobalPool):
            x = _signed(q, 0)
            n, c = op.n, op.c
            y = bytearray(c)
            for ch in range(c):
                acc = x[ch]
                for p in range(1, n):
                    v = x[p * c + ch]
                    if op.op == 0:
                        if v > acc:
                            acc = v
                    else:
                        acc += v
                y[ch] = (acc if op.op == 0 else _div_round(acc, n)) & 0xFF
            return y
        g = op.g
        c = g.c
        y = bytearray(g.oh * g.ow * c)
        if _fast_conv is not None and g.kh * g.kw < 1 << 23:  # (a window's int8 sum fits 32 bits)
            if self.t8 is None:
                self.t8 = array("i", g.t)
            _fast_conv.pool_q8(q, y, self.t8, op.op)
            return y
        x = _signed(q, 0)
        o = 0
        for oy in range(g.oh):
            for ox in range(g.ow):
                taps = g.taps(oy, ox)
                for ch in range(c):
                    acc = x[taps[0][1] * c + ch]
                    for _, pos in taps[1:]:
                        v = x[pos * c + ch]
                        if op.op == 0:
                            if v > acc:
                                acc = v
                        else:
                            acc += v
                    y[o] = (acc if op.op == 0 else _div_round(acc, len(taps))) & 0xFF
                    o += 1
        return y


def _same(q):
    return q


def make_q8(kind, op, n_out, zero, lo, table, zx, w, bq, mq, sq):
    """The int8 runner of QLYR kind 3..7 for the float layer ``op`` (w, bq, mq, sq: this layer's slices
    of QWGT, QBIA, QMUL, QSHF) and how many weights it takes from QWGT."""
    if kind == 3 or kind == 4:
        if not isinstance(op, Depthwise if kind == 4 else Conv):
            raise bad("an int8 layer does not match the network")
        n_w = len(op.k)
        if n_out != len(op.b):
            raise bad("an int8 layer does not match the network")
        return ConvQ8(op, w[:n_w], bq, mq, sq, zx, zero, lo, table), n_w
    if kind == 5 and isinstance(op, (Pool, GlobalPool)):
        return PoolQ8(op), 0
    if kind == 6 and isinstance(op, Reshape):
        return _same, 0
    if kind == 7 and isinstance(op, Affine) and n_out == len(op.s) and table is None:
        return AffineQ8(w[:n_out], bq, mq, sq, zx, zero), n_out
    raise bad("QLYR holds an int8 layer that does not match the network")
