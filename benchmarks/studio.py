"""microlearn studio in headless Chromium: time from opening the page to the first prediction on a 10-tree
forest, bytes transferred, and µs per prediction — beside the same mlrt code under Pyodide (CPython in
WebAssembly), in the same run.

    python benchmarks/studio.py [--rounds 3] [--pyodide DIR]

MicroPython side: the studio page itself, opened with ``?model=…&data=…`` (the model file and a CSV of
feature rows), a fresh browser context per round (empty cache); "first prediction" is the moment the page
has predicted every row of the CSV and rendered the table (``window.studio.firstPredictionAt``, ms from
navigation start). Pyodide side: a minimal page that loads Pyodide's core, fetches the same mlrt files,
model and CSV, and predicts the same rows. Bytes: every response the page and its worker received
(headers + bodies), with the model + CSV counted apart.

Pyodide is not part of ``make setup`` (the core package is ~14 MB). The benchmark looks for the npm
package ``pyodide`` in --pyodide, $MICROLEARN_PYODIDE_DIR, tools/node/node_modules/pyodide and
<user cache>/microlearn/pyodide/node_modules/pyodide; without it the Pyodide column is skipped with the
command that installs it:

    CACHE=$(python -c 'import platformdirs; print(platformdirs.user_cache_dir("microlearn"))')
    npm install --prefix "$CACHE/pyodide" pyodide@314.0.8
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import platformdirs
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier

import microlearn
from microlearn.micropython import tools_dir
from microlearn.studio import make_server

PYODIDE_VERSION = "314.0.8"
N_ROWS = 50  # rows in the CSV of the first-prediction run
N_TIMED = 200  # predictions timed for µs per prediction
MLRT_CORE = ["__init__", "_reader", "trees"]

PYODIDE_PAGE = """<!doctype html><meta charset="utf-8"><title>mlrt under Pyodide</title>
<script type="module">
import { loadPyodide } from "/pyodide/pyodide.mjs";
const py = await loadPyodide({ indexURL: "/pyodide/" });
window.benchPython = (code, rows) => {
  if (rows) py.FS.writeFile("/rows.bin", new Uint8Array(new Float32Array(rows).buffer));
  const t0 = performance.now();
  py.runPython(code);
  return performance.now() - t0;
};
py.FS.mkdirTree("/home/pyodide/mlrt");
const names = %(core)s;
const [model, csv, ...srcs] = await Promise.all([
  fetch("/bench/model.mlm").then((r) => r.arrayBuffer()),
  fetch("/bench/rows.csv").then((r) => r.text()),
  ...names.map((n) => fetch(`/mlrt/${n}.py`).then((r) => r.text())),
]);
names.forEach((n, i) => py.FS.writeFile(`/home/pyodide/mlrt/${n}.py`, srcs[i]));
py.FS.writeFile("/model.mlm", new Uint8Array(model));
const rows = csv.trim().split("\\n").slice(1).map((l) => l.split(",").map(Number));
py.FS.writeFile("/x.bin", new Uint8Array(new Float32Array(rows.flat()).buffer));
py.runPython(`
import mlrt
from array import array
m = mlrt.load(open('/model.mlm', 'rb').read())
raw = open('/x.bin', 'rb').read()
nf = m.n_features
def f32(b):
    a = array('f')
    a.frombytes(b)
    return a
preds = [m.predict(f32(raw[i:i + 4 * nf])) for i in range(0, len(raw), 4 * nf)]
`);
document.body.textContent = py.globals.get("preds").toJs().join(",");
window.firstPredictionAt = performance.now();
</script>
"""

TIMING_SETUP = """
import mlrt
from array import array
def _f32(b):
    a = array('f')
    if hasattr(a, 'frombytes'):  # CPython
        a.frombytes(b)
        return a
    return array('f', b)  # MicroPython reads raw bytes
_m = mlrt.load(open('/t.mlm', 'rb').read())
_raw = open('/rows.bin', 'rb').read()
_nf = _m.n_features
_rows = [_f32(_raw[i:i + 4 * _nf]) for i in range(0, len(_raw), 4 * _nf)]
"""
TIMING_LOOP = "for _x in _rows:\n    _m.predict(_x)\n"


def find_pyodide(arg: str | None) -> Path | None:
    cands = [
        arg,
        os.environ.get("MICROLEARN_PYODIDE_DIR"),
        str(tools_dir() / "node_modules" / "pyodide"),
        str(Path(platformdirs.user_cache_dir("microlearn")) / "pyodide" / "node_modules" / "pyodide"),
    ]
    for c in cands:
        if c and (Path(c) / "pyodide.mjs").is_file() and (Path(c) / "pyodide.asm.wasm").is_file():
            return Path(c)
    return None


def count_bytes(context: Any) -> dict[str, int]:
    totals = {"app": 0, "data": 0, "requests": 0}

    def done(req: Any) -> None:
        try:
            sz = req.sizes()
        except Exception:
            return
        n = int(sz["responseBodySize"]) + int(sz["responseHeadersSize"])
        totals["data" if "/bench/" in req.url and not req.url.endswith(".html") else "app"] += n
        totals["requests"] += 1

    context.on("requestfinished", done)
    return totals


def run_round(browser: Any, url: str, ready: str, at: str) -> tuple[float, dict[str, int], Any]:
    ctx = browser.new_context()
    totals = count_bytes(ctx)
    page = ctx.new_page()
    page.goto(url)
    page.wait_for_function(ready, timeout=120_000)
    t = float(page.evaluate(at))
    page.wait_for_timeout(300)  # let the last requestfinished events arrive
    return t, dict(totals), (ctx, page)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--pyodide", default=None, help="folder of the npm package pyodide (pyodide.mjs ...)")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("chromium not found: run `make setup`")
    X, y = load_digits(return_X_y=True)
    rf = RandomForestClassifier(n_estimators=10, max_depth=8, random_state=0).fit(X, y)
    model = microlearn.convert(rf)
    pyo = find_pyodide(args.pyodide)
    with tempfile.TemporaryDirectory() as tmp:
        bench = Path(tmp)
        (bench / "model.mlm").write_bytes(model.to_bytes())
        rows = X[:N_ROWS]
        np.savetxt(
            bench / "rows.csv",
            rows,
            delimiter=",",
            fmt="%g",
            header=",".join(f"p{i}" for i in range(64)),
            comments="",
        )
        (bench / "pyodide.html").write_text(PYODIDE_PAGE % {"core": MLRT_CORE})
        mounts = {"bench": bench}
        if pyo is not None:
            mounts["pyodide"] = pyo
        srv = make_server(0, mounts=mounts).start()
        want = rf.predict(rows).tolist()
        flat_rows = [float(v) for v in X[:N_TIMED].astype(np.float32).ravel()]
        res: dict[str, dict[str, list[float]]] = {}
        timelines: list[dict[str, float]] = []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            # ------------------------------------------------------------------ MicroPython (the studio)
            r = res.setdefault("MicroPython 1.27 (studio)", {"ms": [], "app": [], "data": [], "us": []})
            for _ in range(args.rounds):
                t, b, (ctx, page) = run_round(
                    browser,
                    srv.url + "?model=/bench/model.mlm&data=/bench/rows.csv",
                    "window.studio && window.studio.firstPredictionAt !== null",
                    "window.studio.firstPredictionAt",
                )
                timelines.append(page.evaluate("window.studio.timeline"))
                got = [int(s) for s in page.locator("[data-testid=label]").all_inner_texts()]
                assert got == want, "the studio's predictions differ from scikit-learn's"
                page.evaluate(
                    """([c, rows]) => window.studioPython(c, {
                        '/t.mlm': new Uint8Array(window.studio.model.bytes),
                        '/rows.bin': new Uint8Array(new Float32Array(rows).buffer)})""",
                    [TIMING_SETUP, flat_rows],
                )
                ms = page.evaluate("(c) => window.studioPython(c).then((r) => r.ms)", TIMING_LOOP)
                r["ms"].append(t)
                r["app"].append(b["app"])
                r["data"].append(b["data"])
                r["us"].append(1000 * ms / N_TIMED)
                ctx.close()
            # ------------------------------------------------------------------ Pyodide
            if pyo is not None:
                lock = json.loads((pyo / "pyodide-lock.json").read_text())
                r = res.setdefault(
                    f"Pyodide {PYODIDE_VERSION} (CPython {lock['info']['python']})",
                    {"ms": [], "app": [], "data": [], "us": []},
                )
                for _ in range(args.rounds):
                    t, b, (ctx, page) = run_round(
                        browser,
                        srv.url + "bench/pyodide.html",
                        "window.firstPredictionAt !== undefined",
                        "window.firstPredictionAt",
                    )
                    got = [int(v) for v in page.inner_text("body").split(",")]
                    assert got == want, "Pyodide's predictions differ from scikit-learn's"
                    page.evaluate(
                        "([c, rows]) => window.benchPython(c, rows)",
                        [
                            "open('/t.mlm','wb').write(open('/model.mlm','rb').read())\n" + TIMING_SETUP,
                            flat_rows,
                        ],
                    )
                    ms = page.evaluate("(c) => window.benchPython(c)", TIMING_LOOP)
                    r["ms"].append(t)
                    r["app"].append(b["app"])
                    r["data"].append(b["data"])
                    r["us"].append(1000 * ms / N_TIMED)
                    ctx.close()
            browser.close()
        srv.shutdown()
    size = len(model.to_bytes())
    print(
        f"model: digits RandomForest, 10 trees, depth 8 ({model.ir.n_nodes} nodes), file {size:,} B; "
        f"CSV of {N_ROWS} rows"
    )
    print(f"{args.rounds} rounds, fresh browser context each (median; min–max)\n")
    print("| runtime | open → first prediction (ms) | bytes transferred (app) | µs per prediction |")
    print("|---|---:|---:|---:|")
    med = {}
    for name, r in res.items():
        m = {k: statistics.median(v) for k, v in r.items()}
        med[name] = m
        print(
            f"| {name} | {m['ms']:.0f} ({min(r['ms']):.0f}–{max(r['ms']):.0f}) | {m['app']:,.0f} "
            f"| {m['us']:.0f} ({min(r['us']):.0f}–{max(r['us']):.0f}) |"
        )
    steps = sorted(timelines[0], key=lambda k: statistics.median(t[k] for t in timelines))
    print(
        "\nstudio start-up, median ms from navigation start: "
        + ", ".join(f"{k} {statistics.median(t[k] for t in timelines):.0f}" for k in steps)
    )
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(
        f"\nmodel + CSV transferred: {statistics.median(next(iter(res.values()))['data']):,.0f} B "
        "(same for both)"
    )
    if len(med) == 2:
        a, b = med.values()
        print(
            f"ratios Pyodide / MicroPython: time to first prediction {b['ms'] / a['ms']:.1f}x, bytes "
            f"{b['app'] / a['app']:.1f}x, µs per prediction {b['us'] / a['us']:.2f}x"
        )
    else:
        print(
            "Pyodide not found: skipped. Install it with\n  npm install --prefix "
            f'"{Path(platformdirs.user_cache_dir("microlearn")) / "pyodide"}" pyodide@{PYODIDE_VERSION}'
        )
    goal_t, goal_b = 1000, 1_500_000
    m = next(iter(med.values()))
    print(
        f"goals: ≤ {goal_t} ms → {'met' if m['ms'] <= goal_t else 'NOT met'}; "
        f"≤ 1.5 MB → {'met' if m['app'] + m['data'] <= goal_b else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
