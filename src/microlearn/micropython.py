"""Run code in the real MicroPython: the WebAssembly build (npm @micropython/micropython-webassembly-pyscript)
on Node, driven by ``tools/node/mprun.mjs``.

One long-lived Node process per Python process (per heap size) serves every call over a JSON-lines pipe;
the interpreter is reset between calls. A call whose code raises gets a :class:`MicroPythonError` carrying
MicroPython's own traceback. ``run_model`` predicts rows with the ``mlrt`` runtime from a model file.
"""

from __future__ import annotations

import atexit
import base64
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from microlearn.errors import MicrolearnError, ToolchainError
from microlearn.ir.base import Task
from microlearn.targets.base import Artifacts, TargetRun

RUNTIME_DIR = Path(__file__).parent / "runtime" / "micropython"
PACKAGE = "@micropython/micropython-webassembly-pyscript"
DEFAULT_HEAP = 16 * 1024 * 1024


class MicroPythonError(MicrolearnError, RuntimeError):
    """Code run in MicroPython raised an exception; ``traceback`` is MicroPython's own."""

    def __init__(self, exc_type: str, traceback: str, stdout: str) -> None:
        super().__init__(f"MicroPython raised {exc_type}:\n{traceback.rstrip()}")
        self.exc_type = exc_type
        self.traceback = traceback
        self.stdout = stdout


@dataclass
class Result:
    stdout: str
    outputs: dict[str, bytes | None] = field(default_factory=dict)


def tools_dir() -> Path:
    """Where mprun.mjs and node_modules live (``$MICROLEARN_NODE_TOOLS`` overrides the repository's)."""
    env = os.environ.get("MICROLEARN_NODE_TOOLS")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "tools" / "node"


def find_node() -> str:
    node = shutil.which("node")
    if node is None:
        raise ToolchainError("Node.js (node) not found on PATH: install Node.js >= 18, then run `make setup`")
    pkg = tools_dir() / "node_modules" / PACKAGE / "micropython.mjs"
    if not pkg.exists():
        raise ToolchainError(f"the MicroPython WebAssembly package is missing ({pkg}): run `make setup`")
    return node


class _Process:
    """One Node process running mprun.mjs; requests are serialised by a lock."""

    def __init__(self, heap: int) -> None:
        node = find_node()
        self.proc = subprocess.Popen(
            [node, str(tools_dir() / "mprun.mjs"), "--heap", str(heap)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.lock = threading.Lock()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def request(self, req: Mapping[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        with self.lock:
            try:
                self.proc.stdin.write(json.dumps(req) + "\n")
                self.proc.stdin.flush()
                line = self.proc.stdout.readline()
            except BrokenPipeError:
                line = ""
        if not line:
            self.close()
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise ToolchainError(f"the MicroPython (Node) process exited unexpectedly:\n{err.strip()}")
        reply: dict[str, Any] = json.loads(line)
        if reply.get("fatal"):
            self.close()
            raise ToolchainError(f"MicroPython (WebAssembly) failed: {reply['fatal']}")
        return reply

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                if self.proc.stdin:
                    self.proc.stdin.close()
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


_POOL: dict[int, _Process] = {}
_POOL_LOCK = threading.Lock()


def _process(heap: int) -> _Process:
    with _POOL_LOCK:
        p = _POOL.get(heap)
        if p is None or not p.alive():
            if not _POOL:
                atexit.register(close)
            p = _POOL[heap] = _Process(heap)
        return p


def close() -> None:
    """Stop the Node processes this Python process started (also done at exit)."""
    with _POOL_LOCK:
        for p in _POOL.values():
            p.close()
        _POOL.clear()


def execute(
    code: str,
    files: Mapping[str, bytes] | None = None,
    *,
    outputs: Sequence[str] = (),
    heap_bytes: int = DEFAULT_HEAP,
) -> Result:
    """Run ``code`` with ``files`` (device path -> bytes) in place; return stdout and the ``outputs``
    files the code wrote (None where it wrote nothing). Raises MicroPythonError if the code raises."""
    for path in [*(files or {}), *outputs]:
        if not path.startswith("/") or ".." in path.split("/"):
            raise ValueError(f"device paths must be absolute, without '..': {path!r}")
    req = {
        "code": code,
        "files": {p: base64.b64encode(bytes(b)).decode() for p, b in (files or {}).items()},
        "outputs": list(outputs),
    }
    reply = _process(heap_bytes).request(req)
    if not reply["ok"]:
        err = reply["error"]
        raise MicroPythonError(err["type"], err["traceback"], reply["stdout"])
    outs = {p: None if v is None else base64.b64decode(v) for p, v in reply["outputs"].items()}
    return Result(reply["stdout"], outs)


def run(code: str, files: Mapping[str, bytes] | None = None, *, heap_bytes: int = DEFAULT_HEAP) -> str:
    """Run ``code`` in MicroPython with ``files`` (device path -> bytes); return what it printed."""
    return execute(code, files, heap_bytes=heap_bytes).stdout


def runtime_files(prefix: str = "/lib") -> dict[str, bytes]:
    """The mlrt package's source files, keyed by their device path under ``prefix``."""
    root = RUNTIME_DIR / "mlrt"
    return {f"{prefix}/mlrt/{p.name}": p.read_bytes() for p in sorted(root.glob("*.py"))}


_PREDICT = """
import gc, mlrt, mlrt._reader, mlrt.trees
from array import array
gc.collect()
a0 = gc.mem_alloc()
gc.disable()
m = mlrt.load('/model.mlm')
a1 = gc.mem_alloc()
gc.enable()
nf = m.n_features
kind = {kind!r}
out = array('i' if kind == 'class' else 'd')
raw = open('/x.bin', 'rb').read()
mv = memoryview(raw)
for r in range(len(raw) // (4 * nf)):
    x = array('f', bytes(mv[r * 4 * nf:(r + 1) * 4 * nf]))
    if kind == 'proba':
        v = m.predict_proba(x)
    elif kind == 'transform':
        v = m.transform(x)
    elif kind == 'score':
        v = (m.score(x), m.predict(x))
    else:
        v = m.predict(x)
    if isinstance(v, (int, float)):
        out.append(v)
    else:
        for e in v:
            out.append(e)
open('/out.bin', 'wb').write(out)
print('load_alloc', a1 - a0, 'retained', getattr(m, 'nbytes', 0))
"""

# the header's task code (docs/model-file.md) -> what the script asks of the model
_KIND_OF_TASK = {1: "class", 2: "value", 3: "score", 4: "class", 5: "transform"}


@dataclass
class ModelRun:
    outputs: npt.NDArray[Any]
    load_alloc_bytes: int  # heap allocated while loading, with the GC off: an upper bound of the load peak
    retained_bytes: int  # bytes of the arrays the loaded model keeps (mlrt's Trees.nbytes)


def run_model_full(model_bytes: bytes, X: npt.ArrayLike, proba: bool = False) -> ModelRun:
    X32 = np.ascontiguousarray(X, dtype=np.float32)
    if X32.ndim != 2:
        raise ValueError("X must be 2-D (n_rows, n_features)")
    task = int.from_bytes(model_bytes[10:12], "little") if len(model_bytes) >= 12 else 1
    kind = "proba" if proba else _KIND_OF_TASK.get(task, "class")
    files = {**runtime_files(), "/model.mlm": bytes(model_bytes), "/x.bin": X32.astype("<f4").tobytes()}
    res = execute(_PREDICT.format(kind=kind), files, outputs=["/out.bin"])
    raw = res.outputs["/out.bin"] or b""
    words = res.stdout.split()
    stats = {words[i]: int(words[i + 1]) for i in range(0, len(words) - 1, 2)}
    if kind == "class":
        out: npt.NDArray[Any] = np.frombuffer(raw, dtype="<i4").astype(np.int64)
    elif kind == "score":  # score, then the inlier (1) / outlier (-1) decision, per row
        out = np.frombuffer(raw, dtype="<f8").copy().reshape(-1, 2)
    else:
        out = np.frombuffer(raw, dtype="<f8").copy()
        if (
            X32.shape[0] and out.size != X32.shape[0]
        ):  # several values per row: proba, multi-output, transform
            out = out.reshape(X32.shape[0], -1)
    return ModelRun(out, stats.get("load_alloc", 0), stats.get("retained", 0))


def run_model(model_bytes: bytes, X: npt.ArrayLike, proba: bool = False) -> npt.NDArray[Any]:
    """Predict every row of ``X`` with mlrt in the real MicroPython: class indices (classifier),
    values (regressor) or, with ``proba``, class probabilities (n_rows, n_classes)."""
    return run_model_full(model_bytes, X, proba).outputs


def _target_run(model_file: bytes, has_proba: bool, X: npt.NDArray[np.float32]) -> TargetRun:
    run = run_model_full(model_file, X)
    proba = run_model(model_file, X, proba=True).astype(np.float32) if has_proba else None
    outputs, extra = run.outputs, {}
    if run.outputs.ndim == 2 and _task_code(model_file) == 3:  # SCORE: (score, decision) per row
        outputs, extra = run.outputs[:, 0].copy(), {"predict": run.outputs[:, 1].astype(np.int64)}
    return TargetRun(
        outputs=outputs,
        flash_bytes=len(model_file),
        ram_bytes=run.retained_bytes,
        proba=proba,
        extra={"model_file_bytes": len(model_file), "load_alloc_bytes": run.load_alloc_bytes, **extra},
    )


def _task_code(model_bytes: bytes) -> int:
    return int.from_bytes(model_bytes[10:12], "little") if len(model_bytes) >= 12 else 1


@dataclass
class MicroPythonTarget:
    """The model file run by mlrt in the real MicroPython (WebAssembly, through Node) as a verify target."""

    name: str = "micropython"

    def available(self) -> str | None:
        """None when Node and the MicroPython WebAssembly package are here, else what is missing."""
        try:
            find_node()
        except ToolchainError as e:
            return str(e)
        return None

    def run(self, art: Artifacts, X: npt.NDArray[np.float32]) -> TargetRun:
        """``art`` gives the IR and the model file (``art.model_file()``)."""
        # probabilities where the reference has them (LinearSVC, RidgeClassifier ... have none)
        has_proba = art.ir.task in (Task.CLASSIFY, Task.CLUSTER) and art.ir.reference(X[:1]).proba is not None
        return _target_run(art.model_file(), has_proba, X)


def register_targets(targets: dict[str, Any]) -> None:
    """Add the "micropython" verify target (the model file run by mlrt in the WebAssembly MicroPython)."""
    targets.setdefault("micropython", MicroPythonTarget())
