"""GaussianNB on emulated Cortex-M4F, Cortex-M0+ and rv32imc through ``microlearn.verify``, and what
ignoring the class priors would cost.

Per case and C method (``float``, the default, exact; ``float32``, no float64 replay): agreement with
scikit-learn's predict (every row; ambiguous rows counted), flash and mean instructions per predict call
on each CPU, the share of rows the float32 fast path decides on the host (the rest go through the
float64 replay; for ``float32`` the rows on which its class is proven scikit-learn's), the agreement on
40 rows built on the class boundaries (``microlearn.verify.boundary_rows``: pairs of adjacent float32
rows either side of a boundary, on the host; rows whose reference margin is inside float64 rounding
are left out), and the agreement of the same model with uniform priors (what a converter that ignores
``class_prior_`` predicts). Writes
benchmarks/out/naive_bayes.md; ``--docs`` also puts the table into docs/naive_bayes.md.

A second table sets microlearn's two methods beside emlearn 0.23's ``eml_bayes`` (Q16 fixed point,
priors ignored) on emulated Cortex-M4F and Cortex-M0+ with the rules of benchmarks/trees.py: both take
float rows (converted before the measured call), flash attributed the same way (code, const data, every
library member only the model pulls in), RAM = static data + the painted peak stack of one call.
Agreement: rows whose class equals scikit-learn's ``predict``. With ``--docs`` that table also goes into
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import ctypes
from pathlib import Path

import numpy as np
from sklearn.datasets import load_iris, make_classification
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB as SkGNB

import microlearn
from microlearn import host
from microlearn.backends.c.naive_bayes import emit
from microlearn.frontends.sklearn.naive_bayes import convert_gaussian_nb
from microlearn.ir.naive_bayes import GaussianNB
from microlearn.verify import boundary_rows

CPUS = ("cortex-m4f", "cortex-m0plus", "rv32imc")
OUT = Path(__file__).parent / "out"
DOCS = Path(__file__).parents[1] / "docs" / "naive_bayes.md"
BEGIN, END = "<!-- benchmarks/naive_bayes.py: begin -->", "<!-- benchmarks/naive_bayes.py: end -->"

FAST = """
#include "nb.h"
void b_fast(const float *x, int32_t n, int32_t *out) {
    int32_t r;
    for (r = 0; r < n; r++) {
        float s[NB_N_SCORES], q[NB_N_SCORES];
        out[r] = ml_gnb_class_f32(&nb_f32, x + (size_t)r * NB_N_FEATURES, s, q); /* s: the t scratch */
    }
}
"""


def cases() -> list[tuple[str, SkGNB, np.ndarray]]:
    X, y = load_iris(return_X_y=True)
    Xa, Xb, ya, _ = train_test_split(X, y, test_size=60, random_state=0)
    out = [("iris, 3 classes, 4 features", SkGNB().fit(Xa, ya), Xb.astype(np.float32))]
    X, y = make_classification(
        n_samples=2000, n_features=12, n_informative=6, n_classes=3, weights=[0.85, 0.1, 0.05],
        class_sep=0.6, random_state=3,
    )  # fmt: skip
    Xa, Xb, ya, _ = train_test_split(X, y, test_size=200, random_state=0)
    out.append(("imbalanced 85/10/5 %, 12 features", SkGNB().fit(Xa, ya), Xb.astype(np.float32)))
    return out


def fast_share(ir: GaussianNB, X: np.ndarray) -> float:
    lib = host.build({"nb.h": emit(ir, "nb").header, "fast.c": FAST})
    X32 = np.ascontiguousarray(X, dtype=np.float32)
    out = np.zeros(len(X32), dtype=np.int32)
    lib.b_fast(
        X32.ctypes.data_as(ctypes.c_void_p), ctypes.c_int32(len(X32)), out.ctypes.data_as(ctypes.c_void_p)
    )
    return float(np.mean(out >= 0))


def table() -> str:
    head = (
        "| case | method | rows | agreement (all targets) | fast path decides | boundary rows agree "
        "| uniform priors agree | "
        + " | ".join(f"{c} flash B / instr" for c in CPUS)
        + " |\n|"
        + "---|" * (7 + len(CPUS))
    )
    lines = [head]
    for label, est, X in cases():
        ir = convert_gaussian_nb(est)
        flat = GaussianNB(theta=ir.theta, var=ir.var, prior=np.full(ir.k, 1.0 / ir.k))
        uni = float(np.mean(flat.reference(X).outputs == ir.reference(X).outputs))
        edge = boundary_rows(ir, X, 40)
        for method in microlearn.methods_for(est):
            rep = microlearn.verify(est, X, targets=["host", *CPUS], method=method)
            agree = min(r.agreement for r in rep.values())
            on_edge = microlearn.verify(est, edge, targets=["host"], method=method)["host"].agreement
            cells = [f"{rep[c].flash_bytes:,} / {rep[c].instructions_mean:,.0f}" for c in CPUS]
            lines.append(
                f"| {label} | {method} | {len(X)} | {agree:.1%} | {fast_share(ir, X):.1%} | {on_edge:.1%} "
                f"| {uni:.1%} | " + " | ".join(cells) + " |"
            )
    return "\n".join(lines) + "\n"


VS_BEGIN, VS_END = (
    "<!-- benchmarks/naive_bayes.py emlearn: begin -->",
    "<!-- benchmarks/naive_bayes.py emlearn: end -->",
)
VS_CPUS = ("cortex-m4f", "cortex-m0plus")


def _emlearn_code(est: SkGNB) -> str:
    """What emlearn.convert(est).save(name="model") writes (its Wrapper's model array, without the test
    build its constructor runs in ./tmp)."""
    from emlearn.bayes import generate_c

    std = np.sqrt(est.var_)
    model = np.stack([est.theta_, std, np.log2(std)], axis=-1)
    return str(generate_c(model, "model"))


def versus_emlearn() -> str:
    import emlearn

    from microlearn.targets.mcu import measure

    lines = [
        "| case | contender | M4F flash B | M4F RAM B | M4F instr | M0+ flash B | M0+ RAM B | M0+ instr "
        "| agreement |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, est, X in cases():
        nf = X.shape[1]
        contenders = [
            (f"microlearn {m}", {"model.h": microlearn.convert(est, m).to_c("model")}, "model_predict(x)", [])
            for m in microlearn.methods_for(est)
        ]
        contenders += [
            (
                "emlearn 0.23",
                {"model.h": _emlearn_code(est)},
                f"model_predict(x, {nf})",
                [emlearn.includedir],
            ),
        ]
        want = est.predict(X)
        for name, files, call, incs in contenders:
            glue = (
                '#include <stdint.h>\n#include "ml_bench.h"\n#include "model.h"\n'
                "void ml_bench_entry(const void *in, void *out)\n{\n    const float *x = (const float *)in;\n"
                f"    *(int32_t *)out = (int32_t){call};\n}}\n"
            )
            cells = []
            agree = 0.0
            for cpu in VS_CPUS:
                run = measure(
                    files, glue, cpu, [r.tobytes() for r in X.astype(np.float32)], 4, include_dirs=incs
                )
                got = run.outputs.reshape(-1).view("<i4")
                agree = float(np.mean(est.classes_[np.clip(got, 0, len(est.classes_) - 1)] == want))
                cells.append(f"{run.flash_bytes:,} | {run.ram_bytes:,} | {run.instructions_mean:,.0f}")
            lines.append(f"| {label} | {name} | " + " | ".join(cells) + f" | {agree:.1%} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--docs", action="store_true", help="also write the table into docs/naive_bayes.md")
    args = ap.parse_args()
    t = table()
    vs = versus_emlearn()
    OUT.mkdir(exist_ok=True)
    (OUT / "naive_bayes.md").write_text(t + "\n" + vs)
    print(t)
    print(vs)
    if args.docs:
        doc = DOCS.read_text()
        a, b = doc.index(BEGIN) + len(BEGIN), doc.index(END)
        DOCS.write_text(doc[:a] + "\n" + t + doc[b:])
        bench = DOCS.parent / "benchmarks.md"
        doc = bench.read_text()
        if VS_BEGIN in doc:
            a, b = doc.index(VS_BEGIN) + len(VS_BEGIN), doc.index(VS_END)
            bench.write_text(doc[:a] + "\n" + vs + doc[b:])


if __name__ == "__main__":
    main()
