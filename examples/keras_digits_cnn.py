"""An image classifier from training to C and MicroPython: a small Keras CNN on scikit-learn's digits.

The 8x8 digit images (values 0..16, scaled to 0..1) train a Keras 3 CNN (Conv2D, MaxPooling2D, Conv2D,
Flatten, Dense: see ``build``); the model is saved as a ``.keras`` file and converted from that
file (no TensorFlow, and no Keras import needed to read it) with the ``float`` method (float32, Keras'
class on every row outside the stated bound) and the ``int8`` method (calibrated on training images,
no floating point on the device). Printed: accuracy of Keras, the C methods and MicroPython on the test
images; agreement with Keras; flash, RAM (static + peak stack) and instructions per image on emulated
Cortex-M4F, Cortex-M0+ and RISC-V rv32imc CPUs.

    KERAS_BACKEND=jax python examples/keras_digits_cnn.py [--epochs 30] [--out DIR] [--rows 30] [--cpus ...]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from tqdm import tqdm

import microlearn
from microlearn.targets.base import TARGETS
from microlearn.verify import register_targets

CPUS = ("cortex-m4f", "cortex-m0plus", "rv32imc")


def build(keras: Any) -> Any:
    L = keras.layers
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            L.Conv2D(8, 3, padding="same", activation="relu"),
            L.MaxPooling2D(2),
            L.Conv2D(16, 3, padding="same", activation="relu"),
            L.MaxPooling2D(2),
            L.Flatten(),
            L.Dropout(0.2),
            L.Dense(10, activation="softmax"),
        ]
    )


def train(X: np.ndarray, y: np.ndarray, epochs: int, seed: int = 0) -> Any:
    import keras

    keras.utils.set_random_seed(seed)
    model = build(keras)
    model.compile(
        optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    bar = tqdm(total=epochs, desc="training", unit="epoch")

    class Progress(keras.callbacks.Callback):  # type: ignore[misc]
        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            bar.set_postfix(accuracy=f"{(logs or {}).get('accuracy', 0.0):.3f}")
            bar.update(1)

    model.fit(X, y, epochs=epochs, batch_size=32, verbose=0, callbacks=[Progress()])
    bar.close()
    return model


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--rows", type=int, default=30, help="test images run on each emulated CPU")
    ap.add_argument("--out", default=None, help="where the .keras file, C headers and model file go")
    ap.add_argument("--cpus", default=",".join(CPUS), help="emulated CPUs to measure on (comma-separated)")
    args = ap.parse_args(argv)

    digits = load_digits()
    X = (digits.images / 16.0).astype(np.float32)[..., np.newaxis]  # (n, 8, 8, 1), NHWC
    y = digits.target
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    model = train(X_tr, y_tr, args.epochs)
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="keras_digits_"))
    out.mkdir(parents=True, exist_ok=True)
    path = out / "digits_cnn.keras"
    model.save(path)

    keras_pred = np.argmax(model.predict(X_te, verbose=0), axis=1)
    print(f"\nKeras CNN on digits: {len(X_tr)} training images, {len(X_te)} test images, "
          f"{model.count_params()} parameters; saved to {path}")  # fmt: skip
    print(f"Keras accuracy {100 * np.mean(keras_pred == y_te):.2f}%\n")

    register_targets()
    wanted = [c for c in args.cpus.split(",") if c]
    cpus = [t for t in wanted if t in TARGETS and TARGETS[t].available() is None]
    have_mp = "micropython" in TARGETS and TARGETS["micropython"].available() is None
    results: dict[str, Any] = {"keras_accuracy": float(np.mean(keras_pred == y_te))}
    calib = X_tr[:300]
    steps = [("float", {}), ("int8", {"calibration": calib})]
    rows = []
    for method, opts in tqdm(steps, desc="converting and verifying", unit="method"):
        m = microlearn.convert(str(path), method, **opts)
        m.save_c(out / f"digits_cnn_{method}.h", name=f"digits_{method}")
        pred = np.asarray(m.predict(X_te))
        acc = float(np.mean(pred == y_te))
        agree = float(np.mean(pred == keras_pred))
        ref = m.ir.reference(X_te.reshape(len(X_te), -1))
        firm = ~np.asarray(ref.ambiguous)
        agree_firm = float(np.mean(pred[firm] == keras_pred[firm]))
        targets = [*cpus, *(["micropython"] if have_mp and method == "float" else [])]
        rep = microlearn.verify(str(path), X_te[: args.rows], targets=targets, method=method, **opts)
        rows.append((method, acc, agree, agree_firm, int((~firm).sum()), rep))
        results[method] = {"accuracy": acc, "agreement": agree, "agreement_outside_bound": agree_firm,
                           "report": rep}  # fmt: skip
    microlearn.convert(str(path)).save(out / "digits_cnn.mlm")

    print(f"\n{'method':<7} {'accuracy':>9} {'agree w/ Keras':>15} {'outside bound':>14} {'inside':>7}")
    for method, acc, agree, agree_firm, n_in, _ in rows:
        if method == "float":  # the float method's contract: Keras' class outside the bound
            print(f"{method:<7} {100 * acc:8.2f}% {100 * agree:14.2f}% {100 * agree_firm:13.2f}% {n_in:7d}")
        else:  # int8 is measured, not bounded
            print(f"{method:<7} {100 * acc:8.2f}% {100 * agree:14.2f}% {'-':>14} {'-':>7}")
    print(f"\nper image, {args.rows} test images on each target:")
    print(f"{'method':<7} {'target':<14} {'agreement':>9} {'flash B':>8} {'RAM B':>7} {'instructions':>13}")
    for method, *_, rep in rows:
        for t, r in rep.results.items():
            flash = f"{r.flash_bytes:,}" if r.flash_bytes is not None else "-"
            ram = f"{r.ram_bytes:,}" if r.ram_bytes is not None else "-"
            ins = f"{r.instructions_mean:,.0f}" if r.instructions_mean is not None else "-"
            print(f"{method:<7} {t:<14} {100 * r.agreement:8.2f}% {flash:>8} {ram:>7} {ins:>13}")
    print(f"\nC headers, model file and .keras file in {out}")
    return results


if __name__ == "__main__":
    main()
