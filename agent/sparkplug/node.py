"""The edge node's MQTT sessions: paho-mqtt 2.x, one fresh client per session.

A new client for every CONNECT, because paho re-sends a dropped connection's unacknowledged
messages on reconnect: old DDATA with old seq numbers would then precede the new NBIRTH
[tck-id-payloads-dbirth-order]. Each session:

1. bdSeq + 1, persisted atomically, then CONNECT (MQTT 3.1.1, clean session) with NDEATH as
   the will (QoS 1, not retained, only bdSeq) [tck-id-payloads-ndeath-will-message];
2. subscribe NCMD, DCMD and, with a primary host, its STATE; wait for an online STATE whose
   timestamp is not older than the last one seen [tck-id-operational-behavior-edge-node-birth-sequence-wait];
3. NBIRTH + DBIRTHs (QoS 0) [tck-id-topics-nbirth-mqtt], then drain the outbox's `sparkplug`
   rows as DDATA (QoS 0, as the spec requires). QoS 0 has no PUBACK: at most every 0.25 s
   (agent/sparkplug/service.py) the node unsubscribes a topic it never subscribed, and the
   broker's UNSUBACK - which comes after it has read every packet sent before - acknowledges
   the rows sent before it. The packets
   of one pass of the loop (births, a batch of DDATA, its UNSUBSCRIBE) go to paho's write
   queue as one run: one wake-up of paho's thread and one send() per pass;
4. an offline STATE (not older than the online one) ends the session: NDEATH, DISCONNECT,
   start again [tck-id-operational-behavior-edge-node-termination-host-offline].
"""

import asyncio
import logging
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from agent.sparkplug import payloads
from agent.sparkplug.topics import StateError, read_state, state_topic
from agent.uplink.mqtt import Backoff, tls_context

log = logging.getLogger(__name__)

BARRIER_TIMEOUT_S = 10.0     # no UNSUBACK this long: the connection is dead, start again


def str16(text: str) -> bytes:
    """An MQTT UTF-8 string: two bytes of length, then the bytes."""
    data = text.encode()
    return len(data).to_bytes(2, "big") + data


def remaining_length(n: int) -> bytes:
    """MQTT's variable-length integer (MQTT 3.1.1 section 2.2.3)."""
    out = bytearray()
    while True:
        n, digit = n >> 7, n & 0x7F
        out.append(digit | 0x80 if n else digit)
        if not n:
            return bytes(out)


def publish_packet(topic16: bytes, payload: bytes) -> bytes:
    """A PUBLISH, QoS 0, not retained, not dup (section 3.3): no packet id."""
    return b"\x30" + remaining_length(len(topic16) + len(payload)) + topic16 + payload


def unsubscribe_packet(mid: int, topic16: bytes) -> bytes:
    """An UNSUBSCRIBE of one topic (section 3.10; flags 0010)."""
    return b"\xa2" + remaining_length(2 + len(topic16)) + mid.to_bytes(2, "big") + topic16


class Session:
    """One MQTT connection of the edge node; paho's callbacks handed to the loop."""

    def __init__(self, node, bdseq: int):
        self.node, self.bdseq = node, bdseq
        loop = node.loop
        self.connected = asyncio.Event()
        self.ended = asyncio.Event()
        self.on_end = lambda: None           # the node's wake-up, when the session ends
        self.barriers: dict[int, asyncio.Future] = {}
        cfg, mq = node.cfg, node.mqtt
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=node.client_id,
                             protocol=mqtt.MQTTv311, clean_session=True)
        if mq.username:
            client.username_pw_set(mq.username, mq.password)
        if node.url.startswith("mqtts"):
            client.tls_set_context(tls_context(mq))
        client.will_set(node.topics.ndeath, payloads.ndeath(node.wall_ms(), bdseq), qos=1,
                        retain=False)
        client.max_inflight_messages_set(65535)
        client.reconnect_delay_set(cfg.reconnect_max, cfg.reconnect_max)

        def later(fn, *args):
            loop.call_soon_threadsafe(fn, *args)
        client.on_connect = lambda c, u, f, rc, p: later(self._connected, rc)
        client.on_connect_fail = lambda c, u: later(self._lost)
        client.on_disconnect = lambda c, u, f, rc, p: later(self._lost)
        client.on_message = lambda c, u, m: later(node.on_message, self, m.topic, m.payload)
        client.on_unsubscribe = lambda c, u, mid, rcs, p: later(self._unsuback, mid)
        self.client = client
        self._run = bytearray()              # this pass's packets, not yet handed to paho
        self._topics: dict[str, bytes] = {}  # topic -> its MQTT string (length + UTF-8)

    def start(self) -> None:
        """Connect in paho's thread: `connected` or `ended` tells how it went; paho sends the
        PINGREQs of the keepalive itself."""
        self.client.connect_async(self.node.host, self.node.port,
                                  keepalive=int(self.node.cfg.keepalive))
        self.client.loop_start()

    def _lost(self) -> None:
        """The connection is gone: the answers it still owed are failed barriers, and the
        session ends."""
        barriers, self.barriers = self.barriers, {}
        for future in barriers.values():
            if not future.done():
                future.set_result(False)
        self._end()

    def _end(self) -> None:
        self.ended.set()
        self.on_end()

    def _queue(self, packet: bytes) -> None:
        """Add a packet to this pass's run; the first of a pass schedules the run's flush."""
        if not self._run:
            self.node.loop.call_soon(self._flush)
        self._run += packet

    def _flush(self) -> None:
        """Hand the pass's packets to paho's write queue as one: one wake-up of its thread
        and one send() for the pass instead of one each per message (paho's `_packet_queue`
        and `_packet_write`; private, paho pinned to 2.2.x in setup.py). paho looks at a queued packet's command
        only for a QoS 0 PUBLISH's on_publish (it marks `info` published) and for DISCONNECT."""
        run, self._run = self._run, bytearray()
        if not run:
            return
        if self.client._sock is None:        # the connection is gone: the rows stay pending
            self._lost()
            return
        self.client._packet_queue(mqtt.PUBLISH, run, 0, 0, mqtt.MQTTMessageInfo(0))

    def _connected(self, rc) -> None:
        if rc.is_failure:
            log.warning("sparkplug: broker refused the connection: %s", rc)
            self._end()
            return
        node = self.node
        topics = [node.topics.ncmd, node.topics.dcmd_all]
        if node.cfg.primary_host_id:
            topics.append(state_topic(node.cfg.primary_host_id))
        self.client.subscribe([(t, 1) for t in topics])
        self.connected.set()

    def _unsuback(self, mid: int) -> None:
        self._answer(mid, True)

    def _answer(self, mid: int, ok: bool) -> None:
        future = self.barriers.pop(mid, None)
        if future is not None and not future.done():
            future.set_result(ok)

    def publish(self, topic: str, data: bytes) -> None:
        """QoS 0, not retained: every Sparkplug message but the will [tck-id-topics-ddata-mqtt]."""
        self._queue(publish_packet(self._topic(topic), data))

    def _topic(self, topic: str) -> bytes:
        prefix = self._topics.get(topic)
        if prefix is None:
            prefix = self._topics[topic] = str16(topic)
        return prefix

    async def barrier(self) -> bool:
        """True once the broker has read everything sent so far on this connection."""
        mid = self.client._mid_generate()    # paho's ids: never one of its own in flight
        future = self.barriers[mid] = self.node.loop.create_future()
        self._queue(unsubscribe_packet(mid, self._topic(self.node.topics.barrier)))
        # no UNSUBACK in time: a failed barrier; a lost connection fails it at once (_lost)
        timer = self.node.loop.call_later(BARRIER_TIMEOUT_S, self._answer, mid, False)
        try:
            ok = await future
        finally:
            timer.cancel()
            self.barriers.pop(mid, None)
        if not ok:
            self._end()
        return ok

    async def close(self, ndeath: bool) -> None:
        """Optionally NDEATH first [tck-id-operational-behavior-edge-node-intentional-disconnect-ndeath],
        then DISCONNECT and stop paho's thread (bounded: never hang the agent's stop)."""
        client = self.client
        self._flush()                        # the pass's DDATA before the NDEATH
        if ndeath and client.is_connected():
            info = client.publish(self.node.topics.ndeath,
                                  payloads.ndeath(self.node.wall_ms(), self.bdseq), qos=1)
            await self.node.loop.run_in_executor(None, info.wait_for_publish, 0.5)
        client.disconnect()
        done = threading.Event()
        threading.Thread(target=lambda: (client.loop_stop(), done.set()),
                         name="sparkplug.stop", daemon=True).start()
        await self.node.loop.run_in_executor(None, done.wait, 1.0)


class HostState:
    """The primary host's STATE as seen so far: online, and the newest timestamp accepted."""

    def __init__(self):
        self.online = False
        self.timestamp = -1
        self.ignored = 0                     # older than the last one, or malformed
        self.changed = asyncio.Event()

    def update(self, data: bytes) -> bool:
        """Apply a STATE message; True when it counts (not older, well-formed)."""
        try:
            online, ts = read_state(data)
        except StateError as exc:
            self.ignored += 1
            log.warning("sparkplug: ignored a STATE message: %s", exc)
            return False
        if ts < self.timestamp:
            self.ignored += 1                # [tck-id-operational-behavior-edge-node-termination-host-offline-timestamp]
            log.info("sparkplug: ignored a STATE from the past (%d < %d)", ts, self.timestamp)
            return False
        self.online, self.timestamp = online, ts
        self.changed.set()
        return True


def new_backoff(cfg) -> Backoff:
    """The session's reconnect pacing: the uplink's jittered back-off."""
    return Backoff(cfg.reconnect_min, cfg.reconnect_max)
