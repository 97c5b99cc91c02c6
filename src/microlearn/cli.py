"""The `microlearn` command line: convert, verify, methods (and the subcommands other modules add)."""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from microlearn._version import __version__
from microlearn.errors import InvalidInputError, MicrolearnError

# Modules that add subcommands: each defines add_parser(subparsers) and sets `func` on its parser.
EXTENSIONS = ("microlearn.deploy", "microlearn.studio", "microlearn.station")


def load_estimator(path: str | Path) -> Any:
    """Load a pickled/joblib estimator, warning that unpickling runs code from the file; a ``.keras``
    file is passed on as its path (the Keras frontend reads it as data)."""
    p = Path(path)
    if not p.exists():
        raise InvalidInputError(f"model file {p} does not exist")
    if (
        p.suffix.lower() == ".keras"
    ):  # a Keras 3 archive: read as data (frontends/keras_read.py), no code runs
        return str(p)
    print(
        f"warning: loading {p} runs code stored in it (pickle); only load files you trust",
        file=sys.stderr,
    )
    import joblib

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn version warnings are printed below instead
        try:
            return joblib.load(p)
        except Exception as e:
            raise InvalidInputError(f"cannot load {p} as a joblib/pickle file: {e}") from e


def load_data(path: str | Path) -> npt.NDArray[np.float64]:
    """Rows from a .npy file or a numeric .csv (an optional header line is skipped)."""
    p = Path(path)
    if not p.exists():
        raise InvalidInputError(f"data file {p} does not exist")
    if p.suffix == ".npy":
        X = np.load(p, allow_pickle=False)
    elif p.suffix in (".csv", ".txt"):
        try:
            X = np.loadtxt(p, delimiter=",", ndmin=2)
        except ValueError:
            try:
                X = np.loadtxt(p, delimiter=",", ndmin=2, skiprows=1)
            except ValueError as e:
                raise InvalidInputError(f"{p}: expected numbers separated by commas: {e}") from e
    else:
        raise InvalidInputError(f"{p}: data must be a .npy or .csv file")
    A: npt.NDArray[np.float64] = np.asarray(X, dtype=np.float64)
    return A


def _cmd_convert(args: argparse.Namespace) -> int:
    from microlearn.model import convert

    est = load_estimator(args.model)
    model = convert(est, method=args.method, fold=args.fold)
    name = args.name or Path(args.output).stem
    command = (
        f"microlearn convert {Path(args.model).name} -o {Path(args.output).name} --method {model.method}"
    )
    command += f" --name {name}" + ("" if args.fold else " --no-fold")
    src = model.c_source(name, command)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(src.header)
    if not args.no_runtime:
        from microlearn.host import RUNTIME_C_DIR

        for h in src.runtime_headers:
            (out.parent / h).write_text((RUNTIME_C_DIR / h).read_text())
    print(f"wrote {out} ({model!r}, {src.const_bytes} bytes of const data)")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from microlearn.verify import verify

    est = load_estimator(args.model)
    X = load_data(args.data)
    report = verify(est, X, targets=args.targets, method=args.method, fold=args.fold)
    print(report)
    return 0 if all(r.agreement == 1.0 for r in report.values()) else 1


def _cmd_report(args: argparse.Namespace) -> int:
    from microlearn.targets.mcu import describe
    from microlearn.verify import verify

    est = load_estimator(args.model)
    X = load_data(args.data)
    report = verify(est, X, targets=args.target, method=args.method, fold=args.fold)
    print(report)
    for r in report.values():
        if "cpu" in r.extra:
            lines = describe(r.extra, r.stack_bytes)
            print(f"\n{r.target}: {lines[0]}\n" + "\n".join(f"  {ln}" for ln in lines[1:]))
    return 0 if all(r.agreement == 1.0 for r in report.values()) else 1


def _cmd_methods(args: argparse.Namespace) -> int:
    from microlearn.backends.c.registry import all_methods
    from microlearn.frontends.registry import supported_estimators

    print("C methods:")
    for ir_type, ms in all_methods().items():
        for m in ms:
            default = " (default)" if m.default else ""
            print(f"  {ir_type}: {m.name:8s} {m.summary}{default}")
    print("estimators:", ", ".join(supported_estimators()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="microlearn",
        description="Machine learning and DSP for microcontrollers: exact C and MicroPython.",
    )
    ap.add_argument("--version", action="version", version=f"microlearn {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)

    c = sub.add_parser("convert", help="fitted estimator (joblib/pickle) -> C header")
    c.add_argument(
        "model",
        help="joblib or pickle file of a fitted estimator (loading it runs its code), or a .keras file",
    )
    c.add_argument("-o", "--output", required=True, help="header file to write, e.g. model.h")
    c.add_argument(
        "--method", default=None, help="C method (see `microlearn methods`; default: the family's)"
    )
    c.add_argument("--name", default=None, help="C name prefix (default: the output file's stem)")
    c.add_argument(
        "--no-runtime", action="store_true", help="do not copy the runtime headers beside the output"
    )
    c.add_argument(
        "--no-fold",
        dest="fold",
        action="store_false",
        help="keep scalers/imputers before a tree model as stages (default: fold them into its thresholds)",
    )
    c.set_defaults(func=_cmd_convert)

    v = sub.add_parser("verify", help="compare the converted model with the estimator on data")
    v.add_argument("model", help="joblib or pickle file of a fitted estimator, or a .keras file")
    v.add_argument("--data", required=True, help=".npy or .csv file of input rows")
    v.add_argument("--targets", nargs="+", default=["host"], help="targets to run on (default: host)")
    v.add_argument("--method", default=None, help="C method (default: table)")
    v.add_argument(
        "--no-fold",
        dest="fold",
        action="store_false",
        help="keep scalers/imputers before a tree model as stages (default: fold them into its thresholds)",
    )
    v.set_defaults(func=_cmd_verify)

    from microlearn.targets.mcu.arch import ALIASES, ARCHS

    r = sub.add_parser(
        "report",
        help="flash, RAM, stack and instructions per inference on emulated microcontrollers",
        description="Cross-compile the converted model for each target CPU, run every row on the emulated "
        "CPU and print flash, RAM, stack, instructions per inference and agreement with the estimator.",
    )
    r.add_argument(
        "model",
        help="joblib or pickle file of a fitted estimator (loading it runs its code), or a .keras file",
    )
    r.add_argument("--data", required=True, help=".npy or .csv file of input rows")
    r.add_argument(
        "--target",
        nargs="+",
        default=["cortex-m4f"],
        help=f"targets (default cortex-m4f): {', '.join([*ARCHS, *ALIASES])}, host",
    )
    r.add_argument("--method", default=None, help="C method: table (default) or inline")
    r.add_argument(
        "--no-fold",
        dest="fold",
        action="store_false",
        help="keep scalers/imputers before a tree model as stages (default: fold them into its thresholds)",
    )
    r.set_defaults(func=_cmd_report)

    m = sub.add_parser("methods", help="list C methods and supported estimators")
    m.set_defaults(func=_cmd_methods)

    for modname in EXTENSIONS:
        try:
            mod = importlib.import_module(modname)
        except ImportError:
            continue
        mod.add_parser(sub)
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        rc: int = args.func(args)
        return rc
    except MicrolearnError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
