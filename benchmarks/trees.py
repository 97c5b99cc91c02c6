"""Tree models side by side on emulated Cortex-M4F and M0+: every microlearn method, emlearn, m2cgen.

Run with `make bench` (installs the `bench` extra: emlearn, m2cgen, matplotlib). Every contender's C is
compiled with the same harness (arm-none-eabi-gcc -Os, --gc-sections) and run on the same test rows in
the emulator; flash is what the model adds to a bare-metal image, instructions are counted exactly.
Writes benchmarks/out/trees.md and benchmarks/out/trees_pareto.png.
"""

from __future__ import annotations

import argparse
import datetime
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier, RandomForestRegressor
from sklearn.model_selection import train_test_split

import microlearn
from microlearn.targets import mcu
from microlearn.verify import regression_bound

CPUS = ("cortex-m4f", "cortex-m0plus")
OUT = Path(__file__).parent / "out"


@dataclass
class Case:
    label: str
    estimator: Any
    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    integer_features: bool

    @property
    def is_classifier(self) -> bool:
        return hasattr(self.estimator, "classes_")


def cases(n_rows: int) -> list[Case]:
    out = []
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, _ = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    rf = RandomForestClassifier(n_estimators=10, max_depth=10, random_state=0).fit(Xtr, ytr)
    out.append(Case("RF 10 x depth 10, digits", rf, Xtr, Xte[:n_rows], ytr, True))
    et = ExtraTreesClassifier(n_estimators=50, max_depth=8, random_state=0).fit(Xtr, ytr)
    out.append(Case("ET 50 x depth 8, digits", et, Xtr, Xte[:n_rows], ytr, True))
    X, y = load_breast_cancer(return_X_y=True)
    Xtr, Xte, ytr, _ = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    bc = RandomForestClassifier(n_estimators=5, max_depth=5, random_state=0).fit(Xtr, ytr)
    out.append(Case("RF 5 x depth 5, breast cancer", bc, Xtr, Xte[:n_rows], ytr, False))
    X, y = load_diabetes(return_X_y=True)
    Xtr, Xte, ytr, _ = train_test_split(X, y, test_size=0.3, random_state=0)
    rr = RandomForestRegressor(n_estimators=10, max_depth=8, random_state=0).fit(Xtr, ytr)
    out.append(Case("RF regressor 10 x depth 8, diabetes", rr, Xtr, Xte[:n_rows], ytr, False))
    return out


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


def _agreement(case: Case, outputs: np.ndarray) -> float:
    X32 = case.X_test.astype(np.float32)
    ref = case.estimator.predict(X32)
    if case.is_classifier:
        return float(np.mean(np.asarray(case.estimator.classes_)[outputs.astype(int)] == ref))
    bound = regression_bound(microlearn.convert(case.estimator).ir, X32)
    return float(np.mean(np.abs(outputs.astype(np.float64) - ref) <= bound))


def _measure(sources: dict[str, str], glue: str, cpu: str, rows: np.ndarray, incs: list[str]) -> Any:
    return mcu.measure(sources, glue, cpu, [r.tobytes() for r in rows], 4, include_dirs=incs)


def run_microlearn(case: Case, cpu: str) -> list[Row]:
    rows = []
    kind = "classifier" if case.is_classifier else "regressor"
    for method in microlearn.methods_for(case.estimator):
        header = microlearn.convert(case.estimator, method=method).to_c("model")
        run = mcu.measure_model(header, "model.h", "model", kind, case.X_test.astype(np.float32), cpu)
        rows.append(
            Row(
                case.label,
                f"microlearn {method}",
                cpu,
                run.flash_bytes,
                run.ram_bytes,
                run.instructions_mean,
                _agreement(case, run.outputs),
            )
        )
    return rows


def run_emlearn(case: Case, cpu: str) -> list[Row]:
    import emlearn

    rows = []
    nf = case.X_test.shape[1]
    variants: list[tuple[str, str, str]] = [("emlearn inline float", "inline", "float")]
    if case.is_classifier:
        variants += [
            ("emlearn inline int16", "inline", "int16_t"),
            ("emlearn loadable int16", "loadable", "int16_t"),
        ]
    for label, method, dtype in variants:
        target = case
        if dtype != "float" and not case.integer_features:
            # int16 inference wants int16 features: scale each feature to +-32000, round, and fit the same
            # estimator on the scaled data (agreement is then measured against that scikit-learn model)
            scale = 32000.0 / np.maximum(np.abs(case.X_train).max(axis=0), 1e-12)
            Xs_train = np.rint(case.X_train * scale)
            est = clone(case.estimator).fit(Xs_train, case.y_train)
            target = Case(case.label, est, Xs_train, np.rint(case.X_test * scale), case.y_train, True)
        kw: dict[str, Any] = {} if case.is_classifier else {"return_type": "regressor"}
        code = emlearn.convert(target.estimator, method=method, dtype=dtype, **kw).save(
            name="model", format="c"
        )
        ctype = "float" if dtype == "float" else "int16_t"
        ret = "int32_t" if case.is_classifier else "float"
        glue = (
            '#include <stdint.h>\n#include "model.h"\n'
            "void ml_bench_entry(const void *in, void *out)\n{\n"
            f"    const float *x = (const float *)in;\n    {ctype} v[{nf}];\n    int i;\n"
            f"    for (i = 0; i < {nf}; i++) v[i] = ({ctype})x[i];\n"
            f"    *({ret} *)out = ({ret})model_predict(v, {nf});\n}}\n"
        )
        try:
            run = _measure(
                {"model.h": code}, glue, cpu, target.X_test.astype(np.float32), [emlearn.includedir]
            )
        except Exception as e:  # a contender that does not build is reported, not hidden
            rows.append(Row(case.label, label, cpu, None, None, None, None, f"error: {str(e)[:60]}"))
            continue
        dt = "<i4" if case.is_classifier else "<f4"
        outputs = run.outputs.reshape(-1).view(dt)
        rows.append(
            Row(
                case.label,
                label,
                cpu,
                run.flash_bytes,
                run.ram_bytes,
                run.instructions_mean,
                _agreement(target, outputs),
                "" if target is case else "features scaled to int16",
            )
        )
    return rows


def run_m2cgen(case: Case, cpu: str) -> list[Row]:
    import m2cgen

    nf = case.X_test.shape[1]
    try:
        code = m2cgen.export_to_c(case.estimator)
    except Exception as e:
        return [Row(case.label, "m2cgen", cpu, None, None, None, None, f"error: {str(e)[:60]}")]
    if case.is_classifier:
        nc = len(case.estimator.classes_)
        call = (
            f"    double o[{nc}];\n    int c, best = 0;\n    score(v, o);\n"
            f"    for (c = 1; c < {nc}; c++) if (o[c] > o[best]) best = c;\n    *(int32_t *)out = best;\n"
        )
    else:
        call = "    *(float *)out = (float)score(v);\n"
    glue = (
        '#include <stdint.h>\n#include "model.h"\n'
        "void ml_bench_entry(const void *in, void *out)\n{\n"
        f"    const float *x = (const float *)in;\n    double v[{nf}];\n    int i;\n"
        f"    for (i = 0; i < {nf}; i++) v[i] = (double)x[i];\n{call}}}\n"
    )
    run = _measure({"model.h": code}, glue, cpu, case.X_test.astype(np.float32), [])
    dt = "<i4" if case.is_classifier else "<f4"
    return [
        Row(
            case.label,
            "m2cgen",
            cpu,
            run.flash_bytes,
            run.ram_bytes,
            run.instructions_mean,
            _agreement(case, run.outputs.reshape(-1).view(dt)),
        )
    ]


def _fmt(v: float | int | None, pct: bool = False) -> str:
    if v is None:
        return "-"
    return f"{100 * v:.1f}%" if pct else f"{v:,.0f}"


def table(rows: list[Row]) -> str:
    out = []
    for case in dict.fromkeys(r.case for r in rows):
        out.append(f"\n### {case}\n")
        out.append(
            "| contender | M4F flash B | M4F RAM B | M4F instr "
            "| M0+ flash B | M0+ RAM B | M0+ instr | agreement |"
        )
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        for name in dict.fromkeys(r.contender for r in rows if r.case == case):
            m4 = next(r for r in rows if r.case == case and r.contender == name and r.cpu == "cortex-m4f")
            m0 = next(r for r in rows if r.case == case and r.contender == name and r.cpu == "cortex-m0plus")
            agree = _fmt(m4.agreement, pct=True) if m4.agreement is not None else m4.note
            if m4.agreement is not None and m4.note:
                agree += f" ({m4.note})"
            out.append(
                f"| {name} | {_fmt(m4.flash)} | {_fmt(m4.ram)} | {_fmt(m4.instr)} | {_fmt(m0.flash)} | "
                f"{_fmt(m0.ram)} | {_fmt(m0.instr)} | {agree} |"
            )
    return "\n".join(out) + "\n"


def pareto(rows: list[Row], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    case = rows[0].case
    fig, ax = plt.subplots(figsize=(7, 5))
    for r in rows:
        if r.case == case and r.cpu == "cortex-m4f" and r.flash and r.instr:
            ax.scatter(r.flash, r.instr, s=40)
            ax.annotate(
                f"{r.contender} ({_fmt(r.agreement, pct=True)})",
                (r.flash, r.instr),
                fontsize=8,
                xytext=(4, 4),
                textcoords="offset points",
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("flash bytes (Cortex-M4F)")
    ax.set_ylabel("instructions per inference (Cortex-M4F)")
    ax.set_title(f"{case}: lower left is better")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=300, help="test rows run on each emulated CPU")
    args = ap.parse_args()
    runners: list[Callable[[Case, str], list[Row]]] = [run_microlearn, run_emlearn, run_m2cgen]
    rows: list[Row] = []
    for case in cases(args.rows):
        for cpu in CPUS:
            for runner in runners:
                rows.extend(runner(case, cpu))
        print(f"measured {case.label}", flush=True)
    gcc = subprocess.run(
        ["arm-none-eabi-gcc", "--version"], capture_output=True, text=True
    ).stdout.splitlines()[0]
    head = (
        f"# Trees on Cortex-M: microlearn, emlearn, m2cgen\n\n{datetime.date.today()}, {gcc}, -Os, "
        f"{args.rows} test rows per model, instructions counted exactly in the emulator "
        "(python benchmarks/trees.py). Agreement: rows whose prediction equals scikit-learn's "
        "(regression: within microlearn's float32 bound). int16 contenders take the features cast to int16 "
        "(exact for digits, whose features are integers); for the other data sets the features are scaled "
        "to +-32000 and rounded, and the same estimator is fitted on them, as int16 inference requires.\n"
    )
    OUT.mkdir(exist_ok=True)
    text = head + table(rows)
    (OUT / "trees.md").write_text(text)
    pareto(rows, OUT / "trees_pareto.png")
    print(text)


if __name__ == "__main__":
    main()
