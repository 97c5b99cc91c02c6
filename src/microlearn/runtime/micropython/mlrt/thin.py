# mlrt.thin: fewer points for a plot, streaming, RAM ~ the number of points kept (MicroPython and CPython).
#
#   from mlrt import thin
#   thin.minmax(points, t0, t1, n_px)   # per pixel bucket: its first, minimum, maximum and last point
#   thin.lttb(make_points, n_out)       # largest-triangle-three-buckets, n_out points
#
# points: an iterable of (t, value), t increasing. lttb takes a function returning a fresh iterable
# (it makes three passes: count, bucket means, selection) so that nothing but O(n_out) is kept.


def minmax(points, t0, t1, n_px):
    """For each of n_px equal time buckets of [t0, t1) that holds points: its first, min, max and last
    point (first occurrence of min/max), in time order, each once. A line through them draws the same
    pixels as all the points."""
    if n_px < 1 or t1 <= t0:
        raise ValueError("thin.minmax: n_px must be >= 1 and t1 > t0")
    out = []
    span = t1 - t0
    cur = -1
    fi = mi = xi = li = None
    i = 0
    for t, v in points:
        if t < t0 or t >= t1:
            continue
        b = (t - t0) * n_px // span
        if b != cur:
            if cur >= 0:
                _emit(out, fi, mi, xi, li)
            cur = b
            fi = mi = xi = li = (i, t, v)
        else:
            p = (i, t, v)
            if v < mi[2]:
                mi = p
            if v > xi[2]:
                xi = p
            li = p
        i += 1
    if cur >= 0:
        _emit(out, fi, mi, xi, li)
    return out


def _emit(out, *ps):
    seen = -1
    for p in sorted(ps):
        if p[0] != seen:
            out.append((p[1], p[2]))
            seen = p[0]


def lttb(make_points, n_out):
    """Largest-triangle-three-buckets (Steinarsson 2013): the first and last point, and from each of
    n_out - 2 buckets of equal count the point making the largest triangle with the point kept before
    it and the mean of the next bucket. x is t minus the first point's t (exact in a float)."""
    if n_out < 3:
        raise ValueError("thin.lttb: n_out must be >= 3")
    n = 0
    for _ in make_points():
        n += 1
    if n <= n_out:
        return [(t, v) for t, v in make_points()]
    every = (n - 2) / (n_out - 2)
    nb = n_out - 1  # buckets 0..n_out-2; bucket j is [floor(j*every)+1, floor((j+1)*every)+1)
    starts = [int(j * every) + 1 for j in range(nb)] + [n]
    if starts[nb - 1] > n - 1:
        starts[nb - 1] = n - 1
    sx = [0.0] * nb
    sy = [0.0] * nb
    i = 0
    j = 0
    tf = 0
    for t, v in make_points():
        if i == 0:
            tf = t
        elif i < n:
            while j + 1 < nb and i >= starts[j + 1]:
                j += 1
            sx[j] += t - tf
            sy[j] += v
        i += 1
    out = []
    sel_end = starts[
        nb - 1
    ]  # points from here to n - 2 (only when float rounding leaves some) are never picked
    i = 0
    j = 0
    ax = ay = 0.0
    best = -1.0
    bp = None
    for t, v in make_points():
        if i == 0:
            tf = t
            out.append((t, v))
            ax = 0.0
            ay = v
        elif i == n - 1:
            if bp is not None:
                out.append(bp)
            out.append((t, v))
        elif i < sel_end:
            if i >= starts[j + 1]:
                out.append(bp)
                ax = float(bp[0] - tf)
                ay = bp[1]
                best = -1.0
                bp = None
                j += 1
            cnt = starts[j + 2] - starts[j + 1]
            cx = sx[j + 1] / cnt
            cy = sy[j + 1] / cnt
            x = float(t - tf)
            area = abs((ax - cx) * (v - ay) - (ax - x) * (cy - ay)) * 0.5
            if area > best:
                best = area
                bp = (t, v)
        i += 1
    return out
