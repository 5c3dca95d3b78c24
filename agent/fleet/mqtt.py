"""The ingest worker's MQTT 5 side (paho 2.x): shared subscriptions, manual PUBACK.

paho's network thread decodes each message (agent/fleet/decode.py) and appends it to a bounded
inbox; the asyncio side takes batches and, once a batch is committed, acks it with
`client.ack(mid, qos)` (paho's `manual_ack=True`: no PUBACK leaves before the commit). The
broker sends at most `receive_max` unacknowledged messages (MQTT 5 Receive Maximum), which
bounds the inbox and is the back-pressure while the database is away.

A packet id (mid) belongs to one connection: after a reconnect the broker redelivers what
was not acked, so acks for messages of an older connection are skipped, never sent on the
new one where they would acknowledge someone else's message.
"""

import asyncio
import threading
from dataclasses import dataclass
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from agent.fleet.decode import BadMessage, decode

KINDS = ("telemetry/#", "events/#", "ack", "status")


def topic_filters(group: str, prefix: str) -> list[str]:
    """The shared subscriptions every worker of `group` takes."""
    return [f"$share/{group}/{prefix}/+/{kind}" for kind in KINDS]


@dataclass
class Delivery:
    """One message as received: its record (or why it was rejected) and how to ack it."""
    generation: int
    mid: int
    qos: int
    record: object = None
    reason: str | None = None
    gateway: str = "?"


class SharedSubscriber:
    """One MQTT 5 client in a shared-subscription group, persistent session, manual ack."""

    def __init__(self, url: str, group: str, client_id: str, prefix: str = "city/lighting",
                 receive_max: int = 4000, session_expiry: int = 3600):
        parts = urlparse(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 1883
        self.prefix, self.group = prefix, group
        self.receive_max, self.session_expiry = receive_max, session_expiry
        self.generation = 0
        self.connected = threading.Event()
        self._lock = threading.Lock()
        self._inbox: list[Delivery] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self.ready = asyncio.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=mqtt.MQTTv5, manual_ack=True)
        self.client.reconnect_delay_set(0.2, 2)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *a: self.connected.clear()
        self.client.on_message = self._on_message

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Connect (in the background: paho retries until the broker answers)."""
        self._loop = loop
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.session_expiry
        props.ReceiveMaximum = self.receive_max
        self.client.connect_async(self.host, self.port, keepalive=30, clean_start=False,
                                  properties=props)
        self.client.loop_start()

    def stop(self) -> None:
        """Disconnect (the session stays on the broker) and stop paho's thread."""
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            return
        with self._lock:
            self.generation += 1
        opts = SubscribeOptions(qos=1)
        client.subscribe([(f, opts) for f in topic_filters(self.group, self.prefix)])
        self.connected.set()

    def _on_message(self, client, userdata, msg):
        delivery = Delivery(self.generation, msg.mid, msg.qos)
        try:
            delivery.record = decode(msg.topic, msg.payload, self.prefix)
            delivery.gateway = delivery.record.gateway
        except BadMessage as exc:
            delivery.reason = exc.reason
            parts = msg.topic[len(self.prefix) + 1:].split("/", 1)
            delivery.gateway = parts[0][:64] if msg.topic.startswith(self.prefix) else "?"
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

    def pending(self) -> int:
        """How many deliveries wait in the inbox."""
        with self._lock:
            return len(self._inbox)

    def ack(self, deliveries: list[Delivery]) -> int:
        """PUBACK the committed deliveries of the current connection; how many were acked."""
        with self._lock:
            generation = self.generation
        acked = 0
        for d in deliveries:
            if d.qos and d.generation == generation:
                self.client.ack(d.mid, d.qos)
                acked += 1
        return acked
