# The station's web app (Microdot 2.x, MicroPython and CPython): the UI's static files, a JSON API and
# model upload. Everything under /api/ needs credentials:
#
#   Authorization: Bearer <token>       the API token (settings.json; shown once at first start), or
#   the session cookie of POST /login   (password login); then every POST also carries the session's
#                                       CSRF token, as the X-CSRF-Token header or a csrf_token form field
#
# Anything else gets 401 and changes nothing. Static files (the UI shell, the studio) hold no data.
import asyncio
import os
import struct
import time

from microdot import Microdot, Request, Response

Request.max_content_length = 512 * 1024
Request.max_body_length = 512 * 1024

TYPES = {
    "html": "text/html; charset=utf-8",
    "js": "text/javascript; charset=utf-8",
    "mjs": "text/javascript; charset=utf-8",
    "css": "text/css; charset=utf-8",
    "wasm": "application/wasm",
    "py": "text/plain; charset=utf-8",
    "json": "application/json",
    "svg": "image/svg+xml",
    "png": "image/png",
}
SESSION_S = 12 * 3600
MAX_SESSIONS = 8
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")


def _eq(a, b):
    """Compare two strings in time independent of where they differ."""
    if not isinstance(a, str) or not isinstance(b, str) or len(a) != len(b) or not a:
        return False
    d = 0
    for x, y in zip(a, b):
        d |= ord(x) ^ ord(y)
    return d == 0


def _rand():
    return "".join("%02x" % b for b in os.urandom(16))


def _err(msg, status):
    return {"error": msg}, status


def _int(args, name, default):
    v = args.get(name)
    if v is None or v == "":
        return default
    try:
        return int(v)
    except ValueError:
        raise ValueError("%s must be an integer (ms)" % name)


def _safe_path(root, rel):
    parts = [p for p in rel.split("/") if p]
    for p in parts:
        if p in (".", "..") or p.startswith("."):
            return None
    return root + "/" + "/".join(parts) if parts else None


def make_app(station, static_dir, roots=None, outbox=None):
    """The Microdot app for `station`; static_dir holds the UI; roots maps URL prefixes ("/studio/") to
    directories of extra static files. Every handler is a coroutine, so on CPython too it runs in the
    event loop beside the sensor loop (Microdot would run plain functions in a thread pool)."""
    app = Microdot()
    default_options = app.options_handler

    # CORS, so the studio served from elsewhere can POST a model with its token. "*" (not the caller's
    # origin): browsers then never send this station's session cookie from another site.
    def options(req):
        h = default_options(req)
        h["Access-Control-Allow-Origin"] = "*"
        m = (req.headers.get("Access-Control-Request-Method") or "").upper()
        if m in ("GET", "POST"):
            h["Access-Control-Allow-Methods"] = m
        asked = [x.strip() for x in (req.headers.get("Access-Control-Request-Headers") or "").split(",")]
        ok = [x for x in asked if x.lower() in ("authorization", "content-type", "x-csrf-token")]
        if ok:
            h["Access-Control-Allow-Headers"] = ", ".join(ok)
        h["Access-Control-Max-Age"] = "600"
        return h

    app.options_handler = options

    async def cors(req, res):
        if req.headers.get("Origin"):
            res.headers["Access-Control-Allow-Origin"] = "*"
        return res

    app.after_request(cors)
    app.after_error_request(cors)
    sessions = {}  # sid -> [expiry s, csrf]
    roots = dict(roots or {})

    def session_of(req):
        sid = req.cookies.get("sid")
        s = sessions.get(sid) if sid else None
        if s is None:
            return None
        if s[0] < time.time():
            sessions.pop(sid, None)
            return None
        return s

    def authorized(req):
        auth = req.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            return _eq(auth[7:].strip(), station.settings["token"]), None
        s = session_of(req)
        if s is None:
            return False, None
        if req.method in UNSAFE:
            tok = req.headers.get("X-CSRF-Token")
            if (
                tok is None
                and req.content_type
                and req.content_type.startswith("application/x-www-form-urlencoded")
            ):
                tok = req.form.get("csrf_token") if req.form else None
            if not _eq(tok, s[1]):
                return False, "the CSRF token is missing or wrong: reload the page"
        return True, None

    @app.before_request
    async def guard(req):
        if req.path.startswith("/api/"):
            ok, why = authorized(req)
            if not ok:
                res = Response(
                    {
                        "error": why
                        or "authentication required: send 'Authorization: Bearer <token>' or log in"
                    },
                    401,
                )
                res.headers["WWW-Authenticate"] = 'Bearer realm="station"'
                return res

    # -------------------------------------------------------------- static files
    def send(path):
        ext = path.rsplit(".", 1)[-1]
        try:
            os.stat(path)
        except OSError:
            return _err("not found", 404)
        return Response.send_file(path, content_type=TYPES.get(ext, "application/octet-stream"), max_age=60)

    @app.get("/")
    async def index(req):
        return send(static_dir + "/index.html")

    @app.get("/static/<path:path>")
    async def static(req, path):
        p = _safe_path(static_dir, path)
        return send(p) if p else _err("not found", 404)

    # -------------------------------------------------------------- login
    @app.post("/login")
    async def login(req):
        data = req.json if req.content_type and req.content_type.startswith("application/json") else req.form
        pw = (data or {}).get("password") if data else None
        if not station.settings.get("password"):
            return _err("password login is off: use the API token, or set a password in the settings", 403)
        if not _eq(pw, station.settings["password"]):
            await asyncio.sleep(0.2)  # slows guessing without holding up the sensor loop
            return _err("wrong password", 401)
        now = time.time()
        for k in [k for k, v in sessions.items() if v[0] < now]:
            del sessions[k]
        while len(sessions) >= MAX_SESSIONS:
            sessions.pop(next(iter(sessions)))
        sid = _rand()
        csrf = _rand()
        sessions[sid] = [now + SESSION_S, csrf]
        res = Response({"csrf": csrf})
        res.set_cookie("sid", sid, path="/", http_only=True, max_age=SESSION_S)
        res.headers["Set-Cookie"][-1] += "; SameSite=Strict"
        return res

    @app.post("/logout")
    async def logout(req):
        sid = req.cookies.get("sid")
        s = session_of(req)
        if s is not None and _eq(req.headers.get("X-CSRF-Token"), s[1]):
            sessions.pop(sid, None)
        res = Response({"ok": True})
        res.delete_cookie("sid", path="/")
        return res

    @app.get("/api/session")
    async def session(req):
        s = session_of(req)
        return {"csrf": s[1] if s else None, "name": station.settings["name"]}

    # -------------------------------------------------------------- data
    @app.get("/api/status")
    async def status(req):
        st = station.status()
        if outbox is not None:
            st["outbox"] = outbox.stats()
        return st

    @app.get("/api/live")
    async def live(req):
        last = station.last
        return {
            "t_ms": last[0] if last else None,
            "values": list(last[1]) if last else None,
            "fields": list(station.fields),
            "prediction": station.last_pred,
        }

    def window_args(req):
        last = station.store.last_time() or 0
        t1 = _int(req.args, "t1", last + 1)
        t0 = _int(req.args, "t0", t1 - 600000)
        if t1 <= t0:
            raise ValueError("t1 must be after t0")
        return t0, t1

    @app.get("/api/history")
    async def history(req):
        t0, t1 = window_args(req)
        n = min(max(_int(req.args, "n", 600), 3), 4000)
        method = req.args.get("method", "minmax")
        field = req.args.get("field", station.fields[0])
        if field not in station.fields:
            return _err("field must be one of %s" % ", ".join(station.fields), 400)
        pts = station.store.thin(t0, t1, n, field, method)
        return {"field": field, "t0": t0, "t1": t1, "points": [[t, v] for t, v in pts]}

    @app.get("/api/aggregate")
    async def aggregate(req):
        t0, t1 = window_args(req)
        step = _int(req.args, "step", 60000)
        stats = tuple((req.args.get("stats") or "count,mean,min,max,std").split(","))
        if (t1 - t0) // max(step, 1) > 20000:
            return _err("more than 20000 steps: use a larger step", 400)
        rows = station.store.aggregate(t0, t1, step, stats)
        return {"fields": list(station.fields), "step": step, "rows": [[t, d] for t, d in rows]}

    @app.get("/api/windows")
    async def windows(req):
        t0, t1 = window_args(req)
        limit = min(max(_int(req.args, "limit", 200), 1), 2000)
        ents = station.index.entries(t0, t1, limit)  # a binary search, then only these records
        preds = {}
        if ents:
            for t, v in station.preds.range(ents[0][1], ents[-1][1] + 1):
                preds[t] = v
        labels = station.index.labels
        clf = station.model_info.get("classifier")
        out = []
        for key, t in ents:
            p = preds.get(key)
            out.append(
                {
                    "t_ms": key,
                    "label": labels.get(key),
                    "output": p[0] if p else None,
                    "score": p[1] if p else None,
                    "predicted": station.label_of(p[0]) if p and clf else None,
                }
            )
        return {"window_ms": station.window * station.period_ms, "windows": out}

    @app.post("/api/search")
    async def search(req):
        d = req.json or {}
        try:
            t = int(d["t_ms"])
        except (KeyError, TypeError, ValueError):
            return _err('send {"t_ms": <window start>, "k": 10}', 400)
        k = min(max(int(d.get("k", 10)), 1), 100)
        return {"t_ms": t, "similar": station.similar(t, k, d.get("t0"), d.get("t1"), d.get("label"))}

    @app.get("/api/labels")
    async def labels(req):
        return {"labels": [[k, v] for k, v in station.index.labels.items() if v is not None]}

    @app.post("/api/labels")
    async def set_label(req):
        d = req.json if req.content_type and req.content_type.startswith("application/json") else req.form
        try:
            t = int(d["t_ms"])
        except (KeyError, TypeError, ValueError):
            return _err("send t_ms (the window start) and label", 400)
        label = d.get("label") or None
        station.set_label(t, label)
        return {"t_ms": t, "label": label}

    # -------------------------------------------------------------- export
    @app.get("/api/export.csv")
    async def export_csv(req):
        t0, t1 = window_args(req)

        def rows():
            yield "t_ms," + ",".join(station.fields) + "\n"
            buf = []
            for t, v in station.store.range(t0, t1):
                buf.append("%d,%s\n" % (t, ",".join(repr(x) for x in v)))
                if len(buf) == 64:
                    yield "".join(buf)
                    buf = []
            if buf:
                yield "".join(buf)

        res = Response(rows(), headers={"Content-Type": "text/csv; charset=utf-8"})
        res.headers["Content-Disposition"] = 'attachment; filename="%s.csv"' % station.settings["name"]
        return res

    @app.get("/api/export.npy")
    async def export_npy(req):
        t0, t1 = window_args(req)
        n = 0
        for _ in station.store.range(t0, t1):
            n += 1
        cols = 1 + len(station.fields)
        hdr = "{'descr': '<f8', 'fortran_order': False, 'shape': (%d, %d), }" % (n, cols)
        pad = 64 - (10 + len(hdr) + 1) % 64
        head = (
            b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr) + pad + 1) + hdr.encode() + b" " * pad + b"\n"
        )

        def body():
            yield head
            k = 0
            fmt = "<%dd" % cols
            buf = bytearray()
            for t, v in station.store.range(t0, t1):
                if k == n:
                    break
                buf += struct.pack(fmt, t, *v)
                k += 1
                if len(buf) >= 4096:
                    yield bytes(buf)
                    buf = bytearray()
            if buf:
                yield bytes(buf)

        res = Response(body(), headers={"Content-Type": "application/octet-stream"})
        res.headers["Content-Disposition"] = 'attachment; filename="%s.npy"' % station.settings["name"]
        return res

    # -------------------------------------------------------------- model and settings
    @app.get("/api/model")
    async def model(req):
        return station.model_info

    @app.post("/api/model")
    async def upload(req):
        data = req.body
        if not data:
            return _err("POST the model file's bytes (Content-Type: application/octet-stream)", 400)
        try:
            info = station.load_model(data)
        except (ValueError, MemoryError) as e:
            return _err("model refused: %s" % e, 400)
        return info

    def public_settings():
        s = dict(station.settings)
        s.pop("session_secret", None)
        s["token"] = "set"
        s["password"] = "set" if s.get("password") else ""
        return s

    @app.get("/api/settings")
    async def get_settings(req):
        return public_settings()

    @app.post("/api/settings")
    async def post_settings(req):
        d = req.json
        if not isinstance(d, dict):
            return _err("POST a JSON object of settings", 400)
        try:
            station.update_settings(d)
        except ValueError as e:
            return _err(str(e), 400)
        return public_settings()

    @app.get("/api/outbox")
    async def outbox_stats(req):
        return outbox.stats() if outbox is not None else {}

    @app.get("/<root>/<path:path>")
    async def extra(req, root, path):
        d = roots.get(root)
        p = _safe_path(d, path) if d else None
        return send(p) if p else _err("not found", 404)

    @app.get("/<root>/")
    async def extra_index(req, root):
        d = roots.get(root)
        return send(d + "/index.html") if d else _err("not found", 404)

    @app.errorhandler(ValueError)
    async def bad_value(req, e):
        return _err(str(e), 400)

    return app
