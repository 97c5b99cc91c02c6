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
from typing import Any

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

from microlearn import micropython
from microlearn.backends import modelfile
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
    micropython_table(Xtr, Xte32)  # warm-up: the WebAssembly engine compiles hot code as it runs
    text = "\n".join(lines) + "\n\n" + micropython_table(Xtr, Xte32)
    print(text)
    OUT.mkdir(exist_ok=True)
    (OUT / "preprocessing.md").write_text(text + "\n")


_MP = """
import mlrt, time
from array import array
st = mlrt.load('/stage.mlm')
raw = open('/x.bin', 'rb').read()
n = %d
rows = [array('f', raw[4 * n * r:4 * n * (r + 1)]) for r in range(len(raw) // (4 * n))]
out = array('f', bytes(4 * st.n_outputs))
best = 1 << 30
for rep in range(9):
    t = time.ticks_ms()
    for x in rows:
        st.transform(x, out)
    best = min(best, time.ticks_diff(time.ticks_ms(), t))
print(best * 1000 / len(rows))
"""


def micropython_table(Xtr: Any, Xte32: Any) -> str:
    """µs per row of each mlrt stage in the WebAssembly MicroPython (Node), 30 features, best of 9
    passes over the test rows (ticks_ms resolution: the pass, not the row, is timed)."""
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import MaxAbsScaler, Normalizer

    stages = {
        "StandardScaler (float32 ops)": StandardScaler(),
        "MinMaxScaler (float64 ops)": MinMaxScaler(),
        "MaxAbsScaler": MaxAbsScaler(),
        "RobustScaler (float64 ops)": RobustScaler(),
        "SimpleImputer": SimpleImputer(),
        "Normalizer l1": Normalizer("l1"),
        "Normalizer l2": Normalizer("l2"),
        "PCA 30 -> 5": PCA(n_components=5),
    }
    lines = ["| mlrt stage (30 features) | µs per row, WebAssembly MicroPython |", "|---|---:|"]
    for label, est in stages.items():
        data = modelfile.dumps(to_ir(est.fit(Xtr)))
        files = {**micropython.runtime_files(), "/stage.mlm": data, "/x.bin": Xte32.tobytes()}
        us = float(micropython.run(_MP % Xte32.shape[1], files).split()[-1])
        lines.append(f"| {label} | {us:,.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
