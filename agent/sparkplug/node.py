"""The edge node's MQTT sessions: one fresh connection per session (agent/sparkplug/mqtt.py).

A new connection for every CONNECT, clean session, so no dropped connection's unacknowledged
messages are sent again: old DDATA with old seq numbers would then precede the new NBIRTH
[tck-id-payloads-dbirth-order]. Each session:

1. bdSeq + 1, persisted atomically, then CONNECT (MQTT 3.1.1, clean session) with NDEATH as
   the will (QoS 1, not retained, only bdSeq) [tck-id-payloads-ndeath-will-message];
2. subscribe NCMD, DCMD and, with a primary host, its STATE; wait for an online STATE whose
   timestamp is not older than the last one seen [tck-id-operational-behavior-edge-node-birth-sequence-wait];
3. NBIRTH + DBIRTHs (QoS 0) [tck-id-topics-nbirth-mqtt], then drain the outbox's `sparkplug`
   rows as DDATA (QoS 0, as the spec requires). QoS 0 has no PUBACK: after each batch the
   node unsubscribes a topic it never subscribed, and the broker's UNSUBACK - which comes
   after it has read every packet sent before - acknowledges the batch's rows;
4. an offline STATE (not older than the online one) ends the session: NDEATH, DISCONNECT,
   start again [tck-id-operational-behavior-edge-node-termination-host-offline].
"""

import asyncio
import logging

from agent.sparkplug import mqtt, payloads
from agent.sparkplug.topics import StateError, read_state, state_topic
from agent.uplink.mqtt import Backoff, tls_context

log = logging.getLogger(__name__)

BARRIER_TIMEOUT_S = 10.0     # no UNSUBACK this long: the connection is dead, start again
CONNECT_TIMEOUT_S = 10.0     # TCP (and TLS) connect, then CONNACK


class Session:
    """One MQTT connection of the edge node."""

    def __init__(self, node, bdseq: int):
        self.node, self.bdseq = node, bdseq
        self.connected = asyncio.Event()
        self.ended = asyncio.Event()
        self.conn: mqtt.Connection | None = None
        self._tasks: list[asyncio.Task] = []

    def start(self) -> None:
        """Connect in the background: `connected` or `ended` tells how it went."""
        self._tasks.append(asyncio.ensure_future(self._open()))

    async def _open(self) -> None:
        node, mq = self.node, self.node.mqtt
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                _, conn = await loop.create_connection(
                    lambda: mqtt.Connection(self._on_message, self.ended.set), node.host,
                    node.port, ssl=tls_context(mq) if node.url.startswith("mqtts") else None)
                self.conn = conn
                conn.send(mqtt.connect(node.client_id, int(node.cfg.keepalive),
                                       node.topics.ndeath, payloads.ndeath(node.wall_ms(),
                                                                           self.bdseq),
                                       mq.username, mq.password))
                await asyncio.wait([conn.connack])
                if conn.connack.cancelled():
                    raise ConnectionError("the broker closed the connection before CONNACK")
                rc = conn.connack.result()
        except (OSError, TimeoutError, ConnectionError) as exc:
            log.warning("sparkplug: cannot connect to %s: %s", node.url, exc or "timed out")
            self.ended.set()
            return
        if rc != 0:
            log.warning("sparkplug: broker refused the connection (CONNACK code %d: 4/5 are "
                        "bad credentials / not authorised; check uplink.mqtt)", rc)
            self.ended.set()
            return
        topics = [node.topics.ncmd, node.topics.dcmd_all]
        if node.cfg.primary_host_id:
            topics.append(state_topic(node.cfg.primary_host_id))
        conn.request(lambda mid: mqtt.subscribe(mid, topics))
        self._tasks.append(asyncio.ensure_future(self._keepalive_loop(conn)))
        self.connected.set()

    async def _keepalive_loop(self, conn) -> None:
        """PINGREQ every half keepalive; nothing from the broker for a keepalive: dead."""
        period = self.node.cfg.keepalive / 2
        while conn.open:
            seen = conn.received
            conn.send(mqtt.PINGREQ)
            await asyncio.sleep(period)
            if conn.received == seen:
                await asyncio.sleep(period)
                if conn.received == seen:
                    log.warning("sparkplug: no answer from the broker for %g s; reconnecting",
                                2 * period)
                    conn.transport.close()
                    return

    def _on_message(self, topic: str, payload: bytes) -> None:
        self.node.on_message(self, topic, payload)

    def publish(self, topic: str, data: bytes) -> None:
        """QoS 0, not retained: every Sparkplug message but the will [tck-id-topics-ddata-mqtt]."""
        conn = self.conn
        if conn is None or not conn.open:
            self.ended.set()
            return
        conn.send(mqtt.publish(topic.encode(), data))

    async def barrier(self) -> bool:
        """True once the broker has read everything sent so far on this connection."""
        conn = self.conn
        if conn is None or not conn.open:
            self.ended.set()
            return False
        future = conn.request(lambda mid: mqtt.unsubscribe(mid, self.node.topics.barrier))
        ended = asyncio.ensure_future(self.ended.wait())
        try:
            await asyncio.wait([future, ended], timeout=BARRIER_TIMEOUT_S,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            ended.cancel()
        if not future.done() or future.cancelled():
            self.ended.set()
            return False
        return True

    async def close(self, ndeath: bool) -> None:
        """Optionally NDEATH first [tck-id-operational-behavior-edge-node-intentional-disconnect-ndeath],
        then DISCONNECT (bounded: never hang the agent's stop)."""
        for task in self._tasks:
            task.cancel()
        conn = self.conn
        if conn is None or not conn.open:
            return
        if ndeath:
            death = payloads.ndeath(self.node.wall_ms(), self.bdseq)
            acked = conn.request(lambda mid: mqtt.publish(self.node.topics.ndeath.encode(),
                                                          death, mid))
            await asyncio.wait([acked], timeout=0.5)
        if conn.open:
            conn.send(mqtt.DISCONNECT)
            conn._flush()
            conn.transport.close()


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
