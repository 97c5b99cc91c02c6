"""Linear models side by side on emulated Cortex-M4F, Cortex-M0+ and rv32imc: microlearn, m2cgen, micromlgen.

Every contender's C is compiled by the same harness (arm-none-eabi-gcc -Os, --gc-sections, microlearn's
bare-metal start-up) and called once per test row in the emulator; each gets the input type its code
takes (float32 for microlearn and micromlgen, float64 for m2cgen), prepared outside the measured call.
Instructions are those of the call, flash what the model adds to an empty image (libgcc/libm included).
Agreement is with scikit-learn's own predict on the same float32 rows (classes: equal; values: max
|difference|). Writes benchmarks/out/linear.md; ``--docs`` also puts the table into docs/linear.md.

micromlgen writes C++ classes; the cross toolchain here has no C++ library headers and the harness
compiles C, so its class is turned into two C functions mechanically (same statements, same float
arithmetic; its ``va_start(w, <count>)`` becomes ``va_start(w, x)``, the C form of the same call).
everywhereml (0.2.40) converts no linear model: its sklearn package holds trees and ensembles only.
"""

from __future__ import annotations

import argparse
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from microlearn.backends.c.linear import emit
from microlearn.frontends.sklearn.linear import convert
from microlearn.targets.mcu.measure import measure

CPUS = ("cortex-m4f", "cortex-m0plus", "rv32imc")
OUT = Path(__file__).parent / "out"
DOCS = Path(__file__).parents[1] / "docs" / "linear.md"
BEGIN, END = "<!-- benchmarks/linear.py: begin -->", "<!-- benchmarks/linear.py: end -->"


@dataclass
class Case:
    label: str
    est: Any
    X: np.ndarray  # float32 test rows
    classify: bool


def cases() -> list[Case]:
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        X, y = load_breast_cancer(return_X_y=True)
        X = StandardScaler().fit_transform(X)
        Xa, Xb, ya, _ = train_test_split(X, y, test_size=200, random_state=0)
        out.append(Case("breast cancer, binary, 30 features", LogisticRegression().fit(Xa, ya), Xb, True))
        X, y = load_digits(return_X_y=True)
        Xa, Xb, ya, _ = train_test_split(X, y, test_size=300, random_state=0)
        out.append(
            Case("digits, 10 classes, 64 features", LogisticRegression(max_iter=3000).fit(Xa, ya), Xb, True)
        )
        X, y = load_diabetes(return_X_y=True)
        Xa, Xb, ya, _ = train_test_split(X, y, test_size=150, random_state=0)
        out.append(Case("diabetes, regression, 10 features", LinearRegression().fit(Xa, ya), Xb, False))
    for c in out:
        c.X = c.X.astype(np.float32)
    return out


# ---------------------------------------------------------------------------------------------- contenders
@dataclass
class Source:
    files: dict[str, str]
    glue: str
    in_dtype: str  # what each row is given as


def microlearn_source(c: Case) -> Source:
    h = emit(convert(c.est), "lm").header
    ret = "int32_t" if c.classify else "float"
    glue = (
        f'#include <stdint.h>\n#include "ml_bench.h"\n#include "lm.h"\n'
        "void ml_bench_entry(const void *in, void *out)\n"
        f"{{\n    *({ret} *)out = lm_predict((const float *)in);\n}}\n"
    )
    return Source({"lm.h": h}, glue, "<f4")


def microlearn_float_source(c: Case) -> Source:
    """The same header with the float32 fast path forced on every core (ML_LINEAR_INT=0): what the
    integer path buys on cores without an FPU."""
    src = microlearn_source(c)
    return Source(src.files, "#define ML_LINEAR_INT 0\n" + src.glue, src.in_dtype)


def m2cgen_source(c: Case) -> Source:
    import m2cgen

    code = m2cgen.export_to_c(c.est)
    if c.classify and c.est.coef_.shape[0] > 1:
        k = c.est.coef_.shape[0]
        body = (
            f"    double s[{k}];\n    int32_t i, best = 0;\n    score((double *)in, s);\n"
            f"    for (i = 1; i < {k}; i++) {{ if (s[i] > s[best]) best = i; }}\n"
            "    *(int32_t *)out = best;\n"
        )
    elif c.classify:  # m2cgen's binary score is the decision value
        body = "    *(int32_t *)out = score((double *)in) > 0.0;\n"
    else:
        body = "    *(float *)out = (float)score((double *)in);\n"
    glue = (
        '#include <stdint.h>\n#include "ml_bench.h"\n#include "m2c.h"\n'
        f"void ml_bench_entry(const void *in, void *out)\n{{\n{body}}}\n"
    )
    return Source({"m2c.h": code}, glue, "<f8")


def micromlgen_c(code: str) -> str:
    """micromlgen's Eloquent C++ class as C functions mm_predict / mm_dot (statements unchanged)."""
    body = code.split("public:", 1)[1]
    body = body[: body.rindex("};")]
    body = body.replace("protected:", "")
    body = re.sub(r"\bdot\(", "mm_dot(", body)
    body = re.sub(r"^(\s*)(int|float) predict\(", r"\1static \2 mm_predict(", body, flags=re.M)
    body = re.sub(
        r"^(\s*)float mm_dot\(float \*x, \.\.\.\)", r"\1static float mm_dot(float *x, ...)", body, flags=re.M
    )
    body = re.sub(r"va_start\(w, \d+\)", "va_start(w, x)", body)
    return (
        "#include <stdarg.h>\n#include <stdint.h>\n#include <math.h>\n"
        "static float mm_dot(float *x, ...);\n" + body + "\n"
    )


def micromlgen_source(c: Case) -> Source:
    from micromlgen import port

    code = micromlgen_c(port(c.est, classname="M"))
    ret = "int32_t" if c.classify else "float"
    glue = (
        '#include <stdint.h>\n#include "ml_bench.h"\n#include "mm.h"\n'
        "void ml_bench_entry(const void *in, void *out)\n"
        f"{{\n    *({ret} *)out = ({ret})mm_predict((float *)in);\n}}\n"
    )
    return Source({"mm.h": code}, glue, "<f4")


CONTENDERS: dict[str, Callable[[Case], Source]] = {
    "microlearn": microlearn_source,
    "microlearn, float32 path forced": microlearn_float_source,
    "m2cgen 0.10": m2cgen_source,
    "micromlgen 1.1": micromlgen_source,
}


# ---------------------------------------------------------------------------------------------- running
def run(c: Case, src: Source, cpu: str) -> tuple[str, int | None, float | None]:
    rows = [r.astype(src.in_dtype).tobytes() for r in c.X]
    r = measure(src.files, src.glue, cpu, rows, 4)
    if c.classify:
        got = r.outputs.view("<i4").reshape(-1)
        want = np.searchsorted(c.est.classes_, c.est.predict(c.X))
        agree = f"{100 * np.mean(got == want):.1f}%"
    else:
        got32 = r.outputs.view("<f4").reshape(-1).astype(np.float64)
        agree = f"max err {np.max(np.abs(got32 - c.est.predict(c.X))):.2g}"
    return agree, r.flash_bytes, r.instructions_mean


def table() -> str:
    lines = [
        "| model | contender | agreement | M4F flash B | M4F instr. | M0+ flash B | M0+ instr. "
        "| rv32imc flash B | rv32imc instr. |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in cases():
        for name, make in CONTENDERS.items():
            if make is microlearn_float_source and not c.classify:
                continue  # regression is float32 on every core
            try:
                src = make(c)
            except Exception as e:  # a contender that cannot convert this model
                lines.append(f"| {c.label} | {name} | not supported ({type(e).__name__}) |" + " |" * 6)
                continue
            cells = []
            agree = ""
            for cpu in CPUS:
                agree, flash, instr = run(c, src, cpu)
                cells += [f"{flash:,}" if flash else "-", f"{instr:,.0f}" if instr else "-"]
            lines.append(f"| {c.label} | {name} | {agree} | " + " | ".join(cells) + " |")
    amb = []
    for c in cases():
        if c.classify:
            ref = convert(c.est).reference(c.X)
            assert ref.ambiguous is not None
            amb.append(f"{c.label.split(',')[0]} {int(ref.ambiguous.sum())} of {len(c.X)}")
    lines += ["", "Test rows within rounding of a tie (`Reference.ambiguous`): " + ", ".join(amb) + "."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", action="store_true", help="write the table into docs/linear.md")
    args = ap.parse_args()
    text = table()
    OUT.mkdir(exist_ok=True)
    (OUT / "linear.md").write_text(text)
    print(text)
    if args.docs:
        doc = DOCS.read_text()
        a, b = doc.index(BEGIN) + len(BEGIN), doc.index(END)
        DOCS.write_text(doc[:a] + "\n" + text + doc[b:])


if __name__ == "__main__":
    main()
