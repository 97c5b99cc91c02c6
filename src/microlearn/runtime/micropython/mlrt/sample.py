# mlrt.sample: choosing records for a data set, streaming, RAM ~ what is kept (MicroPython and CPython).
#
#   from mlrt import sample
#   sample.reservoir(items, k, seed)                 # k items, each equally likely (Algorithm R)
#   sample.stratified(items, key, k, seed)           # {stratum: up to k items}, one reservoir per stratum
#   sample.around_events(points, is_event, before_ms, after_ms)   # points near events, in time order
#
# The random numbers come from a xorshift32 generator seeded by `seed`, so a sample is the same on
# every port and in CPython.

M32 = 0xFFFFFFFF


class Rng:
    """xorshift32 (Marsaglia 2003); below(n) is unbiased (rejection of the top partial range)."""

    def __init__(self, seed=1):
        self.s = (seed & M32) or 0x9E3779B9

    def next(self):
        s = self.s
        s ^= (s << 13) & M32
        s ^= s >> 17
        s ^= (s << 5) & M32
        self.s = s
        return s

    def below(self, n):
        lim = (M32 + 1) - (M32 + 1) % n
        while True:
            r = self.next()
            if r < lim:
                return r % n


def reservoir(items, k, seed=1):
    """k items chosen uniformly from the stream (all of them if fewer), in reservoir order."""
    if k < 1:
        raise ValueError("sample.reservoir: k must be >= 1")
    rng = Rng(seed)
    res = []
    i = 0
    for it in items:
        if i < k:
            res.append(it)
        else:
            j = rng.below(i + 1)
            if j < k:
                res[j] = it
        i += 1
    return res


def stratified(items, key, k, seed=1, max_strata=64):
    """{stratum: up to k items} where stratum = key(item) (a label, an event kind): a reservoir per
    stratum, so rare strata are kept whole and common ones are sampled uniformly."""
    if k < 1:
        raise ValueError("sample.stratified: k must be >= 1")
    rng = Rng(seed)
    res = {}
    seen = {}
    for it in items:
        s = key(it)
        r = res.get(s)
        if r is None:
            if len(res) >= max_strata:
                raise ValueError("sample.stratified: more than %d strata: raise max_strata" % max_strata)
            r = res[s] = []
            seen[s] = 0
        i = seen[s]
        if i < k:
            r.append(it)
        else:
            j = rng.below(i + 1)
            if j < k:
                r[j] = it
        seen[s] = i + 1
    return res


def around_events(points, is_event, before_ms, after_ms, max_before=4096):
    """The (t, value) points with t in [te - before_ms, te + after_ms] of some event point te
    (is_event(t, value) true), in time order, each once. Keeps at most max_before points waiting."""
    if before_ms < 0 or after_ms < 0:
        raise ValueError("sample.around_events: before_ms and after_ms must be >= 0")
    buf = [None] * max_before
    head = 0
    cnt = 0
    until = None
    for p in points:
        t = p[0]
        if is_event(t, p[1]):
            lo = t - before_ms
            while cnt:
                q = buf[head]
                buf[head] = None
                head = (head + 1) % max_before
                cnt -= 1
                if q[0] >= lo:
                    yield q
            until = t + after_ms
            yield p
        elif until is not None and t <= until:
            yield p
        else:
            if cnt == max_before:
                raise ValueError("sample.around_events: more than max_before points in before_ms: raise it")
            buf[(head + cnt) % max_before] = p
            cnt += 1
            lo = t - before_ms
            while cnt and buf[head][0] < lo:
                buf[head] = None
                head = (head + 1) % max_before
                cnt -= 1
