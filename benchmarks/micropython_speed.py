"""mlrt speed and memory: µs per inference and heap for load + predict, in the real MicroPython
(WebAssembly on Node) and in CPython; model file sizes against emlearn's own CSV of the same forest.

Models: RandomForestClassifier on scikit-learn's digits (10 trees, max_depth 8), breast cancer (20 trees,
max_depth 8) and wine (50 trees). Run: .venv/bin/python benchmarks/micropython_speed.py

With a MicroPython unix port (x64, which runs native code) it also times, in one process per model,
mlrt's viper path and bytecode path, a plain bytecode walker (float thresholds, hard votes; generated
here) and, with emlearn-micropython's native ``emlearn_trees`` module built for that binary,
emlearn_trees' own ``predict`` (nothing of ours added: its argmax for the agreement column is taken
outside the timed loop; its int16 rows are emlearn's Quantizer output and its model is the same
estimator fitted on them, as emlearn documents); it checks that both mlrt paths predict exactly what
scikit-learn predicts, and it reports the heap each runtime needs: the smallest -X heapsize above which
every tested heap size imports and loads the model (success is not monotonic in the heap size, so a
bisection alone can report a size that fails again above it). mlrt runs there as ``microlearn deploy``
installs it: .mpy files compiled by mpy-cross, the native walker for x64; the model loads from a file.

Getting them (nothing of this is part of microlearn; build them outside the repository):

    git clone --branch v1.27.0 https://github.com/micropython/micropython
    make -C micropython/mpy-cross && make -C micropython/ports/unix MICROPY_PY_FFI=0
    git clone --branch v0.10.1 https://github.com/emlearn/emlearn-micropython
    make -C emlearn-micropython/src/emlearn_trees ARCH=x64 MPY_DIR=$PWD/micropython

then pass ``--unix-micropython micropython/ports/unix/build-standard/micropython`` and
``--emlearn-trees-mpy emlearn-micropython/src/emlearn_trees/emlearn_trees.mpy`` (or set
MICROLEARN_UNIX_MICROPYTHON and MICROLEARN_EMLEARN_TREES_MPY; ``make bench`` reads those). Without
them the unix-port part is skipped with a message.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

import microlearn
from microlearn import deploy
from microlearn import micropython as mpy

N_PRED = 2000
ROUNDS, ROUND = 100, 200  # unix port: rounds of calls per contender, interleaved; the best round counts


@dataclass
class Bench:
    label: str
    est: RandomForestClassifier  # on the float features (mlrt, the plain walker)
    X32: np.ndarray  # float32 rows
    eml_est: RandomForestClassifier  # emlearn's int16 model: the same estimator on quantized features
    Xq: np.ndarray  # int16 rows for emlearn


def benches(n_rows: int = 200) -> list[Bench]:
    from emlearn.preprocessing.quantizer import Quantizer

    out = []
    for label, loader, est, standardize in (
        ("digits RF 10 x depth 8", load_digits, RandomForestClassifier(n_estimators=10, max_depth=8), False),
        ("breast cancer RF 20 x depth 8", load_breast_cancer, RandomForestClassifier(20, max_depth=8), True),
        ("wine RF 50", load_wine, RandomForestClassifier(n_estimators=50), True),
    ):
        X, y = loader(return_X_y=True)
        est.set_params(random_state=0)
        Xs = StandardScaler().fit_transform(X) if standardize else X
        q = Quantizer(dtype="int16").fit(Xs)
        Xq = q.transform(Xs)
        out.append(
            Bench(
                label, clone(est).fit(X, y), X.astype(np.float32)[:n_rows], clone(est).fit(Xq, y), Xq[:n_rows]
            )
        )
    return out


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


def emlearn_csv(est: RandomForestClassifier, path: Path) -> int:
    """emlearn's own CSV of the forest (what emlearn_trees loads); its size in bytes."""
    import emlearn

    emlearn.convert(est, method="loadable").save(file=str(path), name="model", format="csv")
    return path.stat().st_size


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
    rawq = open('{d}/xq.bin', 'rb').read()
    rowsh = [array('h', rawq[i * 2 * nf:(i + 1) * 2 * nf]) for i in range(len(rawq) // (2 * nf))]
    cases.append(('emlearn', lambda r: model.predict(r, out), rowsh))
    cls = []
    for r in rowsh:  # the class, for the agreement column only (outside every timed loop)
        model.predict(r, out)
        cls.append(max(range(len(out)), key=lambda c: (out[c], -c)))
    print(' '.join(str(c) for c in cls))
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


def stable_min_heap(fits: Callable[[int], bool], lo: int = 4096, hi: int = 4 << 20) -> tuple[int, int]:
    """The smallest heap size h such that every tested size >= h succeeds, and how many sizes were
    tested. A bisection finds some succeeding size b; then every size from b / 2 to 2 b in 2 % steps
    and a few above are tried, since success is not monotonic (a larger heap can fail again)."""
    if not fits(hi):
        raise SystemExit(f"does not run even with a {hi:,} B heap")
    a, b = lo, hi
    while b - a > max(64, a // 100):
        mid = (a + b) // 2
        if fits(mid):
            b = mid
        else:
            a = mid
    grid = sorted({int(b / 2 * 1.02**k) for k in range(71)} | {b * 3, b * 4, b * 8})
    ok = {h: fits(h) for h in grid}
    good = grid[-1]
    for h in reversed(grid):
        if not ok[h]:
            break
        good = h
    return good, len(grid) + 1


def unix_heap(binary: str, script: Path) -> tuple[int, int]:
    return stable_min_heap(lambda h: _run([binary, "-X", f"heapsize={h}", str(script)]).returncode == 0)


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


def load_heaps(binary: str, d: Path, emlearn: bool) -> dict[str, tuple[int, int, int]]:
    """Per runtime: (heap to import it, heap to import it and load the model, heap sizes tried)."""
    out = {}
    runs = [("mlrt", LOAD_MLRT, "m = mlrt.load('{d}/m.mlm')\n")]
    if emlearn:
        runs.append(("emlearn", LOAD_EMLEARN, (d / "eml_load.py").read_text()))
    for name, head, body in runs:
        (d / "imp.py").write_text(head.format(d=d))
        (d / "load.py").write_text(head.format(d=d) + body.replace("{d}", str(d)))
        imp, n1 = unix_heap(binary, d / "imp.py")
        load, n2 = unix_heap(binary, d / "load.py")
        out[name] = (imp, load, n1 + n2)
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


def unix_port(binary: str, emlearn_mpy: str | None, b: Bench) -> list[str]:
    """Time mlrt (viper, bytecode), a plain walker and emlearn_trees' predict in one unix-port run."""
    ref = np.searchsorted(b.est.classes_, b.est.predict(b.X32))
    data = microlearn.convert(b.est).to_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        # mlrt as `microlearn deploy` puts it on a board: .mpy files from mpy-cross, the native walker
        # compiled for x64 (importing .py sources would also count the compiler's peak)
        deploy.build_mpy(d, "x64")
        (d / "m.mlm").write_bytes(data)
        (d / "x.bin").write_bytes(b.X32.tobytes())
        (d / "xq.bin").write_bytes(b.Xq.astype("<i2").tobytes())
        (d / "plain.py").write_text(plain_walker(b.est))
        if emlearn_mpy:
            shutil.copy(emlearn_mpy, d / "emlearn_trees.mpy")
            emlearn_csv(b.eml_est, d / "eml.csv")
            (d / "eml_load.py").write_text(emlearn_loader(d))
        # many short rounds, the best kept: on a shared machine a long round always includes the time
        # other processes take, a short one often does not
        (d / "bench.py").write_text(UNIX_CODE.format(d=d, n=ROUND, rounds=ROUNDS))
        heaps = load_heaps(binary, d, bool(emlearn_mpy))
        res = _run([binary, "-X", "heapsize=2M", str(d / "bench.py")])
    if res.returncode != 0:
        raise SystemExit(f"unix port run failed:\n{res.stdout}{res.stderr}")
    lines = res.stdout.splitlines()
    viper = lines[0] == "viper"
    for name, line in (("viper", lines[1]), ("bytecode", lines[2])):
        got = np.array(line.split(), dtype=int)
        if not np.array_equal(got, ref):
            raise SystemExit(
                f"mlrt {name} path disagrees with scikit-learn on {int((got != ref).sum())} rows"
            )
    eml_agree = ""
    if lines[3]:
        eml = np.array(lines[3].split(), dtype=int)
        eml_ref = np.searchsorted(b.eml_est.classes_, b.eml_est.predict(b.Xq.astype(np.float32)))
        eml_agree = f"{(eml == eml_ref).mean():.1%}"
    us = {k: float(v) for k, v in (kv.split("=") for kv in lines[4].split())}
    base = us.pop("none")
    names = {
        "viper": "mlrt viper path (array('f') in, class out)"
        if viper
        else "mlrt predict as loaded (viper walker off: this build has no memoryview.itemsize)",
        "bytecode": "mlrt bytecode path (class out)",
        "plain": "plain bytecode walker (float thresholds, hard votes)",
        "emlearn": "emlearn_trees predict (int16 in, its own call only)",
    }
    agree = {"viper": "100%", "bytecode": "100%", "plain": "", "emlearn": eml_agree}
    out = [
        f"\n#### {b.label}: µs per predict (best of {ROUNDS} rounds of {ROUND} calls, the bare loop's "
        f"{base:.2f} µs taken off)\n"
    ]
    out += ["| predict | µs | agreement with scikit-learn |", "|---|---:|---:|"]
    out += [f"| {names[k]} | {v - base:.2f} | {agree[k]} |" for k, v in us.items()]
    out.append(
        "\nSmallest heap (-X heapsize) above which every tested size imports the runtime / imports it and "
        "loads the model:\n"
    )
    what = {"mlrt": "mlrt, model file", "emlearn": "emlearn_trees, its CSV streamed"}
    for k, (imp, load, n) in heaps.items():
        out.append(f"- {what[k]}: {imp:,} B / {load:,} B (+{load - imp:,} B; {n} sizes tried)")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--unix-micropython",
        metavar="PATH",
        default=os.environ.get("MICROLEARN_UNIX_MICROPYTHON"),
        help="a MicroPython unix-port binary (x64)",
    )
    ap.add_argument(
        "--emlearn-trees-mpy",
        metavar="PATH",
        default=os.environ.get("MICROLEARN_EMLEARN_TREES_MPY"),
        help="emlearn_trees.mpy built for that binary",
    )
    args = ap.parse_args()
    all_b = benches()
    print("| model | nodes | mlrt model file B | emlearn CSV B (its own, of the int16 model) |")
    print("|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for b in all_b:
            m = microlearn.convert(b.est)
            csv = emlearn_csv(b.eml_est, Path(tmp) / "m.csv")
            print(f"| {b.label} | {m.ir.n_nodes:,} | {len(m.to_bytes()):,} | {csv:,} |")

    b = all_b[0]
    model = microlearn.convert(b.est)
    data = model.to_bytes()
    files = {**mpy.runtime_files(), "/m.mlm": data, "/x.bin": b.X32.tobytes()}
    out = mpy.run(MP_CODE.format(n=N_PRED), files).split()
    load_alloc, pred_alloc, kept, load_ms, us = (
        int(out[0]),
        int(out[1]),
        int(out[2]),
        int(out[3]),
        float(out[4]),
    )
    print(
        f"\n{b.label}, MicroPython 1.27 (WebAssembly, Node): {us:.1f} µs/inference (bytecode path); load "
        f"{load_ms} ms; heap allocated during load (GC off, an upper bound of the peak) {load_alloc:,} B; "
        f"model arrays {kept:,} B; one predict allocates {pred_alloc:,} B"
    )
    sys.path.insert(0, str(mpy.RUNTIME_DIR))
    import mlrt
    import mlrt._reader
    import mlrt.trees

    tracemalloc.start()
    m = mlrt.load(data)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rows = [list(map(float, r)) for r in b.X32]
    t = time.perf_counter()
    for i in range(N_PRED):
        m.predict(rows[i % len(rows)])
    us_cpy = (time.perf_counter() - t) / N_PRED * 1e6
    print(f"CPython {sys.version.split()[0]}: {us_cpy:.1f} µs/inference; load peak (tracemalloc) {peak:,} B")
    mpy.close()
    if not args.unix_micropython or not Path(args.unix_micropython).exists():
        print(
            "\nskipped: the MicroPython unix-port comparison with emlearn_trees needs a unix-port binary "
            "(--unix-micropython or $MICROLEARN_UNIX_MICROPYTHON) and emlearn_trees.mpy built for it "
            "(--emlearn-trees-mpy or $MICROLEARN_EMLEARN_TREES_MPY); see this script's docstring for how "
            "to build both."
        )
        return
    emlearn_mpy = (
        args.emlearn_trees_mpy if args.emlearn_trees_mpy and Path(args.emlearn_trees_mpy).exists() else None
    )
    if emlearn_mpy is None:
        print("\nemlearn_trees.mpy not given or not found: timing mlrt and the plain walker only")
    version = _run([args.unix_micropython, "-c", "import sys; print(sys.version)"]).stdout.strip()
    print(f"\nMicroPython unix port (x64), {version}")
    for bench in all_b:
        print("\n".join(unix_port(args.unix_micropython, emlearn_mpy, bench)), flush=True)


if __name__ == "__main__":
    main()
