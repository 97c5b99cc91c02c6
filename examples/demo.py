"""microlearn demo: a random forest on scikit-learn's digits, converted with every C method and checked.

Run with `make demo`. Prints, per method: agreement with scikit-learn, accuracy, C size, and — where the
targets are available — flash, RAM and instructions per inference on emulated Cortex-M4F and M0+, plus the
model file run in the real MicroPython.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split

import microlearn
from microlearn.verify import TARGETS, _register_optional_targets, format_table


def main() -> None:
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    forest = RandomForestClassifier(n_estimators=10, max_depth=10, random_state=0).fit(X_train, y_train)
    sk_acc = float(np.mean(forest.predict(X_test) == y_test))
    print(
        f"RandomForestClassifier(n_estimators=10, max_depth=10) on digits: {X_train.shape[0]} training rows, "
        f"{X_test.shape[0]} test rows, scikit-learn accuracy {100 * sk_acc:.2f}%\n"
    )
    _register_optional_targets()
    cpu_targets = [t for t in ("cortex-m4f", "cortex-m0plus") if t in TARGETS]
    targets = ["host", *cpu_targets]

    cols = ["method", "agreement", "accuracy", "header B", "const data B"]
    for t in cpu_targets:
        short = t.replace("cortex-", "")
        cols += [f"{short} flash B", f"{short} RAM B", f"{short} instr", f"{short} agree"]
    rows = []
    out_dir = Path(tempfile.mkdtemp(prefix="microlearn-demo-"))
    for method in microlearn.methods_for(forest):
        model = microlearn.convert(forest, method=method)
        src = model.c_source("digits")
        model.save_c(out_dir / f"digits_{method}.h", name="digits")
        report = microlearn.verify(forest, X_test, targets=targets, method=method)
        acc = float(np.mean(model.predict(X_test) == y_test))
        row = [
            method,
            f"{100 * report['host'].agreement:.2f}%",
            f"{100 * acc:.2f}%",
            f"{len(src.header.encode()):,}",
            f"{src.const_bytes:,}",
        ]
        for t in cpu_targets:
            r = report[t]
            row += [
                f"{r.flash_bytes:,}" if r.flash_bytes is not None else "-",
                f"{r.ram_bytes:,}" if r.ram_bytes is not None else "-",
                f"{r.instructions_mean:,.0f}" if r.instructions_mean is not None else "-",
                f"{100 * r.agreement:.2f}%",
            ]
        rows.append(row)
    print(format_table(cols, rows))
    print(f"\nGenerated headers (with ml_trees.h) written to {out_dir}")

    if "micropython" in TARGETS:
        model = microlearn.convert(forest)
        path = model.save(out_dir / "digits.mlm")
        report = microlearn.verify(forest, X_test, targets=["micropython"])
        print(
            f"\nModel file {path.name}: {path.stat().st_size:,} bytes; loaded by mlrt in the real "
            f"MicroPython (WebAssembly): agreement {100 * report['micropython'].agreement:.2f}% "
            f"on {X_test.shape[0]} rows"
        )


if __name__ == "__main__":
    main()
