"""mlrt running a Keras CNN in a MicroPython unix port: µs per predict with the convolution and pooling
layers as bytecode and as machine code (_fast_conv.py: @micropython.native float windows, viper int8
sums, requantization and pooling), float and int8 methods, in one process, checking every path's class
against the model's own (Keras' class for float rows outside the stated bound, the integer simulation's
for int8).

The network is examples/keras_digits_cnn.py's (Conv2D 8 3x3 same relu, MaxPooling2D 2, Conv2D 16 3x3
same relu, MaxPooling2D 2, Flatten, Dense 10 softmax) trained here with a fixed seed on scikit-learn's
8x8 digits; a second, untrained stand-in with seeded weights covers the depthwise convolution and
average pooling (Conv2D 4 3x3 same relu, DepthwiseConv2D 3x3 x2 same tanh, AveragePooling2D 2 same,
Conv2D 6 2x2 valid, Flatten, Dense 5 softmax). Both are converted with the int8 method (calibrated on
200 training images), so one model file holds the float and the int8 network (m.int8 switches).
Paths, switched in the same process between timed chunks: "bytecode" (no machine code at all),
"dense machine code" (_fast_network / _fast_q8 only: mlrt before _fast_conv) and "machine code"
(everything). Inputs are array('f') rows made before the timed loop; rows timed in chunks of 2, paths
interleaved, each chunk's best over the rounds counts; then each convolution and pooling layer alone on
its input from the first 8 rows, with and without _fast_conv. Run:

    KERAS_BACKEND=jax .venv/bin/python benchmarks/keras_cnn_micropython.py [PATH/TO/micropython]

with a unix-port binary (x64, native emitters; default $MICROLEARN_UNIX_MICROPYTHON; how to build one:
benchmarks/neighbors_kmeans_micropython.py); without one the script says so and exits.
mlrt runs as ``microlearn deploy --march x64`` installs it (.mpy from mpy-cross).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import microlearn
from microlearn import deploy
from microlearn.passes.quantize import predict_int8

ROUNDS = 20
N_ROWS = 40

CODE = """
import sys, time
sys.path.insert(0, {d!r})
from array import array
import mlrt
from mlrt import network, network_conv
FC, FN, FQ = network_conv._fast_conv, network._fast_network, network._fast_q8
print(FC is not None and FN is not None and FQ is not None)
m = mlrt.load({d!r} + '/m.mlm')
raw = open({d!r} + '/x.bin', 'rb').read()
n = m.n_features
rows = [array('f', raw[4 * n * r:4 * n * (r + 1)]) for r in range(len(raw) // (4 * n))]
paths = (('machine', 2), ('dense', 1), ('bytecode', 0))
def use(level):
    network_conv._fast_conv = FC if level == 2 else None
    network._fast_network = FN if level else None
    network._fast_q8 = FQ if level else None
for method in ('float', 'int8'):
    m.int8 = method == 'int8'
    for name, level in paths:
        use(level)
        print(method, name, ' '.join(str(m.predict(x)) for x in rows))
    CH = 2
    chunks = [(i, min(i + CH, len(rows))) for i in range(0, len(rows), CH)]
    best = {{}}
    for _ in range({rounds}):
        for c, (a, b) in enumerate(chunks):
            part = rows[a:b]
            for name, level in paths:
                use(level)
                t = time.ticks_us()
                for x in part:
                    m.predict(x)
                us = time.ticks_diff(time.ticks_us(), t)
                bb = best.setdefault(name, [1e18] * len(chunks))
                bb[c] = min(bb[c], us)
    print(method, ' '.join('%s=%.1f' % (k, sum(v) / len(rows)) for k, v in best.items()))
# each convolution / pooling layer alone, on its input from the first rows, with and without _fast_conv
use(2)
def alone(f, a):
    b = 1e18
    for _ in range({rounds}):
        t = time.ticks_us()
        f(a)
        b = min(b, time.ticks_diff(time.ticks_us(), t))
    return b
layer = {{}}
for x in rows[:8]:
    a = x
    for i, op in enumerate(m.layers):
        if isinstance(op, (network_conv.Conv, network_conv.Depthwise, network_conv.Pool)):
            for name, fast in (('machine', FC), ('bytecode', None)):
                network_conv._fast_conv = fast
                k = 'float:%d:%s:%s' % (i, type(op).__name__, name)
                layer[k] = layer.get(k, 0) + alone(op, a) / 8
            network_conv._fast_conv = FC
        a = op(a)
    xa = m._input(x)
    qm, qs, qz = m._qin
    q = bytearray([network.quantize_bits(v, qm, qs, qz) & 0xFF for v in xa])
    for i, rec in enumerate(m._ql):
        if rec[0] < 3:
            break
        if isinstance(rec[1], (network_conv.ConvQ8, network_conv.PoolQ8)):
            for name, fast in (('machine', FC), ('bytecode', None)):
                network_conv._fast_conv = fast
                k = 'int8:%d:%s:%s' % (i, type(rec[1]).__name__, name)
                layer[k] = layer.get(k, 0) + alone(rec[1], q) / 8
            network_conv._fast_conv = FC
        q = rec[1](q)
print('layers', ' '.join('%s=%.1f' % kv for kv in layer.items()))
"""


def models(epochs: int) -> list[tuple[str, Any, np.ndarray, np.ndarray]]:
    import keras

    L = keras.layers
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32).reshape(-1, 8, 8, 1)
    Xa, Xb, ya, _ = train_test_split(X, y, test_size=N_ROWS, random_state=0)
    keras.utils.set_random_seed(0)
    cnn = keras.Sequential([keras.Input((8, 8, 1)), L.Conv2D(8, 3, padding="same", activation="relu"),
                            L.MaxPooling2D(2), L.Conv2D(16, 3, padding="same", activation="relu"),
                            L.MaxPooling2D(2), L.Flatten(), L.Dense(10, activation="softmax")])  # fmt: skip
    cnn.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    cnn.fit(Xa, ya, epochs=epochs, batch_size=32, verbose=0)
    dw = keras.Sequential([keras.Input((8, 8, 1)), L.Conv2D(4, 3, padding="same", activation="relu"),
                           L.DepthwiseConv2D(3, padding="same", depth_multiplier=2, activation="tanh"),
                           L.AveragePooling2D(2, padding="same"), L.Conv2D(6, 2, padding="valid"),
                           L.Flatten(), L.Dense(5, activation="softmax")])  # fmt: skip
    rng = np.random.default_rng(1)
    for layer in dw.layers:
        layer.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32) for w in layer.get_weights()])
    return [
        (
            "digits CNN conv8-maxpool-conv16-maxpool-dense10 (examples/keras_digits_cnn.py, trained)",
            cnn,
            Xa,
            Xb,
        ),
        ("stand-in conv4-depthwise3x3x2-avgpool-conv6-dense5 (seeded weights)", dw, Xa, Xb),
    ]


def run(binary: str, label: str, model: Any, Xa: np.ndarray, Xb: np.ndarray) -> list[str]:
    conv = microlearn.convert(model, "int8", calibration=Xa[:200])
    flat = Xb.reshape(len(Xb), -1)
    ref_float = conv.ir.reference(flat)
    ref_int8 = predict_int8(conv.ir, flat)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        deploy.build_mpy(d, "x64")
        (d / "m.mlm").write_bytes(conv.to_bytes())
        (d / "x.bin").write_bytes(flat.astype("<f4").tobytes())
        (d / "bench.py").write_text(CODE.format(d=str(d), rounds=ROUNDS))
        res = subprocess.run(
            [binary, "-X", "heapsize=8M", str(d / "bench.py")], capture_output=True, text=True
        )
    if res.returncode != 0:
        raise SystemExit(f"unix port run failed:\n{res.stdout}{res.stderr}")
    lines = res.stdout.splitlines()
    if lines[0] != "True":
        raise SystemExit("this MicroPython cannot run mlrt's machine code (built without native emitters?)")
    out = [f"\n#### {label}: µs per predict, {len(Xb)} rows in chunks of 2, best of {ROUNDS} rounds\n",
           "| method | bytecode | dense layers machine code | all machine code (_fast_conv) | speed-up | "
           "same classes on all paths | agreement with the reference |",
           "|---|---:|---:|---:|---:|---|---:|"]  # fmt: skip
    amb = ref_float.ambiguous
    firm = np.ones(len(Xb), bool) if amb is None else ~np.asarray(amb)
    for method in ("float", "int8"):
        got = {}
        for line in lines[1:]:
            parts = line.split()
            if parts[0] == method and parts[1] in ("machine", "dense", "bytecode"):
                got[parts[1]] = np.array(parts[2:], dtype=int)
            elif parts[0] == method:
                us = {k: float(v) for k, v in (kv.split("=") for kv in parts[1:])}
        same = all(np.array_equal(got["machine"], g) for g in got.values())
        if not same:
            raise SystemExit(f"{label} {method}: the paths predict differently")
        if method == "float":
            agree = float(np.mean(got["machine"][firm] == np.asarray(ref_float.outputs)[firm]))
        else:
            agree = float(np.mean(got["machine"] == ref_int8))
        out.append(f"| {method} | {us['bytecode']:,.0f} | {us['dense']:,.0f} | {us['machine']:,.0f} | "
                   f"{us['bytecode'] / us['machine']:.1f}x | yes | {agree:.0%} |")  # fmt: skip
    layer: dict[tuple[str, str, str], dict[str, float]] = {}
    for kv in lines[-1].split()[1:]:
        key, val = kv.split("=")
        method, i, kind, path = key.split(":")
        layer.setdefault((method, i, kind), {})[path] = float(val)
    out += ["", f"Each layer alone (µs per call, the first 8 rows' inputs, best of {ROUNDS}):", "",
            "| method | layer | bytecode | _fast_conv | speed-up |", "|---|---|---:|---:|---:|"]  # fmt: skip
    for (method, i, kind), v in sorted(layer.items(), key=lambda kv: (kv[0][0], int(kv[0][1]))):
        out.append(f"| {method} | {i} {kind} | {v['bytecode']:,.1f} | {v['machine']:,.1f} | "
                   f"{v['bytecode'] / v['machine']:.1f}x |")  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("micropython", nargs="?", default=os.environ.get("MICROLEARN_UNIX_MICROPYTHON"),
                    help="a MicroPython unix-port binary (x64, native emitters)")  # fmt: skip
    ap.add_argument("--epochs", type=int, default=20)
    args = ap.parse_args()
    if not args.micropython or not Path(args.micropython).is_file():
        print("skipped: needs a MicroPython unix-port binary (argument or $MICROLEARN_UNIX_MICROPYTHON)")
        return
    version = subprocess.run(
        [args.micropython, "-c", "import sys; print(sys.version)"], capture_output=True, text=True
    ).stdout.strip()
    print(f"MicroPython unix port (x64), {version}")
    for label, model, Xa, Xb in models(args.epochs):
        print("\n".join(run(args.micropython, label, model, Xa, Xb)), flush=True)


if __name__ == "__main__":
    main()
