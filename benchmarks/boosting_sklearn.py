"""scikit-learn's boosted trees and isolation forest on emulated Cortex-M4F and Cortex-M0+ through
``microlearn.verify``: agreement with scikit-learn, flash (measured, and ``Model.estimate``'s figure made
without compiling), and mean instructions per call, for the "table", "inline" and "packed" C methods.

Writes benchmarks/out/boosting_sklearn.md; ``--docs`` also puts the table into docs/boosting.md.
(The comparison with other code generators is benchmarks/boosting.py.)
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    IsolationForest,
)
from sklearn.model_selection import train_test_split

import microlearn

CPUS = ("cortex-m4f", "cortex-m0plus")
METHODS = ("table", "inline", "packed")
OUT = Path(__file__).parent / "out"
DOCS = Path(__file__).parents[1] / "docs" / "boosting.md"
BEGIN, END = "<!-- benchmarks/boosting_sklearn.py: begin -->", "<!-- benchmarks/boosting_sklearn.py: end -->"


def cases() -> list[tuple[str, Any, np.ndarray]]:
    out = []
    X, y = load_breast_cancer(return_X_y=True)
    Xa, Xb, ya, _ = train_test_split(X.astype(np.float32), y, test_size=100, random_state=0)
    gb = GradientBoostingClassifier(n_estimators=50, max_depth=3, random_state=0).fit(Xa, ya)
    out.append(("GradientBoostingClassifier, breast cancer, 50 stages, depth 3", gb, Xb))
    X, y = load_digits(return_X_y=True)
    Xa, Xb, ya, _ = train_test_split(X.astype(np.float32), y, test_size=100, random_state=0)
    hgb = HistGradientBoostingClassifier(max_iter=20, max_depth=4, random_state=0).fit(Xa, ya)
    out.append(("HistGradientBoostingClassifier, digits, 10 classes x 20 iterations, depth 4", hgb, Xb))
    X, y = load_diabetes(return_X_y=True)
    Xa, Xb, ya, _ = train_test_split(X.astype(np.float32), y, test_size=100, random_state=0)
    gbr = GradientBoostingRegressor(n_estimators=50, max_depth=3, loss="huber", random_state=0).fit(Xa, ya)
    out.append(("GradientBoostingRegressor (huber), diabetes, 50 stages, depth 3", gbr, Xb))
    iso = IsolationForest(n_estimators=100, random_state=0).fit(Xa)
    out.append(("IsolationForest, diabetes, 100 trees", iso, Xb))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--docs", action="store_true", help="also write the table into docs/boosting.md")
    args = ap.parse_args()
    rows = [
        "| model | method | agreement | max abs error | "
        + " | ".join(f"flash {c} (B) | estimated | instr. {c}" for c in CPUS)
        + " |",
        "|---|---|---|---|" + "---|---|---|" * len(CPUS),
    ]
    for label, est, X in cases():
        for method in METHODS:
            rep = microlearn.verify(est, X, targets=CPUS, method=method)
            res = [rep.results[c] for c in CPUS]
            agree = min(r.agreement for r in res)
            errs = [r.max_abs_error for r in res if r.max_abs_error is not None]
            err = f"{max(errs):.1e}" if errs else "—"  # classes only: no values to compare
            model = microlearn.convert(est, method=method)
            cells = " | ".join(
                f"{r.flash_bytes:,} | {model.estimate(c).flash_bytes:,} | {r.instructions_mean:,.0f}"
                for c, r in zip(CPUS, res, strict=True)
            )
            rows.append(f"| {label} | {method} | {agree:.0%} | {err} | {cells} |")
            print(rows[-1], flush=True)
    table = "\n".join(rows) + "\n"
    OUT.mkdir(exist_ok=True)
    (OUT / "boosting_sklearn.md").write_text(table)
    if args.docs:
        text = DOCS.read_text()
        start, stop = text.index(BEGIN) + len(BEGIN), text.index(END)
        DOCS.write_text(text[:start] + "\n" + table + text[stop:])


if __name__ == "__main__":
    main()
