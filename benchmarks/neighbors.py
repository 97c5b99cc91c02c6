"""KNeighborsClassifier on emulated Cortex-M4F and Cortex-M0+: microlearn's methods beside emlearn 0.23.

The same rules for every contender (as benchmarks/trees.py):

* **Native input, outside the measured call.** Each contender's predict is called with the input type
  it is written for: float for microlearn's ``float``, ``float32`` and ``float32_noreplay`` methods
  (``float32`` needs float32 examples: where the training rows are not float32 values the classifier is
  refitted on them rounded to float32, and its agreement is with that model; ``float32_noreplay`` rounds
  the examples itself and runs the model as fitted), int8 for ``int8`` (``model_predict_i8``),
  int16 for ``int16`` (``model_predict_i16``) and for emlearn (``eml_neighbors_predict``, which takes
  int16 features and a caller's distance buffer of one item per example, static here as in emlearn's own
  wrapper). The rows are converted in Python before they are written to the emulator.
* **int16 features as emlearn documents them** where the data are not integers: ``StandardScaler`` then
  ``emlearn.preprocessing.Quantizer`` (int16); the classifier is fitted on the quantized training rows, and
  every int16 contender runs that model; agreement is against scikit-learn on the same quantized rows.
* **The same flash attribution** (:func:`microlearn.targets.mcu.measure`): code, const data and .data of
  everything but the harness, plus every library member (libgcc soft-float, libc) only the measured image
  pulls in, minus an image whose entry function does nothing. RAM: static data plus the painted peak
  stack of one call.

Agreement is the share of rows whose class equals scikit-learn's ``predict`` (every row); ``near ties``
counts the rows microlearn's reference marks ambiguous (a tied k-th neighbour with candidates of
different classes, where scikit-learn's own order decides).

On iris (float features) emlearn is run as its converter leaves it: the float examples written into its
``int16_t`` arrays (truncated by the C compiler) and the test rows truncated to int16 as its own
``predict`` wrapper does; its agreement is with scikit-learn's predict on the float rows.

emlearn 0.23 sums the squared int16 differences in a uint32 and takes ``eml_isqrt`` of it as an int32:
for a sum in [2^30, 2^31) its ``q <<= 2`` loop overflows to 0 and never ends, which is what happens on
the quantized breast-cancer rows (reported as "no result"). Writes benchmarks/out/neighbors.md; ``--docs``
also puts the table into docs/benchmarks.md and docs/neighbors.md.
"""

from __future__ import annotations

import argparse
import datetime
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits, load_iris
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

import microlearn
from microlearn.frontends.registry import to_ir
from microlearn.targets import mcu

CPUS = ("cortex-m4f", "cortex-m0plus")
OUT = Path(__file__).parent / "out"
DOCS = Path(__file__).parents[1] / "docs"
BEGIN, END = "<!-- benchmarks/neighbors.py: begin -->", "<!-- benchmarks/neighbors.py: end -->"


@dataclass
class Data:
    est: KNeighborsClassifier
    X: np.ndarray  # test rows (float64 values the contender receives in its own type)


@dataclass
class Case:
    label: str
    plain: Data
    int16: Data  # the same classifier on integer (quantized) features: what emlearn and int16 run
    int8: bool  # the plain features are integers in -128..127
    int16_method: bool = True  # the int16 model's examples are integers (microlearn's int16 applies)


@dataclass
class Row:
    case: str
    contender: str
    inp: str
    cpu: str
    flash: int | None
    ram: int | None
    instr: float | None
    agreement: float | None
    near: int | None
    note: str = ""


def cases(n_rows: int, n_train: int) -> list[Case]:
    out = []
    X, y = load_digits(return_X_y=True)
    Xa, Xb, ya, _ = train_test_split(X, y, train_size=n_train, test_size=n_rows, random_state=0, stratify=y)
    d = Data(KNeighborsClassifier(5).fit(Xa, ya), Xb)
    out.append(Case(f"digits, k = 5, {n_train} examples x 64 features (integers 0..16)", d, d, True))
    from emlearn.preprocessing.quantizer import Quantizer

    X, y = load_breast_cancer(return_X_y=True)
    Xa, Xb, ya, _ = train_test_split(X, y, train_size=n_train, test_size=n_rows, random_state=0, stratify=y)
    sc = StandardScaler().fit(Xa)
    Sa, Sb = sc.transform(Xa), sc.transform(Xb)
    q = Quantizer(dtype="int16").fit(Sa)
    Qa, Qb = q.transform(Sa).astype(np.float64), q.transform(Sb).astype(np.float64)
    out.append(
        Case(
            f"breast cancer, k = 5, {n_train} examples x 30 features (StandardScaler; int16: + Quantizer)",
            Data(KNeighborsClassifier(5).fit(Sa, ya), Sb),
            Data(KNeighborsClassifier(5).fit(Qa, ya), Qb),
            False,
        )
    )
    X, y = load_iris(return_X_y=True)
    Xa, Xb, ya, _ = train_test_split(
        X, y, train_size=100, test_size=min(n_rows, 50), random_state=0, stratify=y
    )
    d = Data(KNeighborsClassifier(5).fit(Xa, ya), Xb)
    out.append(
        Case(
            "iris, k = 5, 100 examples x 4 features (floats: emlearn's code truncates them to int16)",
            d,
            d,
            False,
            int16_method=False,
        )
    )
    return out


def _measure(
    label: str, case: Case, data: Data, inp: str, cpu: str, code: str, glue: str, incs: list[str]
) -> Row:
    dtype = {"float": np.float32, "int8": np.int8, "int16": np.int16}[inp]
    rows = data.X.astype(dtype)
    try:
        run = mcu.measure({"model.h": code}, glue, cpu, [r.tobytes() for r in rows], 4, include_dirs=incs)
    except Exception as e:  # a contender that does not build or return is reported, not hidden
        msg = str(e)
        if "did not return" in msg:
            msg = "no result: the first call had not returned after 200,000,000 instructions"
        return Row(case.label, label, inp, cpu, None, None, None, None, None, msg[:90])
    got = run.outputs.reshape(-1).view("<i4")
    X32 = data.X.astype(np.float32)  # the rows as scikit-learn predicts them (emlearn may truncate its own)
    want = data.est.predict(X32.astype(np.float64))
    ref = to_ir(data.est).reference(X32)
    near = int(ref.ambiguous.sum()) if ref.ambiguous is not None else 0
    agree = float(np.mean(np.asarray(data.est.classes_)[np.clip(got, 0, None)] == want) * (got >= 0).mean())
    return Row(
        case.label, label, inp, cpu, run.flash_bytes, run.ram_bytes, run.instructions_mean, agree, near
    )


def _glue(call: str, ctype: str) -> str:
    return (
        '#include <stdint.h>\n#include "ml_bench.h"\n#include "model.h"\n'
        "void ml_bench_entry(const void *in, void *out)\n{\n"
        f"    *(int32_t *)out = (int32_t){call}((const {ctype} *)in);\n}}\n"
    )


def run_case(case: Case, cpu: str) -> list[Row]:
    import emlearn
    from emlearn.neighbors import c_generate_neighbors

    rows = []
    code = microlearn.convert(case.plain.est, method="float").to_c("model")
    rows.append(
        _measure(
            "microlearn float", case, case.plain, "float", cpu, code, _glue("model_predict", "float"), []
        )
    )
    # float32 storage: the model as is where its examples are float32 values (digits), else refitted on the
    # float32-rounded training rows (scikit-learn then holds float32 examples)
    p = case.plain.est
    f32 = Data(
        KNeighborsClassifier(p.n_neighbors).fit(p._fit_X.astype(np.float32), p.classes_[p._y]), case.plain.X
    )
    code = microlearn.convert(f32.est, method="float32").to_c("model")
    rows.append(
        _measure("microlearn float32", case, f32, "float", cpu, code, _glue("model_predict", "float"), [])
    )
    # no float64 replay: the model as fitted (its examples rounded to float32 in the tables)
    code = microlearn.convert(case.plain.est, method="float32_noreplay").to_c("model")
    rows.append(
        _measure(
            "microlearn float32_noreplay",
            case,
            case.plain,
            "float",
            cpu,
            code,
            _glue("model_predict", "float"),
            [],
        )
    )
    if case.int8:
        code = microlearn.convert(case.plain.est, method="int8").to_c("model")
        rows.append(
            _measure(
                "microlearn int8",
                case,
                case.plain,
                "int8",
                cpu,
                code,
                _glue("model_predict_i8", "int8_t"),
                [],
            )
        )
    if case.int16_method:
        code = microlearn.convert(case.int16.est, method="int16").to_c("model")
        rows.append(
            _measure(
                "microlearn int16",
                case,
                case.int16,
                "int16",
                cpu,
                code,
                _glue("model_predict_i16", "int16_t"),
                [],
            )
        )
    est = case.int16.est
    m, nf = est._fit_X.shape
    # what emlearn.convert(est).save(name="model") writes (without the test build convert() runs in ./tmp)
    code = c_generate_neighbors(est._fit_X, labels=est._y, n_neighbors=est.n_neighbors, prefix="model")
    glue = (
        '#include <stdint.h>\n#include "ml_bench.h"\n#include "model.h"\n'
        f"static EmlNeighborsDistanceItem ml_bench_dist[{m}];\n"
        "void ml_bench_entry(const void *in, void *out)\n{\n    int16_t c = -1;\n"
        f"    (void)eml_neighbors_predict(&model, (const int16_t *)in, {nf}, ml_bench_dist, {m}, &c);\n"
        "    *(int32_t *)out = c;\n}\n"
    )
    rows.append(_measure("emlearn 0.23", case, case.int16, "int16", cpu, code, glue, [emlearn.includedir]))
    return rows


def _fmt(v: float | int | None, pct: bool = False) -> str:
    if v is None:
        return "-"
    return f"{100 * v:.1f}%" if pct else f"{v:,.0f}"


def table(rows: list[Row]) -> str:
    out = []
    for case in dict.fromkeys(r.case for r in rows):
        out.append(f"\n#### {case}\n")
        out.append(
            "| contender | input | M4F flash B | M4F RAM B | M4F instr | M0+ flash B | M0+ RAM B | M0+ instr "
            "| agreement | near ties |"
        )
        out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for name in dict.fromkeys(r.contender for r in rows if r.case == case):
            m4 = next(r for r in rows if r.case == case and r.contender == name and r.cpu == "cortex-m4f")
            m0 = next(r for r in rows if r.case == case and r.contender == name and r.cpu == "cortex-m0plus")
            agree = _fmt(m4.agreement, pct=True) if m4.agreement is not None else m4.note
            out.append(
                f"| {name} | {m4.inp} | {_fmt(m4.flash)} | {_fmt(m4.ram)} | {_fmt(m4.instr)} "
                f"| {_fmt(m0.flash)} | {_fmt(m0.ram)} | {_fmt(m0.instr)} | {agree} | {_fmt(m4.near)} |"
            )
    return "\n".join(out) + "\n"


def _put(path: Path, text: str) -> None:
    doc = path.read_text()
    if BEGIN not in doc:
        return
    a, b = doc.index(BEGIN) + len(BEGIN), doc.index(END)
    path.write_text(doc[:a] + "\n" + text + doc[b:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=50, help="test rows run on each emulated CPU")
    ap.add_argument("--train", type=int, default=300, help="stored examples")
    ap.add_argument("--docs", action="store_true", help="also write the tables into docs/")
    args = ap.parse_args()
    rows: list[Row] = []
    for case in cases(args.rows, args.train):
        for cpu in CPUS:
            rows.extend(run_case(case, cpu))
        print(f"measured {case.label}", flush=True)
    gcc = subprocess.run(
        ["arm-none-eabi-gcc", "--version"], capture_output=True, text=True
    ).stdout.splitlines()[0]
    text = (
        f"{datetime.date.today()}, {gcc}, -Os, {args.rows} test rows per model, instructions counted exactly "
        "in "
        "the emulator (python benchmarks/neighbors.py). Each contender gets its native input type, converted "
        "before the measured call; flash attributed the same way for all (see the script's docstring).\n"
        + table(rows)
    )
    OUT.mkdir(exist_ok=True)
    (OUT / "neighbors.md").write_text(text)
    print(text)
    if args.docs:
        for doc in ("benchmarks.md", "neighbors.md"):
            _put(DOCS / doc, text)


if __name__ == "__main__":
    main()
