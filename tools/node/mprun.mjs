// Run Python code in the real MicroPython (WebAssembly build, npm @micropython/micropython-webassembly-pyscript).
//
// One interpreter per process, serving JSON-lines requests on stdin, one reply line each on stdout:
//   request: {"code": str, "files": {path: base64}, "outputs": [path, ...]}
//   reply:   {"ok": bool, "stdout": str, "error": null | {"type": str, "traceback": str},
//             "outputs": {path: base64 | null}}
// Between requests the interpreter is reset: imported modules and __main__ globals are dropped and the
// files a request wrote are removed, so requests do not see each other.
// The package's own CLI exits 0 when the code raises; this runner reports the exception instead.
// Usage: node mprun.mjs [--heap BYTES]
import { createInterface } from "node:readline";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const pkg = join(here, "node_modules", "@micropython", "micropython-webassembly-pyscript", "micropython.mjs");
const { loadMicroPython } = await import(pathToFileURL(pkg).href);

let heapsize = 16 * 1024 * 1024;
const hi = process.argv.indexOf("--heap");
if (hi >= 0) heapsize = parseInt(process.argv[hi + 1], 10);

const decoder = new TextDecoder();
let chunks = [];
const mp = await loadMicroPython({
  heapsize,
  linebuffer: false,
  stdout: (b) => chunks.push(decoder.decode(b, { stream: true })),
  stderr: (b) => chunks.push(decoder.decode(b, { stream: true })),
});
const FS = mp.FS;

const RESET = [
  "import sys, gc",
  "sys.modules.clear()",
  "for _k in list(globals()):",
  "    if _k != '__name__':",
  "        del globals()[_k]",
  "__import__('gc').collect()",
].join("\n");

function mkdirs(path, made) {
  const parts = path.split("/").filter((p) => p);
  let cur = "";
  for (const p of parts.slice(0, -1)) {
    cur += "/" + p;
    try {
      FS.mkdir(cur);
      made.push(cur);
    } catch (e) {
      if (!FS.analyzePath(cur).exists) throw e;
    }
  }
}

function handle(req) {
  const written = [];
  const made = [];
  const reply = { ok: true, stdout: "", error: null, outputs: {} };
  try {
    for (const [path, b64] of Object.entries(req.files || {})) {
      mkdirs(path, made);
      FS.writeFile(path, Buffer.from(b64, "base64"));
      written.push(path);
    }
    chunks = [];
    try {
      mp.runPython(req.code);
    } catch (e) {
      if (e && e.name === "PythonError") {
        reply.ok = false;
        reply.error = { type: e.type, traceback: e.message };
      } else {
        throw e;
      }
    }
    reply.stdout = chunks.join("") + decoder.decode();
    for (const path of req.outputs || []) {
      reply.outputs[path] = FS.analyzePath(path).exists ? Buffer.from(FS.readFile(path)).toString("base64") : null;
      written.push(path);
    }
  } finally {
    for (const path of written) {
      try {
        FS.unlink(path);
      } catch {
        // already gone
      }
    }
    for (const dir of made.reverse()) {
      try {
        FS.rmdir(dir);
      } catch {
        // the code left files in it
      }
    }
  }
  try {
    mp.runPython(RESET);
  } catch (e) {
    // a reset that fails leaves state behind: report it and let the caller start a new process
    reply.fatal = "reset failed: " + String(e && e.message);
  }
  return reply;
}

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of rl) {
  if (!line.trim()) continue;
  let reply;
  try {
    reply = handle(JSON.parse(line));
  } catch (e) {
    // the WebAssembly instance itself failed (e.g. a trap): report, then exit so a fresh one starts
    reply = { ok: false, stdout: chunks.join(""), error: null, fatal: String((e && e.stack) || e), outputs: {} };
  }
  process.stdout.write(JSON.stringify(reply) + "\n");
  if (reply.fatal) process.exit(3);
}
