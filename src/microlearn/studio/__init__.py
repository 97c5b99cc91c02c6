"""microlearn studio: a web app that runs, labels, trains and deploys models in the browser, with mlrt
running in MicroPython compiled to WebAssembly.

Everything the page needs is a static file, served under three roots (a device can serve the same
layout, see docs/studio.md):

=================  =====================================================================================
URL                file
=================  =====================================================================================
``/``, ``/*``      ``microlearn/studio/static/`` (index.html, the JavaScript modules, py/studio_mp.py)
``/mp/*``          the npm package @micropython/micropython-webassembly-pyscript (micropython.mjs, .wasm)
``/mlrt/*.py``     the mlrt package (``microlearn/runtime/micropython/mlrt/``)
=================  =====================================================================================

``microlearn studio [--port 8765] [--no-browser]`` serves them on 127.0.0.1; nothing runs on the server
but the file lookup.
"""

from __future__ import annotations

import argparse
import mimetypes
import threading
import webbrowser
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from microlearn.errors import ToolchainError
from microlearn.micropython import PACKAGE, RUNTIME_DIR, tools_dir

STATIC_DIR = Path(__file__).parent / "static"
MLRT_DIR = RUNTIME_DIR / "mlrt"
MP_FILES = ("micropython.mjs", "micropython.wasm")
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".wasm": "application/wasm",
    ".py": "text/plain; charset=utf-8",
    ".json": "application/json",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}


def micropython_dir() -> Path:
    """The npm package's folder holding micropython.mjs and micropython.wasm (or a ToolchainError)."""
    d = tools_dir() / "node_modules" / PACKAGE
    missing = [f for f in MP_FILES if not (d / f).is_file()]
    if missing:
        raise ToolchainError(
            f"the MicroPython WebAssembly files are missing from {d} ({', '.join(missing)}): "
            "run `make setup` "
            "(it installs the npm package into tools/node), or set MICROLEARN_NODE_TOOLS"
        )
    return d


def resolve(url_path: str, mp_dir: Path, mounts: dict[str, Path] | None = None) -> Path | None:
    """The file a URL path maps to, or None (never a file outside the three roots and ``mounts``,
    extra folders by first path segment, e.g. a benchmark's data)."""
    path = unquote(urlsplit(url_path).path)
    if path in ("", "/"):
        path = "/index.html"
    parts = [p for p in path.split("/") if p]
    if any(p in (".", "..") or "\\" in p or p.startswith(".") for p in parts):
        return None
    if mounts and parts[0] in mounts:
        root, rel = mounts[parts[0]], parts[1:]
    elif parts[0] == "mp":
        root, rel = mp_dir, parts[1:]
        if rel not in ([f] for f in MP_FILES):
            return None
    elif parts[0] == "mlrt":
        root, rel = MLRT_DIR, parts[1:]
        if len(rel) != 1 or not rel[0].endswith(".py"):
            return None
    else:
        root, rel = STATIC_DIR, parts
    f = root.joinpath(*rel)
    return f if f.is_file() else None


class _Handler(SimpleHTTPRequestHandler):
    mp_dir: Path
    mounts: dict[str, Path]

    def __init__(self, *args: Any, mp_dir: Path, mounts: dict[str, Path], **kwargs: Any) -> None:
        self.mp_dir = mp_dir
        self.mounts = mounts
        super().__init__(*args, directory=str(STATIC_DIR), **kwargs)

    def send_head(self) -> Any:
        f = resolve(self.path, self.mp_dir, self.mounts)
        if f is None:
            self.send_error(HTTPStatus.NOT_FOUND, "not found")
            return None
        data = f.open("rb")
        ctype = TYPES.get(f.suffix) or mimetypes.guess_type(f.name)[0] or "application/octet-stream"
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(f.stat().st_size))
        self.send_header("Cache-Control", "no-cache")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        return data

    def do_POST(self) -> None:
        self.send_error(HTTPStatus.METHOD_NOT_ALLOWED, "the studio serves static files only")

    def log_message(self, format: str, *args: Any) -> None:
        if getattr(self.server, "verbose", False):
            super().log_message(format, *args)


class StudioServer(ThreadingHTTPServer):
    daemon_threads = True
    verbose = False

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://{name}:{port}/"

    def start(self) -> StudioServer:
        """Serve in a background thread (for tests and benchmarks); stop with shutdown()."""
        threading.Thread(target=self.serve_forever, name="microlearn-studio", daemon=True).start()
        return self


def make_server(
    port: int = 8765, host: str = "127.0.0.1", mounts: dict[str, Path] | None = None
) -> StudioServer:
    """A server for the studio on host:port (port 0: any free port); ``mounts`` adds folders served
    under /NAME/ (benchmarks and tests use it for their data)."""
    handler = partial(_Handler, mp_dir=micropython_dir(), mounts=dict(mounts or {}))
    return StudioServer((host, port), handler)


def serve(port: int = 8765, open_browser: bool = True, verbose: bool = False) -> None:
    """Serve the studio until Ctrl-C."""
    try:
        srv = make_server(port)
    except OSError as e:
        raise ToolchainError(f"cannot listen on 127.0.0.1:{port} ({e}): choose another --port") from e
    srv.verbose = verbose
    print(f"microlearn studio at {srv.url} (Ctrl-C to stop)", flush=True)
    if open_browser:
        webbrowser.open(srv.url)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()


def _cmd_studio(args: argparse.Namespace) -> int:
    serve(args.port, not args.no_browser, args.verbose)
    return 0


def add_parser(sub: Any) -> None:
    """The ``studio`` subcommand for microlearn's CLI."""
    s = sub.add_parser(
        "studio",
        help="serve the studio web app: run, label, train and deploy in the browser",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  microlearn studio\n  microlearn studio --port 9000 --no-browser",
    )
    s.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (default 8765)")
    s.add_argument("--no-browser", action="store_true", help="do not open a browser")
    s.add_argument("--verbose", action="store_true", help="log every request")
    s.set_defaults(func=_cmd_studio)
