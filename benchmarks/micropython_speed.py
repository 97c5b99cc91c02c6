"""mlrt speed and memory: µs per inference and heap for load + predict, in the real MicroPython
(WebAssembly on Node) and in CPython; model file size against a CSV of the same model.

Model: RandomForestClassifier(n_estimators=10, max_depth=8) on scikit-learn's digits (the size the
MicroPython tree runtimes are usually compared on). Run: .venv/bin/python benchmarks/micropython_speed.py

With ``--unix-micropython PATH`` (a MicroPython unix-port binary, x64, which can run native code) it also
times, in one process, mlrt's viper path and bytecode path, a plain bytecode walker (float thresholds,
hard votes; generated here) and, with ``--emlearn-trees-mpy PATH`` (emlearn-micropython's native
``emlearn_trees`` module built for that binary), emlearn_trees predict + argmax on int16 inputs; and it
checks that both mlrt paths predict exactly what scikit-learn predicts.
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.tree import DecisionTreeClassifier

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


UNIX_CODE = """
import sys, time, gc
sys.path.insert(0, '{d}')
import mlrt, plain
from array import array
m = mlrt.load('{d}/m.mlm')
mb = mlrt.load('{d}/m.mlm')
mb._fast = mb._walk = None  # the bytecode path
raw = open('{d}/x.bin', 'rb').read()
nf = m.n_features
rows = [array('f', raw[i * 4 * nf:(i + 1) * 4 * nf]) for i in range(len(raw) // (4 * nf))]
print('viper' if m._walk is not None else 'no-viper')
print(' '.join(str(m.predict(r)) for r in rows))
print(' '.join(str(mb.predict(r)) for r in rows))
cases = [('none', lambda r: None, rows), ('viper', m.predict, rows), ('bytecode', mb.predict, rows),
         ('plain', plain.predict, rows)]
try:
    import emlearn_trees
    exec(open('{d}/eml_load.py').read())  # model = emlearn_trees loaded from eml.csv
    out = array('f', range(model.outputs()))
    def emlearn_predict(x):
        model.predict(x, out)
        best = 0
        for i in range(1, len(out)):
            if out[i] > out[best]:
                best = i
        return best
    rowsh = [array('h', [int(v) for v in r]) for r in rows]
    cases.append(('emlearn', emlearn_predict, rowsh))
    print(' '.join(str(emlearn_predict(r)) for r in rowsh))
except ImportError:
    print('')
best = {{}}
for rnd in range({rounds}):
    for name, fn, data in cases:
        gc.collect()
        t = time.ticks_us()
        for i in range({n}):
            fn(data[i % len(data)])
        us = time.ticks_diff(time.ticks_us(), t) / {n}
        best[name] = min(best.get(name, 1e9), us)
print(' '.join('%s=%.3f' % (k, v) for k, v in best.items()))
"""


def min_heap(fits: Callable[[int], bool], lo: int = 1024, hi: int = 4 << 20) -> int:
    """The smallest heap (bytes, to 1 %) with which ``fits(heap)`` succeeds."""
    if not fits(hi):
        raise SystemExit(f"does not run even with a {hi:,} B heap")
    while hi - lo > max(64, lo // 100):
        mid = (lo + hi) // 2
        if fits(mid):
            hi = mid
        else:
            lo = mid
    return hi


def unix_min_heap(binary: str, script: Path) -> int:
    """Smallest -X heapsize with which the unix port runs ``script`` (its peak heap, fragmentation
    included)."""
    return min_heap(lambda h: _run([binary, "-X", f"heapsize={h}", str(script)]).returncode == 0, 4096)


LOAD_MLRT = """import sys, gc
sys.path.insert(0, '{d}')
import mlrt, mlrt._reader, mlrt.trees
gc.collect()
"""
LOAD_EMLEARN = """import sys, gc
sys.path.insert(0, '{d}')
import emlearn_trees
gc.collect()
"""
EMLEARN_CSV_LOAD = """model = emlearn_trees.new({n_trees}, {n_nodes}, {n_leaves})
nfe = nce = 0
for line in open('{d}/eml.csv'):
    tok = line.strip().split(',')
    if tok[0] == 'r': model.addroot(int(tok[1]))
    elif tok[0] == 'n': model.addnode(int(tok[3]), int(tok[4]), int(tok[1]), int(float(tok[2])))
    elif tok[0] == 'l': model.addleaf(int(tok[1]))
    elif tok[0] == 'f': nfe = int(tok[1])
    elif tok[0] == 'c': nce = int(tok[1])
model.setdata(nfe, nce)
"""


def emlearn_loader(d: Path) -> str:
    """MicroPython code that loads d/eml.csv into emlearn_trees, sized exactly for its trees, nodes and
    leaves."""
    csv = (d / "eml.csv").read_text().splitlines()
    count = {k: sum(1 for line in csv if line.startswith(k + ",")) for k in ("r", "n", "l")}
    return EMLEARN_CSV_LOAD.format(d=d, n_trees=count["r"], n_nodes=count["n"], n_leaves=count["l"])


def load_peaks(binary: str, d: Path, emlearn: bool) -> dict[str, tuple[int, int]]:
    """(heap to import the runtime, heap to import it and load the digits model) on the unix port."""
    out = {}
    runs = [("mlrt", LOAD_MLRT, "m = mlrt.load('{d}/m.mlm')\n")]
    if emlearn:
        runs.append(("emlearn", LOAD_EMLEARN, (d / "eml_load.py").read_text()))
    for name, head, body in runs:
        (d / "imp.py").write_text(head.format(d=d))
        (d / "load.py").write_text(head.format(d=d) + body.replace("{d}", str(d)))
        out[name] = (unix_min_heap(binary, d / "imp.py"), unix_min_heap(binary, d / "load.py"))
    return out


def plain_walker(est: RandomForestClassifier) -> str:
    """A plain MicroPython walker of est: float thresholds, child indices, one hard vote per tree."""
    feat: list[int] = []
    thr: list[float] = []
    left: list[int] = []
    right: list[int] = []
    cls: list[int] = []
    roots: list[int] = []
    tree: DecisionTreeClassifier
    for tree in est.estimators_:
        t = tree.tree_
        off = len(feat)
        roots.append(off)
        for i in range(t.node_count):
            leaf = t.children_left[i] < 0
            feat.append(-1 if leaf else int(t.feature[i]))
            thr.append(float(t.threshold[i]))
            left.append(-1 if leaf else int(t.children_left[i]) + off)
            right.append(-1 if leaf else int(t.children_right[i]) + off)
            cls.append(int(np.argmax(t.value[i][0])))
    return f"""from array import array
FEAT = array('h', {feat})
THR = array('f', {thr})
LEFT = array('h', {left})
RIGHT = array('h', {right})
CLS = array('B', {cls})
ROOTS = {roots}
NC = {len(est.classes_)}
def predict(x):
    votes = [0] * NC
    for i in ROOTS:
        while LEFT[i] >= 0:
            if x[FEAT[i]] <= THR[i]:
                i = LEFT[i]
            else:
                i = RIGHT[i]
        votes[CLS[i]] += 1
    best = 0
    for c in range(1, NC):
        if votes[c] > votes[best]:
            best = c
    return best
"""


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def unix_port(
    binary: str, emlearn_mpy: str | None, est: RandomForestClassifier, data: bytes, X32: np.ndarray
) -> None:
    """Time mlrt (viper, bytecode), a plain walker and emlearn_trees in one MicroPython unix-port run."""
    ref = np.searchsorted(est.classes_, est.predict(X32))
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        shutil.copytree(mpy.RUNTIME_DIR / "mlrt", d / "mlrt")
        (d / "m.mlm").write_bytes(data)
        (d / "x.bin").write_bytes(X32.tobytes())
        (d / "plain.py").write_text(plain_walker(est))
        if emlearn_mpy:
            import emlearn

            shutil.copy(emlearn_mpy, d / "emlearn_trees.mpy")
            emlearn.convert(est, method="loadable").save(file=str(d / "eml.csv"), name="digits", format="csv")
            (d / "eml_load.py").write_text(emlearn_loader(d))
        (d / "bench.py").write_text(UNIX_CODE.format(d=d, n=4000, rounds=5))
        version = _run([binary, "-c", "import sys; print(sys.version)"])
        peaks = load_peaks(binary, d, bool(emlearn_mpy))
        res = _run([binary, "-X", "heapsize=1M", str(d / "bench.py")])
    if res.returncode != 0:
        raise SystemExit(f"unix port run failed:\n{res.stdout}{res.stderr}")
    lines = res.stdout.splitlines()
    if lines[0] != "viper":
        raise SystemExit("this MicroPython cannot run mlrt's viper walker (built without native emitters?)")
    for name, line in (("viper", lines[1]), ("bytecode", lines[2])):
        got = np.array(line.split(), dtype=int)
        if not np.array_equal(got, ref):
            n_bad = int((got != ref).sum())
            raise SystemExit(f"mlrt {name} path disagrees with scikit-learn on {n_bad} rows")
    eml_agree = ""
    if lines[3]:
        eml = np.array(lines[3].split(), dtype=int)
        eml_agree = f"{(eml == ref).mean():.1%}"
    us = {k: float(v) for k, v in (kv.split("=") for kv in lines[4].split())}
    base = us.pop("none")
    print(f"MicroPython unix port (x64), {version.stdout.strip()}; best of 5, loop ({base:.2f} µs) taken off")
    print("| predict (class) on digits RF 10 × depth 8 | µs | agreement with scikit-learn |")
    print("|---|---:|---:|")
    names = {
        "viper": "mlrt viper path (array('f') in)",
        "bytecode": "mlrt bytecode path",
        "plain": "plain bytecode walker (float thresholds, hard votes)",
        "emlearn": "emlearn_trees native module + argmax (int16 in)",
    }
    agree = {"viper": "100%", "bytecode": "100%", "plain": "", "emlearn": eml_agree}
    for k, v in us.items():
        print(f"| {names[k]} | {v - base:.2f} | {agree[k]} |")
    print(
        "\nLoad on the unix port: smallest heap (-X heapsize) that imports the runtime / imports and loads:"
    )
    files = {
        "mlrt": "mlrt.load of the 49.9 kB model file",
        "emlearn": "emlearn_trees from its CSV (streamed)",
    }
    for k, (imp, load) in peaks.items():
        print(f"  {files[k]}: {imp:,} B / {load:,} B (+{load - imp:,} B)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--unix-micropython", metavar="PATH", help="a MicroPython unix-port binary (x64)")
    ap.add_argument("--emlearn-trees-mpy", metavar="PATH", help="emlearn_trees.mpy built for that binary")
    args = ap.parse_args()
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
    if args.unix_micropython:
        unix_port(args.unix_micropython, args.emlearn_trees_mpy, est, data, X32)


if __name__ == "__main__":
    main()
