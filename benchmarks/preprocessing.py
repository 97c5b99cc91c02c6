"""Preprocessing stages before a random forest on emulated Cortex-M4F and M0+: the stages run in C
(ml_transform.h) against the same forest with the stages folded into its thresholds (passes/fold.py).

breast_cancer (30 features), RandomForestClassifier(10 trees, max_depth 8), 200 test rows, the "table"
method, arm-none-eabi-gcc -Os. Prints a Markdown table (flash the model adds, instructions per call,
agreement with scikit-learn's pipeline) and writes it to benchmarks/out/preprocessing.md.
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

from microlearn.backends import c as cbackend
from microlearn.backends.c.transform import chain, emit_stage
from microlearn.frontends.sklearn import to_ir
from microlearn.frontends.sklearn.preprocessing import CONVERTERS
from microlearn.passes.fold import fold_stages
from microlearn.targets import cortexm

CPUS = ("cortex-m4f", "cortex-m0plus")
OUT = Path(__file__).parent / "out"

GLUE = (
    '#include <stdint.h>\n#include "ml_bench.h"\n#include "pipe.h"\n'
    "void ml_bench_entry(const void *in, void *out) {\n"
    "    *(int32_t *)out = pipe_predict((const float *)in);\n}\n"
)


def convert(est: Any) -> Any:
    mod = type(est).__module__.split(".")[1]
    return CONVERTERS[f"sklearn.{mod}.{type(est).__name__}"](est)


def header(stages: list[Any], trees: Any) -> str:
    scs = [emit_stage(s, f"s{k}") for k, s in enumerate(stages)]
    parts = ['#include <stdint.h>\n#include <math.h>\n#include "ml_transform.h"\n', *(s.code for s in scs)]
    parts.append(cbackend.generate(trees, "table", "trees").header)
    parts.append(chain(scs, "trees", "pipe", "classifier"))
    return "\n".join(parts)


def main() -> None:
    X, y = load_breast_cancer(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=200, random_state=0)
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
        stages = [convert(s) for _, s in pipe.steps[:-1]]
        trees = to_ir(pipe.steps[-1][1])
        rest, folded = fold_stages(stages, trees)
        assert rest == ()
        for cpu in CPUS:
            res = {}
            for how, (st, tr) in {"in C": (stages, trees), "folded": ([], folded)}.items():
                run = cortexm.measure({"pipe.h": header(st, tr)}, GLUE, cpu, [r.tobytes() for r in Xte32], 4)
                got = run.outputs.reshape(-1).view("<i4")
                res[how] = (run.flash_bytes, run.instructions_mean or 0.0, float(np.mean(got == want)))
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
