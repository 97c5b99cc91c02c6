"""MLPs side by side on emulated Cortex-M4F and M0+: microlearn's float and int8 methods, emlearn 0.23's
MLP (its float "loadable" net; its "inline" and fixed-point variants where they build), m2cgen.

`python benchmarks/mlp.py [--rows N] [--docs]`. Writes benchmarks/out/mlp.md; ``--docs`` also replaces
the MLP section of docs/benchmarks.md (between its markers).

Rules, as for the tree benchmark: each contender's predict is called with float32 rows (every MLP
contender takes float), converted before the measured call; flash and RAM are attributed the same way
for all (:func:`microlearn.targets.mcu.measure`: code, const data and .data of model and glue plus the
library members only the measured image pulls in; RAM = static data + painted peak stack of one call).
Agreement: rows whose class equals scikit-learn's predict on the same float32 rows. microlearn int8 is
calibrated on the training rows (``convert(est, method="int8", calibration=X_train)``). A contender that
does not convert or build is listed with the reason.
"""

from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

import microlearn
from microlearn.targets import mcu

CPUS = ("cortex-m4f", "cortex-m0plus")
OUT = Path(__file__).parent / "out"
DOCS = Path(__file__).parents[1] / "docs" / "benchmarks.md"
BEGIN, END = "<!-- benchmarks/mlp.py: begin -->", "<!-- benchmarks/mlp.py: end -->"


@dataclass
class Case:
    label: str
    est: Any
    X_train: np.ndarray
    X_test: np.ndarray


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


def _fit(est: Any, X: np.ndarray, y: np.ndarray) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X, y)


def cases(n_rows: int) -> list[Case]:
    out = []
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    Xa, Xb, ya, _ = train_test_split(X, y, test_size=n_rows, random_state=0)
    for hidden, act in (((32,), "relu"), ((32, 16), "tanh")):
        est = _fit(
            MLPClassifier(hidden_layer_sizes=hidden, activation=act, max_iter=300, random_state=0), Xa, ya
        )
        shape = "-".join(str(v) for v in (64, *hidden, 10))
        out.append(Case(f"digits MLP {shape} {act}", est, Xa, Xb))
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    Xa, Xb, ya, _ = train_test_split(X, y, test_size=min(n_rows, 150), random_state=0)
    est = _fit(
        MLPClassifier(hidden_layer_sizes=(16,), activation="logistic", max_iter=500, random_state=0), Xa, ya
    )
    out.append(Case("breast cancer MLP 30-16-1 logistic", est, Xa, Xb))
    return out


def _agreement(case: Case, idx: np.ndarray) -> float:
    X32 = case.X_test.astype(np.float32)
    return float(np.mean(np.asarray(case.est.classes_)[idx.astype(int)] == case.est.predict(X32)))


def _run(label: str, case: Case, cpu: str, code: str, glue: str, incs: list[str], note: str = "") -> Row:
    rows = case.X_test.astype(np.float32)
    try:
        run = mcu.measure({"model.h": code}, glue, cpu, [r.tobytes() for r in rows], 4, include_dirs=incs)
    except Exception as e:  # a contender that does not build is reported, not hidden
        return Row(case.label, label, cpu, None, None, None, None, f"does not build: {str(e)[:80]}")
    out = run.outputs.reshape(-1).view("<i4")
    agree = _agreement(case, out)
    return Row(case.label, label, cpu, run.flash_bytes, run.ram_bytes, run.instructions_mean, agree, note)


def _glue(call: str) -> str:
    return (
        '#include <stdint.h>\n#include "ml_bench.h"\n#include "model.h"\n'
        "void ml_bench_entry(const void *in, void *out)\n{\n"
        f"    *(int32_t *)out = (int32_t){call};\n}}\n"
    )


def run_microlearn(case: Case, cpu: str) -> list[Row]:
    rows = []
    for method in ("float", "float32", "int8"):
        kw = {"calibration": case.X_train} if method == "int8" else {}
        code = microlearn.convert(case.est, method=method, **kw).to_c("model")
        rows.append(
            _run(f"microlearn {method}", case, cpu, code, _glue("model_predict((const float *)in)"), [])
        )
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
            wrapper = emlearn.convert(case.est, method=method, **kw)
            return str(wrapper.save(name="model", inference=[method]))
        finally:
            os.chdir(cwd)


def run_emlearn(case: Case, cpu: str) -> list[Row]:
    emlearn = _import_emlearn()

    nf = case.X_test.shape[1]
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


def run_m2cgen(case: Case, cpu: str) -> list[Row]:
    import m2cgen

    try:
        m2cgen.export_to_c(case.est)
    except Exception as e:
        return [Row(case.label, "m2cgen", cpu, None, None, None, None, f"{type(e).__name__}: {str(e)[:60]}")]
    return [Row(case.label, "m2cgen", cpu, None, None, None, None, "converts; not measured")]


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
            "| agreement |"
        )
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        for name in dict.fromkeys(r.contender for r in rows if r.case == case):
            m4 = next(r for r in rows if r.case == case and r.contender == name and r.cpu == "cortex-m4f")
            m0 = next(r for r in rows if r.case == case and r.contender == name and r.cpu == "cortex-m0plus")
            agree = _fmt(m4.agreement, pct=True) if m4.agreement is not None else m4.note
            out.append(
                f"| {name} | {_fmt(m4.flash)} | {_fmt(m4.ram)} | {_fmt(m4.instr)} "
                f"| {_fmt(m0.flash)} | {_fmt(m0.ram)} | {_fmt(m0.instr)} | {agree} |"
            )
        em = next((r for r in rows if r.case == case and r.contender == "emlearn loadable float"
                   and r.cpu == "cortex-m0plus"), None)  # fmt: skip
        q = next(
            r
            for r in rows
            if r.case == case and r.contender == "microlearn int8" and r.cpu == "cortex-m0plus"
        )
        if em is not None and em.instr and q.instr:
            out.append(
                f"\nM0+: microlearn int8 takes {q.instr / em.instr:.1%} of emlearn's float MLP instructions."
            )
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100, help="test rows run on each emulated CPU")
    ap.add_argument("--docs", action="store_true", help="also write the tables into docs/benchmarks.md")
    args = ap.parse_args()
    rows: list[Row] = []
    for case in cases(args.rows):
        for cpu in CPUS:
            for runner in (run_microlearn, run_emlearn, run_m2cgen):
                rows.extend(runner(case, cpu))
        print(f"measured {case.label}", flush=True)
    gcc = subprocess.run(
        ["arm-none-eabi-gcc", "--version"], capture_output=True, text=True
    ).stdout.splitlines()[0]
    emlearn = _import_emlearn()
    text = (
        f"\n{datetime.date.today()}, {gcc}, -Os, {args.rows} test rows per model (breast cancer: at most "
        "150), "
        f"emlearn {emlearn.__version__}, instructions counted exactly in the emulator "
        "(`python benchmarks/mlp.py --docs`). Every contender takes float32 rows, converted before the "
        "measured call; agreement is with scikit-learn's predict on the same rows; microlearn int8 is "
        "calibrated on the training rows. RAM: static data + peak stack of one call (emlearn's activation "
        "buffers are static arrays, microlearn's on the stack).\n" + table(rows)
    )
    OUT.mkdir(exist_ok=True)
    (OUT / "mlp.md").write_text(text)
    print(text)
    if args.docs:
        doc = DOCS.read_text()
        if BEGIN not in doc:
            title = "MLPs on Cortex-M: microlearn (float, float32, int8), emlearn 0.23, m2cgen"
            doc += f"\n# {title}\n\n{BEGIN}\n{END}\n"
        a, b = doc.index(BEGIN) + len(BEGIN), doc.index(END)
        DOCS.write_text(doc[:a] + "\n" + text + doc[b:])


if __name__ == "__main__":
    main()
