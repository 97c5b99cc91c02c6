// microlearn studio: the page. Models run in MicroPython (worker.js) through mlrt; this file handles
// files, the plot, labels, training requests and deployment. No network use beyond this origin, except
// the station URL a user types in.
import * as F from "./formats.js";
import { drawPlot, COLORS } from "./plot.js";

const $ = (id) => document.getElementById(id);
const S = {
  model: null, // {name, bytes: Uint8Array | null, info, source: "file" | "trained"}
  signal: null, // {data: Float32Array (n x axes, interleaved), axes, n, sr, name, header, kind}
  windows: [], // window start samples
  winLen: 1,
  hop: 1,
  preds: [], // class index or value per window
  labels: [], // [{start, end, cls}] (sample ranges, end exclusive; cls = class name)
  history: [],
  cursor: 0,
  anchor: null,
  sel: null, // [start, end)
  imported: { X: [], y: [] }, // raw windows (Float32Array each) and class names
  pipeLocked: false,
  live: null,
  mpStartMs: null,
  firstPredictionAt: null,
  lastFeatures: null,
  latencyUs: null,
  featureMs: null,
  train: null,
};
window.studio = S;

// ------------------------------------------------------------------------------------------ MicroPython
const worker = window.studioWorker || new Worker("worker.js", { type: "module" });
const pending = new Map();
let nextId = 1;
worker.onmessage = (e) => {
  const p = pending.get(e.data.id);
  if (!p) return;
  pending.delete(e.data.id);
  if (e.data.ok) p.resolve(e.data);
  else p.reject(new Error(pyMessage(e.data)));
};
worker.onerror = (e) => showError(`MicroPython could not start in this browser: ${e.message || e}`);

function call(msg, transfer = []) {
  return new Promise((resolve, reject) => {
    const id = nextId++;
    pending.set(id, { resolve, reject });
    worker.postMessage({ id, ...msg }, transfer);
  });
}

function pyMessage(d) {
  if (!d.python) return d.error;
  const lines = d.error.trim().split("\n");
  const last = lines[lines.length - 1] || d.error;
  return last.replace(/^(ValueError|TypeError|MemoryError): /, "");
}

const py = (code, files = {}, outputs = []) => call({ op: "run", code, files, outputs });
const need = (modules) => call({ op: "need", modules });
const pyStr = (s) => JSON.stringify(String(s)); // a JSON string literal is a valid Python literal
window.studioPython = py; // for benchmarks: run code in the page's MicroPython

// start-up timeline (ms from navigation start), for benchmarks/studio.py
S.timeline = { "app-start": performance.now() };
const markT = (k) => (S.timeline[k] = performance.now());
const mpReady = call({ op: "hello" }).then((d) => {
  S.mpStartMs = d.result;
  for (const [k, v] of Object.entries(d.marks || {})) S.timeline[k] = v - performance.timeOrigin;
  markT("mp-ready");
  setStatus(`MicroPython ready (started in ${Math.round(d.result)} ms)`);
});
mpReady.catch((e) => showError(`MicroPython could not start: ${e.message}`));

// ------------------------------------------------------------------------------------------ messages
function showError(msg) {
  const el = $("error");
  el.textContent = msg;
  el.hidden = false;
}
function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
}
function setStatus(msg) {
  $("status").textContent = msg;
}
async function guarded(what, fn) {
  try {
    clearError();
    return await fn();
  } catch (e) {
    showError(`${what}: ${e.message || e}`);
    return undefined;
  }
}

// ------------------------------------------------------------------------------------------ pipeline
const num = (id) => Number($(id).value);

function pipeline() {
  const kind = $("pipe-kind").value;
  if (kind === "rows") return { kind };
  const window = num("pipe-window");
  const hop = num("pipe-hop");
  if (!(window >= 2 && Number.isInteger(window))) throw new Error("the window must be a whole number of samples >= 2");
  if (!(hop >= 1 && Number.isInteger(hop))) throw new Error("the hop must be a whole number of samples >= 1");
  const sr = num("pipe-sr");
  if (kind === "model") return { kind, window, hop, n_axes: num("pipe-axes") };
  if (kind === "sensor") {
    const stats = $("pipe-stats").value.split(",").map((s) => s.trim()).filter((s) => s);
    const bands = $("pipe-bands").value.split(",").map((s) => s.trim()).filter((s) => s).map((b) => {
      const m = /^([\d.]+)\s*-\s*([\d.]+)$/.exec(b);
      if (!m) throw new Error(`band "${b}" must look like 0-5 (Hz)`);
      return [Number(m[1]), Number(m[2])];
    });
    const cfg = { kind, window, hop, n_axes: num("pipe-axes"), stats, magnitude: $("pipe-mag").checked };
    if (bands.length) Object.assign(cfg, { sr, bands });
    else if (sr > 0) cfg.sr = sr;
    if (!stats.length && !bands.length) throw new Error("choose at least one statistic or band");
    return cfg;
  }
  return {
    kind,
    sr,
    window,
    hop,
    n_fft: num("pipe-nfft"),
    hop_length: num("pipe-hoplen"),
    n_mels: num("pipe-nmels"),
    n_mfcc: num("pipe-nmfcc"),
  };
}

function setPipeline(cfg) {
  $("pipe-kind").value = cfg.kind;
  const set = (id, v) => v !== undefined && v !== null && ($(id).value = v);
  set("pipe-window", cfg.window);
  set("pipe-hop", cfg.hop);
  set("pipe-axes", cfg.n_axes);
  set("pipe-sr", cfg.sr);
  if (cfg.stats) $("pipe-stats").value = cfg.stats.join(",");
  if (cfg.magnitude !== undefined) $("pipe-mag").checked = !!cfg.magnitude;
  if (cfg.bands) $("pipe-bands").value = cfg.bands.map((b) => `${b[0]}-${b[1]}`).join(",");
  set("pipe-nfft", cfg.n_fft);
  set("pipe-hoplen", cfg.hop_length);
  set("pipe-nmels", cfg.n_mels);
  set("pipe-nmfcc", cfg.n_mfcc);
  showPipeFields();
}

function showPipeFields() {
  const kind = $("pipe-kind").value;
  document.querySelectorAll(".p-sensor, .p-audio").forEach((el) => {
    el.hidden = !el.classList.contains(`p-${kind}`);
  });
}

function nFeatures(cfg, signal) {
  if (cfg.kind === "rows") return signal ? signal.axes : null;
  if (cfg.kind === "audio") return cfg.n_mfcc;
  if (cfg.kind === "model") return cfg.window * cfg.n_axes;
  return (cfg.n_axes + (cfg.magnitude ? 1 : 0)) * (cfg.stats.length + (cfg.bands ? cfg.bands.length : 0));
}

function windowsOf(cfg, n) {
  if (cfg.kind === "rows") return { starts: Array.from({ length: n }, (_, i) => i), len: 1, hop: 1 };
  const starts = [];
  for (let s = 0; s + cfg.window <= n; s += cfg.hop) starts.push(s);
  return { starts, len: cfg.window, hop: cfg.hop };
}

// The pipeline's features for windows of `data` (interleaved, `axes` per sample) starting at `starts`.
async function computeFeatures(cfg, data, axes, starts) {
  if (!starts.length) return { feats: new Float32Array(0), nf: nFeatures(cfg, { axes }), ms: 0 };
  if (cfg.kind === "rows" || cfg.kind === "model") {
    // the rows themselves, or raw windows for a pipeline model file (which computes its own features)
    const per = cfg.kind === "rows" ? 1 : cfg.window;
    const w = per * axes;
    const out = new Float32Array(starts.length * w);
    starts.forEach((s, i) => out.set(data.subarray(s * axes, s * axes + w), i * w));
    return { feats: out, nf: w, ms: 0 };
  }
  await need(cfg.kind === "sensor" ? ["dsp_features"] : ["dsp_fft", "dsp_mel"]);
  const lo = Math.min(...starts);
  const hi = Math.max(...starts) + cfg.window;
  const seg = data.slice(lo * axes, hi * axes);
  const rel = Int32Array.from(starts, (s) => s - lo);
  const json = JSON.stringify(cfg);
  const r = await py(
    `_r = studio_mp.features(${pyStr(json)}, "/sig.bin", "/starts.bin", "/feats.bin")`,
    { "/sig.bin": new Uint8Array(seg.buffer), "/starts.bin": new Uint8Array(rel.buffer) },
    ["/feats.bin"],
  );
  const feats = new Float32Array(r.outputs["/feats.bin"].buffer);
  return { feats, nf: nFeatures(cfg), ms: r.ms };
}

async function predictRows(feats, nf) {
  const r = await py(`_r = studio_mp.predict("/x.bin", ${nf}, "/pred.bin")`, { "/x.bin": new Uint8Array(feats.buffer.slice(0)) }, [
    "/pred.bin",
  ]);
  const raw = r.outputs["/pred.bin"];
  const out = S.model.info.classifier ? new Int32Array(raw.buffer) : new Float64Array(raw.buffer);
  return { preds: Array.from(out), ms: r.ms };
}

// ------------------------------------------------------------------------------------------ model
async function loadModelBytes(bytes, name) {
  await mpReady;
  if (!bytes.length) throw new Error(`${name} is empty`);
  const mods = await py(`_r = studio_mp.family_modules(open("/model.mlm", "rb").read(12))`, { "/model.mlm": bytes });
  await need(JSON.parse(mods.result));
  const r = await py(`_r = studio_mp.load_model("/model.mlm")`, { "/model.mlm": bytes });
  const info = JSON.parse(r.result);
  if (info.pipeline && info.pipeline.window) {
    // a pipeline file takes raw windows: cut them as its first stage expects
    const cur = pipeline();
    const hop = cur.kind === "model" && cur.hop ? cur.hop : Math.max(1, Math.floor(info.pipeline.window / 2));
    setPipeline({ kind: "model", window: info.pipeline.window, n_axes: info.pipeline.n_axes, hop });
  } else if (pipeline().kind === "model") {
    setPipeline({ kind: "sensor" });
  }
  S.model = { name, bytes, info, source: "file" };
  S.preds = [];
  markT("model-loaded");
  renderModelInfo();
  setStatus(`Loaded ${name}`);
}

function classNames() {
  const seen = new Set();
  return $("classes").value.split(",").map((s) => s.trim()).filter((s) => s && !seen.has(s) && seen.add(s));
}

function labelOf(p) {
  const info = S.model && S.model.info;
  if (!info || !info.classifier) return Number(p).toPrecision(6);
  return info.classes ? String(info.classes[p]) : String(p);
}

function renderModelInfo() {
  const dl = $("model-info");
  dl.replaceChildren();
  const add = (k, v) => {
    if (v === null || v === undefined) return;
    const dt = document.createElement("dt");
    dt.textContent = k;
    const dd = document.createElement("dd");
    dd.textContent = v;
    dd.dataset.testid = `info-${k.replace(/\W+/g, "-")}`;
    dl.append(dt, dd);
  };
  const m = S.model;
  if (!m) return;
  const i = m.info;
  add("model", m.name);
  if (i.pipeline) add("pipeline", `${i.pipeline.n_stages} stage(s) in the file` + (i.pipeline.window ? `, windows of ${i.pipeline.window} × ${i.pipeline.n_axes}` : ""));
  const names = { Linear: "linear model", KNN: "k-nearest neighbours (kept in RAM)", Logistic: "logistic regression (kept in RAM)" };
  const fam = i.n_trees ? `tree ensemble, ${i.n_trees} tree${i.n_trees > 1 ? "s" : ""}, ${i.n_nodes} nodes` : names[i.family] || i.family || i.kind;
  add("family", fam);
  add("task", i.classifier ? `classifier, ${i.n_outputs} classes` : "regressor");
  add("features", i.n_features);
  if (i.classes) add("classes", i.classes.join(", "));
  add("model size", i.file_bytes ? `${i.file_bytes.toLocaleString("en")} bytes (file)` : "no model file (kept in RAM)");
  if (i.ram_bytes) add("RAM", `${i.ram_bytes.toLocaleString("en")} bytes of arrays`);
  if (S.latencyUs !== null) add("latency", `${S.latencyUs.toFixed(0)} µs per prediction (MicroPython WebAssembly)`);
  if (S.featureMs) add("feature time", `${S.featureMs.toFixed(1)} ms per window (pipeline in MicroPython)`);
}

// ------------------------------------------------------------------------------------------ data
async function loadDataFile(file) {
  const name = file.name;
  const lower = name.toLowerCase();
  const buf = await file.arrayBuffer();
  let sig;
  if (lower.endsWith(".wav")) {
    const w = F.parseWAV(buf, name);
    const cfg = pipeline();
    if (cfg.kind === "audio" && S.pipeLocked && cfg.sr !== w.sr) {
      throw new Error(`the pipeline expects ${cfg.sr} Hz audio but ${name} is ${w.sr} Hz: resample it (e.g. sox ${name} -r ${cfg.sr} out.wav)`);
    }
    if (cfg.kind !== "audio") {
      $("pipe-kind").value = "audio";
      showPipeFields();
    }
    $("pipe-sr").value = w.sr;
    if (!S.pipeLocked && num("pipe-window") < num("pipe-nfft")) {
      $("pipe-window").value = w.sr;
      $("pipe-hop").value = Math.floor(w.sr / 2);
    }
    sig = { data: w.samples, axes: 1, n: w.samples.length, sr: w.sr, name, header: ["audio"] };
  } else if (lower.endsWith(".npy")) {
    const a = F.parseNPY(buf, name);
    if (!a.data || a.shape.length < 1 || a.shape.length > 2) throw new Error(`${name}: expected a 1-D or 2-D array of numbers, got shape (${a.shape})`);
    const axes = a.shape.length === 2 ? a.shape[1] : 1;
    sig = { data: Float32Array.from(a.data), axes, n: a.shape[0], sr: null, name, header: null };
  } else if (lower.endsWith(".csv") || lower.endsWith(".txt")) {
    const c = F.parseCSV(new TextDecoder().decode(buf), name);
    sig = { data: Float32Array.from(c.data), axes: c.nCols, n: c.nRows, sr: null, name, header: c.header };
  } else {
    throw new Error(`${name}: use a .csv, .npy or .wav file`);
  }
  for (let i = 0; i < sig.data.length; i++) {
    if (!Number.isFinite(sig.data[i])) throw new Error(`${name}: value ${i + 1} is NaN or infinite: clean the data first`);
  }
  const cfg = pipeline();
  if (cfg.kind === "sensor" && !S.pipeLocked) $("pipe-axes").value = sig.axes;
  setSignal(sig);
  markT("data-loaded");
  setStatus(`Loaded ${name}: ${sig.n} ${cfg.kind === "rows" ? "rows" : "samples"} × ${sig.axes}`);
}

function setSignal(sig) {
  S.signal = sig;
  S.labels = [];
  S.history = [];
  S.preds = [];
  S.cursor = 0;
  S.sel = null;
  refreshWindows();
  renderAll();
}

function refreshWindows() {
  if (!S.signal) return;
  let cfg;
  try {
    cfg = pipeline();
  } catch {
    return;
  }
  const w = windowsOf(cfg, S.signal.n);
  S.windows = w.starts;
  S.winLen = w.len;
  S.hop = w.hop;
}

function checkShapes(cfg) {
  const sig = S.signal;
  const m = S.model;
  if (cfg.kind === "rows") {
    if (m && sig.axes !== m.info.n_features) {
      throw new Error(
        `${sig.name} has ${sig.axes} columns but the model takes ${m.info.n_features} features: give one column per ` +
          `feature, or for raw sensor samples choose the "sensor features" pipeline`,
      );
    }
  } else if (cfg.kind === "sensor" || cfg.kind === "model") {
    if (sig.axes !== cfg.n_axes) throw new Error(`${sig.name} has ${sig.axes} columns but the pipeline has ${cfg.n_axes} axes: set Axes`);
  } else if (sig.axes !== 1) {
    throw new Error(`the audio pipeline takes one channel; ${sig.name} has ${sig.axes} columns`);
  }
  if (m && cfg.kind === "model" && nFeatures(cfg) !== m.info.n_features) {
    throw new Error(`the model file's pipeline takes windows of ${m.info.n_features} values, not ${cfg.window} × ${cfg.n_axes}`);
  }
  if (m && cfg.kind !== "rows" && cfg.kind !== "model" && nFeatures(cfg) !== m.info.n_features) {
    throw new Error(`the pipeline makes ${nFeatures(cfg)} features but the model takes ${m.info.n_features}: load the pipeline JSON saved with the model`);
  }
  if (cfg.kind !== "rows" && sig.n < cfg.window) {
    throw new Error(`${sig.name} has ${sig.n} samples, fewer than one window (${cfg.window})`);
  }
}

async function runModel() {
  if (S.live) return; // while recording, the live pump predicts each window as it arrives
  if (!S.model) throw new Error("load a model file (or train one) first");
  if (!S.signal) throw new Error("load a data file (or record) first");
  const cfg = pipeline();
  checkShapes(cfg);
  refreshWindows();
  setStatus("Predicting…");
  const { feats, nf, ms } = await computeFeatures(cfg, S.signal.data, S.signal.axes, S.windows);
  S.lastFeatures = { feats, nf };
  S.featureMs = S.windows.length ? ms / S.windows.length : null;
  const p = await predictRows(feats, nf);
  S.preds = p.preds;
  S.latencyUs = S.windows.length ? (1000 * p.ms) / S.windows.length : null;
  renderAll();
  if (S.firstPredictionAt === null && S.preds.length) S.firstPredictionAt = markT("first-prediction");
  renderModelInfo();
  setStatus(`${S.preds.length} predictions`);
}

// ------------------------------------------------------------------------------------------ rendering
function renderPredictions() {
  const tb = $("predictions").querySelector("tbody");
  const rows = [];
  const n = S.preds.length;
  for (let i = 0; i < n; i++) {
    const tr = document.createElement("tr");
    tr.dataset.testid = "prediction-row";
    const s = S.windows[i];
    const a = document.createElement("td");
    a.textContent = String(i + 1);
    a.className = "num";
    const b = document.createElement("td");
    b.textContent = S.winLen === 1 ? `row ${s + 1}` : `${s}–${s + S.winLen}`;
    const c = document.createElement("td");
    c.dataset.testid = "label";
    const sw = document.createElement("span");
    sw.className = "swatch";
    if (S.model && S.model.info.classifier) sw.style.background = COLORS[S.preds[i] % COLORS.length];
    c.append(sw, document.createTextNode(labelOf(S.preds[i])));
    tr.append(a, b, c);
    rows.push(tr);
  }
  tb.replaceChildren(...rows);
  const counts = {};
  if (S.model && S.model.info.classifier) S.preds.forEach((p) => (counts[labelOf(p)] = (counts[labelOf(p)] || 0) + 1));
  $("pred-summary").textContent = n
    ? `${n} prediction${n > 1 ? "s" : ""}` + (Object.keys(counts).length ? ": " + Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(", ") : "")
    : "No predictions yet.";
}

function renderCounts() {
  const names = classNames();
  const tb = $("label-counts");
  const lw = labelledWindows();
  const rows = names.map((name, k) => {
    const tr = document.createElement("tr");
    const cells = [
      name,
      S.labels.filter((l) => l.cls === name).length,
      lw.filter((w) => w.cls === name).length,
      S.imported.y.filter((y) => y === name).length,
    ];
    cells.forEach((v, j) => {
      const td = document.createElement("td");
      if (j === 0) {
        const sw = document.createElement("span");
        sw.className = "swatch";
        sw.style.background = COLORS[k % COLORS.length];
        td.append(sw, document.createTextNode(`${k + 1} ${v}`));
      } else {
        td.textContent = String(v);
        td.className = "num";
      }
      td.dataset.testid = ["count-class", "count-ranges", "count-windows", "count-imported"][j];
      tr.append(td);
    });
    return tr;
  });
  tb.replaceChildren(...rows);
  const box = $("class-buttons");
  box.replaceChildren(
    ...names.slice(0, 9).map((name, k) => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "cls";
      b.style.borderColor = COLORS[k % COLORS.length];
      b.textContent = `${k + 1}: label “${name}”`;
      b.dataset.testid = `label-as-${k + 1}`;
      b.addEventListener("click", () => labelSelection(k));
      return b;
    }),
  );
}

function renderPlot() {
  drawPlot($("plot"), S, classNames(), S.model && S.model.info.classifier ? (p) => labelOf(p) : null);
}

function renderAll() {
  renderPlot();
  renderPredictions();
  renderCounts();
}

// ------------------------------------------------------------------------------------------ labelling
function snapshot() {
  S.history.push(JSON.stringify(S.labels));
  if (S.history.length > 200) S.history.shift();
}

function addLabel(start, end, cls) {
  if (!(end > start)) return;
  snapshot();
  const out = [];
  for (const l of S.labels) {
    if (l.end <= start || l.start >= end) out.push(l);
    else {
      if (l.start < start) out.push({ ...l, end: start });
      if (l.end > end) out.push({ ...l, start: end });
    }
  }
  out.push({ start, end, cls });
  out.sort((a, b) => a.start - b.start);
  S.labels = out;
  renderAll();
}

function labelSelection(k) {
  const names = classNames();
  if (k >= names.length) return;
  if (!S.signal) return showError("load or record data before labelling");
  let [a, b] = S.sel || [S.cursor, S.cursor + S.winLen];
  b = Math.min(b, S.signal.n);
  S.sel = null;
  S.anchor = null;
  addLabel(Math.max(0, a), b, names[k]);
}

function undo() {
  if (!S.history.length) return;
  S.labels = JSON.parse(S.history.pop());
  renderAll();
}

function deleteAtCursor() {
  const i = S.labels.findIndex((l) => l.start <= S.cursor && S.cursor < l.end);
  if (i < 0) return;
  snapshot();
  S.labels.splice(i, 1);
  renderAll();
}

// windows lying wholly inside one labelled range
function labelledWindows() {
  if (!S.signal) return [];
  const out = [];
  for (const s of S.windows) {
    const e = s + S.winLen;
    const l = S.labels.find((l) => l.start <= s && e <= l.end);
    if (l) out.push({ start: s, cls: l.cls });
  }
  return out;
}

function windowWidth() {
  return S.signal ? S.winLen * S.signal.axes : null;
}

function rawWindow(start) {
  const ax = S.signal.axes;
  return S.signal.data.slice(start * ax, (start + S.winLen) * ax);
}

function allLabelledWindows() {
  const X = [];
  const y = [];
  for (const w of labelledWindows()) {
    X.push(rawWindow(w.start));
    y.push(w.cls);
  }
  const width = windowWidth();
  S.imported.X.forEach((x, i) => {
    if (width === null || x.length === width) {
      X.push(x);
      y.push(S.imported.y[i]);
    }
  });
  return { X, y };
}

function download(bytes, name, type = "application/octet-stream") {
  const url = URL.createObjectURL(new Blob([bytes], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function exportWindows(fmt) {
  const { X, y } = allLabelledWindows();
  if (!X.length) throw new Error("no labelled windows yet: mark time ranges on the plot first");
  const width = X[0].length;
  if (fmt === "csv") {
    const names = S.winLen === 1 && S.signal && S.signal.header ? S.signal.header : Array.from({ length: width }, (_, i) => `x${i}`);
    const text = F.writeCSV(["label", ...names], X.map((x, i) => [y[i], ...Array.from(x, (v) => v.toPrecision(9))]));
    download(new TextEncoder().encode(text), "windows.csv", "text/csv");
  } else {
    const flat = new Float32Array(X.length * width);
    X.forEach((x, i) => flat.set(x, i * width));
    const files = {
      "X.npy": F.writeNPY(flat, [X.length, width]),
      "y.npy": F.writeNPYStrings(y),
      "pipeline.npy": F.writeNPYStrings([JSON.stringify(pipeline())]),
    };
    download(F.writeZip(files), "windows.npz");
  }
}

async function importWindows(file) {
  const buf = await file.arrayBuffer();
  const lower = file.name.toLowerCase();
  let X = [];
  let y = [];
  if (lower.endsWith(".npz")) {
    const z = await F.readZip(buf, file.name);
    if (!z["X.npy"] || !z["y.npy"]) throw new Error(`${file.name} needs arrays X (windows) and y (labels)`);
    const a = F.parseNPY(z["X.npy"].buffer, "X.npy");
    const b = F.parseNPY(z["y.npy"].buffer, "y.npy");
    if (a.shape.length !== 2) throw new Error("X must be 2-D: one window per row");
    const w = a.shape[1];
    for (let i = 0; i < a.shape[0]; i++) X.push(Float32Array.from(a.data.subarray(i * w, (i + 1) * w)));
    y = b.strings ? b.strings : Array.from(b.data, (v) => String(v));
    if (z["pipeline.npy"] && !S.signal) {
      const p = F.parseNPY(z["pipeline.npy"].buffer, "pipeline.npy");
      if (p.strings) setPipeline(JSON.parse(p.strings[0]));
    }
  } else {
    const c = F.parseCSV(new TextDecoder().decode(buf), file.name);
    if (!c.labels) throw new Error(`${file.name} needs a header line with a "label" column`);
    for (let i = 0; i < c.nRows; i++) X.push(Float32Array.from(c.data.subarray(i * c.nCols, (i + 1) * c.nCols)));
    y = c.labels;
  }
  if (X.length !== y.length) throw new Error(`${file.name}: ${X.length} windows but ${y.length} labels`);
  const width = windowWidth();
  if (width !== null && X.length && X[0].length !== width) {
    throw new Error(`${file.name} holds windows of ${X[0].length} values but the current data makes windows of ${width} (window × axes): match the pipeline`);
  }
  const names = classNames();
  for (const c of y) if (!names.includes(c)) names.push(c);
  $("classes").value = names.join(",");
  S.imported.X.push(...X);
  S.imported.y.push(...y);
  renderCounts();
  setStatus(`Imported ${X.length} labelled windows`);
}

// ------------------------------------------------------------------------------------------ training
async function train() {
  const cfg = pipeline();
  if (cfg.kind === "model") {
    throw new Error("training here computes features with a studio pipeline: choose \"sensor features\" (a pipeline model file is written on the host)");
  }
  const { X, y } = allLabelledWindows();
  if (!X.length) throw new Error("no labelled windows: mark time ranges on the plot (or import windows) first");
  const names = classNames().filter((c) => y.includes(c));
  if (names.length < 2) throw new Error("label windows of at least two classes before training");
  const width = X[0].length;
  const axes = cfg.kind === "rows" ? width : cfg.kind === "sensor" ? cfg.n_axes : 1;
  if (cfg.kind !== "rows" && width !== cfg.window * axes) {
    throw new Error(`labelled windows hold ${width} values but the pipeline's window is ${cfg.window} × ${axes}`);
  }
  setStatus(`Training on ${X.length} windows…`);
  $("train").disabled = true;
  try {
    const flat = new Float32Array(X.length * width);
    X.forEach((x, i) => flat.set(x, i * width));
    const per = cfg.kind === "rows" ? 1 : cfg.window;
    const starts = X.map((_, i) => i * per);
    const t0 = performance.now();
    const { feats, nf } = await computeFeatures(cfg, flat, axes, starts);
    const kind = $("train-kind").value;
    const modules = { tree: ["train_trees"], forest: ["train_trees"], knn: ["train_knn", "transform", "neighbors", "pipeline"], logistic: ["train_knn", "train_linear", "linear"] };
    // a sensor pipeline's trees are handed out as a pipeline file, which mlrt reads back with these
    const pipeMods = cfg.kind === "sensor" ? ["pipeline", "features", "transform"] : [];
    await need(["train", "writer", ...(modules[kind] || []), ...pipeMods]);
    let fnames = null;
    if (cfg.kind === "rows" && S.signal && S.signal.header && S.signal.header.length === nf) fnames = S.signal.header;
    const settings = {
      kind,
      classes: names,
      n_features: nf,
      val_fraction: num("train-val"),
      seed: num("train-seed"),
      params: { n_trees: num("train-trees"), max_depth: num("train-depth"), k: num("train-k"), C: num("train-c") },
      feature_names: fnames,
      pipeline: cfg,
    };
    if (cfg.kind !== "rows") {
      const r = await py(`_r = __import__("json").dumps(studio_mp.feature_names(__import__("json").loads(${pyStr(JSON.stringify(cfg))})))`);
      settings.feature_names = JSON.parse(r.result);
    }
    const yi = Int32Array.from(y, (c) => names.indexOf(c));
    const r = await py(
      `_r = studio_mp.train(${pyStr(JSON.stringify(settings))}, "/tx.bin", "/ty.bin")`,
      { "/tx.bin": new Uint8Array(feats.buffer.slice(0)), "/ty.bin": new Uint8Array(yi.buffer) },
      ["/trained.mlm"],
    );
    const res = JSON.parse(r.result);
    res.ms = performance.now() - t0;
    S.train = res;
    const bytes = r.outputs["/trained.mlm"];
    S.model = { name: bytes ? `${kind}.mlm` : kind, bytes, info: res.info, source: "trained" };
    S.pipeLocked = true;
    renderTrainResult(res, names);
    renderModelInfo();
    if (S.signal) await runModel();
    setStatus(`Trained ${kind} in ${(res.ms / 1000).toFixed(1)} s`);
  } finally {
    $("train").disabled = false;
  }
}

function renderTrainResult(res, names) {
  const box = $("train-result");
  box.replaceChildren();
  const p = document.createElement("p");
  const pct = (v) => (v === null ? "–" : `${(100 * v).toFixed(1)}%`);
  p.innerHTML = "";
  p.append(
    `Validation accuracy `,
    Object.assign(document.createElement("strong"), { textContent: pct(res.val_accuracy) }),
    ` on ${res.n_val} windows (training accuracy ${pct(res.train_accuracy)} on ${res.n_train}).`,
  );
  p.querySelector("strong").dataset.testid = "val-accuracy";
  box.append(p);
  const t = document.createElement("table");
  t.className = "confusion";
  t.dataset.testid = "confusion";
  const cap = document.createElement("caption");
  cap.textContent = "Confusion matrix (validation): rows = true class, columns = predicted";
  t.append(cap);
  const head = document.createElement("tr");
  head.append(document.createElement("th"), ...names.map((n) => Object.assign(document.createElement("th"), { textContent: n, scope: "col" })));
  t.append(head);
  res.confusion.forEach((row, i) => {
    const tr = document.createElement("tr");
    tr.append(Object.assign(document.createElement("th"), { textContent: names[i], scope: "row" }));
    row.forEach((v, j) => tr.append(Object.assign(document.createElement("td"), { textContent: String(v), className: i === j ? "num diag" : "num" })));
    t.append(tr);
  });
  box.append(t);
  if (!res.file_bytes) {
    const note = document.createElement("p");
    note.className = "help";
    note.textContent = "This model predicts here but has no model-file format: it cannot be downloaded or deployed.";
    box.append(note);
  } else {
    const note = document.createElement("p");
    note.className = "help";
    const sensor = pipeline().kind === "sensor";
    const what =
      res.kind === "logistic"
        ? "a linear-model file (features in; keep the pipeline JSON with it)"
        : res.kind === "knn"
          ? sensor
            ? "a pipeline file (feature stage, standardisation, the stored feature rows) taking raw windows"
            : "a pipeline file (standardisation, then the stored rows of a nearest-neighbours model)"
          : sensor
            ? "a pipeline file (feature stage + trees) taking raw windows"
            : "a tree-ensemble file";
    note.textContent = `Model file written in MicroPython by mlrt.writer, ${what}: ${res.file_bytes.toLocaleString("en")} bytes; validation rows were predicted by mlrt from the file.`;
    box.append(note);
  }
}

// ------------------------------------------------------------------------------------------ deploy
function modelBytesOrThrow() {
  if (!S.model) throw new Error("load or train a model first");
  if (!S.model.bytes) throw new Error(`a ${S.model.info.kind} model has no model-file format: it cannot be downloaded or deployed`);
  return S.model.bytes;
}

async function sendToStation() {
  const bytes = modelBytesOrThrow();
  const base = $("station-url").value.trim().replace(/\/+$/, "");
  if (!/^https?:\/\//.test(base)) throw new Error("enter the station's address, e.g. http://192.168.4.1");
  const token = $("station-token").value;
  if (!token) throw new Error("enter the station's token");
  let r;
  try {
    r = await fetch(`${base}/api/model`, {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/octet-stream" },
      body: bytes,
    });
  } catch (e) {
    throw new Error(`cannot reach ${base} (${e.message}): check the address, that the station is on, and that it allows this page's origin (CORS)`);
  }
  const text = (await r.text()).slice(0, 300);
  if (r.status === 401 || r.status === 403) throw new Error(`the station refused the token (HTTP ${r.status}): check the token`);
  if (!r.ok) throw new Error(`the station answered HTTP ${r.status}: ${text}`);
  $("deploy-status").textContent = `Sent ${bytes.length.toLocaleString("en")} bytes to ${base}: ${text || r.statusText}`;
}

async function sendSerial() {
  const bytes = modelBytesOrThrow();
  if (!("serial" in navigator)) throw new Error("this browser has no Web Serial (use Chrome or Edge on a desktop), or download the file and copy it with mpremote");
  const port = await navigator.serial.requestPort();
  await port.open({ baudRate: 115200 });
  const enc = new TextEncoder();
  const writer = port.writable.getWriter();
  const reader = port.readable.getReader();
  let got = "";
  const readFor = async (ms) => {
    const end = performance.now() + ms;
    while (performance.now() < end) {
      const r = await Promise.race([reader.read(), new Promise((res) => setTimeout(() => res(null), 50))]);
      if (r && r.value) got += new TextDecoder().decode(r.value);
      if (got.includes("\x04>")) break;
    }
  };
  try {
    await writer.write(enc.encode("\r\x03\x03\x01")); // interrupt, raw REPL
    await readFor(300);
    const b64 = btoa(String.fromCharCode(...bytes));
    let code = "import binascii\nf=open('model.mlm','wb')\n";
    for (let i = 0; i < b64.length; i += 1024) code += `f.write(binascii.a2b_base64('${b64.slice(i, i + 1024)}'))\n`;
    code += "f.close()\nprint('written', len(open('model.mlm','rb').read()))\n";
    got = "";
    for (let i = 0; i < code.length; i += 256) await writer.write(enc.encode(code.slice(i, i + 256)));
    await writer.write(enc.encode("\x04"));
    await readFor(5000);
    await writer.write(enc.encode("\x02")); // back to the normal REPL
    if (!got.includes(`written ${bytes.length}`)) throw new Error(`the board did not confirm the write: ${JSON.stringify(got.slice(0, 200))}`);
    $("deploy-status").textContent = `Wrote model.mlm (${bytes.length} bytes) on the board over USB`;
  } finally {
    reader.releaseLock();
    writer.releaseLock();
    await port.close();
  }
}

// ------------------------------------------------------------------------------------------ live
async function startLive(kind) {
  if (S.live) return;
  await mpReady;
  const cfg0 = pipeline();
  if (kind === "motion") {
    if (cfg0.kind !== "sensor") setPipeline({ kind: "sensor" });
    if (!S.pipeLocked) $("pipe-axes").value = 3;
    if (typeof DeviceMotionEvent === "undefined") throw new Error("this browser has no accelerometer (DeviceMotion) API");
    if (typeof DeviceMotionEvent.requestPermission === "function") {
      const p = await DeviceMotionEvent.requestPermission();
      if (p !== "granted") throw new Error("motion sensor permission was refused");
    }
  } else {
    if (cfg0.kind !== "audio") setPipeline({ kind: "audio", sr: 16000, window: 16000, hop: 8000 });
  }
  const cfg = pipeline();
  const axes = kind === "motion" ? cfg.n_axes : 1;
  if (kind === "motion" && axes !== 3) throw new Error("the accelerometer gives 3 axes: set Axes to 3");
  const live = { kind, cfg, axes, buf: new Float32Array(axes * 4096), n: 0, next: 0, busy: false, stop: null, t0: performance.now() };
  S.live = live;
  S.signal = { data: live.buf.subarray(0, 0), axes, n: 0, sr: cfg.sr || null, name: kind === "motion" ? "accelerometer" : "microphone", header: null };
  S.labels = [];
  S.history = [];
  S.preds = [];
  S.windows = [];
  refreshWindows();
  if (kind === "motion") {
    const onMotion = (e) => {
      const a = e.accelerationIncludingGravity || e.acceleration;
      if (!a) return;
      push([a.x || 0, a.y || 0, a.z || 0]);
      if (e.interval && !live.srSet) {
        live.srSet = true;
        S.signal.sr = Math.round(1000 / e.interval);
      }
    };
    window.addEventListener("devicemotion", onMotion);
    live.stop = () => window.removeEventListener("devicemotion", onMotion);
  } else {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) throw new Error("this browser cannot record audio (no getUserMedia)");
    const stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false } });
    const ctx = new AudioContext({ sampleRate: cfg.sr });
    const src = ctx.createMediaStreamSource(stream);
    const proc = ctx.createScriptProcessor(4096, 1, 1);
    const mute = ctx.createGain();
    mute.gain.value = 0;
    proc.onaudioprocess = (e) => push(e.inputBuffer.getChannelData(0));
    src.connect(proc);
    proc.connect(mute);
    mute.connect(ctx.destination);
    live.stop = () => {
      proc.disconnect();
      src.disconnect();
      stream.getTracks().forEach((t) => t.stop());
      ctx.close();
    };
  }
  $("live-stop").disabled = false;
  $("live-motion").disabled = $("live-mic").disabled = true;
  setStatus(`Recording from the ${S.signal.name}…`);

  function push(values) {
    const add = kind === "motion" ? 1 : values.length; // samples
    const total = (live.n + add) * axes;
    if (total > live.buf.length) {
      const nb = new Float32Array(Math.max(total, live.buf.length * 2));
      nb.set(live.buf);
      live.buf = nb;
    }
    live.buf.set(values, live.n * axes);
    live.n += add;
    S.signal.data = live.buf.subarray(0, live.n * axes);
    S.signal.n = live.n;
    pump();
  }

  async function pump() {
    if (live.busy || S.live !== live) return;
    if (!S.model) {
      schedulePlot(); // windows wait for the model: they are predicted once it has loaded
      return;
    }
    const starts = [];
    while (live.next + cfg.window <= live.n) {
      starts.push(live.next);
      live.next += cfg.hop;
    }
    if (!starts.length) {
      schedulePlot();
      return;
    }
    live.busy = true;
    try {
      const { feats, nf } = await computeFeatures(cfg, live.buf.subarray(0, live.n * axes), axes, starts);
      if (nf !== S.model.info.n_features) throw new Error(`the pipeline makes ${nf} features but the model takes ${S.model.info.n_features}`);
      const p = await predictRows(feats, nf);
      S.windows.push(...starts);
      S.preds.push(...p.preds);
      S.latencyUs = (1000 * p.ms) / starts.length;
      if (S.firstPredictionAt === null) S.firstPredictionAt = performance.now();
      renderPredictions();
      schedulePlot();
    } catch (e) {
      showError(`live prediction: ${e.message}`);
      stopLive();
    } finally {
      live.busy = false;
    }
    if (S.live === live && live.next + cfg.window <= live.n) pump(); // samples that came in meanwhile
  }
}

let plotQueued = false;
function schedulePlot() {
  if (plotQueued) return;
  plotQueued = true;
  requestAnimationFrame(() => {
    plotQueued = false;
    renderPlot();
  });
}

function stopLive() {
  const live = S.live;
  if (!live) return;
  S.live = null;
  if (live.stop) live.stop();
  S.signal.data = live.buf.slice(0, live.n * live.axes);
  S.signal.n = live.n;
  const keepPreds = S.preds;
  refreshWindows();
  S.preds = keepPreds.slice(0, S.windows.length);
  $("live-stop").disabled = true;
  $("live-motion").disabled = $("live-mic").disabled = false;
  renderAll();
  setStatus(`Recorded ${live.n} samples from the ${S.signal.name}`);
}

// ------------------------------------------------------------------------------------------ plot input
const canvas = $("plot");
function sampleAt(clientX) {
  const r = canvas.getBoundingClientRect();
  const n = S.signal ? S.signal.n : 0;
  return Math.max(0, Math.min(n, Math.round(((clientX - r.left) / r.width) * n)));
}
let dragging = null;
canvas.addEventListener("pointerdown", (e) => {
  if (!S.signal) return;
  canvas.setPointerCapture(e.pointerId);
  dragging = sampleAt(e.clientX);
  S.cursor = dragging;
  S.sel = null;
  renderPlot();
});
canvas.addEventListener("pointermove", (e) => {
  if (dragging === null) return;
  const x = sampleAt(e.clientX);
  S.sel = x === dragging ? null : [Math.min(x, dragging), Math.max(x, dragging)];
  S.cursor = x;
  renderPlot();
});
canvas.addEventListener("pointerup", () => (dragging = null));
canvas.addEventListener("keydown", (e) => {
  if (!S.signal) return;
  const n = S.signal.n;
  const step = Math.max(1, S.hop) * (e.ctrlKey || e.metaKey ? 10 : 1);
  let handled = true;
  const move = (to) => {
    to = Math.max(0, Math.min(n, to));
    if (e.shiftKey) {
      if (S.anchor === null) S.anchor = S.sel ? S.sel[0] : S.cursor;
      S.sel = to === S.anchor ? null : [Math.min(to, S.anchor), Math.max(to, S.anchor)];
    } else {
      S.anchor = null;
    }
    S.cursor = to;
  };
  if (e.key === "ArrowRight") move(S.cursor + step);
  else if (e.key === "ArrowLeft") move(S.cursor - step);
  else if (e.key === "Home") move(0);
  else if (e.key === "End") move(n);
  else if (/^[1-9]$/.test(e.key) && !e.ctrlKey && !e.metaKey) labelSelection(Number(e.key) - 1);
  else if (e.key === "Delete" || e.key === "Backspace") deleteAtCursor();
  else if (e.key === "u" || e.key === "U" || ((e.ctrlKey || e.metaKey) && e.key === "z")) undo();
  else if (e.key === "Escape") {
    S.sel = null;
    S.anchor = null;
  } else handled = false;
  if (handled) {
    e.preventDefault();
    renderPlot();
  }
});
window.addEventListener("resize", () => renderPlot());

// ------------------------------------------------------------------------------------------ wiring
$("model-file").addEventListener("change", (e) =>
  guarded("model file", async () => {
    const f = e.target.files[0];
    if (!f) return;
    await loadModelBytes(new Uint8Array(await f.arrayBuffer()), f.name);
    S.pipeLocked = false;
    if (S.signal) await runModel();
  }),
);
$("data-file").addEventListener("change", (e) =>
  guarded("data file", async () => {
    const f = e.target.files[0];
    if (!f) return;
    await loadDataFile(f);
    if (S.model) await runModel();
  }),
);
$("pipe-file").addEventListener("change", (e) =>
  guarded("pipeline file", async () => {
    const f = e.target.files[0];
    if (!f) return;
    let cfg;
    try {
      cfg = JSON.parse(await f.text());
    } catch (err) {
      throw new Error(`${f.name} is not JSON (${err.message})`);
    }
    if (!cfg || !["rows", "sensor", "audio", "model"].includes(cfg.kind)) throw new Error(`${f.name}: "kind" must be rows, sensor, audio or model`);
    setPipeline(cfg);
    S.pipeLocked = true;
    refreshWindows();
    renderAll();
    if (S.model && S.signal) await runModel();
  }),
);
$("pipe-kind").addEventListener("change", () => {
  showPipeFields();
  refreshWindows();
  renderAll();
});
document.querySelectorAll("fieldset input").forEach((el) =>
  el.addEventListener("change", () => {
    if (el.type !== "file") S.pipeLocked = false;
    refreshWindows();
    renderAll();
  }),
);
$("pipe-save").addEventListener("click", () =>
  guarded("pipeline", async () => download(new TextEncoder().encode(JSON.stringify(pipeline(), null, 1)), "pipeline.json", "application/json")),
);
$("run").addEventListener("click", () => guarded("run", runModel));
$("classes").addEventListener("change", () => renderAll());
$("undo").addEventListener("click", undo);
$("clear-labels").addEventListener("click", () => {
  snapshot();
  S.labels = [];
  renderAll();
});
$("export-csv").addEventListener("click", () => guarded("export", async () => exportWindows("csv")));
$("export-npz").addEventListener("click", () => guarded("export", async () => exportWindows("npz")));
$("import-windows").addEventListener("change", (e) => guarded("import", () => e.target.files[0] && importWindows(e.target.files[0])));
$("train").addEventListener("click", () => guarded("training", train));
$("download").addEventListener("click", () =>
  guarded("download", async () => download(modelBytesOrThrow(), S.model.source === "trained" ? `studio-${S.model.name}` : S.model.name)),
);
$("send-station").addEventListener("click", () => guarded("send to station", sendToStation));
$("send-serial").addEventListener("click", () => guarded("Web Serial", sendSerial));
if (!("serial" in navigator)) {
  $("send-serial").disabled = true;
  $("send-serial").title = "Web Serial is not available in this browser";
}
$("live-motion").addEventListener("click", () => guarded("accelerometer", () => startLive("motion")));
$("live-mic").addEventListener("click", () => guarded("microphone", () => startLive("mic")));
$("live-stop").addEventListener("click", stopLive);

showPipeFields();
renderAll();

// ?model=URL&data=URL&pipeline=URL (same origin) load files on start, e.g. from a device serving the studio
(async () => {
  const q = new URLSearchParams(location.search);
  const get = async (key) => {
    const url = q.get(key);
    if (!url) return null;
    const r = await fetch(url);
    if (!r.ok) throw new Error(`cannot fetch ${url}: HTTP ${r.status}`);
    return { name: url.split("/").pop(), buf: await r.arrayBuffer() };
  };
  await guarded("start-up files", async () => {
    const [m, d, p] = await Promise.all([get("model"), get("data"), get("pipeline")]);
    if (p) {
      setPipeline(JSON.parse(new TextDecoder().decode(p.buf)));
      S.pipeLocked = true;
    }
    if (d) await loadDataFile(new File([d.buf], d.name));
    if (m) await loadModelBytes(new Uint8Array(m.buf), m.name);
    if (m && d) await runModel();
  });
})();
