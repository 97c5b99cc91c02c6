"""mlrt nearest neighbours and k-means in a MicroPython unix port: µs per call, machine code (kNN:
_fast_knn.py, @micropython.viper integer distances; k-means: _fast_kmeans.py, @micropython.native)
against the bytecode path, in one process, checking both against scikit-learn on every row.

Models: KNeighborsClassifier (k = 5, 300 examples) on scikit-learn's digits (64 integer features 0..16:
int8 storage) and on the same digits times 100 (int16 storage); KMeans (10 centres) on digits and
MiniBatchKMeans (8 centres, 16 features, fitted on float32 blobs) with its online update
(partial_fit of 64 rows, with and without sample weights). Inputs are array('f') rows made before the
timed loop; the rows are timed in chunks of 2, contenders interleaved, and each chunk's best time over
the rounds counts (a shared machine: short chunks often run undisturbed). Run:

    .venv/bin/python benchmarks/neighbors_kmeans_micropython.py PATH/TO/micropython

where PATH/TO/micropython is a unix-port binary (x64; it runs native code), built outside the
repository, e.g. ``git clone --branch v1.27.0 https://github.com/micropython/micropython`` then
``make -C micropython/mpy-cross && make -C micropython/ports/unix MICROPY_PY_FFI=0`` (the binary is
micropython/ports/unix/build-standard/micropython). With ``--emlearn-neighbors-mpy`` (emlearn-micropython
0.10.1's native module: ``make -C emlearn-micropython/src/emlearn_neighbors ARCH=x64
MPY_DIR=$PWD/micropython EMLEARN_DIR=<emlearn 0.23's C headers> LINK_RUNTIME=0``) its ``predict`` is
timed beside mlrt's kNN: the same examples and labels added with its ``additem``, int16 rows made before
the timed loop (its native input). mlrt runs as ``microlearn deploy`` installs it:
.mpy files from mpy-cross, the machine-code modules for x64. Without a binary the script says so and
exits.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.datasets import load_digits, make_blobs
from sklearn.neighbors import KNeighborsClassifier

import microlearn
from microlearn import deploy

ROUNDS = 30

CODE = """
import gc, sys, time
sys.path.insert(0, {d!r})
from array import array
import mlrt
from mlrt import neighbors, kmeans
FK, FM = neighbors._fast_knn, kmeans._fast_kmeans
print(FK is not None and FM is not None)
m = mlrt.load({d!r} + '/m.mlm')
raw = open({d!r} + '/x.bin', 'rb').read()
n = m.n_features
rows = [array('f', raw[4 * n * r:4 * n * (r + 1)]) for r in range(len(raw) // (4 * n))]
knn = {kind!r} == 'knn'
def use(fast):
    if knn:
        neighbors._fast_knn = FK if fast else None
        m._set_fast()
    else:
        kmeans._fast_kmeans = FM if fast else None
paths = (('machine', 1), ('bytecode', 0))
for name, fast in paths:
    use(fast)
    print(' '.join(str(m.predict(x)) for x in rows))
eml = None
try:
    import emlearn_neighbors
except ImportError:
    emlearn_neighbors = None
if knn and emlearn_neighbors is not None:
    # emlearn's own model: the same examples and labels, int16, added one by one as its API takes them
    ex = open({d!r} + '/ex.bin', 'rb').read()
    lab = array('h', open({d!r} + '/lab.bin', 'rb').read())
    eml = emlearn_neighbors.new(len(lab), n, m.k)
    for j in range(len(lab)):
        eml.additem(array('h', ex[2 * n * j:2 * n * (j + 1)]), lab[j])
    qrows = [array('h', [int(v) for v in r]) for r in rows]  # int16 rows, made before timing
    print(' '.join(str(eml.predict(q)) for q in qrows))
else:
    print('')
# chunks of 2 rows: each chunk's best time over the rounds counts (a long round on a shared machine
# always includes other processes' time, a short one often does not); the same chunks for everyone
CH = 2
chunks = [(i, min(i + CH, len(rows))) for i in range(0, len(rows), CH)]
best = {{}}
def keep(name, c, us):
    b = best.setdefault(name, [1e18] * len(chunks))
    b[c] = min(b[c], us)
for _ in range({rounds}):
    for c, (a, b) in enumerate(chunks):
        part = rows[a:b]
        for name, fast in paths:
            use(fast)
            t = time.ticks_us()
            for x in part:
                m.predict(x)
            keep(name, c, time.ticks_diff(time.ticks_us(), t))
        if eml is not None:
            qpart = qrows[a:b]
            t = time.ticks_us()
            for q in qpart:
                eml.predict(q)
            keep('emlearn', c, time.ticks_diff(time.ticks_us(), t))
        t = time.ticks_us()
        for x in part:
            pass
        keep('loop', c, time.ticks_diff(time.ticks_us(), t))
best = {{k: sum(v) / len(rows) for k, v in best.items()}}
print(' '.join('%s=%.3f' % kv for kv in best.items()))
if not knn and m.counts is not None:
    batch = rows[:64]
    sw = [0.5 + (i % 4) for i in range(len(batch))]
    out = {{}}
    for _ in range({rounds}):
        for name, fast in paths:
            use(fast)
            for w in (None, sw):
                mm = mlrt.load({d!r} + '/m.mlm')
                gc.collect()
                t = time.ticks_us()
                mm.partial_fit(batch, w)
                us = time.ticks_diff(time.ticks_us(), t)
                key = name + ('_w' if w else '')
                out[key] = min(out.get(key, us), us)
                out[key + '_c'] = mm.centers()
    same = out['machine_c'] == out['bytecode_c'] and out['machine_w_c'] == out['bytecode_w_c']
    print(' '.join('%s=%d' % (k, v) for k, v in out.items() if not k.endswith('_c')), same)
"""


def cases() -> list[tuple[str, str, Any, np.ndarray]]:  # type: ignore[type-arg]
    X, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(X))
    tr, te = idx[:300], idx[300:500]
    out: list[tuple[str, str, Any, np.ndarray]] = []  # type: ignore[type-arg]
    for label, scale in (("digits, int8 storage", 1), ("digits x 100, int16 storage", 100)):
        est = KNeighborsClassifier(5).fit(X[tr] * scale, y[tr])
        out.append((f"KNeighborsClassifier k = 5, 300 examples x 64 features ({label})", "knn", est,
                    (X[te] * scale).astype(np.float32)))  # fmt: skip
    km = KMeans(10, n_init=1, random_state=0).fit(X[tr])
    out.append(("KMeans 10 centres x 64 features (digits)", "kmeans", km, X[te].astype(np.float32)))
    B, _ = make_blobs(600, n_features=16, centers=8, random_state=1)
    B32 = B.astype(np.float32)
    mb = MiniBatchKMeans(8, n_init=1, random_state=0, batch_size=64, reassignment_ratio=0.0).fit(B32[:400])
    out.append(("MiniBatchKMeans 8 centres x 16 features (float32 blobs)", "kmeans", mb, B32[400:600]))
    return out


def run(binary: str, label: str, kind: str, est: Any, X32: np.ndarray, eml_mpy: str | None) -> list[str]:  # type: ignore[type-arg]
    ref = est.predict(np.asarray(X32, dtype=np.float64 if kind == "knn" else est.cluster_centers_.dtype))
    if kind == "knn":
        ref = np.searchsorted(est.classes_, ref)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        deploy.build_mpy(d, "x64")
        (d / "m.mlm").write_bytes(microlearn.convert(est).to_bytes())
        (d / "x.bin").write_bytes(X32.astype("<f4").tobytes())
        if kind == "knn" and eml_mpy:
            shutil.copy(eml_mpy, d / "emlearn_neighbors.mpy")
            (d / "ex.bin").write_bytes(est._fit_X.astype("<i2").tobytes())
            (d / "lab.bin").write_bytes(np.asarray(est._y).astype("<i2").tobytes())
        (d / "bench.py").write_text(CODE.format(d=str(d), kind=kind, rounds=ROUNDS))
        res = subprocess.run(
            [binary, "-X", "heapsize=8M", str(d / "bench.py")], capture_output=True, text=True
        )
    if res.returncode != 0:
        raise SystemExit(f"unix port run failed:\n{res.stdout}{res.stderr}")
    lines = res.stdout.splitlines()
    if lines[0] != "True":
        raise SystemExit("this MicroPython cannot run mlrt's machine code (built without native emitters?)")
    agree = {}
    for name, line in (("machine", lines[1]), ("bytecode", lines[2])):
        got = np.array(line.split(), dtype=int)
        agree[name] = f"{(got == ref).mean():.1%}"
    if lines[1] != lines[2]:
        raise SystemExit(f"{label}: the machine-code and bytecode paths predict differently")
    eml_line = lines.pop(3)
    us = {k: float(v) for k, v in (kv.split("=") for kv in lines[3].split())}
    loop = us.pop("loop")
    what = "viper integer distances (_fast_knn)" if kind == "knn" else "native distances (_fast_kmeans)"
    out = [
        f"\n#### {label}: µs per predict, {len(X32)} rows in chunks of 2, each chunk's best of {ROUNDS} "
        f"rounds (bare loop {loop:.2f} µs taken off)\n",
        "| predict | µs | agreement with scikit-learn |",
        "|---|---:|---:|",
        f"| mlrt {what} | {us['machine'] - loop:.1f} | {agree['machine']} |",
        f"| mlrt bytecode path | {us['bytecode'] - loop:.1f} | {agree['bytecode']} |",
    ]
    if eml_line:
        got = np.array(eml_line.split(), dtype=int)
        out.append(
            f"| emlearn_neighbors predict (int16 in; its model built with additem) | "
            f"{us['emlearn'] - loop:.1f} | {(got == ref).mean():.1%} |"
        )
    out.append(f"\nspeed-up over the bytecode path {(us['bytecode'] - loop) / (us['machine'] - loop):.1f}x")
    if len(lines) > 4:
        parts = lines[4].split()
        pf = {k: int(v) for k, v in (kv.split("=") for kv in parts[:-1])}
        if parts[-1] != "True":
            raise SystemExit(f"{label}: the online update differs between the paths")
        out.append(
            f"\npartial_fit of 64 rows: native {pf['machine']:,} µs, bytecode {pf['bytecode']:,} µs "
            f"({pf['bytecode'] / pf['machine']:.1f}x); with sample weights: native {pf['machine_w']:,} µs, "
            f"bytecode {pf['bytecode_w']:,} µs ({pf['bytecode_w'] / pf['machine_w']:.1f}x); the same "
            "centres on both paths"
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("micropython", nargs="?", default=os.environ.get("MICROLEARN_UNIX_MICROPYTHON"))
    ap.add_argument(
        "--emlearn-neighbors-mpy",
        default=os.environ.get("MICROLEARN_EMLEARN_NEIGHBORS_MPY"),
        help="emlearn-micropython's emlearn_neighbors.mpy built for that binary (timed beside mlrt's kNN)",
    )
    args = ap.parse_args()
    if not args.micropython or not Path(args.micropython).exists():
        print("skipped: needs a MicroPython unix-port binary (argument or $MICROLEARN_UNIX_MICROPYTHON)")
        return
    version = subprocess.run(
        [args.micropython, "-c", "import sys; print(sys.version)"], capture_output=True, text=True
    ).stdout.strip()
    print(f"MicroPython unix port (x64), {version}")
    for label, kind, est, X32 in cases():
        print("\n".join(run(args.micropython, label, kind, est, X32, args.emlearn_neighbors_mpy)), flush=True)


if __name__ == "__main__":
    sys.exit(main())
