# mlrt machine code for network_conv.py's convolution and pooling layers, where the port can run it.
#
# float (conv, depthwise, pool): @micropython.native copies of network_conv's functions of the same names,
# word for word (a test compares the syntax trees), so both paths make the same float operations in the
# same order and give the same values bit for bit; native code drops the interpreter's dispatch, the
# floats stay objects (viper would box every product too).
#
# int8 (conv_q8, pool_q8): @micropython.viper, the sums of products and the max / rounded-mean pooling
# in machine words, no object per product: the same integers as network_conv's bytecode path
# (ConvQ8.sums, PoolQ8), which network_conv guarantees fit 32 bits before calling; out_q8 requantizes
# the sums to int8 codes (the 63-bit products in 15-bit digits), the codes of network.requant.
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


@micropython.viper
def out_q8(acc: ptr32, y: ptr8, p: ptr32, table: ptr8) -> int:
    """y[o] = the int8 code of network_conv._OutQ8 for the sum acc[o] (int32) of channel o % p[1]:
    clamp(zero + round(a m / 2^(t + 1)), lo, 127) (half away from zero; a = acc[o] + bias), then the
    table if p[4]. p (network_conv.out_params): p[0] outputs, p[1] channels, p[2] zero + 128, p[3]
    lo + 128, p[4] table or not, then per channel 6 words: the bias's high 16 bits + 32768 and low 16
    bits, m's three 15-bit digits (low first) and t = 30 + sh. Every word of p is >= 0, and acc is read
    as 16-bit halves, so an int32 reads the same whether the port's ptr32 loads sign-extend (32-bit
    words) or not (x64); a, m and the 63-bit product a m are split into 15-bit digits so that no
    intermediate passes 2^31 - 1. Returns p[0]."""
    n = int(p[0])
    nc = int(p[1])
    zero = int(p[2]) - 128
    lo = int(p[3]) - 128
    tab = int(p[4])
    ch = 0
    k = 5
    o = 0
    while o < n:
        v = int(acc[o])
        al = (v & 0xFFFF) + int(p[k + 1])
        ah = (v >> 16) & 0xFFFF
        if ah > 32767:  # the int32's high half: -32768..32767
            ah -= 65536
        ah += int(p[k]) - 32768
        if al > 65535:
            al -= 65536
            ah += 1
        neg = 0  # a = ah 2^16 + al (0 <= al < 2^16): its magnitude, ah up to 2^16
        if ah < 0:
            neg = 1
            ah = 0 - ah
            al = 0 - al
            if al < 0:
                al += 65536
                ah -= 1
        a0 = al & 0x7FFF  # |a| <= 2^32 in 15-bit digits a0, a1, a2 (a2 <= 4)
        r = (ah << 1) | (al >> 15)
        a1 = r & 0x7FFF
        a2 = r >> 15
        m0 = int(p[k + 2])
        m1 = int(p[k + 3])
        m2 = int(p[k + 4])
        t = int(p[k + 5])
        c = a0 * m0  # the product's 15-bit digits d0..d4, column by column with carries
        d0 = c & 0x7FFF
        c = a0 * m1 + a1 * m0 + (c >> 15)
        d1 = c & 0x7FFF
        c = a0 * m2 + a1 * m1 + a2 * m0 + (c >> 15)
        d2 = c & 0x7FFF
        c = a1 * m2 + a2 * m1 + (c >> 15)
        d3 = c & 0x7FFF
        d4 = a2 * m2 + (c >> 15)
        while t >= 15:  # the product >> t, digit by digit
            d0 = d1
            d1 = d2
            d2 = d3
            d3 = d4
            d4 = 0
            t -= 15
        if (d2 | d3 | d4) != 0:  # >= 2^16: the code saturates whatever the zero point
            q = 1024
        else:
            q = ((((d1 << 15) | d0) >> t) + 1) >> 1  # (product + 2^t) >> (t + 1)
        if neg:
            q = zero - q
        else:
            q = zero + q
        if q < lo:
            q = lo
        elif q > 127:
            q = 127
        if tab:
            y[o] = table[q + 128]
        else:
            y[o] = q
        o += 1
        ch += 1
        k += 6
        if ch == nc:
            ch = 0
            k = 5
    return n
