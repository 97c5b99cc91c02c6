"""mlrt.store: append rate, bytes per record on flash, RAM, and the bytes a query reads, in CPython and
in the real MicroPython (WebAssembly on Node).

1. A day of a 3-axis accelerometer at 10 Hz (864,000 records, then one more hour under tracemalloc)
   with the default levels (1 s, 1 min, 1 h):
   append rate, flash bytes per record (records alone and with the levels), RAM (tracemalloc peak while
   appending, and the store object's retained size), bytes read by a one-day aggregate per hour.
2. A year at 1-minute resolution (525,600 records, 3 fields) with levels (1 h, 1 day): bytes read by
   the one-year aggregates per day and per hour (answered from the levels) against the records' size.
3. MicroPython: append rate of 5,000 records and the heap allocated to open a store and append them
   (this WebAssembly build frees nothing within a run, so this is allocation, not the live peak).

    .venv/bin/python benchmarks/station_store.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from microlearn import micropython as mpy

sys.path.insert(0, str(mpy.RUNTIME_DIR))
from mlrt.store import Store

T0 = 1_790_000_000_000 - 1_790_000_000_000 % 86_400_000


def day_at_10hz(n: int) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp())
    try:
        s = Store(str(tmp / "s"), fields=("x", "y", "z"))
        t = time.perf_counter()
        for i in range(n):
            w = i * 0.0113
            s.append(T0 + 100 * i, (math.sin(w), math.cos(w), 1.0 + 0.1 * math.sin(3 * w)))
        s.flush()
        dt = time.perf_counter() - t
        # RAM: the peak traced while appending another hour (store object, buffers, segment lists)
        tracemalloc.start()
        for i in range(n, n + 36_000):
            s.append(T0 + 100 * i, (0.5, 0.25, 1.0))
        s.flush()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        raw = sum(s.logs[0].sizes)
        s.bytes_read = 0
        s.aggregate(T0, T0 + 86_400_000, 3_600_000)
        day_read = s.bytes_read
        return {
            "records": n,
            "append_per_s": n / dt,
            "raw_bytes_per_record": raw / n,
            "all_bytes_per_record": s.nbytes() / n,
            "tracemalloc_peak": peak,
            "day_by_hour_read": day_read,
            "raw_bytes": raw,
        }
    finally:
        shutil.rmtree(tmp)


def year_at_1min(n: int) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp())
    try:
        s = Store(str(tmp / "y"), fields=("x", "y", "z"), levels=(3_600_000, 86_400_000))
        for i in range(n):
            w = i * 0.01
            s.append(T0 + 60_000 * i, (math.sin(w), math.cos(w), 20.0 + math.sin(w / 1440)))
        s.close()
        s = Store(str(tmp / "y"), fields=None)
        out = {
            "records": n,
            "records_bytes": sum(s.logs[0].sizes),
            "level_bytes": s.nbytes() - sum(s.logs[0].sizes),
        }
        t1 = T0 + 60_000 * n
        for name, step in (
            ("year_by_day_read", 86_400_000),
            ("year_by_hour_read", 3_600_000),
            ("year_by_minute_read", 60_000),
        ):
            s.bytes_read = 0
            rows = s.aggregate(T0, t1, step)
            out[name] = s.bytes_read
            assert sum(d["count"][0] for _, d in rows) == n
        return out
    finally:
        shutil.rmtree(tmp)


MP_CODE = """
import gc, time, os, math
from mlrt.store import Store
gc.collect()
gc.disable()
a0 = gc.mem_alloc()
s = Store('/bs', fields=('x', 'y', 'z'))
a1 = gc.mem_alloc()
t = time.ticks_ms()
for i in range(N):
    w = i * 0.0113
    s.append(T0 + 100 * i, (math.sin(w), math.cos(w), 1.0 + 0.1 * math.sin(3 * w)))
s.flush()
dt = time.ticks_diff(time.ticks_ms(), t)
a2 = gc.mem_alloc()
gc.enable()
print(N * 1000 / dt, a1 - a0, (a2 - a1) / N)
for f in os.listdir('/bs'):
    os.remove('/bs/' + f)
os.rmdir('/bs')
"""


def micropython(n: int) -> dict[str, float]:
    out = mpy.run(
        MP_CODE.replace("N", str(n)).replace("T0", str(T0)), mpy.runtime_files(), heap_bytes=64 << 20
    )
    rate, open_alloc, per = (float(x) for x in out.split())
    return {"records": n, "append_per_s": rate, "open_alloc": open_alloc, "alloc_per_append": per}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="a tenth of the records")
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    f = 10 if a.quick else 1
    res = {
        "cpython_day_10hz": day_at_10hz(864_000 // f),
        "cpython_year_1min": year_at_1min(525_600 // f),
        "micropython": micropython(5000),
    }
    print(json.dumps(res, indent=1))
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
