# Webhooks and MQTT for the station: events go into a bounded queue (the sensor loop only appends to a
# list, never waits); one asyncio task delivers them, retrying failures with exponential back-off.
#
#   webhook   POST <url> with the JSON {"station": name, "event": kind, ...payload}
#   MQTT      publish to <topic>/<kind> (prediction, aggregate) the same JSON, QoS 0
import asyncio
import json
import time

from .mqtt import MQTTClient


def _ms():
    return time.ticks_ms() if hasattr(time, "ticks_ms") else int(time.monotonic() * 1000)


def _elapsed(a, b):
    return time.ticks_diff(a, b) if hasattr(time, "ticks_diff") else a - b


def _add(a, d):
    return time.ticks_add(a, d) if hasattr(time, "ticks_add") else a + d


def parse_url(url):
    if not url.startswith("http://"):
        raise ValueError("only http:// webhook URLs are supported")
    rest = url[7:]
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.partition(":")
    return host, int(port) if port else 80, "/" + path


async def http_post(url, body, timeout_s=5):
    """POST body (bytes, JSON) to url; the response status code."""
    host, port, path = parse_url(url)
    r, w = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
    try:
        head = (
            "POST %s HTTP/1.0\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            % (path, host, len(body))
        )
        w.write(head.encode() + body)
        await w.drain()
        line = await asyncio.wait_for(r.readline(), timeout_s)
        parts = line.split()
        if len(parts) < 2:
            raise OSError("bad HTTP response")
        return int(parts[1])
    finally:
        w.close()
        try:
            await w.wait_closed()
        except (OSError, AttributeError):
            pass


class Outbox:
    def __init__(self, station, maxlen=64, retries=5, backoff_ms=500, max_backoff_ms=60000):
        self.station = station
        self.maxlen = maxlen
        self.retries = retries
        self.backoff_ms = backoff_ms
        self.max_backoff_ms = max_backoff_ms
        self.q = []  # [target, body, kind, attempts, next_ms]
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self.retried = 0
        self.mqtt = None
        self.mqtt_down_until = None
        self.stopping = False
        station.listeners.append(self.put)

    def put(self, kind, payload):
        """Queue an event for every configured target; O(1), never waits (drops the oldest if full)."""
        s = self.station.settings
        msg = dict(payload)
        msg["station"] = s["name"]
        msg["event"] = kind
        body = json.dumps(msg).encode()
        targets = list(s["webhook_urls"])
        if s["mqtt_host"]:
            targets.append("mqtt")
        now = _ms()
        for t in targets:
            if len(self.q) >= self.maxlen:
                self.q.pop(0)
                self.dropped += 1
            self.q.append([t, body, kind, 0, now])

    def stats(self):
        return {
            "queued": len(self.q),
            "sent": self.sent,
            "failed": self.failed,
            "dropped": self.dropped,
            "retried": self.retried,
        }

    async def _deliver(self, target, body, kind):
        if target == "mqtt":
            s = self.station.settings
            if self.mqtt is None:
                c = MQTTClient(s["name"], s["mqtt_host"], s["mqtt_port"])
                await c.connect()
                self.mqtt = c
            try:
                await self.mqtt.publish(s["mqtt_topic"] + "/" + kind, body)
            except (OSError, asyncio.TimeoutError):
                m = self.mqtt
                self.mqtt = None
                await m.disconnect()
                raise
            return
        status = await http_post(target, body)
        if not 200 <= status < 300:
            raise OSError("webhook answered HTTP %d" % status)

    async def run(self, idle_ms=50):
        while not self.stopping:
            now = _ms()
            item = None
            for it in self.q:
                if _elapsed(now, it[4]) >= 0:
                    item = it
                    break
            if item is None:
                await asyncio.sleep(idle_ms / 1000)
                continue
            self.q.remove(item)
            try:
                await self._deliver(item[0], item[1], item[2])
                self.sent += 1
            except (OSError, ValueError, asyncio.TimeoutError):
                item[3] += 1
                if item[3] > self.retries:
                    self.failed += 1
                else:
                    self.retried += 1
                    item[4] = _add(_ms(), min(self.max_backoff_ms, self.backoff_ms << (item[3] - 1)))
                    if len(self.q) < self.maxlen:
                        self.q.append(item)
                    else:
                        self.dropped += 1
        if self.mqtt is not None:
            await self.mqtt.disconnect()
