"""microlearn demo: a random forest on scikit-learn's digits, converted with every C method and checked.

Run with `make demo`. Prints, per method: the worst agreement with scikit-learn over every target, accuracy,
C size, and — where the targets are available — flash and instructions per inference on emulated
Cortex-M4F, Cortex-M0+ and RISC-V rv32imc CPUs, plus the model file run in the real MicroPython; then the
same checks for other families (linear, a folded preprocessing pipeline, naive Bayes, an MLP, gradient
boosting), which go through the same interface.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.datasets import load_digits
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from tqdm import tqdm

import microlearn
from microlearn import format_table

SHORT = {"cortex-m4f": "m4f", "cortex-m0plus": "m0+", "rv32imc": "rv32"}


def _cpu_cells(report: Any, cpus: list[str]) -> list[str]:
    cells = []
    for t in cpus:
        r = report[t]
        cells += [
            f"{r.flash_bytes:,}" if r.flash_bytes is not None else "-",
            f"{r.instructions_mean:,.0f}" if r.instructions_mean is not None else "-",
        ]
    return cells


def _worst(report: Any) -> str:
    return f"{100 * min(r.agreement for r in report.values()):.2f}%"


def main() -> None:
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    forest = RandomForestClassifier(n_estimators=10, max_depth=10, random_state=0).fit(X_train, y_train)
    sk_acc = float(np.mean(forest.predict(X_test) == y_test))
    print(
        f"RandomForestClassifier(n_estimators=10, max_depth=10) on digits: {X_train.shape[0]} training rows, "
        f"{X_test.shape[0]} test rows, scikit-learn accuracy {100 * sk_acc:.2f}%\n"
    )
    here = microlearn.available_targets()  # the targets this machine can run
    cpus = [t for t in SHORT if t in here]
    targets = ["host", *cpus]
    cpu_cols = [f"{SHORT[t]} {what}" for t in cpus for what in ("flash B", "instr")]

    cols = ["method", "agreement", "accuracy", "header B", *cpu_cols]
    rows = []
    out_dir = Path(tempfile.mkdtemp(prefix="microlearn-demo-"))
    methods = microlearn.methods_for(forest)
    for method in tqdm(methods, desc=f"C methods on {', '.join(targets)}", unit="method", leave=False):
        model = microlearn.convert(forest, method=method)
        src = model.c_source("digits")
        model.save_c(out_dir / f"digits_{method}.h", name="digits")
        report = microlearn.verify(forest, X_test, targets=targets, method=method)
        acc = float(np.mean(model.predict(X_test) == y_test))
        size = f"{len(src.header.encode()):,}"
        rows.append([method, _worst(report), f"{100 * acc:.2f}%", size, *_cpu_cells(report, cpus)])
    print(format_table(cols, rows))
    print(
        "\nagreement: the worst over the host and every CPU. The _u8/_i8/_i16 methods are measured here "
        "through their float API\n(NAME_predict(const float *x)); called with their integer type "
        "(NAME_predict_u8 ...) they are smaller and faster\n(docs/benchmarks.md)."
    )
    print(f"Generated headers (with their runtime headers) written to {out_dir}")

    if "micropython" in here:
        model = microlearn.convert(forest)
        path = model.save(out_dir / "digits.mlm")
        report = microlearn.verify(forest, X_test, targets=["micropython"])
        print(
            f"\nModel file {path.name}: {path.stat().st_size:,} bytes; loaded by mlrt in the real "
            f"MicroPython (WebAssembly): agreement {100 * report['micropython'].agreement:.2f}% "
            f"on {X_test.shape[0]} rows"
        )

    print("\nOther families, same interface (default C method; model file in MicroPython):\n")
    others = {
        "LogisticRegression": LogisticRegression(max_iter=2000).fit(X_train, y_train),
        "StandardScaler + RandomForest (folded)": make_pipeline(
            StandardScaler(), RandomForestClassifier(n_estimators=10, max_depth=8, random_state=0)
        ).fit(X_train, y_train),
        "GaussianNB": GaussianNB().fit(X_train, y_train),
        "MLPClassifier(32)": make_pipeline(
            StandardScaler(), MLPClassifier(hidden_layer_sizes=(32,), max_iter=400, random_state=0)
        ).fit(X_train, y_train),
        "GradientBoosting (20 x 10 trees)": GradientBoostingClassifier(
            n_estimators=20, max_depth=3, random_state=0
        ).fit(X_train, y_train),
    }
    more = [t for t in ("micropython",) if t in here]
    rows = []
    for label, est in tqdm(others.items(), desc="other families", unit="model", leave=False):
        report = microlearn.verify(est, X_test[:100], targets=[*targets, *more])
        acc = float(np.mean(est.predict(X_test) == y_test))
        rows.append([label, _worst(report), f"{100 * acc:.2f}%", *_cpu_cells(report, cpus)])
    print(format_table(["model", "agreement", "accuracy", *cpu_cols], rows))


if __name__ == "__main__":
    main()
