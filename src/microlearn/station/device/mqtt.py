# A small MQTT 3.1.1 publisher over asyncio streams (MicroPython and CPython): the calls of
# umqtt.simple's MQTTClient (connect, publish, ping, disconnect) as coroutines, so a slow or absent
# broker never blocks the sensor loop. QoS 0 and 1.
import asyncio
import struct


class MQTTException(OSError):
    pass


def _str(s):
    b = s.encode() if isinstance(s, str) else bytes(s)
    return struct.pack("!H", len(b)) + b


def _packet(kind, body):
    n = len(body)
    out = bytearray([kind])
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            break
    return bytes(out) + body


class MQTTClient:
    def __init__(self, client_id, server, port=1883, user=None, password=None, keepalive=60, timeout_s=5):
        self.client_id = client_id
        self.server = server
        self.port = port
        self.user = user
        self.password = password
        self.keepalive = keepalive
        self.timeout = timeout_s
        self.r = self.w = None
        self.pid = 0

    async def _read(self, n):
        return await asyncio.wait_for(self.r.readexactly(n), self.timeout)

    async def connect(self, clean_session=True):
        self.r, self.w = await asyncio.wait_for(asyncio.open_connection(self.server, self.port), self.timeout)
        flags = 0x02 if clean_session else 0
        payload = _str(self.client_id)
        if self.user:
            flags |= 0x80
            payload += _str(self.user)
            if self.password:
                flags |= 0x40
                payload += _str(self.password)
        body = _str("MQTT") + bytes([4, flags]) + struct.pack("!H", self.keepalive) + payload
        self.w.write(_packet(0x10, body))
        await self.w.drain()
        ack = await self._read(4)
        if ack[0] != 0x20 or ack[3] != 0:
            await self.disconnect()
            raise MQTTException("MQTT broker refused the connection (code %d)" % ack[3])

    async def publish(self, topic, msg, retain=False, qos=0):
        if isinstance(msg, str):
            msg = msg.encode()
        body = _str(topic)
        if qos:
            self.pid = self.pid % 65535 + 1
            body += struct.pack("!H", self.pid)
        self.w.write(_packet(0x30 | (qos << 1) | (1 if retain else 0), body + msg))
        await self.w.drain()
        if qos:
            ack = await self._read(4)
            if ack[0] != 0x40 or struct.unpack("!H", ack[2:])[0] != self.pid:
                raise MQTTException("MQTT: unexpected reply to a QoS 1 publish")

    async def ping(self):
        self.w.write(b"\xc0\x00")
        await self.w.drain()
        if (await self._read(2))[0] != 0xD0:
            raise MQTTException("MQTT: no PINGRESP")

    async def disconnect(self):
        w = self.w
        self.r = self.w = None
        if w is None:
            return
        try:
            w.write(b"\xe0\x00")
            await w.drain()
        except OSError:
            pass
        w.close()
        try:
            await w.wait_closed()
        except (OSError, AttributeError):
            pass
