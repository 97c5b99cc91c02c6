"""Keras networks side by side on emulated Cortex-M4F and M0+: microlearn's float and int8 methods and
emlearn 0.23's Keras converter (its float "loadable" net; its "inline" and fixed-point variants where they
convert and build).

`KERAS_BACKEND=jax python benchmarks/keras_models.py [--rows N] [--epochs E] [--docs]`. Writes
benchmarks/out/keras.md; ``--docs`` also replaces the Keras section of docs/benchmarks.md (between its
markers). (Named keras_models.py, not keras.py: a script's folder comes first on sys.path, and a
keras.py there would shadow the keras package.)

Rules, as for the MLP benchmark: each contender's predict is called with float32 rows (every contender
takes float), converted before the measured call; flash and RAM are attributed the same way for all
(:func:`microlearn.targets.mcu.measure`: code, const data and .data of model and glue plus the library
members only the measured image pulls in; RAM = static data + painted peak stack of one call).
Agreement: rows whose class equals Keras' own class (``predict`` of the live model, argmax; one sigmoid
output: > 0.5) on the same float32 rows. microlearn float's contract is agreement on every row outside its
stated bound; the rows inside are counted. microlearn int8 is calibrated on the training rows. The models
are trained here with fixed seeds; a contender that does not convert or build is listed with the reason.
"""

from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import microlearn
from microlearn.targets import mcu

CPUS = ("cortex-m4f", "cortex-m0plus")
OUT = Path(__file__).parent / "out"
DOCS = Path(__file__).parents[1] / "docs" / "benchmarks.md"
BEGIN, END = "<!-- benchmarks/keras_models.py: begin -->", "<!-- benchmarks/keras_models.py: end -->"


@dataclass
class Case:
    label: str
    model: Any
    X_train: np.ndarray  # float32, the model's input shape
    X_test: np.ndarray
    keras_class: np.ndarray
    unfolded: bool = False  # also measure microlearn with fold=False (batch normalizations kept)


@dataclass
class Row:
    case: str
    contender: str
    cpu: str
    flash: int | None
    ram: int | None
    instr: float | None
    agreement: float | None
    note: str = ""


def _keras_class(model: Any, X: np.ndarray) -> np.ndarray:
    p = np.asarray(model.predict(X, verbose=0))
    return (p[:, 0] > 0.5).astype(np.int64) if p.shape[1] == 1 else np.argmax(p, axis=1)


def _train(layers: list[Any], shape: tuple[int, ...], X: np.ndarray, y: np.ndarray, epochs: int) -> Any:
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input(shape), *layers])
    binary = layers[-1].units == 1
    model.compile(optimizer=keras.optimizers.Adam(0.01),
                  loss="binary_crossentropy" if binary else "sparse_categorical_crossentropy")  # fmt: skip
    model.fit(X, y, epochs=epochs, batch_size=32, verbose=0)
    return model


def cases(n_rows: int, epochs: int) -> list[Case]:
    import keras

    L = keras.layers
    out = []
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    Xa, Xb, ya, _ = train_test_split(X, y, test_size=n_rows, random_state=0)
    for label, layers in (
        ("digits Dense 64-32-10 relu", [L.Dense(32, activation="relu"), L.Dense(10, activation="softmax")]),
        ("digits Dense 64-32-16-10 tanh", [L.Dense(32, activation="tanh"), L.Dense(16, activation="tanh"),
                                           L.Dense(10, activation="softmax")]),
    ):  # fmt: skip
        m = _train(layers, (64,), Xa, ya, epochs)
        out.append(Case(label, m, Xa, Xb, _keras_class(m, Xb)))
    img_a, img_b = Xa.reshape(-1, 8, 8, 1), Xb.reshape(-1, 8, 8, 1)
    cnn = _train([L.Conv2D(8, 3, padding="same", activation="relu"), L.MaxPooling2D(2),
                  L.Conv2D(16, 3, padding="same", activation="relu"), L.MaxPooling2D(2), L.Flatten(),
                  L.Dense(10, activation="softmax")], (8, 8, 1), img_a, ya, epochs)  # fmt: skip
    out.append(Case("digits CNN 8x8x1 conv8-pool-conv16-pool-dense10", cnn, img_a, img_b,
                    _keras_class(cnn, img_b)))  # fmt: skip
    bn = _train([L.Conv2D(8, 3, padding="same"), L.BatchNormalization(), L.ReLU(), L.MaxPooling2D(2),
                 L.Conv2D(16, 3, padding="same"), L.BatchNormalization(), L.ReLU(), L.MaxPooling2D(2),
                 L.Flatten(), L.Dense(10, activation="softmax")], (8, 8, 1), img_a, ya, epochs)  # fmt: skip
    out.append(Case("digits CNN with batch normalization conv8-bn-relu-pool-conv16-bn-relu-pool-dense10", bn,
                    img_a, img_b, _keras_class(bn, img_b), unfolded=True))  # fmt: skip
    Xc, yc = load_breast_cancer(return_X_y=True)
    Xc = StandardScaler().fit_transform(Xc).astype(np.float32)
    Xa, Xb, ya, _ = train_test_split(Xc, yc, test_size=min(n_rows, 150), random_state=0)
    m = _train([L.Dense(16, activation="relu"), L.Dense(1, activation="sigmoid")], (30,), Xa, ya, epochs)
    out.append(Case("breast cancer Dense 30-16-1 sigmoid", m, Xa, Xb, _keras_class(m, Xb)))
    return out


def _run(label: str, case: Case, cpu: str, code: str, glue: str, incs: list[str], note: str = "") -> Row:
    rows = case.X_test.reshape(len(case.X_test), -1).astype(np.float32)
    try:
        run = mcu.measure({"model.h": code}, glue, cpu, [r.tobytes() for r in rows], 4, include_dirs=incs)
    except Exception as e:  # a contender that does not build is reported, not hidden
        return Row(case.label, label, cpu, None, None, None, None, f"does not build: {str(e)[:80]}")
    out = run.outputs.reshape(-1).view("<i4").astype(np.int64)
    agree = float(np.mean(out == case.keras_class))
    return Row(case.label, label, cpu, run.flash_bytes, run.ram_bytes, run.instructions_mean, agree, note)


def _glue(call: str) -> str:
    return (
        '#include <stdint.h>\n#include "ml_bench.h"\n#include "model.h"\n'
        "void ml_bench_entry(const void *in, void *out)\n{\n"
        f"    *(int32_t *)out = (int32_t){call};\n}}\n"
    )


def run_microlearn(case: Case, cpu: str) -> list[Row]:
    rows = []
    flat = case.X_test.reshape(len(case.X_test), -1)
    for fold in (True, False) if case.unfolded else (True,):
        for method in ("float", "int8"):
            kw = {"calibration": case.X_train} if method == "int8" else {}
            model = microlearn.convert(case.model, method=method, fold=fold, **kw)
            note = "" if fold else "fold=False: batch normalizations and ReLUs as layers"
            if method == "float":
                amb = np.asarray(model.ir.reference(flat).ambiguous)
                note = "; ".join(x for x in (f"{int(amb.sum())} rows inside the bound", note) if x)
            code = model.to_c("model")
            label = f"microlearn {method}" + ("" if fold else " unfolded")
            rows.append(_run(label, case, cpu, code, _glue("model_predict((const float *)in)"), [], note))
    return rows


def _import_emlearn() -> Any:
    """emlearn, imported without keeping its numpy.seterr(all="raise") (set by emlearn.bayes on import)."""
    old = np.geterr()
    import emlearn

    np.seterr(**old)
    return emlearn


def _emlearn_code(case: Case, method: str, **kw: Any) -> str:
    emlearn = _import_emlearn()
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:  # emlearn compiles a test program under ./tmp
        os.chdir(tmp)
        try:
            wrapper = emlearn.convert(case.model, method=method, **kw)
            return str(wrapper.save(name="model", inference=[method]))
        finally:
            os.chdir(cwd)


def run_emlearn(case: Case, cpu: str) -> list[Row]:
    emlearn = _import_emlearn()
    nf = int(np.prod(case.X_test.shape[1:]))
    rows = []
    variants = [
        ("emlearn loadable float", "loadable", {}, f"eml_net_predict(&model, (const float *)in, {nf})"),
        ("emlearn inline float", "inline", {}, f"model_predict((const float *)in, {nf})"),
        ("emlearn inline fixed-point", "inline", {"use_fixedpoint": True},
         f"model_predict_float((const float *)in, {nf})"),
    ]  # fmt: skip
    for label, method, kw, call in variants:
        try:
            code = _emlearn_code(case, method, **kw)
        except Exception as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            rows.append(Row(case.label, label, cpu, None, None, None, None,
                            f"does not convert/build: {type(e).__name__}: {first[:70]}"))  # fmt: skip
            continue
        rows.append(_run(label, case, cpu, code, _glue(call), [emlearn.includedir]))
    return rows


def _fmt(v: float | int | None, pct: bool = False) -> str:
    if v is None:
        return "-"
    return f"{100 * v:.1f}%" if pct else f"{v:,.0f}"


def table(rows: list[Row]) -> str:
    out = []
    for case in dict.fromkeys(r.case for r in rows):
        out.append(f"\n#### {case}\n")
        out.append(
            "| contender | M4F flash B | M4F RAM B | M4F instr | M0+ flash B | M0+ RAM B | M0+ instr "
            "| agreement with Keras | note |"
        )
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---|")
        for name in dict.fromkeys(r.contender for r in rows if r.case == case):
            m4 = next(r for r in rows if r.case == case and r.contender == name and r.cpu == "cortex-m4f")
            m0 = next(r for r in rows if r.case == case and r.contender == name and r.cpu == "cortex-m0plus")
            out.append(
                f"| {name} | {_fmt(m4.flash)} | {_fmt(m4.ram)} | {_fmt(m4.instr)} "
                f"| {_fmt(m0.flash)} | {_fmt(m0.ram)} | {_fmt(m0.instr)} | {_fmt(m4.agreement, pct=True)} "
                f"| {m4.note} |"
            )
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100, help="test rows run on each emulated CPU")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--docs", action="store_true", help="also write the tables into docs/benchmarks.md")
    args = ap.parse_args()
    rows: list[Row] = []
    for case in cases(args.rows, args.epochs):
        for cpu in CPUS:
            for runner in (run_microlearn, run_emlearn):
                rows.extend(runner(case, cpu))
        print(f"measured {case.label}", flush=True)
    gcc = subprocess.run(
        ["arm-none-eabi-gcc", "--version"], capture_output=True, text=True
    ).stdout.splitlines()[0]
    import keras

    emlearn = _import_emlearn()
    text = (
        f"\n{datetime.date.today()}, {gcc}, -Os, {args.rows} test rows per model (breast cancer: at most "
        f"150), Keras {keras.__version__} ({keras.backend.backend()} backend), {args.epochs} epochs, "
        f"emlearn {emlearn.__version__}, instructions counted exactly in the emulator "
        "(`python benchmarks/keras_models.py --docs`). Every contender takes float32 rows, converted "
        "before the measured call; agreement is with Keras' own class on the same rows (microlearn float: "
        "exact outside its stated bound, the rows inside it noted); microlearn int8 is calibrated on the "
        "training rows. RAM: static data + peak stack of one call (emlearn's activation buffers are static "
        "arrays, microlearn's on the stack).\n" + table(rows)
    )
    OUT.mkdir(exist_ok=True)
    (OUT / "keras.md").write_text(text)
    print(text)
    if args.docs:
        doc = DOCS.read_text()
        if BEGIN not in doc:
            doc += f"\n## Keras networks: microlearn float and int8, emlearn\n\n{BEGIN}\n{END}\n"
        a, b = doc.index(BEGIN) + len(BEGIN), doc.index(END)
        DOCS.write_text(doc[:a] + "\n" + text + doc[b:])


if __name__ == "__main__":
    main()
