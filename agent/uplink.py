"""MQTT uplink adapter: paho-mqtt 2.x, its network thread kept inside this module.

paho runs its own thread (loop_start); every callback is handed to the asyncio
loop with call_soon_threadsafe, so the rest of the agent never sees a thread.
"""

import asyncio
import json
import logging

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from agent.config import Mqtt
from agent.errors import UplinkError

log = logging.getLogger(__name__)

MAX_IN_MEMORY_QUEUE = 20000   # paho's own buffer while offline; durability is the outbox's job


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
        self.connected = asyncio.Event()
        self.connects = 0
        self.status_extra = {}
        self._loop = asyncio.get_running_loop()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2,
                                   client_id=cfg.client_id or f"lentera-{gateway_id}",
                                   protocol=mqtt.MQTTv311)
        self._client.max_queued_messages_set(MAX_IN_MEMORY_QUEUE)
        self._client.reconnect_delay_set(1, 30)
        if cfg.username:
            self._client.username_pw_set(cfg.username, cfg.password)
        self._client.will_set(self.topics.status, json.dumps({"state": "offline"}),
                              qos=1, retain=True)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message

    def start(self) -> None:
        """Connect in the background; reconnects forever with back-off."""
        try:
            self._client.connect_async(self.cfg.host, self.cfg.port,
                                       keepalive=int(self.cfg.keepalive))
        except (OSError, ValueError) as exc:
            raise UplinkError(f"cannot start MQTT connection to {self.cfg.url}: {exc}") from exc
        self._client.loop_start()

    def publish_json(self, topic: str, payload: dict, retain: bool = False,
                     qos: int | None = None) -> None:
        """Queue a JSON message (paho buffers it while the broker is away)."""
        data = json.dumps(payload, separators=(",", ":"))
        self._client.publish(topic, data, qos=self.cfg.qos if qos is None else qos,
                             retain=retain)

    def publish_status(self, state: str = "online", **extra) -> None:
        """Publish the retained status message."""
        self.status_extra.update(extra)
        self.publish_json(self.topics.status, {"state": state, **self.status_extra},
                          retain=True, qos=1)

    async def stop(self, timeout: float = 2.0) -> None:
        """Say we are going offline (retained), then disconnect cleanly."""
        if self._client.is_connected():
            info = self._client.publish(self.topics.status, json.dumps({"state": "offline"}),
                                        qos=1, retain=True)
            try:
                await self._loop.run_in_executor(None, info.wait_for_publish, timeout)
            except (RuntimeError, ValueError):
                log.warning("could not publish offline status before disconnecting")
        self._client.disconnect()
        await asyncio.get_running_loop().run_in_executor(None, self._client.loop_stop)

    # -- paho thread callbacks: hand over to the loop, nothing else ----------------
    def _on_connect(self, client, userdata, flags, reason_code, properties):
        self._loop.call_soon_threadsafe(self._connected, reason_code)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self._loop.call_soon_threadsafe(self._disconnected, reason_code)

    def _on_message(self, client, userdata, message):
        self._loop.call_soon_threadsafe(self._message, message.topic, message.payload)

    # -- loop side ------------------------------------------------------------------
    def _connected(self, reason_code):
        if reason_code.is_failure:
            log.error("broker %s refused the connection: %s", self.cfg.url, reason_code)
            return
        self.connects += 1
        log.info("connected to %s", self.cfg.url)
        self.publish_status("online")
        self._client.subscribe(self.topics.cmd, qos=1)
        self.connected.set()

    def _disconnected(self, reason_code):
        if self.connected.is_set():
            log.warning("lost broker %s (%s); reconnecting", self.cfg.url, reason_code)
        self.connected.clear()

    def _message(self, topic, payload):
        if self.on_command is not None:
            self.on_command(topic, payload)
