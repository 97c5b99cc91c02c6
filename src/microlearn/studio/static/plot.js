// The studio's time-series plot on a canvas: signal channels (min/max per pixel column), labelled
// ranges, the predictions strip, the selection and the cursor.
export const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"];
const CH = ["#0b5394", "#b45f06", "#38761d", "#741b47", "#134f5c", "#7f6000", "#351c75", "#660000"];

export function drawPlot(canvas, S, classNames, labelOf) {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(200, canvas.clientWidth);
  const h = Math.max(120, canvas.clientHeight);
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  const g = canvas.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  g.font = "12px system-ui, sans-serif";
  const sig = S.signal;
  if (!sig || !sig.n) {
    g.fillStyle = "#57606a";
    g.fillText(S.live ? "Waiting for samples…" : "Load a data file or record to see the signal here.", 12, h / 2);
    return;
  }
  const top = 18;
  const predH = 16;
  const labH = 16;
  const plotH = h - top - predH - labH - 18;
  const n = sig.n;
  const X = (s) => (s / n) * w;
  const cls = (name) => Math.max(0, classNames.indexOf(name));

  // labelled ranges: a tint over the signal and a named strip below it
  const labY = top + plotH + 2;
  for (const l of S.labels) {
    const c = COLORS[cls(l.cls) % COLORS.length];
    g.globalAlpha = 0.13;
    g.fillStyle = c;
    g.fillRect(X(l.start), top, X(l.end) - X(l.start), plotH);
    g.globalAlpha = 1;
    g.fillRect(X(l.start), labY, Math.max(1, X(l.end) - X(l.start)), labH - 2);
    g.fillStyle = "#fff";
    const txt = l.cls;
    if (g.measureText(txt).width < X(l.end) - X(l.start) - 4) g.fillText(txt, X(l.start) + 3, labY + 11);
  }

  // channels, each scaled to its own range
  const ax = sig.axes;
  const shown = Math.min(ax, 8);
  const cols = Math.max(1, Math.floor(w));
  for (let c = 0; c < shown; c++) {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = c; i < sig.data.length; i += ax) {
      const v = sig.data[i];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    const span = hi - lo || 1;
    const Y = (v) => top + plotH - ((v - lo) / span) * (plotH - 4) - 2;
    g.strokeStyle = CH[c % CH.length];
    g.globalAlpha = shown > 1 ? 0.8 : 1;
    g.lineWidth = 1;
    g.beginPath();
    if (n <= cols * 2) {
      for (let i = 0; i < n; i++) {
        const x = X(i + 0.5);
        const y = Y(sig.data[i * ax + c]);
        if (i) g.lineTo(x, y);
        else g.moveTo(x, y);
      }
    } else {
      for (let px = 0; px < cols; px++) {
        const a = Math.floor((px / cols) * n);
        const b = Math.max(a + 1, Math.floor(((px + 1) / cols) * n));
        let mn = Infinity;
        let mx = -Infinity;
        for (let i = a; i < b; i++) {
          const v = sig.data[i * ax + c];
          if (v < mn) mn = v;
          if (v > mx) mx = v;
        }
        g.moveTo(px + 0.5, Y(mn));
        g.lineTo(px + 0.5, Y(mx) - 0.01);
      }
    }
    g.stroke();
  }
  g.globalAlpha = 1;

  // predictions strip
  const pY = labY + labH;
  for (let i = 0; i < S.preds.length && i < S.windows.length; i++) {
    const s = S.windows[i];
    const e = i + 1 < S.windows.length ? Math.min(S.windows[i + 1], s + S.winLen) : s + S.winLen;
    g.fillStyle = labelOf ? COLORS[S.preds[i] % COLORS.length] : "#57606a";
    g.fillRect(X(s), pY, Math.max(1, X(e) - X(s)), predH - 2);
  }

  // selection and cursor
  if (S.sel) {
    g.fillStyle = "rgba(10, 88, 202, 0.18)";
    g.fillRect(X(S.sel[0]), top, X(S.sel[1]) - X(S.sel[0]), plotH + labH);
  }
  g.strokeStyle = "#f4a100";
  g.lineWidth = 2;
  g.beginPath();
  g.moveTo(X(S.cursor), top);
  g.lineTo(X(S.cursor), pY + predH);
  g.stroke();

  // text: extent, legend
  g.fillStyle = "#1b1f24";
  const unit = S.winLen === 1 ? "rows" : "samples";
  const dur = sig.sr ? ` (${(n / sig.sr).toFixed(2)} s at ${sig.sr} Hz)` : "";
  g.fillText(`${n} ${unit}${dur} · ${sig.name}`, 4, 13);
  g.fillText(`predictions`, 4, h - 3);
  const cur = `cursor ${S.cursor}${S.sel ? ` · selection ${S.sel[0]}–${S.sel[1]}` : ""}`;
  g.fillText(cur, w - g.measureText(cur).width - 4, h - 3);
  const names = sig.header && sig.header.length === ax ? sig.header : ax === 3 ? ["x", "y", "z"] : Array.from({ length: ax }, (_, i) => `ch${i}`);
  let lx = w - 4;
  for (let c = shown - 1; c >= 0; c--) {
    const t = names[c];
    lx -= g.measureText(t).width + 8;
    g.fillStyle = CH[c % CH.length];
    g.fillText(t, lx, 13);
  }
  canvas.setAttribute("aria-label", `Signal plot: ${n} ${unit}, ${S.labels.length} labelled ranges, ${S.preds.length} predictions. ${cur}. Focus to label with the keyboard.`);
}
