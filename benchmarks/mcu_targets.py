"""The README demo model (RandomForestClassifier, 10 trees, depth 10, on digits) on every MCU target.

For every C method and every CPU (cortex-m4f, cortex-m0plus, rv32imc): agreement with scikit-learn on all
test rows (through ``microlearn.verify``), flash split into code / const / library, RAM (static + peak
stack), instructions per inference and the soft-float routines pulled in. The first rows also run on
QEMU, whose instruction counts must equal the emulator's. Writes benchmarks/out/mcu_targets.md (the
table in docs/targets.md).
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split

import microlearn
from microlearn.targets import mcu

OUT = Path(__file__).parent / "out"
CPUS = ("cortex-m4f", "cortex-m0plus", "rv32imc")


def _gcc_version(cpu: str) -> str:
    gcc = mcu.get_arch(cpu).gcc
    out = subprocess.run([gcc, "--version"], capture_output=True, text=True, check=False).stdout
    return out.splitlines()[0] if out else gcc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cpus", nargs="+", default=list(CPUS))
    ap.add_argument("--qemu-rows", type=int, default=20, help="rows also run on QEMU (0: none)")
    args = ap.parse_args()

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, _ = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    forest = RandomForestClassifier(n_estimators=10, max_depth=10, random_state=0).fit(X_train, y_train)
    X32 = X_test.astype(np.float32)

    lines = [
        "| method | CPU | agreement | flash B | code / const / library | RAM B | stack B | instr mean | min "
        "| max | QEMU = unicorn | soft-float double | soft-float single |",
        "|---|---|---:|---:|---|---:|---:|---:|---:|---:|---|---|---|",
    ]
    mean: dict[tuple[str, str], float] = {}
    lib: dict[str, int] = {}
    for method in microlearn.methods_for(forest):
        report = microlearn.verify(forest, X32, targets=args.cpus, method=method)
        if method == "table":  # the example output of `microlearn verify ... --target <cpus>` in the docs
            text = str(report)
            for r in report.values():
                lines = mcu.describe(r.extra, r.stack_bytes)
                text += f"\n\n{r.target}: {lines[0]}\n" + "\n".join(f"  {ln}" for ln in lines[1:])
            OUT.mkdir(exist_ok=True)
            (OUT / "mcu_targets_report.txt").write_text(text + "\n")
            print(text, flush=True)
        header = microlearn.convert(forest, method=method).to_c("digits")
        for cpu in args.cpus:
            r = report[cpu]
            e = r.extra
            same = "-"
            if args.qemu_rows:
                glue = mcu.model_glue("digits.h", "digits", "classify")
                inputs = [row.tobytes() for row in X32[: args.qemu_rows].astype("<f4")]
                q = mcu.run_qemu({"digits.h": header}, glue.text, inputs, 4, cpu=cpu)
                u = mcu.measure({"digits.h": header}, glue.text, cpu, inputs, 4)
                ok = q.outputs == [bytes(o) for o in u.outputs] and np.array_equal(
                    q.instructions, u.extra["instructions"]
                )
                same = f"{'yes' if ok else 'NO'} ({len(inputs)} rows)"
            mean[(method, cpu)] = float(r.instructions_mean or 0)
            if method == "table":
                lib[cpu] = int(e["library_bytes"])
            lines.append(
                f"| {method} | {cpu} | {100 * r.agreement:.2f}% | {r.flash_bytes:,} | {e['code_bytes']:,} / "
                f"{e['const_bytes']:,} / {e['library_bytes']:,} | {r.ram_bytes:,} | {r.stack_bytes:,} | "
                f"{r.instructions_mean:,.0f} | {r.instructions_min:,} | {r.instructions_max:,} | {same} | "
                f"{', '.join(e['softfloat_double']) or '-'} | {', '.join(e['softfloat_float']) or '-'} |"
            )
            print(lines[-1], flush=True)
    if {"cortex-m4f", "cortex-m0plus", "rv32imc"} <= set(args.cpus):
        methods = sorted({m for m, _ in mean})
        to_m0 = [mean[(m, "rv32imc")] / mean[(m, "cortex-m0plus")] for m in methods]
        to_m4 = [mean[(m, "rv32imc")] / mean[(m, "cortex-m4f")] for m in methods]
        print(
            f"rv32imc mean instructions: {100 * min(to_m0):.0f}-{100 * max(to_m0):.0f}% of the M0+'s, "
            f"{min(to_m4):.1f}-{max(to_m4):.1f} times the M4F's; table-method library bytes: "
            + ", ".join(f"{c} {b:,}" for c, b in lib.items())
        )
    compilers = sorted({_gcc_version(c) for c in args.cpus})
    text = (
        f"RandomForestClassifier(n_estimators=10, max_depth=10, random_state=0) on digits, "
        f"{X32.shape[0]} test rows; {'; '.join(compilers)}; -Os\n\n" + "\n".join(lines) + "\n"
    )
    OUT.mkdir(exist_ok=True)
    (OUT / "mcu_targets.md").write_text(text)
    print(f"\nwrote {OUT / 'mcu_targets.md'}")


if __name__ == "__main__":
    main()
