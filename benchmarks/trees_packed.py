"""Where the bytes of each tree method go: the const arrays of the generated C, per method, for the
digits forest of the README (RandomForestClassifier, 10 trees, max_depth 10), counted from the headers.

Run: python benchmarks/trees_packed.py. No compiler or emulator needed (code size, flash and
instructions on the emulated CPUs come from benchmarks/trees.py); writes benchmarks/out/trees_packed.md.
Arrays under ``#if ML_TREES_INT_COMPARE`` / ``#if !ML_PK_HW_DIVIDE`` are counted for the build that
uses them (M4F: float thresholds and no reciprocal table; M0+: integer keys and the table), and the
float-threshold fallback of the integer methods (``NAME_f_*``, linked only when their float API is
called) is left out.
"""

from __future__ import annotations

import re
from pathlib import Path

from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split

import microlearn

OUT = Path(__file__).parent / "out"
SIZES = {
    "double": 8,
    "float": 4,
    "int32_t": 4,
    "uint32_t": 4,
    "int16_t": 2,
    "uint16_t": 2,
    "int8_t": 1,
    "uint8_t": 1,
}
ARRAY = re.compile(r"^static const (\w+) (\w+)((?:\[\d+\])+) = \{", re.MULTILINE)


def arrays(header: str, fpu: bool) -> dict[str, int]:
    """Bytes of every const array the given build (FPU: M4F, else M0+) keeps."""
    out: dict[str, int] = {}
    live = [True]
    for line in header.splitlines():
        if line.startswith("#if"):  # #if, #ifdef, #ifndef
            cond = line.split(None, 1)[1].strip() if " " in line else ""
            live.append(not fpu if cond in ("ML_TREES_INT_COMPARE", "!ML_PK_HW_DIVIDE") else True)
        elif line.startswith("#else"):
            live[-1] = not live[-1]
        elif line.startswith("#endif"):
            live.pop()
        elif all(live):
            m = ARRAY.match(line)
            if m and "_f_" not in m.group(2):
                n = 1
                for d in re.findall(r"\[(\d+)\]", m.group(3)):
                    n *= int(d)
                out[m.group(2).removeprefix("digits_")] = n * SIZES[m.group(1)]
    return out


def main() -> None:
    X, y = load_digits(return_X_y=True)
    Xtr, _, ytr, _ = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    rf = RandomForestClassifier(n_estimators=10, max_depth=10, random_state=0).fit(Xtr, ytr)
    ir = microlearn.convert(rf).ir
    lines = [
        "# Const data of each tree method, digits RF 10 x depth 10",
        "",
        f"{ir.n_nodes} nodes ({ir.n_nodes - ir.n_leaves} internal, {ir.n_leaves} leaves), "
        f"{ir.n_trees} trees, {ir.n_outputs} classes. Bytes of each const array in the generated header "
        "(python "
        "benchmarks/trees_packed.py); M4F build (float thresholds, run-time reciprocals) / M0+ build "
        "(integer keys, reciprocal table) where they differ. The fast methods' predict adds its votes as "
        "constants in the code; it reads the node stream and the counts only for a near tie (walk again, "
        "then the exact replay), and never the reciprocal table (dropped by the linker).",
        "",
        "| method | array | M4F B | M0+ B |",
        "|---|---|---:|---:|",
    ]
    for method in ("table", "inline", "packed", "packed_u8", "fast", "fast_u8"):
        header = microlearn.convert(rf, method=method).to_c("digits")
        m4, m0 = arrays(header, True), arrays(header, False)
        fast = method.startswith("fast")
        unused = {"row_recip"} if fast else set()
        for name in dict.fromkeys([*m4, *m0]):
            label = f"{name} (unused)" if name in unused else f"{name} (near ties only)" if fast else name
            lines.append(f"| {method} | {label} | {m4.get(name, 0):,} | {m0.get(name, 0):,} |")
        p4 = sum(v for k, v in m4.items() if k not in unused)
        p0 = sum(v for k, v in m0.items() if k not in unused)
        lines.append(f"| {method} | **total for predict** | **{p4:,}** | **{p0:,}** |")
    text = "\n".join(lines) + "\n"
    OUT.mkdir(exist_ok=True)
    (OUT / "trees_packed.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
