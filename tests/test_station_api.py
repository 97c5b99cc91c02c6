"""The station's HTTP API under CPython with a real HTTP client: credentials on every data and write
endpoint (token, or session + CSRF), answers equal to the store's own, exports, model upload checked and
swapped in without a restart, labels and similar-window search, settings, CORS for the studio."""

from __future__ import annotations

import csv
import io
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
from sklearn.tree import DecisionTreeClassifier

import microlearn
from microlearn import station

T0 = 1_790_000_000_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fill(run: station.Running, n: int, t0: int = T0) -> None:
    """n samples at 10 Hz through the station's own step(), inside its event loop."""

    def go() -> None:
        for i in range(n):
            run.station.step(t0 + 100 * i)
        run.station.flush()

    run.call(go)


@pytest.fixture(scope="module")
def model_bytes() -> bytes:
    rng = np.random.default_rng(0)
    X = rng.normal(0, 1, (300, 16)).astype(np.float32)
    y = np.array(["still", "walk", "shake"])[(X[:, 1] > 0).astype(int) + (X[:, 3] > 0.5).astype(int)]
    return bytes(microlearn.convert(DecisionTreeClassifier(max_depth=4, random_state=0).fit(X, y)).to_bytes())


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[station.Running]:
    r = station.start(tmp_path_factory.mktemp("st"), port=free_port(), sample=False)
    fill(r, 3000)
    yield r
    r.stop()


def auth(run: station.Running) -> dict[str, str]:
    return {"Authorization": f"Bearer {run.station.settings['token']}"}


ENDPOINTS: list[tuple[str, str, Any]] = [
    ("GET", "/api/session", None),
    ("GET", "/api/status", None),
    ("GET", "/api/live", None),
    ("GET", "/api/history", None),
    ("GET", "/api/aggregate", None),
    ("GET", "/api/windows", None),
    ("POST", "/api/search", {"t_ms": T0}),
    ("GET", "/api/labels", None),
    ("POST", "/api/labels", {"t_ms": T0, "label": "x"}),
    ("GET", "/api/export.csv", None),
    ("GET", "/api/export.npy", None),
    ("GET", "/api/model", None),
    ("POST", "/api/model", b"MLM"),
    ("GET", "/api/settings", None),
    ("POST", "/api/settings", {"name": "evil"}),
    ("GET", "/api/outbox", None),
]


def call(
    run: station.Running, method: str, path: str, body: Any, headers: dict[str, str]
) -> requests.Response:
    kw: dict[str, Any] = {"headers": headers, "timeout": 10}
    if isinstance(body, bytes):
        kw["data"] = body
    elif body is not None:
        kw["json"] = body
    return requests.request(method, run.url + path, **kw)


def test_every_endpoint_refuses_without_credentials(run: station.Running) -> None:
    before = (dict(run.station.settings), dict(run.station.index.labels), run.station.model_info)
    # the list above is every /api/ route of the app
    app_routes = {
        (m, r[1].url_pattern) for r in run.app.url_map for m in r[0] if r[1].url_pattern.startswith("/api/")
    }
    assert app_routes == {(m, p) for m, p, _ in ENDPOINTS}
    for method, path, body in ENDPOINTS:
        for headers in (
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": "Bearer "},
            {"Cookie": "sid=forged"},
        ):
            r = call(run, method, path, body, headers)
            assert r.status_code == 401, (method, path, headers, r.text)
            assert "error" in r.json()
    assert (dict(run.station.settings), dict(run.station.index.labels), run.station.model_info) == before


def test_data_endpoints_equal_the_store(run: station.Running) -> None:
    h = auth(run)
    st = requests.get(run.url + "/api/status", headers=h, timeout=10).json()
    assert st["samples"] >= 3000 and st["fields"] == ["x", "y", "z"] and st["windows"] == st["samples"] // 20
    t0, t1 = T0 + 10_000, T0 + 250_000
    store = run.station.store
    for method in ("minmax", "lttb"):
        d = requests.get(
            run.url + "/api/history",
            params={"t0": t0, "t1": t1, "n": 100, "field": "y", "method": method},
            headers=h,
            timeout=10,
        ).json()
        assert [tuple(p) for p in d["points"]] == list(store.thin(t0, t1, 100, "y", method))
        assert len(d["points"]) <= (400 if method == "minmax" else 100)
    d = requests.get(
        run.url + "/api/aggregate", params={"t0": t0, "t1": t1, "step": 60_000}, headers=h, timeout=10
    ).json()
    ref = store.aggregate(t0, t1, 60_000)
    assert [r[0] for r in d["rows"]] == [t for t, _ in ref]
    assert d["rows"][0][1]["mean"] == list(ref[0][1]["mean"])
    r = requests.get(run.url + "/api/export.csv", params={"t0": t0, "t1": t1}, headers=h, timeout=10)
    rows = list(csv.reader(io.StringIO(r.text)))
    recs = list(store.range(t0, t1))
    assert rows[0] == ["t_ms", "x", "y", "z"] and len(rows) == len(recs) + 1
    assert [(int(a[0]), tuple(float(x) for x in a[1:])) for a in rows[1:]] == recs
    r = requests.get(run.url + "/api/export.npy", params={"t0": t0, "t1": t1}, headers=h, timeout=10)
    arr = np.load(io.BytesIO(r.content))
    assert arr.shape == (len(recs), 4) and arr.dtype == np.float64
    np.testing.assert_array_equal(arr, np.array([(t, *v) for t, v in recs]))
    lv = requests.get(run.url + "/api/live", headers=h, timeout=10).json()
    assert lv["t_ms"] == store.last_time() and len(lv["values"]) == 3
    r = requests.get(run.url + "/api/history", params={"t0": 5, "t1": 1}, headers=h, timeout=10)
    assert r.status_code == 400 and "t1" in r.json()["error"]


def test_labels_and_similar_windows(run: station.Running) -> None:
    h = auth(run)
    w = requests.get(
        run.url + "/api/windows", params={"t0": T0, "t1": T0 + 300_000, "limit": 2000}, headers=h, timeout=10
    ).json()
    starts = [x["t_ms"] for x in w["windows"]]
    assert starts == [T0 + 2000 * i for i in range(150)]
    r = requests.post(
        run.url + "/api/labels", json={"t_ms": starts[10], "label": "bump"}, headers=h, timeout=10
    )
    assert r.status_code == 200
    for t in starts[20:25]:
        requests.post(run.url + "/api/labels", json={"t_ms": t, "label": "walk"}, headers=h, timeout=10)
    labels = dict(requests.get(run.url + "/api/labels", headers=h, timeout=10).json()["labels"])
    assert labels[starts[10]] == "bump" and labels[starts[22]] == "walk"
    d = requests.post(
        run.url + "/api/search", json={"t_ms": starts[30], "k": 5}, headers=h, timeout=10
    ).json()
    sim = d["similar"]
    assert len(sim) == 5 and starts[30] not in [s["t_ms"] for s in sim]
    assert [s["distance"] for s in sim] == sorted(s["distance"] for s in sim)
    # the nearest windows by the station's own features, computed here from the stored samples
    vec = np.array(run.station.window_vector(starts[30]))
    dist = sorted(
        (float(np.linalg.norm(np.array(run.station.window_vector(t)) - vec)), t)
        for t in starts
        if t != starts[30]
    )
    assert [s["t_ms"] for s in sim] == [t for _, t in dist[:5]]
    d = requests.post(
        run.url + "/api/search", json={"t_ms": starts[30], "k": 10, "label": "walk"}, headers=h, timeout=10
    ).json()
    assert sorted(s["t_ms"] for s in d["similar"]) == starts[20:25]
    r = requests.post(
        run.url + "/api/labels", json={"t_ms": starts[1], "label": "x" * 41}, headers=h, timeout=10
    )
    assert r.status_code == 400
    r = requests.post(run.url + "/api/search", json={"t_ms": 5}, headers=h, timeout=10)
    assert r.status_code == 400 and "window" in r.json()["error"]


def test_model_upload_checked_then_swapped_in(run: station.Running, model_bytes: bytes) -> None:
    h = auth(run)
    assert requests.get(run.url + "/api/model", headers=h, timeout=10).json() == {"loaded": False}
    for bad in (
        b"not a model",
        model_bytes[:-7],
        model_bytes[:40] + bytes([model_bytes[40] ^ 1]) + model_bytes[41:],
    ):
        r = requests.post(run.url + "/api/model", data=bad, headers=h, timeout=10)
        assert r.status_code == 400 and "model refused" in r.json()["error"]
        assert run.station.model is None
    rng = np.random.default_rng(1)
    other = bytes(
        microlearn.convert(
            DecisionTreeClassifier(max_depth=2).fit(rng.normal(size=(50, 5)), rng.integers(0, 2, 50))
        ).to_bytes()
    )
    r = requests.post(run.url + "/api/model", data=other, headers=h, timeout=10)
    assert r.status_code == 400 and "takes 5 inputs" in r.json()["error"]
    r = requests.post(
        run.url + "/api/model",
        data=model_bytes,
        headers={**h, "Content-Type": "application/octet-stream"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    info = r.json()
    assert info["loaded"] and info["n_features"] == 16 and info["classes"] == ["shake", "still", "walk"]
    assert (Path(run.station.dir) / "model.mlm").read_bytes() == model_bytes
    fill(run, 200, T0 + 400_000)  # the running station predicts every new window with it
    lv = requests.get(run.url + "/api/live", headers=h, timeout=10).json()
    assert lv["prediction"]["label"] in info["classes"]
    w = requests.get(
        run.url + "/api/windows", params={"t0": T0 + 400_000, "t1": T0 + 420_000}, headers=h, timeout=10
    ).json()["windows"]
    assert len(w) == 10 and all(x["predicted"] in info["classes"] for x in w)
    # predictions are stored beside the raw data and equal the model's on the stored window
    import mlrt

    m = mlrt.load(model_bytes)
    for x in w:
        assert x["output"] == m.predict(run.station.window_vector(x["t_ms"]))


def test_settings_and_session_login_with_csrf(run: station.Running) -> None:
    h = auth(run)
    r = requests.post(run.url + "/api/settings", json={"name": "bad name!"}, headers=h, timeout=10)
    assert r.status_code == 400 and "name" in r.json()["error"]
    r = requests.post(run.url + "/api/settings", json={"token": "mine"}, headers=h, timeout=10)
    assert r.status_code == 400
    r = requests.post(
        run.url + "/api/settings", json={"password": "correct horse", "name": "lab-1"}, headers=h, timeout=10
    )
    assert r.status_code == 200 and r.json()["name"] == "lab-1" and r.json()["password"] == "set"
    assert "correct horse" not in r.text and run.station.settings["token"] not in r.text
    s = requests.Session()
    assert s.post(run.url + "/login", json={"password": "wrong one"}, timeout=10).status_code == 401
    r = s.post(run.url + "/login", json={"password": "correct horse"}, timeout=10)
    assert r.status_code == 200 and "sid" in s.cookies and "SameSite=Strict" in r.headers["Set-Cookie"]
    csrf = r.json()["csrf"]
    assert s.get(run.url + "/api/status", timeout=10).status_code == 200
    # a write with the session cookie alone (what a cross-site form would send) is refused
    r = s.post(run.url + "/api/labels", json={"t_ms": T0, "label": "csrf"}, timeout=10)
    assert r.status_code == 401 and "CSRF" in r.json()["error"]
    r = s.post(
        run.url + "/api/labels", data={"t_ms": str(T0), "label": "csrf", "csrf_token": "no"}, timeout=10
    )
    assert r.status_code == 401
    assert run.station.index.labels.get(T0) is None
    r = s.post(
        run.url + "/api/labels", json={"t_ms": T0, "label": "ok"}, headers={"X-CSRF-Token": csrf}, timeout=10
    )
    assert r.status_code == 200 and run.station.index.labels[T0] == "ok"
    r = s.post(
        run.url + "/api/labels", data={"t_ms": str(T0), "label": "form", "csrf_token": csrf}, timeout=10
    )
    assert r.status_code == 200 and run.station.index.labels[T0] == "form"
    assert s.post(run.url + "/logout", headers={"X-CSRF-Token": csrf}, timeout=10).status_code == 200
    assert s.get(run.url + "/api/status", timeout=10).status_code == 401


def test_cors_preflight_lets_the_studio_post_a_model(run: station.Running) -> None:
    r = requests.options(
        run.url + "/api/model",
        headers={
            "Origin": "http://studio.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
        timeout=10,
    )
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] in ("*", "http://studio.example")
    assert "authorization" in r.headers["Access-Control-Allow-Headers"].lower()
    assert "Access-Control-Allow-Credentials" not in r.headers  # cookies never cross origins


def test_static_files_and_studio(run: station.Running) -> None:
    r = requests.get(run.url + "/", timeout=10)
    assert r.status_code == 200 and "microlearn station" in r.text
    assert requests.get(run.url + "/static/app.js", timeout=10).status_code == 200
    assert requests.get(run.url + "/static/../__init__.py", timeout=10).status_code == 404
    assert requests.get(run.url + "/static/%2e%2e/__init__.py", timeout=10).status_code == 404
    if station.studio_roots():
        r = requests.get(run.url + "/studio/", timeout=10)
        assert r.status_code == 200 and "<html" in r.text.lower()
        assert requests.get(run.url + "/mlrt/store.py", timeout=10).text.startswith("# mlrt.store")
