"""``microlearn report``: what a model costs on each microcontroller, and whether it agrees there."""

from __future__ import annotations

import argparse
from typing import Any

from microlearn.targets.armbuild import ALIASES, CPUS


def _cmd_report(args: argparse.Namespace) -> int:
    from microlearn.cli import load_data, load_estimator
    from microlearn.verify import verify

    est = load_estimator(args.model)
    X = load_data(args.data)
    report = verify(est, X, targets=args.target, method=args.method)
    print(report)
    for r in report.values():
        e = r.extra
        if "cpu" not in e:
            continue
        lib = e.get("library_members", {})
        print(
            f"\n{r.target}: code {e['code_bytes']:,} B + const {e['const_bytes']:,} B + library "
            f"{e['library_bytes']:,} B ({len(lib)} members); static RAM {e['static_ram_bytes']:,} B "
            f"+ peak stack {r.stack_bytes:,} B"
        )
        dbl = ", ".join(e["softfloat_double"]) or "none"
        flt = ", ".join(e["softfloat_float"]) or "none"
        print(f"  soft-float double routines: {dbl}")
        print(f"  soft-float single routines: {flt}")
    return 0 if all(r.agreement == 1.0 for r in report.values()) else 1


def add_parser(sub: Any) -> None:
    cpus = ", ".join([*CPUS, *ALIASES])
    r = sub.add_parser(
        "report",
        help="flash, RAM, stack and instructions per inference on emulated Cortex-M CPUs",
        description="Cross-compile the converted model for each target CPU, run every row on the emulated "
        "CPU and print flash, RAM, stack, instructions per inference and agreement with the estimator.",
    )
    r.add_argument("model", help="joblib or pickle file of a fitted estimator (loading it runs its code)")
    r.add_argument("--data", required=True, help=".npy or .csv file of input rows")
    r.add_argument(
        "--target",
        nargs="+",
        default=["cortex-m4f"],
        help=f"targets (default cortex-m4f): {cpus}, host",
    )
    r.add_argument("--method", default=None, help="C method: table (default) or inline")
    r.set_defaults(func=_cmd_report)
