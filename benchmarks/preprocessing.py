"""Preprocessing stages before a random forest on emulated Cortex-M4F, Cortex-M0+ and rv32imc: the
pipeline's C (stages from ml_transform.h, then the forest) against the same forest with the stages
folded into its thresholds (passes/fold.fold_pipeline).

breast_cancer (30 features), RandomForestClassifier(10 trees, max_depth 8), 200 test rows, the "table"
method, gcc -Os, run through the verify targets. Prints a Markdown table (flash the model adds,
instructions per call, agreement with scikit-learn's pipeline) and writes benchmarks/out/preprocessing.md.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

from microlearn.frontends.registry import to_ir
from microlearn.passes.fold import fold_pipeline
from microlearn.targets.base import Artifacts
from microlearn.verify import TARGETS, register_targets

CPUS = ("cortex-m4f", "cortex-m0plus", "rv32imc")
OUT = Path(__file__).parent / "out"


def main() -> None:
    X, y = load_breast_cancer(return_X_y=True)
    Xtr, Xte, ytr, _ = train_test_split(X, y, test_size=200, random_state=0)
    Xte32 = Xte.astype(np.float32)
    cases = {
        "StandardScaler": [StandardScaler()],
        "MinMaxScaler (float64 ops)": [MinMaxScaler()],
        "RobustScaler (float64 ops)": [RobustScaler()],
        "SimpleImputer + StandardScaler": [SimpleImputer(), StandardScaler()],
    }
    rows = []
    for label, steps in cases.items():
        pipe = make_pipeline(*steps, RandomForestClassifier(n_estimators=10, max_depth=8, random_state=0))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pipe.fit(Xtr, ytr)
        want = np.searchsorted(pipe.classes_, pipe.predict(Xte32))
        ir = to_ir(pipe)
        folded = fold_pipeline(ir)
        assert not isinstance(folded, type(ir))  # every stage folded
        register_targets()
        for cpu in CPUS:
            res = {}
            for how, variant in {"in C": ir, "folded": folded}.items():
                run = TARGETS[cpu].run(Artifacts(variant, "table"), Xte32)
                got = np.asarray(run.outputs).astype(np.int64)
                res[how] = (run.flash_bytes or 0, run.instructions_mean or 0.0, float(np.mean(got == want)))
            rows.append((label, cpu, res["in C"], res["folded"]))
    lines = [
        "| stages before RF(10 trees, depth 8) | CPU | flash in C | flash folded | instr. in C | "
        "instr. folded | agreement (C / folded) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for label, cpu, a, b in rows:
        lines.append(
            f"| {label} | {cpu} | {a[0]:,} B | {b[0]:,} B | {a[1]:,.0f} | {b[1]:,.0f} | "
            f"{100 * a[2]:.1f}% / {100 * b[2]:.1f}% |"
        )
    text = "\n".join(lines)
    print(text)
    OUT.mkdir(exist_ok=True)
    (OUT / "preprocessing.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
