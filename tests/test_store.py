"""mlrt.store: records round-trip float32-exact, aggregates equal pandas' resample().agg(), power cuts at
every byte of the last write and corrupted bytes lose nothing but the unfinished block, retention, RAM
that does not grow; the same code in the real MicroPython (WebAssembly) writes the same files."""

from __future__ import annotations

import json
import shutil
import struct
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from microlearn import micropython as mpy

sys.path.insert(0, str(mpy.RUNTIME_DIR))
from mlrt.store import Store, StoreError

FIELDS = ("x", "y", "z")


def make_data(n: int, seed: int = 0, t_start: int = 1_700_000_000_000) -> tuple[list[int], np.ndarray]:
    """Irregular timestamps (gaps, repeated times, long pauses) and values of mixed scales."""
    rng = np.random.default_rng(seed)
    steps = rng.choice(
        [0, 1, 7, 40, 100, 100, 100, 250, 999, 1000, 61_000, 3_700_000],
        size=n,
        p=[0.03, 0.05, 0.05, 0.1, 0.3, 0.2, 0.1, 0.08, 0.04, 0.03, 0.015, 0.005],
    )
    ts = (t_start + np.cumsum(steps)).astype(np.int64).tolist()
    vals = np.stack([rng.normal(0, 1, n), rng.normal(1000, 0.01, n), rng.integers(-5, 6, n) * 0.1], axis=1)
    return ts, vals.astype(np.float32)


def fill(path: Path, ts: list[int], vals: np.ndarray, **kw: Any) -> Store:
    s = Store(str(path), fields=FIELDS, **kw)
    for t, v in zip(ts, vals.tolist(), strict=True):
        s.append(t, v)
    return s


def pandas_agg(ts: list[int], vals: np.ndarray, t0: int, t1: int, step: int) -> pd.DataFrame:
    idx = pd.to_datetime(np.asarray(ts, dtype=np.int64), unit="ms")
    df = pd.DataFrame(vals.astype(np.float64), index=idx, columns=list(FIELDS))
    sel = df[(idx >= pd.to_datetime(t0, unit="ms")) & (idx < pd.to_datetime(t1, unit="ms"))]
    out = sel.resample(f"{step}ms", origin="epoch").agg(["count", "mean", "min", "max", "std"])
    return out[out[(FIELDS[0], "count")] > 0]


def assert_matches_pandas(got: list[Any], ref: pd.DataFrame) -> None:
    assert [t for t, _ in got] == [int(t.value // 1_000_000) for t in ref.index]
    for stat in ("count", "mean", "min", "max", "std"):
        mine = np.array([d[stat] for _, d in got], dtype=np.float64).reshape(len(got), len(FIELDS))
        theirs = ref.xs(stat, axis=1, level=1)[list(FIELDS)].to_numpy(np.float64)
        if stat in ("count", "min", "max"):
            np.testing.assert_array_equal(mine, theirs, err_msg=stat)
        else:
            # float64 sums in another order: far inside float32 rounding (2**-24 of the values' scale)
            scale = np.abs(theirs) + 1.0 if stat == "mean" else np.abs(theirs) + 1e-6
            np.testing.assert_array_less(np.abs(mine - theirs), 1e-9 * scale + 1e-12, err_msg=stat)
            np.testing.assert_array_equal(np.isnan(mine), np.isnan(theirs), err_msg=stat)


def records(s: Store, t0: int = 0, t1: int = 1 << 62) -> list[tuple[int, tuple[float, ...]]]:
    return list(s.range(t0, t1))


# ------------------------------------------------------------------------------------------ basics
def test_records_round_trip_float32_exact_and_reopen(tmp_path: Path) -> None:
    ts, vals = make_data(3000)
    s = fill(tmp_path / "s", ts, vals, block_records=16, segment_bytes=4096)
    expect = [(t, tuple(float(x) for x in row)) for t, row in zip(ts, vals, strict=True)]
    assert records(s) == expect  # flushed blocks and the block still in RAM
    rng = np.random.default_rng(1)
    for _ in range(30):
        a, b = sorted(rng.integers(ts[0] - 10, ts[-1] + 10, 2).tolist())
        assert records(s, a, b) == [r for r in expect if a <= r[0] < b]
    s.close()
    assert len(list((tmp_path / "s").glob("0-*.seg"))) > 5  # several segments were written
    s2 = Store(str(tmp_path / "s"), fields=None)
    assert s2.fields == FIELDS
    assert records(s2) == expect
    assert s2.first_time() == ts[0] and s2.last_time() == ts[-1]


def test_bad_input_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    s = Store(str(tmp_path / "s"), fields=("a", "b"))
    s.append(1000, (1.0, 2.0))
    for t, v in [
        (999, (1.0, 2.0)),
        (2000, (1.0,)),
        (2000, (float("nan"), 1.0)),
        (2000, (1.0, float("inf"))),
        (2000, (1e39, 0.0)),
    ]:
        with pytest.raises(StoreError):
            s.append(t, v)
    assert records(s) == [(1000, (1.0, 2.0))]
    s.close()
    with pytest.raises(StoreError, match="holds fields"):
        Store(str(tmp_path / "s"), fields=("a", "c"))
    with pytest.raises(StoreError, match="max_bytes"):
        Store(str(tmp_path / "u"), segment_bytes=8192, max_bytes=50_000)
    with pytest.raises(StoreError, match="levels"):
        Store(str(tmp_path / "t"), levels=(1000, 1500))
    with pytest.raises(StoreError, match="unknown stat"):
        Store(str(tmp_path / "s"), fields=None).aggregate(0, 10, 1, stats=("median",))
    assert issubclass(StoreError, ValueError)


# ------------------------------------------------------------------------------------------ aggregates
@pytest.mark.parametrize("seed", [0, 1])
def test_aggregates_equal_pandas_resample(tmp_path: Path, seed: int) -> None:
    ts, vals = make_data(3000, seed)
    s = fill(tmp_path / "s", ts, vals, block_records=32)
    rng = np.random.default_rng(seed)
    cases = [(ts[0], ts[-1] + 1, step) for step in (1000, 7000, 60_000, 300_000, 3_600_000, 86_400_000)]
    cases += [
        (ts[100], ts[100] + 20_000, 1),
        (ts[1000], ts[1000] + 900_000, 250),
    ]  # pandas makes every empty bin: short spans
    for _ in range(6):  # unaligned windows and steps that are and are not multiples of the levels
        a, b = sorted(rng.integers(ts[0] - 5000, ts[-1] + 5000, 2).tolist())
        cases.append((a, b, int(rng.choice([1500, 2000, 60_000, 120_000, 3_600_000, 7_200_000]))))
    for t0, t1, step in cases:
        assert_matches_pandas(s.aggregate(t0, t1, step), pandas_agg(ts, vals, t0, t1, step))
    s.close()
    s = Store(str(tmp_path / "s"), fields=None)  # reopened: the incomplete cells were rebuilt
    for t0, t1, step in cases[:8]:
        assert_matches_pandas(s.aggregate(t0, t1, step), pandas_agg(ts, vals, t0, t1, step))


def test_aggregates_read_the_coarse_levels(tmp_path: Path) -> None:
    t0 = 1_700_000_000_000 - 1_700_000_000_000 % 3_600_000
    ts = [t0 + i * 500 for i in range(7200 * 3)]  # three hours at 2 Hz
    vals = np.sin(np.arange(len(ts), dtype=np.float64) / 50).astype(np.float32)[:, None].repeat(3, axis=1)
    s = fill(tmp_path / "s", ts, vals)
    s.flush()
    raw_bytes = sum(s.logs[0].sizes)
    s.bytes_read = 0
    got = s.aggregate(t0, t0 + 3 * 3_600_000, 3_600_000)
    assert_matches_pandas(got, pandas_agg(ts, vals, t0, t0 + 3 * 3_600_000, 3_600_000))
    # two complete hours from level 3, the last (incomplete) hour from 60 minute cells
    assert s.bytes_read < 20_000 < raw_bytes / 15
    s.bytes_read = 0
    s.aggregate(t0, t0 + 3 * 3_600_000, 100)  # 100 ms bins: only the records can answer
    assert s.bytes_read >= raw_bytes


# ------------------------------------------------------------------------------------------ power loss
def snapshot(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


def restore(d: Path, files: dict[str, bytes]) -> None:
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir()
    for k, v in files.items():
        (d / k).write_bytes(v)


def block_starts(seg: bytes, rsize: int) -> list[int]:
    """Offsets of the blocks of a segment file (16-byte header with the count at bytes 2..3, CRC after)."""
    out, off = [], 0
    while off < len(seg):
        out.append(off)
        off += 16 + int.from_bytes(seg[off + 2 : off + 4], "little") * rsize + 4
    assert off == len(seg)
    return out


def level_order(name: str) -> tuple[int, int]:
    lvl, seq = name[:-4].split("-")
    return int(lvl), int(seq)


def test_power_cut_at_every_byte_of_the_last_flush(tmp_path: Path) -> None:
    """A crash during the last flush leaves a prefix of its writes (records first, then each level's
    block). Reopening keeps exactly the records of complete blocks, the aggregates equal pandas on them,
    and appending goes on."""
    d = tmp_path / "s"
    ts, vals = make_data(230, 3)
    n_a = 200
    s = fill(d, ts[:n_a], vals[:n_a], block_records=32)
    s.flush()
    before = snapshot(d)
    for t, v in zip(ts[n_a:], vals[n_a:].tolist(), strict=True):
        s.append(t, v)
    s.flush()
    after = snapshot(d)
    writes = [
        (k, after[k][len(before.get(k, b"")) :])
        for k in sorted(
            after, key=lambda k: (k != "meta.json", level_order(k) if k.endswith(".seg") else (0, 0))
        )
        if after[k] != before.get(k)
    ]
    assert writes[0][0].startswith("0-") and len(writes) >= 2  # the records' block, then aggregate blocks
    raw_len = len(writes[0][1])
    total = sum(len(w) for _, w in writes)
    more_ts, more_vals = make_data(50, 4, t_start=ts[-1] + 5)
    refs: dict[tuple[int, int], str] = {}
    for cut in range(total + 1):
        files = dict(before)
        left = cut
        for name, w in writes:
            files[name] = files.get(name, b"") + w[: max(0, min(left, len(w)))]
            left -= len(w)
        restore(d, files)
        s = Store(str(d), fields=FIELDS)
        n_keep = len(ts) if cut >= raw_len else n_a
        got = records(s)
        assert got == [
            (t, tuple(float(x) for x in r)) for t, r in zip(ts[:n_keep], vals[:n_keep], strict=True)
        ]
        step = (1000, 60_000, 3_600_000)[cut % 3]  # each level's answer in turn
        agg = s.aggregate(0, 1 << 50, step)
        if (n_keep, step) not in refs:
            assert_matches_pandas(agg, pandas_agg(ts[:n_keep], vals[:n_keep], 0, 1 << 50, step))
            refs[n_keep, step] = repr(agg)
        assert repr(agg) == refs[n_keep, step], cut  # the same answer whichever level blocks survived
        if cut in (0, raw_len - 1, raw_len, total):  # appending after the cut
            for t, v in zip(more_ts, more_vals.tolist(), strict=True):
                s.append(t, v)
            s.close()
            s = Store(str(d), fields=FIELDS)
            all_ts = ts[:n_keep] + more_ts
            all_vals = np.concatenate([vals[:n_keep], more_vals])
            assert [t for t, _ in records(s)] == all_ts
            assert_matches_pandas(
                s.aggregate(0, 1 << 50, 60_000), pandas_agg(all_ts, all_vals, 0, 1 << 50, 60_000)
            )


def test_corrupted_byte_in_the_last_block_drops_only_that_block(tmp_path: Path) -> None:
    d = tmp_path / "s"
    ts, vals = make_data(300, 5)
    s = fill(d, ts[:256], vals[:256], block_records=16)
    s.flush()
    for t, v in zip(ts[256:], vals[256:].tolist(), strict=True):
        s.append(t, v)
    s.close()
    good = snapshot(d)
    raw = good["0-00000001.seg"]
    starts = block_starts(raw, 4 + 4 * len(FIELDS))
    last = starts[-1]
    n_last = int.from_bytes(raw[last + 2 : last + 4], "little")
    assert n_last > 0 and len(starts) >= 3
    expect = [(t, tuple(float(x) for x in r)) for t, r in zip(ts, vals, strict=True)][: len(ts) - n_last]
    for pos in range(last, len(raw)):
        bad = bytearray(raw)
        bad[pos] ^= 1 << (pos % 8)
        restore(d, {**good, "0-00000001.seg": bytes(bad)})
        s = Store(str(d), fields=FIELDS)
        assert records(s) == expect, pos
        s.append(ts[-1] + 1, (1.0, 2.0, 3.0))  # goes to a new segment after the bad tail
        s.close()
        assert records(Store(str(d), fields=FIELDS))[-1] == (ts[-1] + 1, (1.0, 2.0, 3.0))
    # a corrupted aggregate block is rebuilt from the records
    lvl1 = good["1-00000001.seg"]
    bad = bytearray(lvl1)
    bad[-10] ^= 0xFF
    restore(d, {**good, "1-00000001.seg": bytes(bad)})
    s = Store(str(d), fields=FIELDS)
    assert_matches_pandas(s.aggregate(0, 1 << 50, 60_000), pandas_agg(ts, vals, 0, 1 << 50, 60_000))


# ------------------------------------------------------------------------------------------ retention, RAM
def test_retention_by_age_and_size(tmp_path: Path) -> None:
    t0 = 1_000_000_000
    ts = [t0 + i * 100 for i in range(40_000)]  # 4000 s at 10 Hz
    vals = np.zeros((len(ts), 3), np.float32)
    vals[:, 0] = np.arange(len(ts)) % 97
    s = fill(tmp_path / "a", ts, vals, segment_bytes=8192, max_age_ms=(600_000, None, None, None))
    kept = records(s)
    assert kept[-1][0] == ts[-1]
    assert ts[-1] - 600_000 - 8192 // 16 * 100 <= kept[0][0] <= ts[-1] - 600_000  # segment-granular
    assert [t for t, _ in kept] == [t for t in ts if t >= kept[0][0]]
    # the aggregate levels keep the whole history
    assert_matches_pandas(s.aggregate(0, 1 << 50, 60_000)[:10], pandas_agg(ts, vals, 0, 1 << 50, 60_000)[:10])
    s2 = Store(str(tmp_path / "b"), fields=FIELDS, segment_bytes=8192, max_bytes=200_000)
    for t, v in zip(ts, vals.tolist(), strict=True):
        s2.append(t, v)
        if t % 10_000 == 0:  # never above the budget, at any time
            assert s2.nbytes() <= 200_000
    assert s2.nbytes() <= 200_000
    assert records(s2)[-1][0] == ts[-1]
    assert sum(p.stat().st_size for p in (tmp_path / "b").glob("*.seg")) == s2.nbytes()


def test_ram_does_not_grow_with_the_data(tmp_path: Path) -> None:
    import tracemalloc

    s = Store(str(tmp_path / "s"), fields=FIELDS, segment_bytes=65536)
    t = 0
    peaks = []
    tracemalloc.start()
    try:
        for _chunk in range(4):
            tracemalloc.reset_peak()
            for i in range(4000):
                s.append(t, (i * 0.5, 1.0, -1.0))
                t += 100
            peaks.append(tracemalloc.get_traced_memory()[1])
        list(s.range(0, t))
        sum(1 for _ in s.aggregate(0, t, 1000))
    finally:
        tracemalloc.stop()
    # 12 bytes of segment list per 64 kB segment file (about 4000 records) is all that grows
    assert max(peaks[1:]) - peaks[1] < 4_000, peaks


# ------------------------------------------------------------------------------------------ MicroPython
MP_SCRIPT = """
import json, os, struct, binascii
from mlrt.store import Store
def enc(o):  # floats as their bits: MicroPython's float repr is not always the shortest round-trip one
    if isinstance(o, float):
        return 'f' + binascii.hexlify(struct.pack('<d', o)).decode()
    if isinstance(o, (list, tuple)):
        return [enc(x) for x in o]
    if isinstance(o, dict):
        return {k: enc(v) for k, v in o.items()}
    return o
def rmtree(d):
    for n in os.listdir(d):
        os.remove(d + '/' + n)
    os.rmdir(d)
cfg = json.loads(open('/cfg.json').read())
ts, vals = cfg['ts'], cfg['vals']
d = '/st/s'
s = Store(d, fields=('x', 'y', 'z'), block_records=16, segment_bytes=4096)
for i in range(len(ts)):
    s.append(ts[i], vals[i])
out = {'agg': [s.aggregate(a, b, st) for a, b, st in cfg['cases']]}
s.close()
import gc
gc.collect()
s = Store(d, fields=None)
out['reopen'] = [s.aggregate(a, b, st) for a, b, st in cfg['cases']]
out['range'] = [[t, list(v)] for t, v in s.range(cfg['r0'], cfg['r1'])]
out['thin'] = [s.thin(ts[0], ts[-1] + 1, 20, 'x', 'minmax'), s.thin(ts[0], ts[-1] + 1, 20, 1, 'lttb')]
out['files'] = sorted(os.listdir(d))
s.close()
open('/out.json', 'w').write(json.dumps(enc(out)))
for n in out['files']:
    open('/st/copy-' + n, 'wb').write(open(d + '/' + n, 'rb').read())
rmtree(d)
"""


def dec(o: Any) -> Any:
    if isinstance(o, str) and o.startswith("f") and len(o) == 17:
        return struct.unpack("<d", bytes.fromhex(o[1:]))[0]
    if isinstance(o, list):
        return [dec(x) for x in o]
    if isinstance(o, dict):
        return {k: dec(v) for k, v in o.items()}
    return o


def test_same_code_in_micropython(tmp_path: Path) -> None:
    ts, vals = make_data(1500, 7)
    cases = [(ts[0], ts[-1] + 1, st) for st in (1000, 60_000, 3_600_000)] + [(ts[100], ts[900], 2000)]
    cfg = {"ts": ts, "vals": vals.tolist(), "cases": cases, "r0": ts[200], "r1": ts[260]}
    names = [f"{lv}-{sq:08d}.seg" for lv in range(4) for sq in range(1, 20)] + ["meta.json"]
    res = mpy.execute(
        MP_SCRIPT,
        {**mpy.runtime_files(), "/cfg.json": json.dumps(cfg).encode()},
        outputs=["/out.json"] + [f"/st/copy-{n}" for n in names],
    )
    assert res.outputs["/out.json"] is not None
    out = dec(json.loads(res.outputs["/out.json"]))
    # CPython with the same code writes byte-identical files and gives identical answers
    s = fill(tmp_path / "s", ts, vals, block_records=16, segment_bytes=4096)
    cp = [json.dumps(s.aggregate(a, b, st), sort_keys=True) for a, b, st in cases]
    mine = [json.dumps(a, sort_keys=True) for a in out["agg"]]
    assert mine == cp
    assert [json.dumps(a, sort_keys=True) for a in out["reopen"]] == cp
    for (a, b, st), got in zip(cases, out["agg"], strict=True):
        assert_matches_pandas(
            [(t, {k: tuple(v) for k, v in d.items()}) for t, d in got], pandas_agg(ts, vals, a, b, st)
        )
    assert out["range"] == [[t, list(v)] for t, v in s.range(ts[200], ts[260])]
    assert out["thin"] == json.loads(
        json.dumps([s.thin(ts[0], ts[-1] + 1, 20, "x", "minmax"), s.thin(ts[0], ts[-1] + 1, 20, 1, "lttb")])
    )
    s.close()
    mine = snapshot(tmp_path / "s")
    assert sorted(mine) == out["files"]
    for n in out["files"]:
        got = res.outputs[f"/st/copy-{n}"]
        assert got is not None
        if n == "meta.json":
            assert json.loads(got) == json.loads(mine[n])
        else:
            assert got == mine[n], n


def test_micropython_power_cut() -> None:
    # (RAM is checked under CPython: this WebAssembly build never frees memory within one run)
    code = """
import os, gc
from mlrt.store import Store
d = '/pc/s'
s = Store(d, fields=('a',), block_records=16)
for i in range(40):
    s.append(i * 100, (i * 1.5,))
s.flush()
seg = d + '/0-00000001.seg'
full = open(seg, 'rb').read()
good = 2 * (16 + 16 * 8 + 4)
res = []
for cut in range(good, len(full)):
    open(seg, 'wb').write(full[:cut])
    s = Store(d, fields=('a',), block_records=16)
    res.append(len(list(s.range(0, 10 ** 9))))
    for n in os.listdir(d):
        if n.startswith('0-') and n != '0-00000001.seg':
            os.remove(d + '/' + n)
print(min(res), max(res), len(res))
for n in os.listdir(d):
    os.remove(d + '/' + n)
"""
    out = mpy.run(code, mpy.runtime_files()).split()
    # 40 records = 16 + 16 in full blocks + 8 in the last: every cut inside the last block keeps 32
    assert out[:3] == ["32", "32", str(16 + 8 * 8 + 4)]
