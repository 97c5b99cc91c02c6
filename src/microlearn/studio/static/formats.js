// Reading and writing the studio's files in the browser: CSV, NumPy .npy/.npz, WAV. Every reader throws
// a FormatError whose message says what is wrong and what to do.

export class FormatError extends Error {
  constructor(msg) {
    super(msg);
    this.name = "FormatError";
  }
}

// ------------------------------------------------------------------------------------------------ CSV
// Numbers separated by commas (or semicolons/tabs), one row per line; an optional header line.
// Returns {header: string[] | null, nRows, nCols, data: Float64Array (row-major), labels: string[] | null}
// With labelColumn, a header column named "label" holds text labels (kept apart from the numbers).
export function parseCSV(text, name = "the CSV file") {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== "" && !l.startsWith("#"));
  if (!lines.length) throw new FormatError(`${name} is empty`);
  const sep = lines[0].includes(",") ? "," : lines[0].includes(";") ? ";" : lines[0].includes("\t") ? "\t" : ",";
  const split = (l) => l.split(sep).map((c) => c.trim());
  let header = null;
  let first = split(lines[0]);
  if (first.some((c) => c !== "" && !isNumber(c))) {
    header = first.map((c) => c.replace(/^"|"$/g, ""));
    lines.shift();
    if (!lines.length) throw new FormatError(`${name} has a header line but no rows`);
    first = split(lines[0]);
  }
  const labelCol = header ? header.findIndex((h) => h.toLowerCase() === "label") : -1;
  const nCols = (header ? header.length : first.length) - (labelCol >= 0 ? 1 : 0);
  const data = new Float64Array(lines.length * nCols);
  const labels = labelCol >= 0 ? [] : null;
  for (let r = 0; r < lines.length; r++) {
    const cells = split(lines[r]);
    const want = nCols + (labelCol >= 0 ? 1 : 0);
    if (cells.length !== want) {
      throw new FormatError(
        `${name}: line ${r + 1 + (header ? 1 : 0)} has ${cells.length} columns, expected ${want} ` +
          `(as the ${header ? "header" : "first line"}): every row needs the same number of values`,
      );
    }
    let c = 0;
    for (let k = 0; k < cells.length; k++) {
      if (k === labelCol) {
        labels.push(cells[k].replace(/^"|"$/g, ""));
        continue;
      }
      if (!isNumber(cells[k])) {
        throw new FormatError(`${name}: line ${r + 1 + (header ? 1 : 0)}, column ${k + 1}: "${cells[k]}" is not a number`);
      }
      data[r * nCols + c++] = Number(cells[k]);
    }
  }
  const numHeader = header ? header.filter((_, k) => k !== labelCol) : null;
  return { header: numHeader, nRows: lines.length, nCols, data, labels };
}

function isNumber(s) {
  return /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s) || /^[+-]?(nan|inf|infinity)$/i.test(s);
}

export function writeCSV(header, rows) {
  const esc = (v) => (typeof v === "string" && /[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : String(v));
  return [header.map(esc).join(","), ...rows.map((r) => r.map(esc).join(","))].join("\n") + "\n";
}

// ------------------------------------------------------------------------------------------------ NPY
const NPY_TYPES = {
  "<f4": [Float32Array, 4],
  "<f8": [Float64Array, 8],
  "<i1": [Int8Array, 1],
  "|i1": [Int8Array, 1],
  "<u1": [Uint8Array, 1],
  "|u1": [Uint8Array, 1],
  "<i2": [Int16Array, 2],
  "<u2": [Uint16Array, 2],
  "<i4": [Int32Array, 4],
  "<u4": [Uint32Array, 4],
  "<i8": [BigInt64Array, 8],
};

// Returns {shape, data: Float64Array} for numbers or {shape, strings} for a '<U..' array.
export function parseNPY(buf, name = "the .npy file") {
  const u8 = new Uint8Array(buf);
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (u8.length < 10 || magic.some((b, i) => u8[i] !== b)) throw new FormatError(`${name} is not a NumPy .npy file`);
  const major = u8[6];
  const dv = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
  const hlen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  const hstart = major === 1 ? 10 : 12;
  const header = new TextDecoder().decode(u8.subarray(hstart, hstart + hlen));
  const descr = /'descr':\s*'([^']+)'/.exec(header);
  const fortran = /'fortran_order':\s*(True|False)/.exec(header);
  const shapeM = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || !shapeM) throw new FormatError(`${name}: unreadable .npy header`);
  if (fortran[1] === "True") throw new FormatError(`${name} is in Fortran order: save np.ascontiguousarray(x)`);
  const shape = shapeM[1].split(",").map((s) => s.trim()).filter((s) => s).map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const off = hstart + hlen;
  const U = /^[<|]U(\d+)$/.exec(descr[1]);
  if (U) {
    const w = Number(U[1]);
    const strings = [];
    for (let i = 0; i < count; i++) {
      let s = "";
      for (let k = 0; k < w; k++) {
        const cp = dv.getUint32(off + (i * w + k) * 4, true);
        if (cp === 0) break;
        s += String.fromCodePoint(cp);
      }
      strings.push(s);
    }
    return { shape, strings };
  }
  const t = NPY_TYPES[descr[1]];
  if (!t) {
    throw new FormatError(`${name}: dtype ${descr[1]} is not supported: save it as float32 or float64 (x.astype("float32"))`);
  }
  const [Arr, size] = t;
  if (off + count * size > u8.length) throw new FormatError(`${name} is truncated`);
  const raw = new Arr(u8.slice(off, off + count * size).buffer);
  const data = Float64Array.from(raw, (v) => Number(v));
  return { shape, data };
}

export function writeNPY(typed, shape, descr) {
  if (!descr) descr = typed instanceof Float32Array ? "<f4" : typed instanceof Int32Array ? "<i4" : "<f8";
  let h = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(", ")}${shape.length === 1 ? "," : ""}), }`;
  const total = 10 + h.length + 1;
  h += " ".repeat((64 - (total % 64)) % 64) + "\n";
  const head = new TextEncoder().encode(h);
  const body = new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
  const out = new Uint8Array(10 + head.length + body.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, head.length, true);
  out.set(head, 10);
  out.set(body, 10 + head.length);
  return out;
}

export function writeNPYStrings(strings) {
  const w = Math.max(1, ...strings.map((s) => [...s].length));
  const cps = new Uint32Array(strings.length * w);
  strings.forEach((s, i) => [...s].forEach((ch, k) => (cps[i * w + k] = ch.codePointAt(0))));
  return writeNPY(cps, [strings.length], `<U${w}`);
}

// ------------------------------------------------------------------------------------------------ NPZ
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(u8) {
  let c = 0xffffffff;
  for (let i = 0; i < u8.length; i++) c = CRC_TABLE[(c ^ u8[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// files: {name: Uint8Array}; a zip with stored (uncompressed) entries, as np.savez writes.
export function writeZip(files) {
  const enc = new TextEncoder();
  const parts = [];
  const central = [];
  let offset = 0;
  for (const [name, data] of Object.entries(files)) {
    const nm = enc.encode(name);
    const crc = crc32(data);
    const local = new DataView(new ArrayBuffer(30));
    local.setUint32(0, 0x04034b50, true);
    local.setUint16(4, 20, true);
    local.setUint32(14, crc, true);
    local.setUint32(18, data.length, true);
    local.setUint32(22, data.length, true);
    local.setUint16(26, nm.length, true);
    parts.push(new Uint8Array(local.buffer), nm, data);
    const cd = new DataView(new ArrayBuffer(46));
    cd.setUint32(0, 0x02014b50, true);
    cd.setUint16(4, 20, true);
    cd.setUint16(6, 20, true);
    cd.setUint32(16, crc, true);
    cd.setUint32(20, data.length, true);
    cd.setUint32(24, data.length, true);
    cd.setUint16(28, nm.length, true);
    cd.setUint32(42, offset, true);
    central.push(new Uint8Array(cd.buffer), nm);
    offset += 30 + nm.length + data.length;
  }
  const cdSize = central.reduce((a, p) => a + p.length, 0);
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, 0x06054b50, true);
  end.setUint16(8, Object.keys(files).length, true);
  end.setUint16(10, Object.keys(files).length, true);
  end.setUint32(12, cdSize, true);
  end.setUint32(16, offset, true);
  return concat([...parts, ...central, new Uint8Array(end.buffer)]);
}

export async function readZip(buf, name = "the .npz file") {
  const u8 = new Uint8Array(buf);
  const dv = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
  let eocd = -1;
  for (let i = u8.length - 22; i >= Math.max(0, u8.length - 65557); i--) {
    if (dv.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new FormatError(`${name} is not a zip/.npz file`);
  const n = dv.getUint16(eocd + 10, true);
  let p = dv.getUint32(eocd + 16, true);
  const out = {};
  for (let k = 0; k < n; k++) {
    if (dv.getUint32(p, true) !== 0x02014b50) throw new FormatError(`${name}: damaged zip directory`);
    const method = dv.getUint16(p + 10, true);
    const csize = dv.getUint32(p + 20, true);
    const nlen = dv.getUint16(p + 28, true);
    const xlen = dv.getUint16(p + 30, true);
    const clen = dv.getUint16(p + 32, true);
    const loc = dv.getUint32(p + 42, true);
    const fname = new TextDecoder().decode(u8.subarray(p + 46, p + 46 + nlen));
    p += 46 + nlen + xlen + clen;
    const start = loc + 30 + dv.getUint16(loc + 26, true) + dv.getUint16(loc + 28, true);
    const raw = u8.subarray(start, start + csize);
    if (method === 0) out[fname] = raw.slice();
    else if (method === 8) out[fname] = await inflateRaw(raw);
    else throw new FormatError(`${name}: zip compression method ${method} is not supported`);
  }
  return out;
}

async function inflateRaw(u8) {
  const ds = new DecompressionStream("deflate-raw");
  const stream = new Blob([u8]).stream().pipeThrough(ds);
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

export function concat(parts) {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

// ------------------------------------------------------------------------------------------------ WAV
// Returns {sr, channels, samples: Float32Array (mono: the mean of the channels, in -1..1)}.
export function parseWAV(buf, name = "the WAV file") {
  const dv = new DataView(buf);
  const tag = (o) => String.fromCharCode(dv.getUint8(o), dv.getUint8(o + 1), dv.getUint8(o + 2), dv.getUint8(o + 3));
  if (buf.byteLength < 12 || tag(0) !== "RIFF" || tag(8) !== "WAVE") {
    throw new FormatError(`${name} is not a WAV file (no RIFF/WAVE header)`);
  }
  let p = 12;
  let fmt = null;
  let data = null;
  while (p + 8 <= buf.byteLength) {
    const id = tag(p);
    const size = dv.getUint32(p + 4, true);
    if (id === "fmt ") {
      let format = dv.getUint16(p + 8, true);
      if (format === 0xfffe && size >= 40) format = dv.getUint16(p + 32, true);
      fmt = {
        format,
        channels: dv.getUint16(p + 10, true),
        sr: dv.getUint32(p + 12, true),
        bits: dv.getUint16(p + 22, true),
      };
    } else if (id === "data") {
      data = [p + 8, Math.min(size, buf.byteLength - p - 8)];
    }
    p += 8 + size + (size & 1);
  }
  if (!fmt || !data) throw new FormatError(`${name}: no fmt or data chunk (truncated WAV?)`);
  const { format, channels, sr, bits } = fmt;
  const ok = (format === 1 && [8, 16, 24, 32].includes(bits)) || (format === 3 && [32, 64].includes(bits));
  if (!ok || channels < 1) {
    const what = format === 1 ? `${bits}-bit PCM` : format === 3 ? `${bits}-bit float` : `format tag ${format} (compressed)`;
    throw new FormatError(
      `${name}: ${what} WAV is not supported: save it as 8/16/24/32-bit PCM or 32/64-bit float (e.g. sox in.wav -b 16 out.wav)`,
    );
  }
  const bps = bits / 8;
  const n = Math.floor(data[1] / (bps * channels));
  const out = new Float32Array(n);
  const read = (o) => {
    if (format === 3) return bits === 32 ? dv.getFloat32(o, true) : dv.getFloat64(o, true);
    if (bits === 8) return (dv.getUint8(o) - 128) / 128;
    if (bits === 16) return dv.getInt16(o, true) / 32768;
    if (bits === 24) return ((dv.getUint8(o) | (dv.getUint8(o + 1) << 8) | (dv.getInt8(o + 2) << 16))) / 8388608;
    return dv.getInt32(o, true) / 2147483648;
  };
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let c = 0; c < channels; c++) s += read(data[0] + (i * channels + c) * bps);
    out[i] = s / channels;
  }
  return { sr, channels, samples: out };
}
