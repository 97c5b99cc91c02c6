"""Where a tree method's instructions go: an instruction trace of the emulated CPU, per function of the
image and per kind of instruction, for the digits forest of the README (RandomForestClassifier, 10 trees,
max_depth 10) and its fast_u8 method on the Cortex-M4F, with impure leaves adding their terms as
constants (as generated) and, for comparison, through the NAME_vote_row routine (the fast methods'
first form). Native uint8 input, the rows and glue of benchmarks/trees.py.

Run: python benchmarks/trees_trace.py [--method fast_u8] [--cpu cortex-m4f]. Counts come from a code
hook, which skips the instructions of a Thumb IT block whose condition fails; totals therefore fall a
little short of benchmarks/trees.py's exact counts, which are printed beside them.
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import trees as bench

import microlearn
from microlearn.backends.c import packed_inline
from microlearn.targets.mcu.build import build_image
from microlearn.targets.mcu.emulator import Emulator


def trace(
    code: str, glue: str, cpu: str, rows: np.ndarray
) -> tuple[float, dict[str, float], dict[str, float]]:
    """Exact mean instructions, and the code hook's per-function and per-mnemonic counts per call."""
    import unicorn

    img = build_image({"model.h": code}, glue, cpu)
    emu = Emulator(img, native=False)
    hist: collections.Counter[int] = collections.Counter()

    def hook(_uc: Any, addr: int, _size: int, _data: Any) -> None:
        hist[addr] += 1

    emu._uc.hook_add(unicorn.UC_HOOK_CODE, hook)
    _, counts = emu.run([r.tobytes() for r in rows], 4)
    dis = subprocess.run(
        ["arm-none-eabi-objdump", "-d", "--no-show-raw-insn", str(img.elf)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    func: dict[int, str] = {}
    mnem: dict[int, str] = {}
    cur = ""
    for line in dis.splitlines():
        if line.endswith(">:"):
            cur = line.split("<")[1][:-2]
        addr, _, rest = line.strip().partition(":")
        try:
            a = int(addr, 16)
        except ValueError:
            continue
        if rest.strip():
            func[a], mnem[a] = cur, rest.split()[0].split(".")[0]
    by_func: collections.Counter[str] = collections.Counter()
    by_op: collections.Counter[str] = collections.Counter()
    for a, c in hist.items():
        by_func[func.get(a, "?")] += c
        by_op[mnem.get(a, "?")] += c
    n = len(rows)
    return (
        float(counts.mean()),
        {k: v / n for k, v in by_func.most_common()},
        {k: v / n for k, v in by_op.most_common(12)},
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--method", default="fast_u8", choices=["fast_u8", "fast_i16"])
    ap.add_argument("--cpu", default="cortex-m4f")
    ap.add_argument("--rows", type=int, default=100)
    args = ap.parse_args()
    case = bench.cases(args.rows)[0]
    sfx = args.method.split("_")[1]
    data = case.plain if sfx == "u8" else case.int16
    ctype, dtype = bench.TYPED[sfx]
    glue = bench._glue(f"model_predict_{sfx}", f"const {ctype} *", "int32_t")
    rows = data.X_test.astype(dtype)
    original = packed_inline._classifier_leaves

    def through_routine(ir: Any, name: str) -> Any:
        leaves = original(ir, name)
        leaves.row_votes = ()  # impure leaves call NAME_vote_row
        return leaves

    for label, leaves_fn in (
        ("impure leaves as constants", original),
        ("impure leaves via vote_row", through_routine),
    ):
        packed_inline._classifier_leaves = leaves_fn
        try:
            code = microlearn.convert(data.estimator, method=args.method).to_c("model")
        finally:
            packed_inline._classifier_leaves = original
        exact, funcs, ops = trace(code, glue, args.cpu, rows)
        flash = bench._run(label, case, data, args.cpu, code, glue, dtype, []).flash
        print(
            f"\n{case.label}, {args.method}, {args.cpu}, {label}: {exact:.1f} instructions per inference "
            f"(exact), {flash:,} B flash"
        )
        print("  per function: " + ", ".join(f"{k} {v:.1f}" for k, v in funcs.items()))
        print("  per mnemonic: " + ", ".join(f"{k} {v:.1f}" for k, v in ops.items()))


if __name__ == "__main__":
    main()
