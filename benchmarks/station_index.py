"""mlrt.index: recall@10 against exact search, query time, bytes per vector on flash and RAM, for each
kind, in CPython and in the real MicroPython (WebAssembly on Node).

Vectors: clustered synthetic "mel-band energy" vectors (40 cluster centres, unit noise), 10k and 100k
of dimension 16, 32 and 64; 20 queries drawn like the data. The exact neighbours come from numpy.
RAM: CPython tracemalloc peak during one search (the scan's buffers, candidate lists, the query tables);
MicroPython (2,000 vectors: this WebAssembly build frees no memory within one run, so building larger
indexes there exhausts the host): heap allocated during one search with the collector off, an upper
bound of its peak (this
WebAssembly build frees nothing within one run, so its peak cannot be observed directly).

    .venv/bin/python benchmarks/station_index.py [--sizes 10000,100000] [--dims 16,32,64] [--no-micropython]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from microlearn import micropython as mpy

sys.path.insert(0, str(mpy.RUNTIME_DIR))
from mlrt.index import Index

KINDS = ("brute", "lsh", "pq", "vafile")


def data(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    cent = rng.normal(0, 3, (40, d))
    X = (cent[rng.integers(0, 40, n)] + rng.normal(0, 1, (n, d))).astype(np.float32)
    Q = (cent[rng.integers(0, 40, 20)] + rng.normal(0, 1, (20, d))).astype(np.float32)
    return X, Q


def truth(X: np.ndarray, Q: np.ndarray) -> list[set[int]]:
    X64 = X.astype(np.float64)
    return [
        set(np.argsort(((X64 - q) ** 2).sum(1), kind="stable")[:10].tolist()) for q in Q.astype(np.float64)
    ]


def cpython(
    X: np.ndarray, Q: np.ndarray, kind: str, ref: list[set[int]], cand: int | None = None
) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp())
    try:
        ix = Index(str(tmp / "ix"), X.shape[1], kind, train_after=1000)
        t = time.perf_counter()
        for i, v in enumerate(X.tolist()):
            ix.add(i, v)
        ix.close()
        add_us = (time.perf_counter() - t) / len(X) * 1e6
        ix = Index(str(tmp / "ix"), candidates=cand)
        t = time.perf_counter()
        got = [ix.search(q, 10) for q in Q.tolist()]
        q_ms = (time.perf_counter() - t) / len(Q) * 1e3
        tracemalloc.start()
        ix.search(Q[0].tolist(), 10)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        rec = float(np.mean([len({k for k, _ in g} & r) / 10 for g, r in zip(got, ref, strict=True)]))
        return {
            "recall": rec,
            "query_ms": q_ms,
            "add_us": add_us,
            "bytes_per_vector": ix.nbytes() / len(X),
            "ram_peak": peak,
        }
    finally:
        shutil.rmtree(tmp)


MP_CODE = """
import gc, time, os, json
from mlrt.index import Index
raw = open('/x.bin', 'rb').read()
from array import array
X = array('f', raw)
Q = array('f', open('/q.bin', 'rb').read())
d = {d}
n = len(X) // d
ix = Index('/ix', d, '{kind}', train_after=1000)
t = time.ticks_ms()
for i in range(n):
    ix.add(i, X[i * d:(i + 1) * d])
ix.close()
add_ms = time.ticks_diff(time.ticks_ms(), t)
X = None
raw = None
ix = Index('/ix')
out = []
gc.collect()
gc.disable()
a0 = gc.mem_alloc()
t = time.ticks_ms()
out.append([k for k, _ in ix.search(Q[0:d], 10)])
alloc = gc.mem_alloc() - a0
gc.enable()
for j in range(1, len(Q) // d):
    out.append([k for k, _ in ix.search(Q[j * d:(j + 1) * d], 10)])
q_ms = time.ticks_diff(time.ticks_ms(), t) / (len(Q) // d)
nb = ix.nbytes()
for f in os.listdir('/ix'):
    os.remove('/ix/' + f)
os.rmdir('/ix')
print(json.dumps({{'got': out, 'q_ms': q_ms, 'add_us': add_ms * 1000 / n, 'alloc': alloc, 'nbytes': nb}}))
"""


def micropython(X: np.ndarray, Q: np.ndarray, kind: str, ref: list[set[int]], n_q: int) -> dict[str, float]:
    code = MP_CODE.format(d=X.shape[1], kind=kind)
    files = {**mpy.runtime_files(), "/x.bin": X.tobytes(), "/q.bin": Q[:n_q].tobytes()}
    res = json.loads(mpy.run(code, files, heap_bytes=64 * 1024 * 1024))
    rec = float(np.mean([len(set(g) & r) / 10 for g, r in zip(res["got"], ref, strict=False)]))
    return {
        "recall": rec,
        "query_ms": res["q_ms"],
        "add_us": res["add_us"],
        "bytes_per_vector": res["nbytes"] / len(X),
        "ram_peak": res["alloc"],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="2000,10000,100000")
    ap.add_argument("--dims", default="16,32,64")
    ap.add_argument("--mp-sizes", default="2000")
    ap.add_argument("--no-micropython", action="store_true")
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--candidates", type=int, default=None, help="re-ranked candidates of lsh and pq")
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    rows = []
    print("| runtime | n | dim | kind | recall@10 | query ms | add µs | bytes/vector | search RAM B |")
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|")
    for n in [int(s) for s in a.sizes.split(",")]:
        for d in [int(s) for s in a.dims.split(",")]:
            if n >= 100_000 and d != 32:
                continue  # the 100k runs at one dimension keep the benchmark to minutes
            X, Q = data(n, d)
            ref = truth(X, Q)
            for kind in a.kinds.split(","):
                runs = [("CPython", cpython(X, Q, kind, ref, a.candidates))]
                if not a.no_micropython and str(n) in a.mp_sizes.split(",") and d == 32:
                    runs.append(("MicroPython (wasm)", micropython(X, Q, kind, ref, 5)))
                for rt, r in runs:
                    if a.candidates and kind in ("lsh", "pq"):
                        kind = f"{kind} ({a.candidates} cand.)"
                    rows.append({"runtime": rt, "n": n, "dim": d, "kind": kind, **r})
                    print(
                        f"| {rt} | {n} | {d} | {kind} | {r['recall']:.2f} | {r['query_ms']:.0f} | "
                        f"{r['add_us']:.0f} | {r['bytes_per_vector']:.1f} | {r['ram_peak']:,} |",
                        flush=True,
                    )
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
