"""mlrt speed and memory: µs per inference and heap for load + predict, in the real MicroPython
(WebAssembly on Node) and in CPython; model file size against a CSV of the same model.

Model: RandomForestClassifier(n_estimators=10, max_depth=8) on scikit-learn's digits (the size the
MicroPython tree runtimes are usually compared on). Run: .venv/bin/python benchmarks/micropython_speed.py
"""

from __future__ import annotations

import io
import sys
import time
import tracemalloc

import numpy as np
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier

import microlearn
from microlearn import micropython as mpy

N_PRED = 2000

MP_CODE = """
import gc, time, mlrt, mlrt._reader, mlrt.trees
from array import array
gc.collect()
a0 = gc.mem_alloc()
gc.disable()
t0 = time.ticks_ms()
m = mlrt.load('/m.mlm')
t1 = time.ticks_ms()
a1 = gc.mem_alloc()
raw = open('/x.bin', 'rb').read()
nf = m.n_features
rows = [array('f', raw[i * 4 * nf:(i + 1) * 4 * nf]) for i in range(len(raw) // (4 * nf))]
gc.enable()
gc.collect()
a2 = gc.mem_alloc()
gc.disable()
m.predict(rows[0])
a3 = gc.mem_alloc()
gc.enable()
n = {n}
t2 = time.ticks_ms()
k = 0
for i in range(n):
    k += m.predict(rows[i % len(rows)])
t3 = time.ticks_ms()
print(a1 - a0, a3 - a2, m.nbytes, time.ticks_diff(t1, t0), time.ticks_diff(t3, t2) * 1000 / n)
"""


def model_csv(ir: microlearn.ir.TreeEnsemble) -> bytes:
    """The model as CSV text: one line per node (feature,threshold,left,right), one per leaf row."""
    out = io.StringIO()
    for i in range(ir.n_nodes):
        out.write(f"{ir.feature[i]},{float(ir.threshold[i])!r},{ir.left[i]},{ir.right[i]},{ir.leaf[i]}\n")
    for row in ir.leaf_value:
        out.write(",".join(repr(float(v)) for v in row) + "\n")
    return out.getvalue().encode()


def main() -> None:
    X, y = load_digits(return_X_y=True)
    est = RandomForestClassifier(n_estimators=10, max_depth=8, random_state=0).fit(X, y)
    model = microlearn.convert(est)
    data = model.to_bytes()
    csv = model_csv(model.ir)
    X32 = X.astype(np.float32)[:200]
    print(f"model: digits RF 10 x depth 8, {model.ir.n_nodes} nodes, {model.ir.n_leaves} leaves")
    print(f"model file: {len(data):,} B   CSV of the same model: {len(csv):,} B")

    files = {**mpy.runtime_files(), "/m.mlm": data, "/x.bin": X32.tobytes()}
    out = mpy.run(MP_CODE.format(n=N_PRED), files).split()
    load_alloc, pred_alloc, kept, load_ms, us = (
        int(out[0]),
        int(out[1]),
        int(out[2]),
        int(out[3]),
        float(out[4]),
    )
    print(
        f"MicroPython 1.27 (WebAssembly, Node): {us:.1f} µs/inference (bytecode path); load {load_ms} ms; "
        f"heap allocated during load (GC off, an upper bound of the peak) {load_alloc:,} B; model arrays "
        f"{kept:,} B; one predict allocates {pred_alloc:,} B"
    )

    sys.path.insert(0, str(mpy.RUNTIME_DIR))
    import mlrt
    import mlrt._reader
    import mlrt.trees

    tracemalloc.start()
    m = mlrt.load(data)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rows = [list(map(float, r)) for r in X32]
    t = time.perf_counter()
    for i in range(N_PRED):
        m.predict(rows[i % len(rows)])
    us_cpy = (time.perf_counter() - t) / N_PRED * 1e6
    print(f"CPython {sys.version.split()[0]}: {us_cpy:.1f} µs/inference; load peak (tracemalloc) {peak:,} B")
    mpy.close()


if __name__ == "__main__":
    main()
