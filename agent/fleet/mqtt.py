"""The ingest worker's MQTT 5 side (paho 2.x): shared subscriptions, manual PUBACK.

`SharedSubscriber` is one client of a shared-subscription group with a persistent session.
paho's network thread decodes each PUBLISH (agent/fleet/decode.py: a record, or the reason it
is refused) and appends a `Delivery` to the inbox; the asyncio side takes batches and, once
a batch is committed, acks it (paho's `manual_ack=True`: no PUBACK leaves before the commit).
The inbox is bounded by the broker for QoS 1: it sends at most `receive_max` unacknowledged
messages (MQTT 5 Receive Maximum), the back-pressure while the database is away. Receive
Maximum does not count QoS 0, which a gateway never uses but anyone may publish: a QoS 0
message that finds `receive_max` deliveries waiting is shed and counted (`take_shed()`, the
worker's `shed_qos0` reject), so a flood cannot grow the inbox.

A packet id (mid) belongs to one connection: after a reconnect the broker redelivers what
was not acked, so acks of an older connection's messages are skipped, never sent on the new.

`IngestClient` makes paho's per-message costs per-batch (docs/benchmarks.md, "Fleet ingest"):
- the socket (`_ReadAhead`) is read 64 kB at a time, and `pending()` tells paho's loop that
  bytes are buffered, so it skips select(); `loop_read` takes up to BURST packets a pass;
- a QoS 0/1 PUBLISH wholly in the buffer is sliced out in one step, one split across reads
  goes through paho's own packet reader (`_packet_read`), then through our `_handle_publish`;
  either way it is decoded to topic, mid and payload with properties skipped, not into
  paho's Properties and MQTTMessage (we never set Topic Alias Maximum, so the broker sends
  no aliases); QoS 2 (never subscribed) is left to paho, QoS 3 is a protocol error;
- a batch's PUBACKs are queued as one write with one wake-up of paho's thread (`ack_many`).
These are paho 2.x internals: a paho without them fails at import, here.
"""

import asyncio
import logging
import struct
import sys
import threading
import time
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from agent.fleet import broker as broker_url
from agent.fleet.decode import BadMessage, decode

KINDS = ("telemetry/#", "events/#", "ack", "status")
READ_SIZE = 65536
BURST = 1000                     # packets read per pass of paho's loop (keepalive runs between)
log = logging.getLogger("lentera.fleet.mqtt")
# the paho internals IngestClient relies on: a paho without them fails here, not at run time
for _name in ("_create_socket", "_packet_read", "_loop_rc_handle", "_handle_publish",
              "_packet_queue"):
    if not hasattr(mqtt.Client, _name):
        raise ImportError(f"paho-mqtt has no Client.{_name}: agent/fleet/mqtt.py needs 2.x")


def topic_filters(group: str, prefix: str) -> list[str]:
    """The shared subscriptions every worker of `group` takes."""
    return [f"$share/{group}/{prefix}/+/{kind}" for kind in KINDS]


@dataclass(slots=True)
class Delivery:
    """One message as received: its record (or why it was rejected) and how to ack it."""
    generation: int
    mid: int
    qos: int
    record: object = None
    reason: str | None = None
    gateway: str = "?"


class _ReadAhead:
    """A socket whose reads come from a 64 kB buffer; `pending()` tells paho's loop that
    bytes are buffered (it skips select() then, as it does for TLS's own buffer)."""

    def __init__(self, sock):
        self._sock, self._buf, self._pos = sock, b"", 0

    def recv(self, size: int) -> bytes:
        """Up to `size` bytes: from the buffer, else one read of the socket."""
        pos = self._pos
        if pos >= len(self._buf):
            self._buf = self._sock.recv(READ_SIZE)   # BlockingIOError/SSLWantRead: paho's
            pos = 0
        self._pos = pos + size
        return self._buf[pos:pos + size]

    def publish(self):
        """(header, body) of the whole PUBLISH packet next in the buffer, taken out of it;
        None when the next packet is another kind or not all here (paho reads those)."""
        buf, start = self._buf, self._pos
        end = len(buf)
        # PUBLISH at QoS 0 or 1 only (0x30, QoS bits 0b0110 not 0b0100)
        if end - start < 2 or buf[start] & 0xF0 != 0x30 or buf[start] & 0x06 == 0x04:
            return None
        length, shift, i = 0, 0, start + 1
        while i < end and shift <= 21:
            byte = buf[i]
            i, length, shift = i + 1, length | (byte & 0x7F) << shift, shift + 7
            if not byte & 0x80:
                if i + length > end:
                    return None
                self._pos = i + length
                return buf[start], buf[i:i + length]
        return None

    def pending(self) -> int:
        """Bytes readable without the socket (ours, then TLS's)."""
        left = len(self._buf) - self._pos
        if left > 0:
            return left
        inner = getattr(self._sock, "pending", None)
        return inner() if inner else 0

    def __getattr__(self, name):
        return getattr(self._sock, name)


class IngestClient(mqtt.Client):
    """paho's client with the ingest's hot paths made cheap (see the module docstring)."""

    def __init__(self, client_id: str, on_publish_fast):
        super().__init__(CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=mqtt.MQTTv5, manual_ack=True)
        self._on_publish_fast = on_publish_fast

    def _create_socket(self):
        return _ReadAhead(super()._create_socket())

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """Read up to BURST packets (paho reads one per select())."""
        for _ in range(BURST):
            if self._sock is None:
                return MQTTErrorCode.MQTT_ERR_NO_CONN
            rc = self._packet_read()
            if rc > 0:
                return self._loop_rc_handle(rc)
            if rc == MQTTErrorCode.MQTT_ERR_AGAIN:
                break
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _packet_read(self) -> MQTTErrorCode:
        # a PUBLISH wholly in the buffer skips paho's byte-by-byte reading and its dicts
        if self._in_packet["command"] == 0 and type(self._sock) is _ReadAhead:
            whole = self._sock.publish()
            if whole is not None:
                rc = self._publish(*whole)
                with self._msgtime_mutex:
                    self._last_bytes_received = time.monotonic()
                return rc
        return super()._packet_read()

    def _handle_publish(self) -> MQTTErrorCode:
        return self._publish(self._in_packet["command"], self._in_packet["packet"])

    def _publish(self, header: int, packet: bytes) -> MQTTErrorCode:
        qos = (header & 0x06) >> 1
        if qos == 3:
            return MQTTErrorCode.MQTT_ERR_PROTOCOL
        if qos == 2:             # never subscribed at 2 (and never the fast path): paho's own
            return super()._handle_publish()
        try:
            end = 2 + ((packet[0] << 8) | packet[1])
            topic = packet[2:end]
            mid = 0
            if qos:
                mid, end = (packet[end] << 8) | packet[end + 1], end + 2
            length, shift = 0, 0                 # the properties' length (a varint)
            while True:
                byte = packet[end]
                end, length, shift = end + 1, length | (byte & 0x7F) << shift, shift + 7
                if not byte & 0x80:
                    break
                if shift > 21:
                    return MQTTErrorCode.MQTT_ERR_PROTOCOL
        except IndexError:
            return MQTTErrorCode.MQTT_ERR_PROTOCOL
        if end + length > len(packet):
            return MQTTErrorCode.MQTT_ERR_PROTOCOL
        self._on_publish_fast(topic, packet[end + length:], mid, qos)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def ack_many(self, mids: list[int]) -> None:
        """One write of a PUBACK (reason Success, no properties) per mid."""
        if mids:
            # 0x40 (PUBACK), remaining length 2, the mid: one big-endian uint32 each
            blob = struct.pack(f"!{len(mids)}I", *[0x40020000 | mid for mid in mids])
            self._packet_queue(0x40, blob, 0, 0)


class SharedSubscriber:
    """One MQTT 5 client in a shared-subscription group, persistent session, manual ack."""

    def __init__(self, url: str, group: str, client_id: str, prefix: str = "city/lighting",
                 receive_max: int = 4000, session_expiry: int = 3600):
        self.address = broker_url.parse(url)
        self.prefix, self.group = prefix, group
        self._topic_start = len(prefix) + 1
        self.receive_max, self.session_expiry = receive_max, session_expiry
        self.generation = 0
        self.connected = threading.Event()
        self.cause: str | None = None            # why the last connect failed, if it did
        self.fatal: str | None = None            # a TLS refusal before the first connect
        self._lock = threading.Lock()
        self._inbox: list[Delivery] = []
        self._shed = 0                            # QoS 0 deliveries refused: inbox full
        self._loop: asyncio.AbstractEventLoop | None = None
        self.ready = asyncio.Event()
        self.client = IngestClient(client_id, self._on_publish)
        if self.address.tls:
            self.client.tls_set_context(self.address.tls)
        self.client.reconnect_delay_set(0.2, 2)
        self.client.on_connect = self._on_connect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_disconnect = lambda *a: self.connected.clear()

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Connect (in the background: paho retries until the broker answers)."""
        self._loop = loop
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.session_expiry
        props.ReceiveMaximum = self.receive_max
        self.client.connect_async(self.address.host, self.address.port, keepalive=30,
                                  clean_start=False, properties=props)
        self.client.loop_start()

    def stop(self) -> None:
        """Disconnect (the session stays on the broker) and stop paho's thread."""
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            self._failed(f"connack: the broker refused us ({reason_code})", False)
            return
        with self._lock:
            self.generation += 1
        self.cause = None
        opts = SubscribeOptions(qos=1)
        client.subscribe([(f, opts) for f in topic_filters(self.group, self.prefix)])
        self.connected.set()

    def _on_connect_fail(self, client, userdata):
        exc = sys.exc_info()[1]                   # paho calls us inside its except block
        self._failed(broker_url.explain(exc), broker_url.is_fatal(exc))

    def _failed(self, cause: str, fatal: bool) -> None:
        if cause != self.cause:                   # once per change, not per retry
            log.warning("broker %s: %s", self.address.url, cause)
        self.cause = cause
        if fatal and not self.generation and self.fatal is None:
            self.fatal = cause
            self._loop.call_soon_threadsafe(self.ready.set)

    def _on_publish(self, topic: bytes, payload: bytes, mid: int, qos: int) -> None:
        if not qos and len(self._inbox) >= self.receive_max:
            with self._lock:                      # not bounded by Receive Maximum: shed
                self._shed += 1
            return
        delivery = Delivery(self.generation, mid, qos)
        try:
            delivery.record = decode(topic.decode(), payload, self.prefix)
            delivery.gateway = delivery.record.gateway
        except (BadMessage, UnicodeDecodeError) as exc:
            delivery.reason = getattr(exc, "reason", "bad_topic")
            text = topic.decode(errors="replace")
            delivery.gateway = text[self._topic_start:].split("/", 1)[0][:64] \
                if text.startswith(self.prefix + "/") else "?"
        with self._lock:
            self._inbox.append(delivery)
            first = len(self._inbox) == 1
        if first:
            self._loop.call_soon_threadsafe(self.ready.set)

    def take(self, limit: int) -> list[Delivery]:
        """Up to `limit` deliveries, oldest first."""
        with self._lock:
            batch, self._inbox = self._inbox[:limit], self._inbox[limit:]
            if not self._inbox:
                self.ready.clear()
            return batch

    def take_shed(self) -> int:
        """How many QoS 0 messages were shed since the last call (the inbox was full)."""
        with self._lock:
            shed, self._shed = self._shed, 0
            return shed

    def pending(self) -> int:
        """How many deliveries wait in the inbox."""
        with self._lock:
            return len(self._inbox)

    def ack(self, deliveries: list[Delivery]) -> int:
        """PUBACK the committed deliveries of the current connection; how many were acked."""
        with self._lock:
            generation = self.generation
        mids = [d.mid for d in deliveries if d.qos and d.generation == generation]
        self.client.ack_many(mids)
        return len(mids)
