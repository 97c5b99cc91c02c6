"""Where the flash of a probabilistic or distance-based model goes, per method, on Cortex-M4F and M0+.

For one model of each family that benchmarks/{naive_bayes,neighbors,mlp,anomaly}.py set beside emlearn,
each microlearn method is built and measured exactly as there (:func:`microlearn.targets.mcu.measure`:
one ``predict`` call, flash attributed from the linker map against an image whose entry does nothing),
then split:

* **code**: the glue and the model's functions (the runtime is static inline, so it is compiled into them);
* **float32 tables** / **float64 tables** / **other tables**: the model's const arrays, sized from the
  linked ELF's symbol table (``nm --size-sort``) and typed by their declarations in the generated header;
* **soft double**: libgcc members of the double routines (``*df*``: add, mul, div, compare, conversions);
* **soft float**: libgcc members of the single-precision routines (``*sf*``), on the M0+ only;
* **other library**: what else only the model pulls in (integer division, ``clz``, libm, libc).

Run: ``python benchmarks/flash_breakdown.py [--docs]``; writes benchmarks/out/flash_breakdown.md (``--docs``
also puts the table into docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.covariance import EllipticEnvelope
from sklearn.datasets import load_breast_cancer, load_digits, load_iris
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

import microlearn
from microlearn.targets import mcu

CPUS = ("cortex-m4f", "cortex-m0plus")
OUT = Path(__file__).parent / "out"
DOCS = Path(__file__).parents[1] / "docs" / "benchmarks.md"
BEGIN, END = "<!-- benchmarks/flash_breakdown.py: begin -->", "<!-- benchmarks/flash_breakdown.py: end -->"
GLUE = (
    '#include <stdint.h>\n#include "ml_bench.h"\n#include "model.h"\n'
    "void ml_bench_entry(const void *in, void *out)\n{\n"
    "    *(int32_t *)out = (int32_t)model_predict((const float *)in);\n}\n"
)
DECL = re.compile(r"^static const (float|double|[a-z0-9_]+) (model_[A-Za-z0-9_]+)\[", re.MULTILINE)


@dataclass
class Case:
    label: str
    est: Any
    X: np.ndarray  # float32 test rows


def cases() -> list[Case]:
    warnings.simplefilter("ignore")
    out = []
    X, y = load_iris(return_X_y=True)
    Xa, Xb, ya, _ = train_test_split(X, y, test_size=30, random_state=0)
    out.append(Case("GaussianNB, iris 3 x 4", GaussianNB().fit(Xa, ya), Xb))
    Xa, Xb, ya, _ = train_test_split(X, y, train_size=100, test_size=30, random_state=0, stratify=y)
    # float32-valued examples, so that the float32 method applies (as benchmarks/neighbors.py refits)
    out.append(Case("KNeighborsClassifier, iris k = 5, 100 x 4", KNeighborsClassifier(5).fit(
        Xa.astype(np.float32), ya), Xb))  # fmt: skip
    D, t = load_digits(return_X_y=True)
    Da, Db, ta, _ = train_test_split(D / 16.0, t, test_size=30, random_state=0)
    mlp = MLPClassifier(hidden_layer_sizes=(32,), max_iter=300, random_state=0).fit(Da, ta)
    out.append(Case("MLPClassifier, digits 64-32-10 relu", mlp, Db))
    B, c = load_breast_cancer(return_X_y=True)
    B = StandardScaler().fit_transform(B)
    Ba, Bb, ca, _ = train_test_split(B, c, test_size=30, random_state=0)
    mlp = MLPClassifier(hidden_layer_sizes=(16,), activation="logistic", max_iter=500, random_state=0)
    out.append(Case("MLPClassifier, breast cancer 30-16-1 logistic", mlp.fit(Ba, ca), Bb))
    Xa, Xb = train_test_split(X, test_size=30, random_state=0)
    out.append(Case("EllipticEnvelope, iris 4 features", EllipticEnvelope(random_state=0).fit(Xa), Xb))
    out.append(Case("GaussianMixture full, iris 3 x 4", GaussianMixture(3, random_state=0).fit(Xa), Xb))
    return [Case(c.label, c.est, c.X.astype(np.float32)) for c in out]


def _tables(elf: str, header: str) -> dict[str, int]:
    """Bytes of the model's const arrays in the linked ELF, by declared element type."""
    kinds = {name: ctype for ctype, name in DECL.findall(header)}
    nm = subprocess.run(["arm-none-eabi-nm", "--size-sort", "-S", elf], capture_output=True, text=True)
    out = {"float": 0, "double": 0, "other": 0}
    for line in nm.stdout.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[3] in kinds:
            kind = kinds[parts[3]] if kinds[parts[3]] in ("float", "double") else "other"
            out[kind] += int(parts[1], 16)
    return out


def _library(members: dict[str, int]) -> dict[str, int]:
    out = {"double": 0, "float": 0, "other": 0}
    for m, size in members.items():
        obj = m[m.find("(") + 1 :]
        kind = "double" if "df" in obj else "float" if "sf" in obj else "other"
        out[kind] += size
    return out


def measure(case: Case, method: str, cpu: str) -> list[str]:
    kw = {"calibration": case.X} if method == "int8" else {}
    header = microlearn.convert(case.est, method=method, **kw).to_c("model")
    run = mcu.measure({"model.h": header}, GLUE, cpu, [r.tobytes() for r in case.X], 4)
    e = run.extra
    tabs = _tables(e["elf"], header)
    lib = _library(e["library_members"])
    const_other = e["const_bytes"] + e["data_bytes"] - tabs["float"] - tabs["double"]
    cells = [
        run.flash_bytes,
        e["code_bytes"],
        tabs["float"],
        tabs["double"],
        const_other,
        lib["double"],
        lib["float"],
        lib["other"],
    ]
    return [f"{v:,}" for v in cells]


def table() -> str:
    lines = [
        "| model | method | CPU | flash B | code | float32 tables | float64 tables | other const | "
        "soft double | soft float | other library |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for case in cases():
        for method in microlearn.methods_for(case.est):
            if method in ("int8", "int16") and "MLP" not in case.label:
                continue  # integer-input kNN methods: benchmarks/neighbors.py
            for cpu in CPUS:
                cells = measure(case, method, cpu)
                lines.append(f"| {case.label} | {method} | {cpu} | " + " | ".join(cells) + " |")
        print(f"measured {case.label}", flush=True)
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", action="store_true", help="also write the table into docs/benchmarks.md")
    args = ap.parse_args()
    text = table()
    OUT.mkdir(exist_ok=True)
    (OUT / "flash_breakdown.md").write_text(text)
    print(text)
    if args.docs:
        doc = DOCS.read_text()
        a, b = doc.index(BEGIN) + len(BEGIN), doc.index(END)
        DOCS.write_text(doc[:a] + "\n" + text + doc[b:])


if __name__ == "__main__":
    main()
