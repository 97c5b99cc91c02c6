"""mlrt.index: recall@10 against exact search, query time, bytes per vector on flash and RAM, for each
kind, in CPython and in the real MicroPython (WebAssembly on Node).

Vectors: clustered synthetic "mel-band energy" vectors (40 cluster centres, unit noise), 10k and 100k
of dimension 16, 32 and 64; 20 queries drawn like the data. The exact neighbours come from numpy.
RAM: CPython tracemalloc peak during one search (the scan's buffers, candidate lists, the query tables).
This WebAssembly MicroPython frees nothing within one run (its heap is collected when the interpreter is
reset between runs), so building a 10k index inside it exhausts the host; there:
* `--mp-sizes` (default 2,000): the index is built and searched inside MicroPython (its add rate);
  "search RAM" is the heap allocated during one search, an upper bound of its peak.
* `--mp-open`: each index (10k, 100k) is built by the same mlrt code under CPython (cached in `--cache`),
  its files are put on MicroPython's file system and each query is searched in its own run: query time,
  recall@10 against numpy, bytes per vector on file, heap held after opening, heap allocated by the
  search (an upper bound of its peak). A run that fails (e.g. MemoryError) is reported with the heap tried.

    .venv/bin/python benchmarks/station_index.py [--sizes 10000,100000] [--dims 16,32,64] [--no-micropython]
    .venv/bin/python benchmarks/station_index.py --no-cpython --sizes 2000 --dims 32        # MicroPython add
    .venv/bin/python benchmarks/station_index.py --mp-open --sizes 10000,100000 --dims 32 --mp-queries 3
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
from typing import Any

import numpy as np

from microlearn import micropython as mpy
from microlearn.errors import ToolchainError

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


def build(X: np.ndarray, kind: str, cache: Path) -> tuple[Path, float]:
    """The index of X built by mlrt under CPython in cache/<n>-<dim>-<kind> (reused when complete);
    returns its directory and the CPython add time per vector in µs (0 when reused)."""
    path = cache / f"{len(X)}-{X.shape[1]}-{kind}"
    if path.is_dir() and (path / "done").exists():
        return path, 0.0
    shutil.rmtree(path, ignore_errors=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    ix = Index(str(path), X.shape[1], kind, train_after=1000)
    t = time.perf_counter()
    for i, v in enumerate(X.tolist()):
        ix.add(i, v)
    ix.close()
    add_us = (time.perf_counter() - t) / len(X) * 1e6
    (path / "done").write_text(f"{add_us:.1f}\n")
    return path, add_us


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


MP_OPEN = """
import gc, time, json
from array import array
from mlrt.index import Index
q = array('f', open('/q.bin', 'rb').read())
gc.collect()
a0 = gc.mem_alloc()
ix = Index('/ix'{cand})
a1 = gc.mem_alloc()
t = time.ticks_us()
got = ix.search(q, 10)
us = time.ticks_diff(time.ticks_us(), t)
a2 = gc.mem_alloc()
print(json.dumps({{'got': [k for k, _ in got], 'us': us, 'open': a1 - a0, 'search': a2 - a1,
                  'nbytes': ix.nbytes(), 'n': len(ix)}}))
"""


def micropython_open(
    ixdir: Path, Q: np.ndarray, ref: list[set[int]], n: int, heap: int, cand: int | None
) -> dict[str, Any]:
    """Search an index built under CPython in MicroPython, one query per run (the interpreter is reset
    between runs, which is when this WebAssembly build frees its heap)."""
    files = {**mpy.runtime_files()}
    for f in ("meta.json", "vectors.bin", "codes.bin"):
        if (ixdir / f).exists():
            files[f"/ix/{f}"] = (ixdir / f).read_bytes()
    code = MP_OPEN.format(cand="" if cand is None else f", candidates={cand}")
    res = []
    for q in Q:
        try:
            res.append(json.loads(mpy.run(code, {**files, "/q.bin": q.tobytes()}, heap_bytes=heap)))
        except (mpy.MicroPythonError, ToolchainError) as e:
            return {"error": f"{type(e).__name__}: {str(e).strip().splitlines()[-1]}"}
        if res[-1]["n"] != n:
            raise RuntimeError(f"MicroPython opened {res[-1]['n']} vectors, not {n}")
    rec = float(np.mean([len(set(r["got"]) & t) / 10 for r, t in zip(res, ref, strict=False)]))
    return {
        "recall": rec,
        "query_ms": float(np.mean([r["us"] for r in res])) / 1e3,
        "bytes_per_vector": res[0]["nbytes"] / n,
        "open_heap": max(r["open"] for r in res),
        "ram_peak": max(r["search"] for r in res),
    }


def mp_open_mode(a: argparse.Namespace) -> list[dict[str, Any]]:
    """Indexes built by mlrt under CPython (cached in --cache), searched in MicroPython."""
    rows: list[dict[str, Any]] = []
    d = int(a.dims.split(",")[0])
    print(
        f"MicroPython (wasm) searching indexes built under CPython, {a.mp_queries} queries, heap setting "
        f"{a.mp_heap:,} B"
    )
    print("| n | dim | kind | recall@10 | query ms | bytes/vector | open heap B | search heap B |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|")
    for n in [int(s) for s in a.sizes.split(",")]:
        X, Q = data(n, d)
        Q = Q[: a.mp_queries]
        ref = truth(X, Q)
        for kind in a.kinds.split(","):
            ixdir, _ = build(X, kind, Path(a.cache))
            r = micropython_open(ixdir, Q, ref, n, a.mp_heap, a.candidates)
            if a.candidates and kind in ("lsh", "pq"):
                kind = f"{kind} ({a.candidates} cand.)"
            rows.append({"runtime": "MicroPython (wasm), opened", "n": n, "dim": d, "kind": kind, **r})
            if "error" in r:
                print(
                    f"| {n} | {d} | {kind} | failed with heap {a.mp_heap:,} B: {r['error']} |||||", flush=True
                )
                continue
            print(
                f"| {n} | {d} | {kind} | {r['recall']:.2f} | {r['query_ms']:.0f} | "
                f"{r['bytes_per_vector']:.1f} | {r['open_heap']:,} | {r['ram_peak']:,} |",
                flush=True,
            )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="2000,10000,100000")
    ap.add_argument("--dims", default="16,32,64")
    ap.add_argument("--mp-sizes", default="2000")
    ap.add_argument("--no-micropython", action="store_true")
    ap.add_argument("--no-cpython", action="store_true", help="only the MicroPython rows (e.g. its add rate)")
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--candidates", type=int, default=None, help="re-ranked candidates of lsh and pq")
    ap.add_argument("--json", default="")
    ap.add_argument(
        "--mp-open",
        action="store_true",
        help="MicroPython only: build each index under CPython, then open and search it in MicroPython",
    )
    ap.add_argument("--mp-queries", type=int, default=3, help="queries per index with --mp-open")
    ap.add_argument("--mp-heap", type=int, default=64 * 1024 * 1024, help="MicroPython heap with --mp-open")
    ap.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "microlearn-station-index"))
    a = ap.parse_args()
    if a.mp_open:
        rows = mp_open_mode(a)
        if a.json:
            Path(a.json).write_text(json.dumps(rows, indent=1))
        return
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
                runs = [] if a.no_cpython else [("CPython", cpython(X, Q, kind, ref, a.candidates))]
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
