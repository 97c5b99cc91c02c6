"""Station integrations: MQTT publishing against a real mosquitto (Debian's, started here on a free
127.0.0.1 port) read back with paho-mqtt; webhooks with retries and back-off against a local HTTP
server; a bounded queue that never holds up the sensor loop."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from sklearn.tree import DecisionTreeClassifier

import microlearn
from microlearn import station
from test_station_api import T0, fill, free_port

MOSQUITTO = shutil.which("mosquitto") or (
    "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
)


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    if MOSQUITTO is None:
        pytest.fail("Debian's mosquitto is not installed: run `make setup` (scripts/setup.sh installs it)")
    port = free_port()
    conf = tmp_path_factory.mktemp("mq") / "m.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    p = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    for _ in range(100):
        try:
            import socket

            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield port
    p.terminate()
    p.wait(5)


def subscriber(port: int, topic: str) -> tuple[Any, list[tuple[str, bytes, bool]]]:
    import paho.mqtt.client as mqtt

    got: list[tuple[str, bytes, bool]] = []
    ready = threading.Event()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    c.on_connect = lambda cl, *_: (cl.subscribe(topic, qos=1), None)[1]
    c.on_subscribe = lambda *_: ready.set()
    c.on_message = lambda _c, _u, m: got.append((m.topic, m.payload, bool(m.retain)))
    c.connect("127.0.0.1", port)
    c.loop_start()
    assert ready.wait(10)
    return c, got


def wait_for(cond: Any, timeout: float = 15) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


@pytest.fixture(scope="module")
def model_bytes() -> bytes:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 16)).astype(np.float32)
    return bytes(microlearn.convert(DecisionTreeClassifier(max_depth=3).fit(X, X[:, 3] > 0.3)).to_bytes())


def test_mqtt_client_against_mosquitto(broker: int) -> None:
    from microlearn.station.device.mqtt import MQTTClient, MQTTException

    c, got = subscriber(broker, "t/#")

    async def go() -> None:
        m = MQTTClient("unit", "127.0.0.1", broker)
        await m.connect()
        await m.publish("t/a", b"zero")
        await m.publish("t/b", "one" * 100, qos=1)
        await m.publish("t/c", b"kept", retain=True)
        await m.ping()
        await m.disconnect()

    asyncio.run(go())
    wait_for(lambda: len(got) == 3)
    assert got == [("t/a", b"zero", False), ("t/b", b"one" * 100, False), ("t/c", b"kept", False)]
    c.loop_stop()
    c.disconnect()
    c2, got2 = subscriber(broker, "t/c")  # a new subscriber gets the retained message
    wait_for(lambda: len(got2) == 1)
    assert got2 == [("t/c", b"kept", True)]
    c2.loop_stop()
    c2.disconnect()

    async def refused() -> None:
        await MQTTClient("x", "127.0.0.1", free_port(), timeout_s=1).connect()

    with pytest.raises(OSError):
        asyncio.run(refused())
    assert issubclass(MQTTException, OSError)


def test_station_publishes_predictions_and_aggregates(
    broker: int, model_bytes: bytes, tmp_path: Path
) -> None:
    c, got = subscriber(broker, "lab/st/#")
    run = station.start(
        tmp_path,
        port=free_port(),
        sample=False,
        settings={
            "mqtt_host": "127.0.0.1",
            "mqtt_port": broker,
            "mqtt_topic": "lab/st",
            "publish_aggregates_s": 30,
        },
    )
    try:
        run.call(lambda: run.station.load_model(model_bytes))
        fill(run, 1200, T0)  # 2 minutes at 10 Hz
        preds = run.call(lambda: list(run.station.preds.range(0, 1 << 60)))
        changes = [p for i, p in enumerate(preds) if i == 0 or preds[i - 1][1][0] != p[1][0]]
        wait_for(lambda: len(got) >= len(changes) + 4 and not run.outbox.q)
        msgs = [(t, json.loads(p)) for t, p, _ in got]
        pm = [m for t, m in msgs if t == "lab/st/prediction"]
        assert [(m["t_ms"], m["output"]) for m in pm] == [(t, v[0]) for t, v in changes]
        am = [m for t, m in msgs if t == "lab/st/aggregate"]
        # one message per completed 30 s period (aligned to multiples of 30 s), equal to the store's
        assert [m["t0_ms"] for m in am] == list(range(T0 - T0 % 30_000, T0 + 90_000, 30_000))
        for a in am:
            ref = run.call(lambda a=a: run.station.store.aggregate(a["t0_ms"], a["t1_ms"], 30_000))
            assert (
                len(ref) == 1 and a["count"] == ref[0][1]["count"][0] and a["mean"] == list(ref[0][1]["mean"])
            )
            assert a["min"] == list(ref[0][1]["min"]) and a["max"] == list(ref[0][1]["max"])
        assert am[1]["count"] == 300
        assert run.outbox.stats()["sent"] == len(got) and run.outbox.stats()["failed"] == 0
    finally:
        run.stop()
        c.loop_stop()
        c.disconnect()


class Hook(BaseHTTPRequestHandler):
    fail_first = 0
    delay = 0.0
    seen: ClassVar[list[tuple[float, dict[str, Any]]]] = []
    calls = 0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).calls += 1
        time.sleep(self.delay)
        if type(self).calls <= self.fail_first:
            self.send_response(500)
            self.end_headers()
            return
        type(self).seen.append((time.monotonic(), json.loads(body)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *a: Any) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[tuple[str, type[Hook]]]:
    class H(Hook):
        seen: ClassVar[list[tuple[float, dict[str, Any]]]] = []
        calls = 0

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/hook", H
    srv.shutdown()
    srv.server_close()


def test_webhook_retries_with_backoff(hook: tuple[str, type[Hook]], tmp_path: Path) -> None:
    url, H = hook
    H.fail_first = 3
    run = station.start(tmp_path, port=free_port(), sample=False, settings={"webhook_urls": [url]})
    try:
        run.outbox.backoff_ms = 100
        t_put = time.monotonic()
        run.call(lambda: run.station.emit("alarm", {"level": 3}))
        wait_for(lambda: len(H.seen) == 1)
        assert H.calls == 4 and H.seen[0][1] == {
            "level": 3,
            "station": "microlearn-station",
            "event": "alarm",
        }
        # three failures: waits of 100, 200 and 400 ms before the tries that followed
        assert H.seen[0][0] - t_put >= 0.7
        assert run.outbox.stats()["retried"] == 3 and run.outbox.stats()["sent"] == 1
        # an unreachable hook: given up after the retries, counted, nothing else held up
        run.call(lambda: run.station.update_settings({"webhook_urls": [f"http://127.0.0.1:{free_port()}/x"]}))
        run.outbox.retries = 2
        run.outbox.backoff_ms = 20
        run.call(lambda: run.station.emit("alarm", {"level": 4}))
        wait_for(lambda: run.outbox.stats()["failed"] == 1)
        assert not run.outbox.q
    finally:
        run.stop()


def test_slow_webhooks_never_hold_up_the_sensor_loop(hook: tuple[str, type[Hook]], tmp_path: Path) -> None:
    url, H = hook
    H.delay = 0.5
    run = station.start(
        tmp_path, port=free_port(), sample=True, speed=5, settings={"webhook_urls": [url], "rate_hz": 10}
    )
    try:
        for i in range(200):  # a burst of events: the queue keeps the newest 64
            run.call(lambda i=i: run.station.emit("burst", {"i": i}))
        assert len(run.outbox.q) <= run.outbox.maxlen and run.outbox.dropped >= 200 - 64 - 1
        n0, t0 = run.station.n_samples, time.monotonic()
        time.sleep(2.0)
        rate = (run.station.n_samples - n0) / (time.monotonic() - t0)
        assert rate > 0.6 * 50, rate  # 10 Hz x 5: about 50 samples per second of real time
        assert 1 <= len(H.seen) <= 6  # the hook is being served, one slow request at a time
    finally:
        run.stop()
