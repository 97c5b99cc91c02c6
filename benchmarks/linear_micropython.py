"""mlrt linear speed in a MicroPython unix port: µs per predict, native-code scores (_fast_linear.py,
@micropython.native) against the bytecode path, in one process, checking both against scikit-learn on
every row.

Models: LogisticRegression on scikit-learn's digits (10 classes, 64 features) and on breast cancer
(binary, 30 standardized features). Run:

    .venv/bin/python benchmarks/linear_micropython.py PATH/TO/micropython

where PATH/TO/micropython is a unix-port binary (x64; it runs native code), built outside the
repository, e.g. ``git clone --branch v1.27.0 https://github.com/micropython/micropython`` then
``make -C micropython/mpy-cross && make -C micropython/ports/unix MICROPY_PY_FFI=0`` (the binary is
micropython/ports/unix/build-standard/micropython). Without it the script says so and exits.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

import microlearn
from microlearn import micropython as mpy

CODE = """
import sys, time
sys.path.insert(0, {d!r})
from array import array
import mlrt
from mlrt import linear
with open({d!r} + '/m.mlm', 'rb') as f:
    m = mlrt.load(f.read())
with open({d!r} + '/x.bin', 'rb') as f:
    raw = f.read()
n = m.n_features
rows = [array('f', raw[4 * n * r:4 * n * (r + 1)]) for r in range(len(raw) // (4 * n))]
print('native' if linear._fast_linear is not None else 'none')
paths = (('native', linear._fast_linear), ('bytecode', None))
for name, fast in paths:
    m._fast = fast
    print(' '.join(str(m.predict(x)) for x in rows))
best = {{}}
for _ in range({rounds}):
    for name, fast in paths:
        m._fast = fast
        t = time.ticks_us()
        for x in rows:
            m.predict(x)
        us = time.ticks_diff(time.ticks_us(), t) / len(rows)
        best[name] = min(best.get(name, us), us)
print(' '.join('%s=%.2f' % kv for kv in best.items()))
print(m.exact_rows)
"""


def cases() -> list[tuple[str, LogisticRegression, np.ndarray]]:
    out = []
    X, y = load_digits(return_X_y=True)
    out.append(("digits LogisticRegression (10 classes, 64 features)", X, y, False))
    X, y = load_breast_cancer(return_X_y=True)
    out.append(("breast cancer LogisticRegression (binary, 30 features)", X, y, True))
    res = []
    for label, X, y, std in out:
        Xs = StandardScaler().fit_transform(X) if std else X
        X32 = np.asarray(Xs, dtype=np.float32)
        est = LogisticRegression(max_iter=5000).fit(X32, y)
        res.append((label, est, X32))
    return res


def run(binary: str, label: str, est: LogisticRegression, X32: np.ndarray, rounds: int = 5) -> list[str]:
    ref = np.searchsorted(est.classes_, est.predict(X32))
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        shutil.copytree(mpy.RUNTIME_DIR / "mlrt", d / "mlrt")
        (d / "m.mlm").write_bytes(microlearn.convert(est).to_bytes())
        (d / "x.bin").write_bytes(X32.astype("<f4").tobytes())
        (d / "bench.py").write_text(CODE.format(d=str(d), rounds=rounds))
        res = subprocess.run(
            [binary, "-X", "heapsize=8M", str(d / "bench.py")], capture_output=True, text=True
        )
    if res.returncode != 0:
        raise SystemExit(f"unix port run failed:\n{res.stdout}{res.stderr}")
    lines = res.stdout.splitlines()
    if lines[0] != "native":
        raise SystemExit("this MicroPython cannot run mlrt's native scores (built without native emitters?)")
    for name, line in (("native", lines[1]), ("bytecode", lines[2])):
        got = np.array(line.split(), dtype=int)
        if not np.array_equal(got, ref):
            raise SystemExit(
                f"mlrt {name} path disagrees with scikit-learn on {int((got != ref).sum())} rows"
            )
    us = {k: float(v) for k, v in (kv.split("=") for kv in lines[3].split())}
    return [
        f"\n#### {label}: µs per predict, {len(X32)} rows, best of {rounds}\n",
        "| predict | µs | agreement with scikit-learn |",
        "|---|---:|---:|",
        f"| mlrt native scores (_fast_linear) | {us['native']:.1f} | 100% |",
        f"| mlrt bytecode path | {us['bytecode']:.1f} | 100% |",
        f"\nspeed-up {us['bytecode'] / us['native']:.2f}x; rows replayed exactly: {lines[4]} (both paths)",
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("micropython", nargs="?", default=os.environ.get("MICROLEARN_UNIX_MICROPYTHON"))
    args = ap.parse_args()
    if not args.micropython or not Path(args.micropython).exists():
        print("skipped: needs a MicroPython unix-port binary (argument or $MICROLEARN_UNIX_MICROPYTHON)")
        return
    version = subprocess.run(
        [args.micropython, "-c", "import sys; print(sys.version)"], capture_output=True, text=True
    ).stdout.strip()
    print(f"MicroPython unix port (x64), {version}")
    for label, est, X32 in cases():
        print("\n".join(run(args.micropython, label, est, X32)), flush=True)


if __name__ == "__main__":
    sys.exit(main())
