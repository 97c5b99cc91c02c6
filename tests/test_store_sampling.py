"""mlrt.thin and mlrt.sample against reference implementations written here from the definitions
(numpy min/max per pixel bucket, the classic whole-array LTTB, Algorithm R, numpy masks), and the same
results in the real MicroPython."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

import numpy as np
import pytest

from microlearn import micropython as mpy

sys.path.insert(0, str(mpy.RUNTIME_DIR))
from mlrt import sample, thin


def series(n: int, seed: int) -> list[tuple[int, float]]:
    rng = np.random.default_rng(seed)
    ts = 1_700_000_000_000 + np.cumsum(rng.integers(1, 300, n))
    vs = np.cumsum(rng.normal(0, 1, n)).astype(np.float32)
    vs[rng.integers(0, n, 5)] = 1000.0  # spikes a plot must show
    return [(int(t), float(v)) for t, v in zip(ts, vs, strict=True)]


# ------------------------------------------------------------------------------------------ references
def ref_minmax(pts: list[tuple[int, float]], t0: int, t1: int, n_px: int) -> list[tuple[int, float]]:
    t = np.array([p[0] for p in pts])
    v = np.array([p[1] for p in pts])
    keep = (t >= t0) & (t < t1)
    idx = np.nonzero(keep)[0]
    b = (t[idx] - t0) * n_px // (t1 - t0)
    out: list[int] = []
    for bucket in np.unique(b):
        ii = idx[b == bucket]
        out += sorted({int(ii[0]), int(ii[np.argmin(v[ii])]), int(ii[np.argmax(v[ii])]), int(ii[-1])})
    return [pts[i] for i in out]


def ref_lttb(pts: list[tuple[int, float]], threshold: int) -> list[tuple[int, float]]:
    """Steinarsson's LTTB over the whole array (x = t - t of the first point)."""
    n = len(pts)
    if threshold >= n:
        return list(pts)
    x = [float(p[0] - pts[0][0]) for p in pts]
    y = [p[1] for p in pts]
    every = (n - 2) / (threshold - 2)
    a = 0
    out = [pts[0]]
    for i in range(threshold - 2):
        s0 = int((i + 1) * every) + 1
        s1 = min(int((i + 2) * every) + 1, n)
        ax_, ay_ = 0.0, 0.0
        for j in range(s0, s1):
            ax_ += x[j]
            ay_ += y[j]
        ax_ /= s1 - s0
        ay_ /= s1 - s0
        best, pick = -1.0, -1
        for j in range(int(i * every) + 1, int((i + 1) * every) + 1):
            area = abs((x[a] - ax_) * (y[j] - y[a]) - (x[a] - x[j]) * (ay_ - y[a])) * 0.5
            if area > best:
                best, pick = area, j
        out.append(pts[pick])
        a = pick
    out.append(pts[-1])
    return out


class RefRng:
    def __init__(self, seed: int) -> None:
        self.s = (seed & 0xFFFFFFFF) or 0x9E3779B9

    def below(self, n: int) -> int:
        lim = (1 << 32) - (1 << 32) % n
        while True:
            s = self.s
            s ^= (s << 13) & 0xFFFFFFFF
            s ^= s >> 17
            s ^= (s << 5) & 0xFFFFFFFF
            self.s = s
            if s < lim:
                return s % n


def ref_reservoir(items: list[Any], k: int, seed: int) -> list[Any]:
    rng = RefRng(seed)
    res = list(items[:k])
    for i in range(k, len(items)):
        j = rng.below(i + 1)
        if j < k:
            res[j] = items[i]
    return res


# ------------------------------------------------------------------------------------------ thinning
@pytest.mark.parametrize("seed", range(4))
def test_minmax_equals_reference(seed: int) -> None:
    pts = series(5000, seed)
    t0, t1 = pts[100][0] + 3, pts[4500][0]
    for n_px in (1, 7, 300, 2000):
        assert thin.minmax(iter(pts), t0, t1, n_px) == ref_minmax(pts, t0, t1, n_px)

    # every spike inside the window survives
    def px(p: tuple[int, float]) -> int:
        return (p[0] - t0) * 50 // (t1 - t0)

    spikes = {px(p) for p in pts if p[1] == 1000.0 and t0 <= p[0] < t1}
    assert spikes and spikes == {px(p) for p in thin.minmax(iter(pts), t0, t1, 50) if p[1] == 1000.0}


@pytest.mark.parametrize("seed", range(4))
def test_lttb_equals_reference(seed: int) -> None:
    pts = series(3000 + 77 * seed, seed)
    for n_out in (3, 10, 333, 1000, 2999, 5000):
        got = thin.lttb(lambda: iter(pts), n_out)
        assert got == ref_lttb(pts, n_out), n_out
        assert len(got) == min(n_out, len(pts))


def test_thin_bad_arguments() -> None:
    with pytest.raises(ValueError, match="n_out"):
        thin.lttb(lambda: iter([]), 2)
    with pytest.raises(ValueError, match="n_px"):
        thin.minmax(iter([]), 5, 5, 10)


# ------------------------------------------------------------------------------------------ sampling
def test_reservoir_equals_algorithm_r_and_is_uniform() -> None:
    items = list(range(1000))
    for seed in (1, 2, 99):
        for k in (1, 10, 999, 1000, 2000):
            assert sample.reservoir(iter(items), k, seed) == ref_reservoir(items, k, seed)
    # inclusion frequency of each item over many seeds: chi-square against k/n
    n, k, runs = 40, 5, 4000
    counts = np.zeros(n)
    for seed in range(1, runs + 1):
        for it in sample.reservoir(range(n), k, seed):
            counts[it] += 1
    expect = runs * k / n
    chi2 = float(((counts - expect) ** 2 / expect).sum())
    assert chi2 < 80, chi2  # 39 degrees of freedom: p < 1e-4 beyond 75


def test_stratified_keeps_rare_strata_and_samples_each_uniformly() -> None:
    rng = np.random.default_rng(0)
    labels = rng.choice(["idle", "walk", "fall"], size=3000, p=[0.8, 0.19, 0.01]).tolist()
    items = list(enumerate(labels))
    got = sample.stratified(iter(items), lambda it: it[1], 20, seed=5)
    assert set(got) == {"idle", "walk", "fall"}
    for lab, chosen in got.items():
        assert len(chosen) == min(20, labels.count(lab))
        assert all(it[1] == lab for it in chosen)
    # reference: one shared generator, Algorithm R per stratum in stream order
    rng2 = RefRng(5)
    ref: dict[str, list[Any]] = {}
    seen: dict[str, int] = {}
    for it in items:
        r = ref.setdefault(it[1], [])
        i = seen.get(it[1], 0)
        if i < 20:
            r.append(it)
        else:
            j = rng2.below(i + 1)
            if j < 20:
                r[j] = it
        seen[it[1]] = i + 1
    assert got == ref
    with pytest.raises(ValueError, match="max_strata"):
        sample.stratified(iter(range(10)), lambda it: it, 1, max_strata=5)


def test_around_events_equals_mask() -> None:
    pts = series(4000, 9)
    t = np.array([p[0] for p in pts])
    v = np.array([p[1] for p in pts])
    for before, after in ((0, 0), (500, 0), (0, 2000), (3000, 1500), (100_000, 100_000)):
        ev = t[v == 1000.0]
        mask = np.zeros(len(t), bool)
        for te in ev:
            mask |= (t >= te - before) & (t <= te + after)
        got = list(sample.around_events(iter(pts), lambda _t, x: x == 1000.0, before, after))
        assert got == [p for p, m in zip(pts, mask, strict=True) if m], (before, after)
    with pytest.raises(ValueError, match="max_before"):
        list(sample.around_events(iter(pts), lambda _t, x: x == 1000.0, 10**9, 0, max_before=100))


# ------------------------------------------------------------------------------------------ MicroPython
def test_same_results_in_micropython() -> None:
    pts = series(1500, 3)
    labels = [("abc"[i % 3] if i % 50 else "z") for i in range(len(pts))]
    code = """
import json
from mlrt import thin, sample
pts = [tuple(p) for p in json.loads(open('/p.json').read())]
labels = json.loads(open('/l.json').read())
t0, t1 = pts[10][0], pts[1400][0]
out = [thin.minmax(iter(pts), t0, t1, 100), thin.lttb(lambda: iter(pts), 200),
       sample.reservoir(iter(range(5000)), 17, 3),
       sample.stratified(iter(range(len(pts))), lambda i: labels[i], 9, 4),
       list(sample.around_events(iter(pts), lambda t, v: v == 1000.0, 900, 700))]
print(json.dumps(out))
"""
    files = {
        **mpy.runtime_files(),
        "/p.json": json.dumps(pts).encode(),
        "/l.json": json.dumps(labels).encode(),
    }
    got = json.loads(mpy.run(code, files))
    t0, t1 = pts[10][0], pts[1400][0]
    ref = [
        thin.minmax(iter(pts), t0, t1, 100),
        thin.lttb(lambda: iter(pts), 200),
        sample.reservoir(iter(range(5000)), 17, 3),
        sample.stratified(iter(range(len(pts))), lambda i: labels[i], 9, 4),
        list(sample.around_events(iter(pts), lambda t, v: v == 1000.0, 900, 700)),
    ]
    assert got[0] == json.loads(json.dumps(ref[0]))  # the values are float32: exact in any repr
    assert got[1] == json.loads(json.dumps(ref[1]))
    assert got[2:] == json.loads(json.dumps(ref[2:]))
    assert math.isfinite(got[1][1][1])
