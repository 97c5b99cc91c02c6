// microlearn station UI: plain ES module, no build step. Talks to the JSON API with the token
// (Authorization: Bearer) or the login session (cookie + X-CSRF-Token).
const $ = (id) => document.getElementById(id);
const S = { token: sessionStorage.getItem("station-token") || "", csrf: null, fields: [], sel: null, windowMs: 0 };

async function api(path, opts = {}) {
  const headers = Object.assign({}, opts.headers || {});
  if (S.token) headers.Authorization = `Bearer ${S.token}`;
  else if (S.csrf && opts.method && opts.method !== "GET") headers["X-CSRF-Token"] = S.csrf;
  if (opts.json !== undefined) {
    headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(opts.json);
  }
  const r = await fetch(path, { method: opts.method || "GET", headers, body: opts.body, credentials: "same-origin" });
  const ct = r.headers.get("Content-Type") || "";
  const data = ct.includes("json") ? await r.json() : await r.text();
  if (!r.ok) {
    const msg = (data && data.error) || `HTTP ${r.status}`;
    const e = new Error(msg);
    e.status = r.status;
    throw e;
  }
  return data;
}

function fmt(v) {
  return typeof v === "number" ? (Math.abs(v) >= 100 ? v.toFixed(1) : v.toFixed(3)) : String(v);
}
function when(t) {
  return new Date(t).toLocaleTimeString("en-GB");
}

async function signedIn() {
  $("auth").hidden = true;
  $("app").hidden = false;
  $("auth-status").textContent = S.token ? "signed in (token)" : "signed in (session)";
  const st = await api("/api/status");
  S.fields = st.fields;
  $("name").textContent = st.name;
  $("field").replaceChildren(...st.fields.map((f) => new Option(f, f)));
  await Promise.all([live(), history(), windows(), model(), settings()]);
  try {
    const r = await fetch("/studio/", { method: "HEAD" });
    $("studio-link").hidden = !r.ok;
  } catch { /* no studio */ }
  setInterval(() => live().catch(() => {}), 1000);
  setInterval(() => windows().catch(() => {}), 5000);
}

async function tryAuth() {
  $("auth-error").textContent = "";
  try {
    if (!S.token) {
      const s = await api("/api/session");
      S.csrf = s.csrf;
    }
    await signedIn();
  } catch (e) {
    $("auth").hidden = false;
    $("app").hidden = true;
    $("auth-status").textContent = "not signed in";
    if (e.status === 401 && (S.token || S.csrf)) $("auth-error").textContent = "the station refused these credentials";
    else if (e.status !== 401) $("auth-error").textContent = e.message;
    S.token = "";
    sessionStorage.removeItem("station-token");
  }
}

async function live() {
  const d = await api("/api/live");
  const dl = $("live");
  dl.replaceChildren();
  (d.fields || []).forEach((f, i) => {
    const dt = document.createElement("dt");
    dt.textContent = f;
    const dd = document.createElement("dd");
    dd.textContent = d.values ? fmt(d.values[i]) : "–";
    dl.append(dt, dd);
  });
  const p = d.prediction;
  $("pred").textContent = p ? `${p.label ?? fmt(p.output)} (${fmt(p.score)}) at ${when(p.t_ms)}` : "no model";
}

let plotPts = [];
let plotRange = [0, 1];
async function history() {
  const span = +$("span").value;
  const field = $("field").value || S.fields[0];
  const method = $("method").value;
  const st = await api("/api/status");
  const t1 = (st.last_ms ?? Date.now()) + 1;
  const d = await api(`/api/history?t0=${t1 - span}&t1=${t1}&n=${$("plot").width}&field=${encodeURIComponent(field)}&method=${method}`);
  plotPts = d.points;
  plotRange = [d.t0, d.t1];
  $("hist-count").textContent = String(d.points.length);
  draw();
}

function draw() {
  const c = $("plot");
  const g = c.getContext("2d");
  g.clearRect(0, 0, c.width, c.height);
  if (!plotPts.length) return;
  let lo = Infinity, hi = -Infinity;
  for (const [, v] of plotPts) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  if (hi === lo) { hi += 1; lo -= 1; }
  const [t0, t1] = plotRange;
  const x = (t) => ((t - t0) / (t1 - t0)) * (c.width - 1);
  const y = (v) => c.height - 8 - ((v - lo) / (hi - lo)) * (c.height - 16);
  g.strokeStyle = "#1f3a5f";
  g.beginPath();
  plotPts.forEach(([t, v], i) => (i ? g.lineTo(x(t), y(v)) : g.moveTo(x(t), y(v))));
  g.stroke();
  if (S.sel !== null && S.sel >= t0 && S.sel < t1) {
    g.fillStyle = "#f0a50055";
    g.fillRect(x(S.sel), 0, Math.max(2, x(S.sel + S.windowMs) - x(S.sel)), c.height);
  }
  g.fillStyle = "#555";
  g.fillText(`${fmt(hi)}`, 4, 12);
  g.fillText(`${fmt(lo)}`, 4, c.height - 2);
}

function select(t) {
  S.sel = t;
  $("sel").textContent = `${when(t)} (${t})`;
  draw();
}

let winCache = [];
async function windows() {
  const st = await api("/api/status");
  const t1 = (st.last_ms ?? Date.now()) + 1;
  const d = await api(`/api/windows?t0=${t1 - 86400000}&t1=${t1}&limit=20`);
  S.windowMs = d.window_ms;
  winCache = d.windows;
  const ol = $("windows");
  ol.replaceChildren(...d.windows.slice().reverse().map((w) => row(w)));
}

function row(w, extra = "") {
  const li = document.createElement("li");
  const txt = `${when(w.t_ms)}${w.predicted ? " · predicted " + w.predicted : ""}${w.label ? " · label " + w.label : ""}${extra}`;
  li.append(document.createTextNode(txt));
  const b = document.createElement("button");
  b.textContent = "select";
  b.dataset.testid = "select-window";
  b.dataset.t = String(w.t_ms);
  b.addEventListener("click", () => select(w.t_ms));
  li.append(b);
  return li;
}

async function similar() {
  if (S.sel === null) {
    if (!winCache.length) return;
    select(winCache[winCache.length - 1].t_ms);
  }
  const d = await api("/api/search", { method: "POST", json: { t_ms: S.sel, k: 10 } });
  $("similar-list").replaceChildren(...d.similar.map((w) => row(w, ` · distance ${fmt(w.distance)}`)));
}

async function saveLabel(ev) {
  ev.preventDefault();
  if (S.sel === null) return;
  await api("/api/labels", { method: "POST", json: { t_ms: S.sel, label: $("label").value.trim() || null } });
  await windows();
}

async function model() {
  const m = await api("/api/model");
  $("model").textContent = m.loaded
    ? `loaded: ${m.bytes.toLocaleString("en")} bytes, ${m.n_features} inputs (${m.input})${m.classes ? ", classes " + m.classes.join(", ") : ""}`
    : m.error ? `no model (${m.error})` : "no model loaded";
}

async function upload(ev) {
  ev.preventDefault();
  const f = $("model-file").files[0];
  if (!f) return;
  try {
    await api("/api/model", { method: "POST", body: await f.arrayBuffer(), headers: { "Content-Type": "application/octet-stream" } });
    $("model-msg").textContent = `model ${f.name} loaded`;
  } catch (e) {
    $("model-msg").textContent = e.message;
  }
  await model();
}

async function settings() {
  const s = await api("/api/settings");
  $("s-name").value = s.name;
  $("s-hook").value = (s.webhook_urls || [])[0] || "";
  $("s-mqtt").value = s.mqtt_host || "";
  $("s-mqtt-port").value = s.mqtt_port;
  $("s-topic").value = s.mqtt_topic;
}

async function saveSettings(ev) {
  ev.preventDefault();
  const hook = $("s-hook").value.trim();
  try {
    await api("/api/settings", { method: "POST", json: {
      name: $("s-name").value.trim(), webhook_urls: hook ? [hook] : [], mqtt_host: $("s-mqtt").value.trim(),
      mqtt_port: +$("s-mqtt-port").value, mqtt_topic: $("s-topic").value.trim() } });
    $("set-msg").textContent = "saved";
    $("name").textContent = $("s-name").value.trim();
  } catch (e) {
    $("set-msg").textContent = e.message;
  }
}

async function download(ev, ext) {
  ev.preventDefault();
  const st = await api("/api/status");
  const t1 = (st.last_ms ?? Date.now()) + 1;
  const r = await fetch(`/api/export.${ext}?t0=${t1 - +$("span").value}&t1=${t1}`, {
    headers: S.token ? { Authorization: `Bearer ${S.token}` } : {}, credentials: "same-origin" });
  const a = document.createElement("a");
  a.href = URL.createObjectURL(await r.blob());
  a.download = `${st.name}.${ext}`;
  a.click();
}

$("token-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  S.token = $("token").value.trim();
  sessionStorage.setItem("station-token", S.token);
  tryAuth();
});
$("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const r = await fetch("/login", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ password: $("password").value }), credentials: "same-origin" });
  const d = await r.json();
  if (!r.ok) { $("auth-error").textContent = d.error; return; }
  S.csrf = d.csrf;
  S.token = "";
  tryAuth();
});
$("refresh").addEventListener("click", () => history());
["field", "span", "method"].forEach((id) => $(id).addEventListener("change", () => history()));
$("plot").addEventListener("click", (ev) => {
  const c = $("plot");
  const r = c.getBoundingClientRect();
  const t = plotRange[0] + ((ev.clientX - r.left) / r.width) * (plotRange[1] - plotRange[0]);
  let best = null;
  for (const w of winCache) if (w.t_ms <= t && (best === null || w.t_ms > best)) best = w.t_ms;
  if (best !== null) select(best);
});
$("similar").addEventListener("click", () => similar().catch((e) => ($("similar-list").textContent = e.message)));
$("label-form").addEventListener("submit", (ev) => saveLabel(ev).catch(() => {}));
$("model-form").addEventListener("submit", upload);
$("settings-form").addEventListener("submit", saveSettings);
$("csv").addEventListener("click", (ev) => download(ev, "csv"));
$("npy").addEventListener("click", (ev) => download(ev, "npy"));
tryAuth();
