# mlrt machine code for network_conv.py's convolution and pooling layers, where the port can run it.
#
# float (conv, depthwise, pool): @micropython.native copies of network_conv's functions of the same names,
# word for word (a test compares the syntax trees), so both paths make the same float operations in the
# same order and give the same values bit for bit; native code drops the interpreter's dispatch, the
# floats stay objects (viper would box every product too).
#
# int8 (conv_q8, pool_q8): @micropython.viper, the sums of products and the max / rounded-mean pooling
# in machine words, no object per product: the same integers as network_conv's bytecode path
# (ConvQ8.sums, PoolQ8), which network_conv guarantees fit 32 bits before calling. The requantization
# (64-bit products) stays in bytecode.
#
# Importing this module fails on CPython (no micropython module) and on ports that cannot run native
# code (e.g. WebAssembly); network_conv.py then uses its bytecode functions. Precompile with
# mpy-cross -march=<arch> (microlearn.deploy does).
import micropython


@micropython.native
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


@micropython.native
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


@micropython.native
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


@micropython.viper
def conv_q8(x: ptr8, w: ptr8, acc: ptr32, t: ptr32) -> int:
    """Sums of products of a convolution (t[13] filters) or depthwise convolution (t[14] multiplier)
    over int8 codes x (minus the zero point t[15] - 128) and int8 weights w (Keras' kernel order) into
    acc (int32, flat (oh, ow, n_out), biases not added); t[0..12] the geometry (network_conv.conv).
    Returns the number of sums."""
    h = int(t[0])
    wd = int(t[1])
    c = int(t[2])
    oh = int(t[3])
    ow = int(t[4])
    kh = int(t[5])
    kw = int(t[6])
    sh = int(t[7])
    sw = int(t[8])
    dh = int(t[9])
    dw = int(t[10])
    pt = int(t[11])
    pl = int(t[12])
    f = int(t[13])
    m = int(t[14])
    zx = int(t[15]) - 128
    n_out = f
    if m:
        n_out = c * m
    o = 0
    oy = 0
    while oy < oh:
        ox = 0
        while ox < ow:
            q = 0
            while q < n_out:
                acc[o + q] = 0
                q += 1
            i = 0
            while i < kh:
                iy = oy * sh - pt + i * dh
                if iy >= 0 and iy < h:
                    j = 0
                    while j < kw:
                        ix = ox * sw - pl + j * dw
                        if ix >= 0 and ix < wd:
                            xo = (iy * wd + ix) * c
                            ko = (i * kw + j) * c * (f + m)
                            ch = 0
                            while ch < c:
                                a = int(x[xo + ch])
                                if a > 127:
                                    a -= 256
                                a -= zx
                                if m:
                                    kk = ko + ch * m
                                    r = o + ch * m
                                    mm = 0
                                    while mm < m:
                                        b = int(w[kk + mm])
                                        if b > 127:
                                            b -= 256
                                        acc[r + mm] = int(acc[r + mm]) + a * b
                                        mm += 1
                                elif a:
                                    kk = ko + ch * f
                                    fi = 0
                                    while fi < f:
                                        b = int(w[kk + fi])
                                        if b > 127:
                                            b -= 256
                                        acc[o + fi] = int(acc[o + fi]) + a * b
                                        fi += 1
                                ch += 1
                        j += 1
                i += 1
            o += n_out
            ox += 1
        oy += 1
    return o


@micropython.viper
def pool_q8(x: ptr8, y: ptr8, t: ptr32, op: int) -> int:
    """Max (op 0) or rounded-mean (op 1, half away from zero, over the taps inside the input) pooling of
    int8 codes x into y (flat (oh, ow, c)); t the geometry (network_conv.pool). Returns len(y)."""
    h = int(t[0])
    wd = int(t[1])
    c = int(t[2])
    oh = int(t[3])
    ow = int(t[4])
    kh = int(t[5])
    kw = int(t[6])
    sh = int(t[7])
    sw = int(t[8])
    dh = int(t[9])
    dw = int(t[10])
    pt = int(t[11])
    pl = int(t[12])
    o = 0
    oy = 0
    while oy < oh:
        ox = 0
        while ox < ow:
            ch = 0
            while ch < c:
                acc = 0
                n = 0
                i = 0
                while i < kh:
                    iy = oy * sh - pt + i * dh
                    if iy >= 0 and iy < h:
                        j = 0
                        while j < kw:
                            ix = ox * sw - pl + j * dw
                            if ix >= 0 and ix < wd:
                                v = int(x[(iy * wd + ix) * c + ch])
                                if v > 127:
                                    v -= 256
                                if op == 0:
                                    if n == 0 or v > acc:
                                        acc = v
                                else:
                                    acc += v
                                n += 1
                            j += 1
                    i += 1
                if op != 0:
                    if acc >= 0:
                        acc = (acc + n // 2) // n
                    else:
                        acc = 0 - (n // 2 - acc) // n
                y[o] = acc
                o += 1
                ch += 1
            ox += 1
        oy += 1
    return o
