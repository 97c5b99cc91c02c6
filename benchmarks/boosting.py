"""Boosted trees on emulated Cortex-M4F and M0+: microlearn against m2cgen, tl2cgen and micromlgen.

Run alone: `python benchmarks/boosting.py [--rows N] [--cases 0,1] [--docs]`. Writes
benchmarks/out/boosting.md; ``--docs`` also puts the tables into docs/benchmarks.md (between this script's
markers).

Models (the same for every contender): scikit-learn GradientBoosting, XGBoost and LightGBM, 50 rounds of
depth 4, on digits (10 classes), breast cancer (binary) and diabetes (regression).

The rules of benchmarks/trees.py, for every contender:

* **Native input, outside the measured region.** Each contender's predict is called with the input type it
  is written for: float for microlearn and micromlgen, double for m2cgen, tl2cgen's ``union Entry``
  array (a float or a double per feature, as its generated header declares; -1 in the integer member marks
  a missing value). Rows are converted in Python before they are written to the emulator; the measured
  call is the contender's own function plus what its caller must do to get a class: m2cgen's and
  tl2cgen's argmax over the scores (tl2cgen with ``pred_margin = 1``, the link being monotonic, and its
  zeroed result buffer, which its ``predict`` adds to).
* **The same compiler and flags** (arm-none-eabi-gcc -Os, ``microlearn.targets.mcu``); micromlgen's C++
  class is compiled by the same gcc as C++ (-fno-exceptions -fno-rtti).
* **The same flash attribution** (:func:`microlearn.targets.mcu.measure`): code, const data and .data of
  everything but the harness, plus the library members (soft float, libm) that only the measured image
  pulls in. RAM: static data plus the painted peak stack of one call.
* **Each contender's documented configuration.** m2cgen 0.10 reads XGBoost's ``base_score`` and
  ``num_parallel_tree`` from ``get_params()``, which XGBoost >= 2 leaves unset, so every XGBoost model here
  is fitted with both set explicitly (0.5 for classifiers, the training mean for the regressor; 1) - the
  same model for every contender. tl2cgen runs with its defaults and with ``quantize = 1`` (its
  threshold-index mode). micromlgen ports XGBoost multi-class classifiers only; everywhereml has no
  XGBoost or LightGBM port (its ensembles are random forests), so it has no row.

Agreement: rows whose prediction equals the library's own ``predict`` on the same float32 rows (regression:
within microlearn's stated bound, which is 0 for XGBoost whose float32 sum microlearn repeats; the
largest difference is reported too).
"""

from __future__ import annotations

import argparse
import datetime
import re
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor
from sklearn.model_selection import train_test_split

import microlearn
from microlearn.backends.c.registry import methods
from microlearn.targets import mcu
from microlearn.verify import regression_bound

CPUS = ("cortex-m4f", "cortex-m0plus")
OUT = Path(__file__).parent / "out"
DOCS = Path(__file__).parents[1] / "docs" / "benchmarks.md"
BEGIN, END = "<!-- benchmarks/boosting.py: begin -->", "<!-- benchmarks/boosting.py: end -->"
ROUNDS, DEPTH = 50, 4


@dataclass
class Case:
    label: str  # e.g. "digits (10 classes)"
    library: str  # "GradientBoosting" | "XGBoost" | "LightGBM"
    estimator: Any
    X_test: np.ndarray  # float32 rows

    @property
    def is_classifier(self) -> bool:
        return hasattr(self.estimator, "classes_")

    @property
    def n_classes(self) -> int:
        return len(self.estimator.classes_) if self.is_classifier else 1

    @property
    def title(self) -> str:
        return f"{self.library}, {self.label}"


def cases(n_rows: int) -> list[Case]:
    import lightgbm as lgb
    import xgboost as xgb

    out = []
    for label, (X, y), kind in (
        ("digits (10 classes)", load_digits(return_X_y=True), "multi"),
        ("breast cancer (binary)", load_breast_cancer(return_X_y=True), "binary"),
        ("diabetes (regression)", load_diabetes(return_X_y=True), "regression"),
    ):
        X = X.astype(np.float32)
        strat = y if kind != "regression" else None
        Xtr, Xte, ytr, _ = train_test_split(X, y, test_size=0.3, random_state=0, stratify=strat)
        Xte = Xte[:n_rows]
        common = {"n_estimators": ROUNDS, "max_depth": DEPTH}
        xkw: dict[str, Any] = {**common, "n_jobs": 1, "num_parallel_tree": 1, "random_state": 0}
        lkw: dict[str, Any] = {
            **common,
            "num_leaves": 2**DEPTH,
            "n_jobs": 1,
            "verbose": -1,
            "random_state": 0,
        }
        if kind == "regression":
            models = [
                ("GradientBoosting", GradientBoostingRegressor(random_state=0, **common)),
                ("XGBoost", xgb.XGBRegressor(base_score=float(np.mean(ytr)), **xkw)),
                ("LightGBM", lgb.LGBMRegressor(**lkw)),
            ]
        else:
            models = [
                ("GradientBoosting", GradientBoostingClassifier(random_state=0, **common)),
                ("XGBoost", xgb.XGBClassifier(base_score=0.5, **xkw)),
                ("LightGBM", lgb.LGBMClassifier(**lkw)),
            ]
        for lib, est in models:
            out.append(Case(label, lib, est.fit(Xtr, ytr), Xte))
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
    max_err: float | None = None
    note: str = ""


def _agreement(case: Case, outputs: np.ndarray) -> tuple[float, float | None]:
    X32 = case.X_test
    ref = case.estimator.predict(X32)
    if case.is_classifier:
        got = np.asarray(case.estimator.classes_)[outputs.astype(int)]
        return float(np.mean(got == ref)), None
    bound = regression_bound(microlearn.convert(case.estimator).ir, X32)
    diff = np.abs(outputs.astype(np.float64) - np.asarray(ref, dtype=np.float64))
    return float(np.mean(diff <= bound)), float(diff.max())


def _run(
    label: str,
    case: Case,
    cpu: str,
    sources: dict[str, str],
    glue: str,
    blobs: list[bytes],
    note: str = "",
) -> Row:
    try:
        run = mcu.measure(sources, glue, cpu, blobs, 4)
    except Exception as e:  # a contender that does not build is reported, not hidden
        return Row(
            case.title, label, cpu, None, None, None, None, None, f"error: {str(e).splitlines()[0][:80]}"
        )
    out = run.outputs.reshape(-1).view("<i4" if case.is_classifier else "<f4")
    agree, err = _agreement(case, out)
    return Row(
        case.title, label, cpu, run.flash_bytes, run.ram_bytes, run.instructions_mean, agree, err, note
    )


def _entry(body: str, include: str = '#include "model.h"\n') -> str:
    return (
        f'#include <stdint.h>\n#include "ml_bench.h"\n{include}'
        f"void ml_bench_entry(const void *in, void *out)\n{{\n{body}}}\n"
    )


def _argmax(n: int, array: str, ctype: str) -> str:
    if n == 1:  # binary: one margin
        return f"    *(int32_t *)out = {array}[0] > 0;\n"
    return (
        f"    int32_t c, best = 0;\n    for (c = 1; c < {n}; c++) if ({array}[c] > {array}[best]) best = c;\n"
        "    *(int32_t *)out = best;\n"
    )


# ---------------------------------------------------------------------------------------------- contenders
def run_microlearn(case: Case, cpu: str) -> list[Row]:
    ir = microlearn.convert(case.estimator).ir
    ret = "int32_t" if case.is_classifier else "float"
    rows = []
    for m in methods(ir).values():
        if m.inputs != "float32":
            continue
        code = microlearn.convert(case.estimator, method=m.name).to_c("model")
        glue = _entry(f"    *({ret} *)out = ({ret})model_predict((const float *)in);\n")
        blobs = [r.tobytes() for r in case.X_test.astype(np.float32)]
        rows.append(_run(f"microlearn {m.name}", case, cpu, {"model.h": code}, glue, blobs))
    return rows


def installed(module: str) -> bool:
    """Whether a contender's package is installed (``pip install -e .[bench]``); a contender that is not
    keeps, with --docs, its rows of the last run that had it."""
    import importlib.util

    return importlib.util.find_spec(module) is not None


def run_m2cgen(case: Case, cpu: str) -> list[Row]:
    if not installed("m2cgen"):
        return []
    import m2cgen

    if case.library == "GradientBoosting":
        return [Row(case.title, "m2cgen", cpu, None, None, None, None, None, "not supported by m2cgen 0.10")]
    try:
        code = m2cgen.export_to_c(case.estimator)
    except Exception as e:
        return [Row(case.title, "m2cgen", cpu, None, None, None, None, None, f"error: {str(e)[:60]}")]
    if case.is_classifier:
        n = case.n_classes
        body = f"    double o[{n}];\n    score((double *)in, o);\n" + _argmax(n, "o", "double")
    else:
        body = "    *(float *)out = (float)score((double *)in);\n"
    blobs = [r.tobytes() for r in case.X_test.astype(np.float64)]
    return [_run("m2cgen", case, cpu, {"model.h": code}, _entry(body), blobs, "double input")]


def _treelite_model(case: Case) -> Any:
    import treelite

    if case.library == "XGBoost":
        return treelite.frontend.from_xgboost(case.estimator.get_booster())
    if case.library == "LightGBM":
        return treelite.frontend.from_lightgbm(case.estimator.booster_)
    return treelite.sklearn.import_model(case.estimator)


def run_tl2cgen(case: Case, cpu: str) -> list[Row]:
    if not (installed("tl2cgen") and installed("treelite")):
        return []
    import tl2cgen

    rows = []
    for label, params in (("tl2cgen", {}), ("tl2cgen quantize", {"quantize": 1})):
        try:
            with tempfile.TemporaryDirectory() as d:
                tl2cgen.generate_c_code(_treelite_model(case), dirpath=d, params=params)
                sources = {p.name: p.read_text() for p in Path(d).iterdir() if p.suffix in (".c", ".h")}
        except Exception as e:
            rows.append(Row(case.title, label, cpu, None, None, None, None, None, f"error: {str(e)[:60]}"))
            continue
        header = sources["header.h"]
        fvalue = re.search(r"union Entry \{[^}]*?\b(float|double) fvalue;", header, re.S)
        ftype = fvalue.group(1) if fvalue else "double"
        ltype = "double" if 'return "float64"' in _leaf_type_fn(sources["main.c"]) else "float"
        n_out = int(re.search(r"#define MAX_N_CLASS (\d+)", header).group(1))  # type: ignore[union-attr]
        body = f"    {ltype} r[{n_out}] = {{0}};\n"
        if case.is_classifier:
            body += "    predict((union Entry *)in, 1, r);\n" + _argmax(n_out, "r", ltype)
        else:
            body += "    predict((union Entry *)in, 0, r);\n    *(float *)out = (float)r[0];\n"
        dtype = np.float32 if ftype == "float" else np.float64
        blobs = [_entries(r, dtype) for r in case.X_test]
        note = f"union Entry ({ftype}) input"
        rows.append(_run(label, case, cpu, sources, _entry(body, '#include "header.h"\n'), blobs, note))
    return rows


def _leaf_type_fn(main_c: str) -> str:
    m = re.search(r"get_leaf_output_type\(void\) \{[^}]*\}", main_c)
    return m.group(0) if m else ""


def _entries(row: np.ndarray, dtype: Any) -> bytes:
    """tl2cgen's ``union Entry`` array: the value, or -1 in the integer member for a missing one."""
    vals = row.astype(dtype)
    raw = bytearray(vals.tobytes())
    size = np.dtype(dtype).itemsize
    for i in np.flatnonzero(np.isnan(vals)):
        raw[i * size : i * size + 4] = (-1).to_bytes(4, "little", signed=True)
    return bytes(raw)


def run_micromlgen(case: Case, cpu: str) -> list[Row]:
    if case.library != "XGBoost" or not installed("micromlgen"):
        return []
    if not (case.is_classifier and case.n_classes > 2):
        return [Row(case.title, "micromlgen", cpu, None, None, None, None, None, "ports multi-class only")]
    from micromlgen import port

    code = port(case.estimator)
    wrap = (  # <stdint.h> first: micromlgen's class uses uint8_t without including it (Arduino.h would)
        "#include <stdint.h>\n"
        '#include "model.h"\n'
        "static Eloquent::ML::Port::XGBClassifier model;\n"
        'extern "C" int micromlgen_predict(const float *x) { return model.predict((float *)x); }\n'
    )
    glue = _entry(
        "    *(int32_t *)out = micromlgen_predict((const float *)in);\n",
        "int micromlgen_predict(const float *x);\n",
    )
    blobs = [r.tobytes() for r in case.X_test.astype(np.float32)]
    return [_run("micromlgen", case, cpu, {"model.h": code, "wrap.cpp": wrap}, glue, blobs, "C++ class")]


RUNNERS: list[Callable[[Case, str], list[Row]]] = [run_microlearn, run_m2cgen, run_tl2cgen, run_micromlgen]


# ---------------------------------------------------------------------------------------------- report
def _fmt(v: float | int | None, pct: bool = False) -> str:
    if v is None:
        return "-"
    return f"{100 * v:.1f}%" if pct else f"{v:,.0f}"


def table(rows: list[Row]) -> str:
    out = []
    for case in dict.fromkeys(r.case for r in rows):
        out.append(f"\n#### {case}\n")
        regression = any(r.max_err is not None for r in rows if r.case == case)
        err_col = " max abs err |" if regression else ""
        out.append(
            "| contender | M4F flash B | M4F RAM B | M4F instr | M0+ flash B | M0+ RAM B | M0+ instr "
            f"| agreement |{err_col} note |"
        )
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if regression else "") + "---|")
        for name in dict.fromkeys(r.contender for r in rows if r.case == case):
            m4 = next(r for r in rows if r.case == case and r.contender == name and r.cpu == "cortex-m4f")
            m0 = next(r for r in rows if r.case == case and r.contender == name and r.cpu == "cortex-m0plus")
            err = ""
            if regression:
                err = " - |" if m4.max_err is None else f" {m4.max_err:.2e} |"
            out.append(
                f"| {name} | {_fmt(m4.flash)} | {_fmt(m4.ram)} | {_fmt(m4.instr)} "
                f"| {_fmt(m0.flash)} | {_fmt(m0.ram)} | {_fmt(m0.instr)} | {_fmt(m4.agreement, pct=True)} "
                f"|{err} {m4.note} |"
            )
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100, help="test rows run on each emulated CPU")
    ap.add_argument("--cases", default="", help="comma-separated case numbers to run (default: all)")
    ap.add_argument(
        "--docs",
        action="store_true",
        help="put the tables into docs/benchmarks.md (with --cases: only those models' tables are replaced)",
    )
    args = ap.parse_args()
    all_cases = cases(args.rows)
    if args.cases:
        all_cases = [all_cases[int(i)] for i in args.cases.split(",")]
    rows: list[Row] = []
    for case in all_cases:
        for cpu in CPUS:
            for runner in RUNNERS:
                rows.extend(runner(case, cpu))
        print(table([r for r in rows if r.case == case.title]), flush=True)
    gcc = subprocess.run(
        ["arm-none-eabi-gcc", "--version"], capture_output=True, text=True
    ).stdout.splitlines()[0]
    head = (
        f"{datetime.date.today()}, {gcc}, -Os, {args.rows} test rows per model, instructions counted exactly "
        "in the emulator (python benchmarks/boosting.py). Every contender is called with its native input "
        "type, converted before the measured call; flash and RAM are attributed the same way for all (see "
        "the script's docstring). Agreement: rows whose prediction equals the library's own predict "
        "(regression: within microlearn's stated bound)."
    )
    missing = [m for m in ("m2cgen", "tl2cgen", "treelite", "micromlgen") if not installed(m)]
    if missing:
        head += (
            f" Not installed for this run: {', '.join(missing)}; the rows of those contenders are the "
            "previous run's (same models, compiler and flags)."
        )
    head += "\n"
    OUT.mkdir(exist_ok=True)
    text = head + table(rows)
    (OUT / "boosting.md").write_text(text)
    print(text)
    if args.docs:
        write_docs(text)


def _split(text: str) -> tuple[str, dict[str, tuple[str, dict[str, str]]]]:
    """(the text before the first table, {case title: (its heading and column lines, {contender: its
    row})})."""
    parts = re.split(r"^#### ", text, flags=re.M)
    blocks = {}
    for part in parts[1:]:
        lines = part.rstrip().split("\n")
        rows = {ln.split("|")[1].strip(): ln for ln in lines[4:]}
        blocks[lines[0]] = ("#### " + "\n".join(lines[:4]), rows)
    return parts[0], blocks


def merge(old: str, new: str) -> str:
    """The rows of ``new`` in place of the same models' and contenders' rows in ``old``, under ``new``'s
    heading; the other models' tables and the contenders that did not run (a package not installed)
    keep their rows: a run of some --cases, or without a contender, updates just what it measured."""
    head, blocks = _split(new)
    _, kept = _split(old)
    out = []
    for title in dict.fromkeys([*kept, *blocks]):
        top, rows = blocks[title] if title in blocks else kept[title]
        if title in blocks and title in kept:
            rows = {**rows, **{k: v for k, v in kept[title][1].items() if k not in rows}}
        out.append(top + "\n" + "\n".join(rows.values()) + "\n")
    return head.rstrip() + "\n\n" + "\n".join(out)


def write_docs(text: str) -> None:
    """Replace the section between this script's markers in docs/benchmarks.md (appended if absent);
    the models not run this time keep their tables."""
    doc = DOCS.read_text()
    if BEGIN in doc and END in doc:
        text = merge(doc[doc.index(BEGIN) + len(BEGIN) : doc.index(END)], text)
    block = f"{BEGIN}\n{text.rstrip()}\n{END}"
    if BEGIN in doc and END in doc:
        doc = doc[: doc.index(BEGIN)] + block + doc[doc.index(END) + len(END) :]
    else:
        title = "## Boosted trees: microlearn, m2cgen, tl2cgen, micromlgen"
        doc = doc.rstrip() + f"\n\n{title}\n\n" + block + "\n"
    DOCS.write_text(doc)


if __name__ == "__main__":
    main()
