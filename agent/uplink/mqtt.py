"""MQTT uplink adapter: paho-mqtt 2.x, its network thread kept inside this module.

paho runs its own thread (loop_start); every callback is handed to the asyncio
loop with call_soon_threadsafe, so the rest of the agent never sees a thread.
The one exception is the reconnect delay: paho's thread asks for it, so it is
set there (reconnect_delay_set is thread-safe), jittered so that a city's worth
of gateways does not reconnect in lock-step after a broker restart.

Unacknowledged QoS 1 messages stay in paho's session and are re-sent (same mid,
DUP set) after a reconnect; the outbox holds them until their PUBACK arrives.
"""

import asyncio
from collections import deque
from contextlib import contextmanager
import json
import logging
import ssl
import sys
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes

from agent.config.models import Mqtt
from agent.errors import UplinkError
from agent.uplink.backoff import Backoff
from agent.uplink import wakeup
from agent.uplink.causes import classify, connack_cause, disconnect_cause
from agent.uplink.redelivery import Redelivery

log = logging.getLogger(__name__)

MAX_IN_MEMORY_QUEUE = 20000   # paho's own buffer while offline; durability is the outbox's job
SESSION_EXPIRY_S = 3600       # MQTT 5: the broker keeps our session (command queue) this long
REDELIVERY_MAX_S = 60.0       # longest pause between re-sends of an undelivered message


def tls_context(cfg: Mqtt) -> ssl.SSLContext:
    """Client TLS context: TLS >= 1.2, the configured CA (or the system's), optional client cert."""
    tls = cfg.tls
    try:
        ctx = ssl.create_default_context(cafile=tls.ca_file if tls else None)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if tls and tls.cert_file:
            ctx.load_cert_chain(tls.cert_file, tls.key_file)
    except (OSError, ssl.SSLError) as exc:
        raise UplinkError(f"uplink.mqtt.tls: cannot load certificates: {exc}; check "
                          "ca_file, cert_file and key_file") from exc
    return ctx


class Topics:
    """The topic layout: {prefix}/{gateway_id}/..."""

    def __init__(self, prefix: str, gateway_id: str):
        self.base = f"{prefix}/{gateway_id}"
        self.status = f"{self.base}/status"
        self.cmd = f"{self.base}/cmd"
        self.ack = f"{self.base}/ack"

    def telemetry(self, device_id: str) -> str:
        """Telemetry topic of one device."""
        return f"{self.base}/telemetry/{device_id}"

    def events(self, device_id: str) -> str:
        """Event topic of one device (or 'gateway')."""
        return f"{self.base}/events/{device_id}"


class MqttUplink:
    """Connection to the city broker: status with last will, publishing, command intake."""

    def __init__(self, cfg: Mqtt, gateway_id: str, on_command=None):
        self.cfg = cfg
        self.topics = Topics(cfg.topic_prefix, gateway_id)
        self.on_command = on_command
        self.on_puback = lambda mid: None      # the publisher's hook
        self._acks: deque = deque()            # PUBACKs from paho's thread, drained on the loop
        self._acks_scheduled = False
        self._stopping = False                 # our own disconnect: not an outage
        self.on_connected = lambda: None
        self.connected = asyncio.Event()
        self.connects = 0
        self.broker_refused = 0
        self.failed_attempts = 0
        self.cause: str | None = None          # why the broker is unreachable (None: connected)
        self._logged_cause: str | None = None
        self.status_extra = {}
        self.backoff = Backoff(cfg.reconnect_min, cfg.reconnect_max)
        self._loop = asyncio.get_running_loop()
        self.redelivery = Redelivery(self._loop, self._resend, cfg.reconnect_min,
                                     REDELIVERY_MAX_S, self.topics.base, cfg.resend_unheard)
        client_id = cfg.client_id or f"lentera-{gateway_id}"
        if cfg.protocol == "5":
            self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                       protocol=mqtt.MQTTv5)
        else:   # a persistent session keeps commands queued for us while the link is down
            self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                       protocol=mqtt.MQTTv311, clean_session=False)
        self._client.max_queued_messages_set(MAX_IN_MEMORY_QUEUE)
        self._client.max_inflight_messages_set(cfg.inflight)
        self._client.reconnect_delay_set(self.backoff.low, self.backoff.low)
        if cfg.username:
            self._client.username_pw_set(cfg.username, cfg.password)
        if cfg.tls is not None or cfg.url.startswith("mqtts"):
            self._client.tls_set_context(tls_context(cfg))
        self._client.will_set(self.topics.status, json.dumps({"state": "offline"}),
                              qos=1, retain=True)
        self._client.on_connect = self._on_connect
        self._client.on_connect_fail = self._on_connect_fail
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.on_publish = self._on_publish

    def start(self) -> None:
        """Connect in the background; reconnects forever with jittered back-off."""
        kwargs = {}
        if self.cfg.protocol == "5":
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = SESSION_EXPIRY_S
            kwargs = {"clean_start": False, "properties": props}
        try:
            self._client.connect_async(self.cfg.host, self.cfg.port,
                                       keepalive=int(self.cfg.keepalive), **kwargs)
        except (OSError, ValueError) as exc:
            raise UplinkError(f"cannot start MQTT connection to {self.cfg.url}: {exc}") from exc
        self._client.loop_start()

    def publish_raw(self, topic: str, payload: str, qos: int = 1) -> int:
        """Hand a message to paho (queued while offline); returns its id for on_puback."""
        info = self._client.publish(topic, payload, qos=qos)
        if info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:
            raise UplinkError("paho's send queue is full")
        return self.redelivery.sent(info.mid, topic, payload, qos)

    def _resend(self, topic: str, payload, qos: int) -> int | None:
        info = self._client.publish(topic, payload, qos=qos)
        return None if info.rc == mqtt.MQTT_ERR_QUEUE_SIZE else info.mid

    @contextmanager
    def batch(self):
        """Publishes inside wake paho's network thread once, not once each: paho 2.x sends a
        byte to its wake-up socket pair per publish (`_packet_queue`, private; pinned <3)."""
        wake = wakeup.hold(self._client)
        try:
            yield
        finally:
            wakeup.release(self._client, wake)

    def publish_json(self, topic: str, payload: dict, retain: bool = False,
                     qos: int | None = None) -> None:
        """Queue a JSON message (paho buffers it while the broker is away)."""
        data = json.dumps(payload, separators=(",", ":"))
        self._client.publish(topic, data, qos=self.cfg.qos if qos is None else qos,
                             retain=retain)

    def publish_status(self, state: str = "online", **extra) -> None:
        """Publish the retained status message - only while connected: offline, the newest
        snapshot is kept and goes out once on reconnect (never a pile of stale ones)."""
        self.status_extra.update(extra)
        if self.connected.is_set():
            self.publish_json(self.topics.status, {"state": state, **self.status_extra},
                              retain=True, qos=1)

    async def stop(self, timeout: float = 2.0) -> None:
        """Say we are going offline (retained), then disconnect cleanly."""
        self._stopping = True
        self.redelivery.cancel()
        if self._client.is_connected():
            info = self._client.publish(self.topics.status, json.dumps({"state": "offline"}),
                                        qos=1, retain=True)
            try:
                await self._loop.run_in_executor(None, info.wait_for_publish, timeout)
            except (RuntimeError, ValueError):
                log.warning("could not publish offline status before disconnecting")
        self._client.disconnect()
        # paho's thread ends within its select timeout; never wait on it forever. The join runs
        # in a daemon thread of its own, not the loop's executor: asyncio.run() waits for every
        # executor thread at exit, so a stuck join there would hang the whole shutdown.
        joined = self._loop.create_future()

        def join():
            self._client.loop_stop()
            try:
                self._loop.call_soon_threadsafe(lambda: joined.done() or joined.set_result(None))
            except RuntimeError:
                pass                            # the loop is gone: nobody waits any more

        threading.Thread(target=join, name="mqtt.stop", daemon=True).start()
        try:
            await asyncio.wait_for(joined, timeout)
        except asyncio.TimeoutError:
            log.warning("MQTT network thread did not stop within %.1f s", timeout)

    # -- paho thread callbacks: hand over to the loop, nothing else ----------------
    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if not reason_code.is_failure:
            self.backoff.reset()
        else:
            self._next_delay()
        self._loop.call_soon_threadsafe(self._connected, reason_code)

    def _on_connect_fail(self, client, userdata):
        # paho calls this inside its `except OSError:` block: the exception is still current
        cause = classify(sys.exc_info()[1])
        self._next_delay()
        self._loop.call_soon_threadsafe(self._connect_failed, cause)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self._next_delay()
        self._loop.call_soon_threadsafe(self._disconnected, reason_code)

    def _on_publish(self, client, userdata, mid, reason_code, properties):
        # PUBACKs come in bursts: queue them and wake the loop once per burst, not per ack
        # (deque append/popleft are atomic; the flag is only a hint, a spare wake-up is harmless)
        self._acks.append((mid, reason_code))
        if not self._acks_scheduled:
            self._acks_scheduled = True
            self._loop.call_soon_threadsafe(self._drain_acks)

    def _next_delay(self):
        delay = self.backoff.next()
        self._client.reconnect_delay_set(delay, delay)

    def _on_message(self, client, userdata, message):
        self._loop.call_soon_threadsafe(self._message, message.topic, message.payload)

    # -- loop side ------------------------------------------------------------------
    def _connected(self, reason_code):
        if reason_code.is_failure:
            self._connect_failed(connack_cause(reason_code))
            return
        self.connects += 1
        self.failed_attempts = 0
        self.cause = self._logged_cause = None
        log.info("connected to %s", self.cfg.url)
        self.connected.set()
        self.publish_status("online")
        self._client.subscribe(self.topics.cmd, qos=1)
        self.on_connected()

    def _connect_failed(self, cause: str):
        self.failed_attempts += 1
        self.cause = cause
        if cause != self._logged_cause:      # once per change of cause, not every attempt
            self._logged_cause = cause
            log.warning("cannot connect to %s: %s; retrying every %g-%g s", self.cfg.url,
                        cause, self.cfg.reconnect_max / 2, self.cfg.reconnect_max)

    def _disconnected(self, reason_code):
        cause = disconnect_cause(reason_code)
        if not self.connected.is_set() and (self.cause or "").startswith("connack"):
            cause = None        # paho's disconnect after a refused CONNACK: same attempt
        if self.connected.is_set():
            if self._stopping:
                log.info("disconnected from broker %s", self.cfg.url)
            else:
                log.warning("lost broker %s (%s); reconnecting", self.cfg.url, reason_code)
        self.connected.clear()
        if cause is not None:
            self._connect_failed(cause)

    def _message(self, topic, payload):
        if self.on_command is not None:
            self.on_command(topic, payload)

    def _drain_acks(self):
        self._acks_scheduled = False
        while self._acks:
            self._published(*self._acks.popleft())

    def _published(self, mid, reason_code):
        # MQTT 5: reason 16 (no matching subscribers) or a failure (e.g. not authorised) is
        # not a delivery: the row stays in the outbox and is sent again (redelivery.py)
        if reason_code.is_failure:
            self.broker_refused += 1
        msg_id = self.redelivery.puback(mid, reason_code)
        if msg_id is not None:
            self.on_puback(msg_id)
