"""Tree models side by side on emulated Cortex-M4F and M0+: microlearn's methods, emlearn, m2cgen.

Run with `make bench` (installs the `bench` extra: emlearn, m2cgen, matplotlib), or alone:
`python benchmarks/trees.py [--rows N]`. Writes benchmarks/out/trees.md and trees_pareto.png.

The same rules for every contender:

* **Native input, outside the measured region.** Each contender's predict is called with the input type
  it is written for (float, uint8_t, int16_t, or double for m2cgen); the rows are converted to that
  type in Python before they are written to the emulator, so the measured call is the contender's own
  function and nothing else (m2cgen has no class output: its argmax over ``score``'s outputs is part of
  its predict here).
* **int16 features as emlearn documents them**: ``emlearn.preprocessing.Quantizer`` (one scale for
  all features, to the int16 range), after a ``StandardScaler`` where the features have different
  scales; the estimator is fitted on the quantized training data, and every int16 contender
  (emlearn's and microlearn's) runs that model; agreement is against scikit-learn on the same
  quantized rows.
* **The same flash attribution** (:func:`microlearn.targets.mcu.measure`): code, const data and .data
  of everything but the harness, plus every library member (libgcc soft-float, libc) that only the
  measured image pulls in, minus an image whose entry function does nothing. RAM: static data plus
  the painted peak stack of one call.
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
from sklearn.preprocessing import StandardScaler

import microlearn
from microlearn.targets import mcu
from microlearn.verify import regression_bound

CPUS = ("cortex-m4f", "cortex-m0plus")
OUT = Path(__file__).parent / "out"
FLOAT_METHODS = ("table", "inline", "packed", "fast")
TYPED = {"u8": ("uint8_t", np.uint8), "i16": ("int16_t", np.int16)}


@dataclass
class Data:
    """One model and its test rows, as a contender receives them (already in its input type)."""

    estimator: Any
    X_test: np.ndarray  # float64 values the rows hold

    @property
    def is_classifier(self) -> bool:
        return hasattr(self.estimator, "classes_")


@dataclass
class Case:
    label: str
    plain: Data  # the estimator on the original features
    int16: Data  # the same estimator fitted on emlearn-quantized int16 features
    uint8: bool  # the original features are uint8 values (digits: 0..16)
    quantizer: str


def _quantized(
    est: Any, Xtr: np.ndarray, Xte: np.ndarray, ytr: np.ndarray, standardize: bool
) -> tuple[Data, str]:
    from emlearn.preprocessing.quantizer import Quantizer

    steps = []
    if standardize:
        sc = StandardScaler().fit(Xtr)
        Xtr, Xte = sc.transform(Xtr), sc.transform(Xte)
        steps.append("StandardScaler")
    q = Quantizer(dtype="int16").fit(Xtr)
    Qtr, Qte = q.transform(Xtr).astype(np.float64), q.transform(Xte).astype(np.float64)
    steps.append(f"Quantizer(int16, scale {q.scale_:.4g})")
    return Data(clone(est).fit(Qtr, ytr), Qte), " + ".join(steps)


def cases(n_rows: int) -> list[Case]:
    out = []
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, _ = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    for label, est in (
        ("RF 10 x depth 10, digits", RandomForestClassifier(n_estimators=10, max_depth=10, random_state=0)),
        ("ET 50 x depth 8, digits", ExtraTreesClassifier(n_estimators=50, max_depth=8, random_state=0)),
    ):
        q, how = _quantized(est, Xtr, Xte[:n_rows], ytr, standardize=False)
        out.append(Case(label, Data(clone(est).fit(Xtr, ytr), Xte[:n_rows]), q, True, how))
    X, y = load_breast_cancer(return_X_y=True)
    Xtr, Xte, ytr, _ = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    est = RandomForestClassifier(n_estimators=5, max_depth=5, random_state=0)
    q, how = _quantized(est, Xtr, Xte[:n_rows], ytr, standardize=True)
    out.append(
        Case("RF 5 x depth 5, breast cancer", Data(clone(est).fit(Xtr, ytr), Xte[:n_rows]), q, False, how)
    )
    X, y = load_diabetes(return_X_y=True)
    Xtr, Xte, ytr, _ = train_test_split(X, y, test_size=0.3, random_state=0)
    est = RandomForestRegressor(n_estimators=10, max_depth=8, random_state=0)
    q, how = _quantized(est, Xtr, Xte[:n_rows], ytr, standardize=True)
    out.append(
        Case(
            "RF regressor 10 x depth 8, diabetes", Data(clone(est).fit(Xtr, ytr), Xte[:n_rows]), q, False, how
        )
    )
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


def _agreement(data: Data, outputs: np.ndarray) -> float:
    X32 = data.X_test.astype(np.float32)
    ref = data.estimator.predict(X32)
    if data.is_classifier:
        return float(np.mean(np.asarray(data.estimator.classes_)[outputs.astype(int)] == ref))
    bound = regression_bound(microlearn.convert(data.estimator).ir, X32)
    return float(np.mean(np.abs(outputs.astype(np.float64) - ref) <= bound))


def _glue(call: str, arg_type: str, ret: str, header: str = "model.h") -> str:
    """The measured entry: the contender's predict on the input blob as it is, nothing else."""
    return (
        f'#include <stdint.h>\n#include "ml_bench.h"\n#include "{header}"\n'
        "void ml_bench_entry(const void *in, void *out)\n{\n"
        f"    *({ret} *)out = ({ret}){call}(({arg_type})in);\n}}\n"
    )


def _run(
    label: str,
    case: Case,
    data: Data,
    cpu: str,
    code: str,
    glue: str,
    dtype: Any,
    incs: list[str],
    note: str = "",
) -> Row:
    rows = data.X_test.astype(dtype)
    try:
        run = mcu.measure({"model.h": code}, glue, cpu, [r.tobytes() for r in rows], 4, include_dirs=incs)
    except Exception as e:  # a contender that does not build is reported, not hidden
        return Row(case.label, label, cpu, None, None, None, None, f"error: {str(e)[:60]}")
    out = run.outputs.reshape(-1).view("<i4" if data.is_classifier else "<f4")
    return Row(
        case.label,
        label,
        cpu,
        run.flash_bytes,
        run.ram_bytes,
        run.instructions_mean,
        _agreement(data, out),
        note,
    )


def run_microlearn(case: Case, cpu: str) -> list[Row]:
    rows = []
    ret = "int32_t" if case.plain.is_classifier else "float"
    for method in FLOAT_METHODS:
        code = microlearn.convert(case.plain.estimator, method=method).to_c("model")
        glue = _glue("model_predict", "const float *", ret)
        rows.append(_run(f"microlearn {method}", case, case.plain, cpu, code, glue, np.float32, []))
    typed = [("u8", case.plain)] if case.uint8 else []
    typed.append(("i16", case.int16))
    for sfx, data in typed:
        ctype, dtype = TYPED[sfx]
        for base in ("packed", "fast"):
            method = f"{base}_{sfx}"
            code = microlearn.convert(data.estimator, method=method).to_c("model")
            glue = _glue(f"model_predict_{sfx}", f"const {ctype} *", ret)
            note = "" if data is case.plain else "int16 model"
            rows.append(_run(f"microlearn {method}", case, data, cpu, code, glue, dtype, [], note))
    return rows


def run_emlearn(case: Case, cpu: str) -> list[Row]:
    import emlearn

    rows = []
    nf = case.plain.X_test.shape[1]
    variants: list[tuple[str, str, str]] = [("emlearn inline float", "inline", "float")]
    if case.plain.is_classifier:
        variants += [
            ("emlearn inline int16", "inline", "int16_t"),
            ("emlearn loadable int16", "loadable", "int16_t"),
        ]
    ret = "int32_t" if case.plain.is_classifier else "float"
    for label, method, dtype in variants:
        data = case.plain if dtype == "float" else case.int16
        kw: dict[str, Any] = {} if data.is_classifier else {"return_type": "regressor"}
        code = emlearn.convert(data.estimator, method=method, dtype=dtype, **kw).save(
            name="model", format="c"
        )
        ctype = "float" if dtype == "float" else "int16_t"
        glue = (
            f'#include <stdint.h>\n#include "ml_bench.h"\n#include "model.h"\n'
            "void ml_bench_entry(const void *in, void *out)\n{\n"
            f"    *({ret} *)out = ({ret})model_predict((const {ctype} *)in, {nf});\n}}\n"
        )
        np_type = np.float32 if dtype == "float" else np.int16
        note = "" if data is case.plain else "int16 model"
        rows.append(_run(label, case, data, cpu, code, glue, np_type, [emlearn.includedir], note))
    return rows


def run_m2cgen(case: Case, cpu: str) -> list[Row]:
    import m2cgen

    data = case.plain
    try:
        code = m2cgen.export_to_c(data.estimator)
    except Exception as e:
        return [Row(case.label, "m2cgen", cpu, None, None, None, None, f"error: {str(e)[:60]}")]
    if data.is_classifier:
        nc = len(data.estimator.classes_)
        body = (
            f"    double o[{nc}];\n    int c, best = 0;\n    score((double *)in, o);\n"
            f"    for (c = 1; c < {nc}; c++) if (o[c] > o[best]) best = c;\n    *(int32_t *)out = best;\n"
        )
    else:
        body = "    *(float *)out = (float)score((double *)in);\n"
    glue = (
        '#include <stdint.h>\n#include "ml_bench.h"\n#include "model.h"\n'
        f"void ml_bench_entry(const void *in, void *out)\n{{\n{body}}}\n"
    )
    return [_run("m2cgen", case, data, cpu, code, glue, np.float64, [], "argmax of score() in predict")]


def _fmt(v: float | int | None, pct: bool = False) -> str:
    if v is None:
        return "-"
    return f"{100 * v:.1f}%" if pct else f"{v:,.0f}"


def table(rows: list[Row], quantizers: dict[str, str]) -> str:
    out = []
    for case in dict.fromkeys(r.case for r in rows):
        out.append(f"\n### {case}\n\nint16 model: {quantizers[case]}, then the same estimator fitted.\n")
        out.append(
            "| contender | input | M4F flash B | M4F RAM B | M4F instr | M0+ flash B | M0+ RAM B | M0+ instr "
            "| agreement |"
        )
        out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|")
        for name in dict.fromkeys(r.contender for r in rows if r.case == case):
            m4 = next(r for r in rows if r.case == case and r.contender == name and r.cpu == "cortex-m4f")
            m0 = next(r for r in rows if r.case == case and r.contender == name and r.cpu == "cortex-m0plus")
            agree = _fmt(m4.agreement, pct=True) if m4.agreement is not None else m4.note
            inp = (
                "double"
                if name == "m2cgen"
                else "uint8"
                if name.endswith("_u8")
                else "int16"
                if ("int16" in name or name.endswith("_i16"))
                else "float"
            )
            out.append(
                f"| {name} | {inp} | {_fmt(m4.flash)} | {_fmt(m4.ram)} | {_fmt(m4.instr)} "
                f"| {_fmt(m0.flash)} | {_fmt(m0.ram)} | {_fmt(m0.instr)} | {agree} |"
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
                fontsize=7,
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
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=200, help="test rows run on each emulated CPU")
    ap.add_argument("--cases", default="", help="comma-separated case numbers to run (default: all)")
    args = ap.parse_args()
    runners: list[Callable[[Case, str], list[Row]]] = [run_microlearn, run_emlearn, run_m2cgen]
    rows: list[Row] = []
    all_cases = cases(args.rows)
    if args.cases:
        all_cases = [all_cases[int(i)] for i in args.cases.split(",")]
    OUT.mkdir(exist_ok=True)
    for case in all_cases:
        for cpu in CPUS:
            for runner in runners:
                rows.extend(runner(case, cpu))
        print(f"measured {case.label}", flush=True)
        print(table([r for r in rows if r.case == case.label], {case.label: case.quantizer}), flush=True)
    gcc = subprocess.run(
        ["arm-none-eabi-gcc", "--version"], capture_output=True, text=True
    ).stdout.splitlines()[0]
    head = (
        f"# Trees on Cortex-M: microlearn, emlearn, m2cgen\n\n{datetime.date.today()}, {gcc}, -Os, "
        f"{args.rows} test rows per model, instructions counted exactly in the emulator "
        "(python benchmarks/trees.py). Every contender is called with its native input type, converted "
        "before the measured call; flash is attributed the same way for all (see the script's docstring). "
        "Agreement: rows whose prediction equals scikit-learn's on the model the contender encodes "
        "(regression: within microlearn's float32 bound); int16 contenders encode the same estimator "
        "fitted on emlearn-quantized features.\n"
    )
    OUT.mkdir(exist_ok=True)
    text = head + table(rows, {c.label: c.quantizer for c in all_cases})
    (OUT / "trees.md").write_text(text)
    pareto(rows, OUT / "trees_pareto.png")
    print(text)


if __name__ == "__main__":
    main()
