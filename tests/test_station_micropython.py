"""The station application as a board gets it (microlearn deploy --station's file list) in the real
MicroPython (WebAssembly): it compiles with mpy-cross, and its Microdot app answers through Microdot's
own test client (no sockets in this build) exactly as under CPython, credentials included."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import microlearn
from microlearn import deploy, station
from microlearn import micropython as mpy
from microlearn.cli import build_parser
from microlearn.errors import InvalidInputError
from test_station_api import ENDPOINTS, T0

# This WebAssembly build ships `inspect`, so Microdot takes its CPython path and hands handlers to
# asyncio.get_running_loop().run_in_executor, which the build lacks; boards without `inspect` call
# handlers directly. The shim below does what a board does; it changes nothing else.
MP_APP = """
import json, asyncio
class _Loop:
    async def run_in_executor(self, ex, f):
        r = f()
        return (await r) if hasattr(r, 'send') else r
asyncio.get_running_loop = lambda: _Loop()
from station import core, sensors, web
from microdot.test_client import TestClient
st = core.Station('/mpst', sensors.SimAccelerometer(2))
for i in range(1200):
    st.step(%(t0)d + 100 * i)
app = web.make_app(st, '/lib/station/static')
def run(coro):
    try:
        while True:
            coro.send(None)
    except StopIteration as e:
        return e.value
out = {}
async def go():
    c = TestClient(app)
    refused = []
    for method, path, body in json.loads(open('/ep.json').read()):
        for h in ({}, {'Authorization': 'Bearer nope'}):
            kw = {'headers': h}
            if body is not None:
                kw['body'] = body
            r = await (c.get(path, **kw) if method == 'GET' else c.post(path, **kw))
            refused.append(r.status_code)
    out['refused'] = refused
    h = {'Authorization': 'Bearer ' + st.settings['token']}
    r = await c.get('/api/history?t0=%(t0)d&t1=%(t1)d&n=40&field=z&method=lttb', headers=dict(h))
    out['history'] = r.json['points']
    r = await c.get('/api/aggregate?t0=%(t0)d&t1=%(t1)d&step=60000', headers=dict(h))
    out['agg'] = r.json['rows']
    r = await c.post('/api/model', body=b'junk', headers=dict(h))
    out['bad_model'] = [r.status_code, r.json['error']]
    r = await c.post('/api/model', body=open('/m.mlm', 'rb').read(), headers=dict(h))
    out['model'] = r.json
    r = await c.post('/api/labels', body={'t_ms': %(t0)d, 'label': 'mp'}, headers=dict(h))
    out['label'] = [r.status_code, st.index.labels.get(%(t0)d)]
    r = await c.post('/api/search', body={'t_ms': %(t0)d + 2000 * 10, 'k': 3}, headers=dict(h))
    out['similar'] = [s['t_ms'] for s in r.json['similar']] if 'similar' in r.json else r.json
run(go())
print(json.dumps(out))
"""


def test_deployed_files_compile_with_mpy_cross(tmp_path: Path) -> None:
    files = station.device_files()
    assert files["/main.py"] == b"import station.main\nstation.main.start()\n"
    names = set(files)
    for need in (
        "/lib/station/core.py",
        "/lib/station/web.py",
        "/lib/station/outbox.py",
        "/lib/station/mqtt.py",
        "/lib/station/static/index.html",
        "/lib/station/static/app.js",
        "/lib/mlrt/store.py",
        "/lib/mlrt/index.py",
        "/lib/microdot/microdot.py",
    ):
        assert need in names
    for dev, data in files.items():
        if dev.endswith(".py"):
            src = tmp_path / dev.strip("/").replace("/", "_")
            src.write_bytes(data)
            deploy.compile_mpy(src, src.with_suffix(".mpy"), march="xtensawin")  # ESP32


def test_deploy_station_option(tmp_path: Path) -> None:
    args = build_parser().parse_args(["deploy", "--station", str(tmp_path / "none.mlm")])
    assert args.station
    with pytest.raises(InvalidInputError, match="does not exist"):
        args.func(args)  # the model is checked before anything is copied


def test_app_in_micropython_answers_like_cpython(tmp_path: Path) -> None:
    import numpy as np
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 16)).astype(np.float32)
    model = bytes(microlearn.convert(DecisionTreeClassifier(max_depth=3).fit(X, X[:, 0] > 0)).to_bytes())
    files = {k: v for k, v in station.device_files().items() if k != "/main.py"}
    import microdot

    files["/lib/microdot/test_client.py"] = (Path(microdot.__file__).parent / "test_client.py").read_bytes()
    files["/m.mlm"] = model
    ep = [[m, p, b.decode() if isinstance(b, bytes) else b] for m, p, b in ENDPOINTS]
    files["/ep.json"] = json.dumps(ep).encode()
    t1 = T0 + 120_000
    got = json.loads(mpy.run(MP_APP % {"t0": T0, "t1": t1}, files))
    assert got["refused"] == [401] * (2 * len(ENDPOINTS))
    core, sensors, _, _ = station._device()
    st = core.Station(str(tmp_path), sensors.SimAccelerometer(2))
    for i in range(1200):
        st.step(T0 + 100 * i)
    assert [tuple(p) for p in got["history"]] == st.store.thin(T0, t1, 40, "z", "lttb")
    assert json.dumps(got["agg"], sort_keys=True) == json.dumps(
        [[t, d] for t, d in st.store.aggregate(T0, t1, 60_000)], sort_keys=True
    )
    assert got["bad_model"][0] == 400 and "model refused" in got["bad_model"][1]
    assert got["model"]["loaded"] and got["model"]["n_features"] == 16
    assert got["label"] == [200, "mp"]
    assert got["similar"] == [s["t_ms"] for s in st.similar(T0 + 2000 * 10, 3)]
