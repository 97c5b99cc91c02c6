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


MODEL_SUFFIXES = {".h": "C header", ".mlm": "model file"}


def is_model_file(path: str | Path) -> bool:
    """True for a microlearn model file (it starts with the container's magic bytes)."""
    from microlearn.backends.modelfile import MAGIC

    try:
        with open(path, "rb") as f:
            return f.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


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
    if is_model_file(p):
        raise InvalidInputError(
            f"{p} is a microlearn model file, not a fitted estimator: give the joblib/pickle file it was "
            "converted from"
        )
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
            raise InvalidInputError(
                f"cannot load {p} as a joblib/pickle file ({type(e).__name__}): save the fitted estimator "
                "with joblib.dump(estimator, path)"
            ) from None


def load_data(path: str | Path) -> npt.NDArray[np.float64]:
    """Rows from a .npy file or a numeric .csv (an optional header line is skipped)."""
    p = Path(path)
    if not p.exists():
        raise InvalidInputError(f"data file {p} does not exist")
    if p.suffix == ".npy":
        try:
            X = np.load(p, allow_pickle=False)
        except ValueError as e:
            why = "it holds Python objects" if "allow_pickle" in str(e) else str(e).split("\n")[0]
            raise InvalidInputError(
                f"{p}: cannot read it as numbers ({why}): save a numeric array, "
                "e.g. np.save(path, X.astype(np.float32))"
            ) from None
        if not np.issubdtype(X.dtype, np.number) and X.dtype != np.bool_:
            raise InvalidInputError(f"{p} holds {X.dtype} values; save a numeric array (float or int)")
    elif p.suffix in (".csv", ".txt"):
        if not p.read_text(errors="replace").strip():
            raise InvalidInputError(f"{p} is empty: it needs one row of comma-separated numbers per line")
        X = None
        for skip in (0, 1):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # "input contained no data": reported below
                    X = np.loadtxt(p, delimiter=",", ndmin=2, skiprows=skip)
                break
            except ValueError as e:
                err = str(e).split("\n")[0]
        if X is None:
            raise InvalidInputError(f"{p}: expected numbers separated by commas: {err}")
    else:
        raise InvalidInputError(f"{p}: data must be a .npy or .csv file")
    A: npt.NDArray[np.float64] = np.asarray(X, dtype=np.float64)
    if A.size == 0:
        raise InvalidInputError(f"{p} has no rows of data")
    if A.ndim == 1:
        A = A.reshape(1, -1)
    inf = np.argwhere(np.isinf(A))
    if len(inf):
        r, c = (int(v) for v in inf[0])
        raise InvalidInputError(
            f"{p}: row {r + 1}, column {c + 1} is {A[r, c]} ({len(inf)} infinite values in all); "
            "scikit-learn refuses infinite inputs, so they cannot be compared: remove or clip those values"
        )
    return A


def _name_for(args: argparse.Namespace) -> str:
    from microlearn.backends.c.writer import check_c_name

    name: str = args.name or Path(args.output).stem
    try:
        check_c_name(name)
    except InvalidInputError:
        how = "--name" if args.name else f"the output file's stem {name!r} (the default name)"
        raise InvalidInputError(
            f"{how} {name!r} is not a valid C identifier: use letters, digits and '_', not starting with a "
            "digit, not a C keyword and not starting with 'ml_', e.g. --name gesture"
            if args.name
            else f"{how} is not a valid C identifier: give one with --name, e.g. --name gesture"
        ) from None
    return name


def _write(path: Path, data: str | bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data)
    except OSError as e:
        raise InvalidInputError(f"cannot write {path}: {e.strerror or e}; choose a writable place") from None


def export_runtime(directory: str | Path, headers: Sequence[str] | None = None) -> list[Path]:
    """Copy the C runtime headers (``headers`` and what they include; all of them when None) into
    ``directory``: what a firmware build needs beside a generated header or to read model files."""
    from microlearn.host import RUNTIME_C_DIR, runtime_closure

    names = sorted(h.name for h in RUNTIME_C_DIR.glob("ml_*.h")) if headers is None else headers
    out = []
    for h in runtime_closure(names):
        dst = Path(directory) / h
        _write(dst, (RUNTIME_C_DIR / h).read_text())
        out.append(dst)
    return out


def file_runtime_headers(c_headers: Sequence[str]) -> list[str]:
    """The headers a C program needs to load a model file whose generated C needs ``c_headers``:
    ml_model.h and each family's file reader (``ml_<family>_file.h``) where it has one."""
    from microlearn.host import RUNTIME_C_DIR

    out = ["ml_model.h"]
    for h in c_headers:
        f = h[: -len(".h")] + "_file.h"
        if (RUNTIME_C_DIR / f).exists():
            out.append(f)
    return out


def _cmd_convert(args: argparse.Namespace) -> int:
    from microlearn.model import convert

    out = Path(args.output)
    kind = MODEL_SUFFIXES.get(out.suffix)
    if kind is None:
        raise InvalidInputError(
            f"-o {out}: end the name in .h for a C header or .mlm for a model file (MicroPython, C loaders)"
        )
    if out.suffix == ".h":
        name = _name_for(args)
    cal = _calibration(args)  # before loading the estimator: a missing calibration set fails fast
    if is_model_file(args.model):  # e.g. trained in the studio or on a station: C from the file itself
        if cal:
            raise InvalidInputError(
                f"--calibration: {args.model} is a model file, already converted (its int8 sections, if any, "
                "were made at conversion); give the estimator or .keras file to quantize it"
            )
        from microlearn.backends import modelfile
        from microlearn.model import Model

        loads: Any = modelfile.loads
        model = Model(loads(Path(args.model).read_bytes()), args.method or "")
    else:
        model = convert(load_estimator(args.model), method=args.method, fold=args.fold, **cal)
    if out.suffix == ".mlm":
        data = model.to_bytes()
        _write(out, data)
        print(f"wrote {out} ({model!r}, model file of {len(data):,} bytes)")
        return 0
    command = f"microlearn convert {Path(args.model).name} -o {out.name} --method {model.method}"
    command += f" --name {name}" + ("" if args.fold else " --no-fold")
    if args.calibration:
        command += f" --calibration {Path(args.calibration).name}"
    src = model.c_source(name, command)
    _write(out, src.header)
    if not args.no_runtime:
        export_runtime(out.parent, src.runtime_headers)
    print(f"wrote {out} ({model!r}, {src.const_bytes:,} bytes of const data)")
    return 0


NEEDS_CALIBRATION = (
    "--method int8 needs --calibration ROWS.npy|.csv: a few hundred typical input rows (e.g. from the "
    "training data) to quantize the network's activations"
)


def _calibration(args: argparse.Namespace) -> dict[str, Any]:
    """convert's calibration option (the int8 method of networks) from --calibration FILE: only with
    --method int8, which needs it (the model file has no other sign of the method: its int8 sections)."""
    path = getattr(args, "calibration", None)
    if path and args.method != "int8":
        raise InvalidInputError(
            f"--calibration quantizes a network for the int8 method: add --method int8 (the method is "
            f"{args.method or 'the default'}), or leave --calibration out"
        )
    if args.method == "int8" and not path:
        raise InvalidInputError(NEEDS_CALIBRATION)
    return {"calibration": load_data(path)} if path else {}


def _budget(args: argparse.Namespace) -> dict[str, str] | None:
    b = {k: v for k, v in (("flash", args.flash_budget), ("ram", args.ram_budget)) if v is not None}
    return b or None


def _cmd_verify(args: argparse.Namespace) -> int:
    from microlearn import progress
    from microlearn.targets.mcu import describe
    from microlearn.verify import verify, verify_model_file

    progress.configure(notes=True)  # estimates before long builds
    X = load_data(args.data)
    targets = args.target or list(args.default_targets)
    if is_model_file(args.model):
        if args.calibration:
            raise InvalidInputError(
                f"--calibration: {args.model} is a model file, already converted (its int8 sections, if "
                "any, were made at conversion); give the estimator or .keras file to quantize it"
            )
        report = verify_model_file(args.model, X, targets=targets, method=args.method, budget=_budget(args))
        print(
            f"note: {args.model} is a model file: checked completely and run on every target against its "
            "own reference; give the joblib estimator to check the conversion itself too",
            file=sys.stderr,
        )
    else:
        est = load_estimator(args.model)
        report = verify(
            est,
            X,
            targets=targets,
            method=args.method,
            fold=args.fold,
            budget=_budget(args),
            **_calibration(args),
        )
    print(report)
    for r in report.values():
        if "cpu" in r.extra:
            lines = describe(r.extra, r.stack_bytes, r.arena_bytes)
            print(f"\n{r.target}: {lines[0]}\n" + "\n".join(f"  {ln}" for ln in lines[1:]))
    return 0 if report.ok else 1


def _cmd_export_runtime(args: argparse.Namespace) -> int:
    headers: list[str] | None = None
    if args.model is not None:
        from microlearn.model import Model, convert

        if is_model_file(args.model):
            from microlearn.backends import modelfile

            loads: Any = modelfile.loads
            model = Model(loads(Path(args.model).read_bytes()))
            headers = file_runtime_headers(model.c_source("x").runtime_headers)
        else:
            model = convert(
                load_estimator(args.model), method=args.method, fold=args.fold, **_calibration(args)
            )
            headers = list(model.c_source("x").runtime_headers)
    for p in export_runtime(args.directory, headers):
        print(f"wrote {p}")
    return 0


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


def _examples(*lines: str) -> str:
    return "examples:\n" + "\n".join(f"  {ln}" for ln in lines)


def _add_fold(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--no-fold",
        dest="fold",
        action="store_false",
        help="keep scalers/imputers before a tree model as stages and a Keras network's batch "
        "normalizations and activation layers as layers (default: fold them into the thresholds, "
        "the layer before)",
    )


def _add_method(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--method", default=None, help="C method (see `microlearn methods`; default: the family's)"
    )
    p.add_argument(
        "--calibration",
        default=None,
        help=".npy or .csv file of typical input rows: quantizes a neural network for --method int8",
    )


def _add_verify(sub: Any, name: str, default_targets: Sequence[str], **kw: Any) -> None:
    from microlearn.targets.mcu.arch import ARCHS

    v = sub.add_parser(
        name,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run the converted model on each target (this machine's C compiler, emulated "
        "microcontrollers, MicroPython) and compare every row with the estimator. On a microcontroller "
        "it also prints flash, RAM, stack and instructions per inference, after an estimate made before "
        "the build.",
        epilog=_examples(
            "microlearn verify model.joblib --data X_test.npy",
            "microlearn verify model.joblib --data X_test.csv --target host cortex-m4f rv32imc",
            "microlearn verify model.joblib --data X.npy --target cortex-m0plus --flash-budget 32k",
            "microlearn verify model.mlm --data X.npy --target micropython   # a saved model file",
        ),
        **kw,
    )
    v.add_argument(
        "model",
        help="joblib/pickle file of the fitted estimator (loading it runs its code), a .keras file, or .mlm",
    )
    v.add_argument("--data", required=True, help=".npy or .csv file of input rows")
    v.add_argument(
        "--target",
        dest="target",
        nargs="+",
        default=None,
        help=f"where to run (default: {' '.join(default_targets)}): host, {', '.join(ARCHS)}, micropython",
    )
    # the older spelling, still accepted
    v.add_argument("--targets", dest="target", nargs="+", default=None, help=argparse.SUPPRESS)
    _add_method(v)
    v.add_argument("--flash-budget", default=None, help="flash the model may use per MCU target, e.g. 32k")
    v.add_argument("--ram-budget", default=None, help="RAM the model may use per MCU target, e.g. 8k")
    _add_fold(v)
    v.set_defaults(func=_cmd_verify, default_targets=tuple(default_targets))


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="microlearn",
        description="Machine learning and DSP for microcontrollers: exact C and MicroPython.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_examples(
            "microlearn convert model.joblib -o model.h          # C header (+ runtime headers beside it)",
            "microlearn convert model.joblib -o model.mlm        # model file for mlrt / C loaders",
            "microlearn verify model.joblib --data X.npy --target host cortex-m4f",
            "microlearn deploy model.mlm --port /dev/ttyACM0",
            "microlearn <command> --help                          # options and examples of each command",
        ),
    )
    ap.add_argument("--version", action="version", version=f"microlearn {__version__}")
    sub = ap.add_subparsers(dest="command", required=True, metavar="<command>")

    c = sub.add_parser(
        "convert",
        help="fitted estimator -> C header (.h) or model file (.mlm), chosen by the -o suffix",
        description="Convert a fitted estimator, or a model file (e.g. one trained in the studio) to C. The "
        "suffix of -o chooses what is written: .h a C header (and the runtime headers it includes, beside "
        "it), .mlm a model file for MicroPython (mlrt) and the C model-file loaders.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_examples(
            "microlearn convert model.joblib -o firmware/model.h --name gesture",
            "microlearn convert model.joblib -o model.h --method packed --no-runtime",
            "microlearn convert model.joblib -o model.mlm",
            "microlearn convert studio-knn.mlm -o firmware/knn.h",
        ),
    )
    c.add_argument(
        "model",
        help="joblib or pickle file of a fitted estimator (loading it runs its code), a .keras file, or a "
        "microlearn model file (.mlm)",
    )
    c.add_argument(
        "-o", "--output", required=True, help="file to write: NAME.h (C header) or NAME.mlm (model file)"
    )
    _add_method(c)
    c.add_argument("--name", default=None, help="C name prefix (.h only; default: the output file's stem)")
    c.add_argument(
        "--no-runtime", action="store_true", help="do not copy the runtime headers beside the output (.h)"
    )
    _add_fold(c)
    c.set_defaults(func=_cmd_convert)

    _add_verify(
        sub, "verify", ("host",), help="run the converted model on targets and compare it with the estimator"
    )
    _add_verify(sub, "report", ("cortex-m4f",))  # older name: verify on cortex-m4f by default (hidden)

    e = sub.add_parser(
        "export-runtime",
        help="copy the C runtime headers (ml_model.h, ml_trees.h, DSP headers ...) into a directory",
        description="Copy the C runtime headers into DIR: those a model needs (its generated header's "
        "includes; for a .mlm file, ml_model.h and its family's file reader), or all of them.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_examples(
            "microlearn export-runtime firmware/microlearn                 # every runtime header",
            "microlearn export-runtime firmware/microlearn --model model.mlm  # to load this model file in C",
            "microlearn export-runtime firmware/microlearn --model model.joblib --method packed",
        ),
    )
    e.add_argument("directory", help="directory to write the headers to (created if missing)")
    e.add_argument(
        "--model", default=None, help="only what this model needs: a joblib estimator or a .mlm file"
    )
    _add_method(e)
    _add_fold(e)
    e.set_defaults(func=_cmd_export_runtime)

    m = sub.add_parser(
        "methods",
        help="list C methods and supported estimators",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_examples("microlearn methods"),
    )
    m.set_defaults(func=_cmd_methods)

    for modname in EXTENSIONS:
        try:
            mod = importlib.import_module(modname)
        except ImportError:
            continue
        mod.add_parser(sub)
    # the listing shows every command but the hidden older names
    hidden = {"report"}
    sub._choices_actions[:] = [a for a in sub._choices_actions if a.dest not in hidden]
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; every error ends as one ``error: ...`` line on stderr and a non-zero exit
    (2 for what the user can fix, 3 for anything else; ``MICROLEARN_DEBUG=1`` shows its traceback)."""
    import os

    args = build_parser().parse_args(argv)
    try:
        rc: int = args.func(args)
        return rc
    except MicrolearnError as e:
        print(f"error: {_one_line(str(e))}", file=sys.stderr)
        return 2
    except OSError as e:
        where = f" {e.filename}" if e.filename else ""
        print(f"error: cannot use{where}: {e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        if os.environ.get("MICROLEARN_DEBUG"):
            raise
        print(
            f"error: {type(e).__name__}: {_one_line(str(e))} (set MICROLEARN_DEBUG=1 to see where; "
            "please report it if it looks like a bug)",
            file=sys.stderr,
        )
        return 3


def _one_line(text: str) -> str:
    """A compiler's or a linker's output after the first line stays out of the message."""
    first, _, rest = text.partition("\n")
    return first + (
        " (more lines: set MICROLEARN_DEBUG=1 and run the Python API to see them)" if rest.strip() else ""
    )


if __name__ == "__main__":
    sys.exit(main())
