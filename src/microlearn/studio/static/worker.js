// The studio's MicroPython: one WebAssembly interpreter in a worker, so the page stays responsive while
// it predicts or trains. Messages: {id, op: "need", modules: [...]} fetches mlrt modules into /lib/mlrt;
// {id, op: "run", code, files: {path: Uint8Array}, outputs: [path]} runs code and returns
// {id, ok, result, error, outputs, ms}. `result` is what the code left in `_r` (a string or a number).
import { loadMicroPython } from "./mp/micropython.mjs";

const CORE = ["__init__", "_reader", "trees"];
const loaded = new Set();
let mp = null;
let printed = [];

function mkdirs(path) {
  let cur = "";
  for (const p of path.split("/").filter((s) => s).slice(0, -1)) {
    cur += "/" + p;
    if (!mp.FS.analyzePath(cur).exists) mp.FS.mkdir(cur);
  }
}

async function fetchText(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`cannot fetch ${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

async function need(modules) {
  const todo = modules.filter((m) => !loaded.has(m));
  const texts = await Promise.all(
    todo.map((m) => fetchText(m === "studio_mp" ? "py/studio_mp.py" : `mlrt/${m}.py`)),
  );
  todo.forEach((m, i) => {
    const path = m === "studio_mp" ? "/lib/studio_mp.py" : `/lib/mlrt/${m}.py`;
    mkdirs(path);
    mp.FS.writeFile(path, texts[i]);
    loaded.add(m);
  });
}

const marks = {}; // absolute times (ms since the epoch) of the start-up steps, for the page's timeline
const mark = (k) => (marks[k] = performance.timeOrigin + performance.now());
mark("worker-start");
const ready = (async () => {
  const t0 = performance.now();
  const [interp] = await Promise.all([
    loadMicroPython({
      heapsize: 16 * 1024 * 1024,
      linebuffer: true,
      stdout: (line) => printed.push(line),
      stderr: (line) => printed.push(line),
    }),
  ]);
  mp = interp;
  mark("wasm-ready");
  await need([...CORE, "studio_mp"]);
  mark("sources-fetched");
  mp.runPython("import studio_mp, mlrt._reader, mlrt.trees");
  mark("imported");
  return performance.now() - t0;
})();

function run(code, files, outputs) {
  for (const [path, data] of Object.entries(files || {})) {
    mkdirs(path);
    mp.FS.writeFile(path, data);
  }
  for (const path of outputs || []) {
    if (mp.FS.analyzePath(path).exists) mp.FS.unlink(path); // outputs are what this run writes
  }
  printed = [];
  const t0 = performance.now();
  mp.runPython("_r = None\n" + code);
  const ms = performance.now() - t0;
  const result = mp.globals.get("_r");
  const outs = {};
  for (const path of outputs || []) {
    outs[path] = mp.FS.analyzePath(path).exists ? mp.FS.readFile(path) : null;
  }
  return { result: typeof result === "string" || typeof result === "number" ? result : null, outs, ms };
}

self.onmessage = async (e) => {
  const { id, op } = e.data;
  try {
    const startMs = await ready;
    if (op === "hello") {
      self.postMessage({ id, ok: true, result: startMs, marks });
    } else if (op === "need") {
      await need(e.data.modules);
      self.postMessage({ id, ok: true });
    } else if (op === "run") {
      const { result, outs, ms } = run(e.data.code, e.data.files, e.data.outputs);
      const transfer = Object.values(outs).filter((v) => v).map((v) => v.buffer);
      self.postMessage({ id, ok: true, result, outputs: outs, ms, printed }, transfer);
    } else {
      throw new Error(`unknown op ${op}`);
    }
  } catch (err) {
    const py = err && err.name === "PythonError";
    self.postMessage({
      id,
      ok: false,
      python: py,
      type: py ? err.type : "Error",
      error: String((err && err.message) || err),
      printed,
    });
  }
};
