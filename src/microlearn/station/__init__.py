"""microlearn station: a stand-alone sensor device that stores, aggregates, searches and labels its own data.

The device application is the MicroPython package in ``device/`` (it runs on CPython unchanged); this
module runs it on the host (``microlearn station --simulate``) and lists the files a board needs
(``microlearn deploy --station``). See docs/station.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from microlearn.errors import InvalidInputError, ToolchainError
from microlearn.micropython import RUNTIME_DIR

HERE = Path(__file__).parent
DEVICE_DIR = HERE / "device"
STATIC_DIR = HERE / "static"
#: mlrt modules the station imports (plus the model families mlrt.load may need)
MLRT_MODULES = ("store", "index", "thin", "sample", "dsp_features")


def _device() -> tuple[Any, Any, Any, Any]:
    """The device modules (core, sensors, web, outbox), with mlrt importable."""
    if str(RUNTIME_DIR) not in sys.path:
        sys.path.insert(0, str(RUNTIME_DIR))
    mods = [
        importlib.import_module(f"microlearn.station.device.{m}")
        for m in ("core", "sensors", "web", "outbox")
    ]
    return mods[0], mods[1], mods[2], mods[3]


def studio_roots() -> dict[str, str]:
    """URL roots of the browser studio's files when microlearn.studio is installed: /studio/ (its page),
    /mlrt/ (the runtime it runs in the browser) and /mp/ (MicroPython's WebAssembly files, if present)."""
    try:
        studio = importlib.import_module("microlearn.studio")
    except ImportError:
        return {}
    roots = {"studio": str(studio.STATIC_DIR), "mlrt": str(studio.MLRT_DIR)}
    with contextlib.suppress(ToolchainError):
        roots["mp"] = str(studio.micropython_dir())
    return roots


def device_files(prefix: str = "/lib") -> dict[str, bytes]:
    """Device path -> bytes of everything a board needs: the station package (with its UI), the mlrt
    runtime and Microdot. Copy them with ``microlearn deploy --station`` (mpremote)."""
    out: dict[str, bytes] = {}
    for p in sorted(DEVICE_DIR.glob("*.py")):
        out[f"{prefix}/station/{p.name}"] = p.read_bytes()
    for p in sorted(STATIC_DIR.rglob("*")):
        if p.is_file():
            out[f"{prefix}/station/static/{p.relative_to(STATIC_DIR).as_posix()}"] = p.read_bytes()
    for p in sorted((RUNTIME_DIR / "mlrt").glob("*.py")):
        out[f"{prefix}/mlrt/{p.name}"] = p.read_bytes()
    import microdot

    mdir = Path(microdot.__file__).parent
    for name in ("__init__.py", "microdot.py", "helpers.py", "cors.py"):
        out[f"{prefix}/microdot/{name}"] = (mdir / name).read_bytes()
    out["/main.py"] = b"import station.main\nstation.main.start()\n"
    return out


@dataclass
class Running:
    """A station running in a background thread (tests, demos)."""

    station: Any
    outbox: Any
    app: Any
    port: int
    thread: threading.Thread
    loop: asyncio.AbstractEventLoop
    stop_flag: list[bool] = field(default_factory=lambda: [False])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run fn() inside the station's event loop thread (so it never races the sensor loop)."""

        async def wrap() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(wrap(), self.loop).result(30)

    def stop(self) -> None:
        self.stop_flag[0] = True
        self.outbox.stopping = True
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.app.shutdown)
        self.thread.join(10)
        self.station.close()


def start(
    data_dir: str | Path,
    *,
    port: int = 8080,
    host: str = "127.0.0.1",
    source: str = "accelerometer",
    seed: int = 1,
    sample: bool = True,
    speed: float = 1.0,
    settings: dict[str, Any] | None = None,
) -> Running:
    """Start the station on the host in a background thread: the sensor loop over a simulated source
    (``speed`` times real time; ``sample=False`` runs no loop), the outbox and the web app."""
    core, sensors, web, outbox = _device()
    if source not in sensors.SOURCES:
        raise InvalidInputError(f"source must be one of {', '.join(sensors.SOURCES)}")
    st = core.Station(str(data_dir), sensors.SOURCES[source](seed), settings)
    ob = outbox.Outbox(st)
    app = web.make_app(st, str(STATIC_DIR), studio_roots(), ob)
    loop = asyncio.new_event_loop()
    stop = [False]
    t_start = core.now_ms()
    first = st.store.last_time()
    base = (first + st.period_ms) if first is not None and first >= t_start else t_start

    def clock() -> int:
        return int(base + (core.now_ms() - t_start) * speed)

    ready = threading.Event()
    tasks: list[asyncio.Task[Any]] = []

    async def main() -> None:
        if sample:
            sleep = max(1, int(st.period_ms / speed))
            tasks.append(loop.create_task(st.run(clock=clock, sleep_ms=sleep, stop=lambda: stop[0])))
        tasks.append(loop.create_task(ob.run()))
        loop.call_soon(ready.set)
        await app.start_server(host=host, port=port)

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(main())
        # the server stopped: let the sensor loop and the outbox see their stop flags and finish
        rest = [t for t in asyncio.all_tasks(loop) if not t.done()]
        if rest:
            loop.run_until_complete(asyncio.wait(rest, timeout=5))
        loop.close()

    th = threading.Thread(target=run, name="microlearn-station", daemon=True)
    th.start()
    ready.wait(10)
    return Running(st, ob, app, port, th, loop, stop)


def _cmd_station(args: argparse.Namespace) -> int:
    if not args.simulate:
        print(
            "on the host the station runs with --simulate (a simulated sensor); on a board use "
            "`microlearn deploy --station`",
            file=sys.stderr,
        )
        return 2
    data = args.data or os.path.join(tempfile.gettempdir(), f"microlearn-station-{args.source}")
    run = start(data, port=args.port, host=args.host, source=args.source, speed=args.speed)
    print(f"microlearn station ({args.source}, simulated) on {run.url}/  data in {data}", flush=True)
    token = run.station.settings["token"]
    print(f"API token: {token}  (send Authorization: Bearer <token>, or paste it in the page)", flush=True)
    try:
        run.thread.join()
    except KeyboardInterrupt:
        pass
    finally:
        run.stop()
    return 0


def _mpremote(args: list[str], port: str | None, check: bool = True) -> None:
    exe = shutil.which("mpremote")
    base = [exe] if exe else [sys.executable, "-m", "mpremote"]
    res = subprocess.run([*base, *(["connect", port] if port else []), *args], capture_output=True, text=True)
    if check and res.returncode != 0:
        raise ToolchainError(
            f"mpremote {' '.join(args)} failed ({res.stderr.strip() or res.stdout.strip()}); is the board "
            "connected (see `mpremote devs`) and not in use by another program?"
        )


def deploy_station(port: str | None = None, model: str | Path | None = None) -> list[str]:
    """Copy the station (device_files(): the package, its UI, mlrt, Microdot, a /main.py that starts it)
    to a board with mpremote, and a model file to /data/model.mlm; returns the device paths written."""
    files = device_files()
    if model is not None:
        from microlearn.deploy import check_model_file

        mp = Path(model)
        check_model_file(mp)  # before anything is copied: a joblib or a broken file never reaches the board
        files["/data/model.mlm"] = mp.read_bytes()
    dirs = sorted({p.rsplit("/", 1)[0] for p in files} - {""})
    with tempfile.TemporaryDirectory() as tmp:
        for d in dirs:
            parts = d.strip("/").split("/")
            for i in range(1, len(parts) + 1):
                _mpremote(["fs", "mkdir", ":/" + "/".join(parts[:i])], port, check=False)  # may exist
        for i, (dev, data) in enumerate(sorted(files.items())):
            local = Path(tmp) / f"{i}"
            local.write_bytes(data)
            _mpremote(["fs", "cp", str(local), ":" + dev], port)
    return sorted(files)


def _hook_deploy(sub: Any) -> None:
    """Add --station to `microlearn deploy` (registered before this module by cli.EXTENSIONS)."""
    dp = getattr(sub, "choices", {}).get("deploy")
    if dp is None:
        return
    dp.add_argument(
        "--station", action="store_true", help="also copy the station application (docs/station.md)"
    )
    plain = dp.get_default("func")

    def func(args: argparse.Namespace) -> int:
        if not args.station:
            return int(plain(args))
        written = deploy_station(args.port, args.model)
        print(f"copied {len(written)} files; reset the board: it starts the station (see docs/station.md)")
        return 0

    dp.set_defaults(func=func)


def add_parser(sub: Any) -> None:
    """`microlearn station` and `microlearn deploy --station` (cli.py calls this through cli.EXTENSIONS)."""
    _hook_deploy(sub)
    p = sub.add_parser(
        "station",
        help="run the station application on this computer with a simulated sensor",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  microlearn station --simulate\n"
        "  microlearn station --simulate --source sound --port 8081\n"
        "  microlearn deploy model.mlm --station --port /dev/ttyACM0   # on a board",
    )
    p.add_argument(
        "--simulate", action="store_true", help="use a simulated sensor source (required on a host)"
    )
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (0.0.0.0 for the network)")
    p.add_argument("--source", default="accelerometer", choices=("accelerometer", "sound"))
    p.add_argument("--data", default=None, help="data directory (default: <tmp>/microlearn-station-<source>)")
    p.add_argument("--speed", type=float, default=1.0, help="simulated time runs this many times real time")
    p.set_defaults(func=_cmd_station)
