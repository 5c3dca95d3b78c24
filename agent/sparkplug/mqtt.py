"""The few MQTT 3.1.1 packets an edge node session needs, on an asyncio transport.

Why not paho here (the JSON uplink keeps it): paho hands every packet from the caller's
thread to its own through a socket pair and writes each with its own send(), 37-48 µs of
CPU per 91-byte QoS 0 DDATA at 500 lights (docs/benchmarks.md). Here every packet queued in
one pass of the event loop goes out in one transport.write.

Spoken: CONNECT (clean session, a QoS 1 will, user/password), CONNACK, SUBSCRIBE/SUBACK,
UNSUBSCRIBE/UNSUBACK, PUBLISH both ways (out QoS 0 or 1; in QoS 0 or 1, acknowledged),
PUBACK, PINGREQ/PINGRESP, DISCONNECT. Bytes from the broker are read by `Framer` and
`read_publish`; `FrameError` is the one error they raise (fuzzed in tests).
"""

import asyncio
import logging

from drivers.errors import LenteraError

log = logging.getLogger(__name__)

CONNECT, CONNACK, PUBLISH, PUBACK = 0x10, 0x20, 0x30, 0x40
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK = 0x82, 0x90, 0xA2, 0xB0
PINGREQ, PINGRESP, DISCONNECT = b"\xc0\x00", 0xD0, b"\xe0\x00"
MAX_PACKET = 256 * 1024      # a packet from the broker longer than this ends the connection


class FrameError(LenteraError, ValueError):
    """Bytes from the broker that are not MQTT 3.1.1 as this client speaks it."""


def _length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def _string(data: bytes) -> bytes:
    return len(data).to_bytes(2, "big") + data


def packet(kind: int, body: bytes) -> bytes:
    return bytes((kind,)) + _length(len(body)) + body


def connect(client_id: str, keepalive: int, will_topic: str, will: bytes,
            username: str | None = None, password: str | None = None) -> bytes:
    """CONNECT: MQTT 3.1.1, clean session, the will at QoS 1 not retained."""
    flags = 0x02 | 0x04 | 0x08
    payload = _string(client_id.encode()) + _string(will_topic.encode()) + _string(will)
    if username is not None:
        flags |= 0x80
        payload += _string(username.encode())
        if password is not None:
            flags |= 0x40
            payload += _string(password.encode())
    head = _string(b"MQTT") + bytes((4, flags)) + keepalive.to_bytes(2, "big")
    return packet(CONNECT, head + payload)


def publish(topic: bytes, payload: bytes, mid: int = 0) -> bytes:
    """PUBLISH, not retained: QoS 0, or QoS 1 when mid is given."""
    if mid:
        return packet(PUBLISH | 0x02, _string(topic) + mid.to_bytes(2, "big") + payload)
    return packet(PUBLISH, _string(topic) + payload)


def subscribe(mid: int, topics: list[str], qos: int = 1) -> bytes:
    body = mid.to_bytes(2, "big") + b"".join(_string(t.encode()) + bytes((qos,))
                                             for t in topics)
    return packet(SUBSCRIBE, body)


def unsubscribe(mid: int, topic: str) -> bytes:
    return packet(UNSUBSCRIBE, mid.to_bytes(2, "big") + _string(topic.encode()))


class Framer:
    """A byte stream from the broker -> whole packets (first byte, body)."""

    def __init__(self):
        self.buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        buf = self.buf
        buf += data
        out = []
        while len(buf) >= 2:
            length, shift, i = 0, 0, 1
            while True:
                if i >= len(buf):
                    return out               # the length is not all here yet
                byte = buf[i]
                length |= (byte & 0x7F) << shift
                i += 1
                if not byte & 0x80:
                    break
                shift += 7
                if shift > 21:
                    raise FrameError("remaining length of more than four bytes")
            if length > MAX_PACKET:
                raise FrameError(f"a packet of {length} bytes (at most {MAX_PACKET})")
            if len(buf) < i + length:
                return out
            out.append((buf[0], bytes(buf[i:i + length])))
            del buf[:i + length]
        return out


def read_publish(first: int, body: bytes) -> tuple[str, bytes, int, int]:
    """A PUBLISH from the broker -> (topic, payload, qos, mid)."""
    qos = (first >> 1) & 0x03
    if qos == 3:
        raise FrameError("PUBLISH with QoS 3")
    if len(body) < 2:
        raise FrameError("PUBLISH without a topic")
    end = 2 + int.from_bytes(body[:2], "big")
    if len(body) < end + (2 if qos else 0):
        raise FrameError("PUBLISH shorter than its topic")
    try:
        topic = body[2:end].decode()
    except UnicodeDecodeError:
        raise FrameError("PUBLISH topic is not UTF-8") from None
    mid = int.from_bytes(body[end:end + 2], "big") if qos else 0
    return topic, body[end + (2 if qos else 0):], qos, mid


def ack_mid(body: bytes) -> int:
    """The packet id of a SUBACK, UNSUBACK or PUBACK."""
    if len(body) < 2:
        raise FrameError("acknowledgement without a packet id")
    return int.from_bytes(body[:2], "big")


class Connection(asyncio.Protocol):
    """One connection to the broker: packets out in batches, packets in to the session."""

    def __init__(self, on_message, on_lost):
        self.on_message, self.on_lost = on_message, on_lost
        self.transport = None
        self.framer = Framer()
        self.out: list[bytes] = []
        self.connack = asyncio.get_running_loop().create_future()
        self.waiting: dict[int, asyncio.Future] = {}
        self._mid = 0
        self.received = 0                    # packets from the broker (keepalive checks it)

    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        for future in (self.connack, *self.waiting.values()):
            future.cancel()                  # cancelled: the connection went before the answer
        self.waiting.clear()
        self.on_lost()

    @property
    def open(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def send(self, data: bytes) -> None:
        """Queue a packet; everything queued in this pass of the loop goes in one write."""
        if not self.out:
            asyncio.get_running_loop().call_soon(self._flush)
        self.out.append(data)

    def _flush(self) -> None:
        out, self.out = self.out, []
        if self.open:
            self.transport.write(b"".join(out))

    def next_mid(self) -> int:
        self._mid = self._mid % 65535 + 1
        return self._mid

    def request(self, make) -> asyncio.Future:
        """Send make(mid) and return the future its acknowledgement resolves."""
        mid = self.next_mid()
        future = self.waiting[mid] = asyncio.get_running_loop().create_future()
        self.send(make(mid))
        return future

    def data_received(self, data: bytes) -> None:
        try:
            for first, body in self.framer.feed(data):
                self.received += 1
                self._packet(first, body)
        except FrameError as exc:
            log.warning("sparkplug: broker sent bytes that are not MQTT 3.1.1 (%s); "
                        "reconnecting", exc)
            self.transport.close()

    def _packet(self, first: int, body: bytes) -> None:
        kind = first & 0xF0
        if kind == PUBLISH:
            topic, payload, qos, mid = read_publish(first, body)
            if qos == 1:
                self.send(packet(PUBACK, mid.to_bytes(2, "big")))
            self.on_message(topic, payload)
        elif kind == CONNACK:
            if len(body) != 2:
                raise FrameError("CONNACK of other than two bytes")
            if not self.connack.done():
                self.connack.set_result(body[1])
        elif kind in (SUBACK, UNSUBACK, PUBACK):
            future = self.waiting.pop(ack_mid(body), None)
            if future is not None and not future.done():
                future.set_result(body[2:])
        elif kind != PINGRESP:
            raise FrameError(f"unexpected packet type {kind >> 4}")
