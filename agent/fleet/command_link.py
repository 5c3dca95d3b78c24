"""The MQTT side of `lentera-fleet command`: publish signed envelopes, collect the acks.

Its own MQTT 5 client (not the ingest's shared subscription): it subscribes to each addressed
gateway's `{prefix}/{gw}/ack` before publishing, so every ack reaches it as well as the
ingest. A command counts as published on the broker's PUBACK with reason Success; reason 16
(No matching subscribers) means no gateway session holds its `cmd` subscription, and is
reported as such, never as sent. paho's thread hands everything to the asyncio loop.
The broker URL may be mqtts:// with the uplink's TLS keys (agent/fleet/broker.py); a broker
certificate we refuse ends connect() at once with the reason.
"""

import asyncio
import json
import sys
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from agent.fleet import broker
from drivers.errors import LenteraError


class LinkError(LenteraError, OSError):
    """The broker could not be reached or refused us; names it."""


class CommandLink:
    """One connection for one run: subscribe to the acks, publish, wait."""

    def __init__(self, url: str, prefix: str, client_id: str):
        self.url = url
        self.prefix = prefix
        self._loop = asyncio.get_running_loop()
        self.acks: dict[str, dict] = {}          # command id -> the ack
        self.published: dict[str, int] = {}      # command id -> PUBACK epoch ms
        self.unheard: dict[str, str] = {}        # command id -> the PUBACK's reason
        self._mids: dict[int, str] = {}
        self._gateway_of: dict[str, str] = {}    # command id -> the gateway it went to
        self._changed = asyncio.Event()
        self._connected = self._loop.create_future()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                   protocol=mqtt.MQTTv5)
        self._client.on_connect = self._on_connect
        self._client.on_connect_fail = self._on_connect_fail
        self._cause: str | None = None           # why the last connect failed
        self._client.on_message = self._on_message
        self._client.on_publish = self._on_publish
        self._client.on_subscribe = lambda *a: self._call(self._changed.set)

    def _call(self, fn, *args):
        try:
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:
            pass                                 # the loop is gone: nobody waits any more

    async def connect(self, timeout: float) -> None:
        """Connect (TLS if the URL says mqtts://); LinkError names what went wrong."""
        try:
            address = broker.parse(self.url)
            if address.tls:
                self._client.tls_set_context(address.tls)
            self._client.connect_async(address.host, address.port)
        except (OSError, ValueError) as exc:
            raise LinkError(f"cannot connect to {self.url}: {exc}") from None
        self._client.loop_start()
        try:
            async with asyncio.timeout(timeout):
                reason = await self._connected
        except TimeoutError:
            cause = f" ({self._cause})" if self._cause else ""
            raise LinkError(f"no answer from the broker {address.url} within {timeout:g} s"
                            f"{cause}: is it running, and is the URL right?") from None
        if isinstance(reason, str):
            raise LinkError(f"the broker {address.url}: {reason}; check ca_file (and that the "
                            "URL names the host the certificate is for)")
        if reason.is_failure:
            raise LinkError(f"the broker {address.url} refused us: {reason}")

    async def subscribe_acks(self, gateways: set[str], timeout: float) -> None:
        """Subscribe to every gateway's ack topic and wait for the SUBACK."""
        self._changed.clear()
        self._client.subscribe([(f"{self.prefix}/{gw}/ack", 1) for gw in sorted(gateways)])
        async with asyncio.timeout(timeout):
            await self._changed.wait()

    def publish(self, commands: list[dict]) -> None:
        """Hand every envelope to paho (QoS 1 on `{prefix}/{gw}/cmd`)."""
        for c in commands:
            info = self._client.publish(f"{self.prefix}/{c['gateway']}/cmd", c["envelope"],
                                        qos=1)
            self._mids[info.mid] = c["id"]
            self._gateway_of[c["id"]] = c["gateway"]

    async def wait(self, ids: set[str], timeout: float) -> None:
        """Until every id has its ack (or its PUBACK said nobody heard it), or the timeout."""
        try:
            async with asyncio.timeout(timeout):
                while not ids <= (set(self.acks) | set(self.unheard)):
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            pass                                 # the caller reports what is missing

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    # -- paho's thread ----------------------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties):
        self._call(lambda: self._connected.done() or self._connected.set_result(reason_code))

    def _on_connect_fail(self, client, userdata):
        exc = sys.exc_info()[1]                  # paho calls us inside its except block
        self._cause = broker.explain(exc)
        if broker.is_fatal(exc):                 # a refused certificate: no use waiting
            cause = self._cause
            self._call(lambda: self._connected.done() or self._connected.set_result(cause))

    def _on_publish(self, client, userdata, mid, reason_code, properties):
        self._call(self._puback, mid, reason_code, int(time.time() * 1000))

    def _on_message(self, client, userdata, message):
        self._call(self._ack, message.topic, message.payload)

    # -- the loop -----------------------------------------------------------------------
    def _puback(self, mid, reason_code, at_ms):
        command_id = self._mids.pop(mid, None)
        if command_id is None:
            return
        if reason_code.is_failure or reason_code.value == 16:
            self.unheard[command_id] = str(reason_code)
        else:
            self.published[command_id] = at_ms
        self._changed.set()

    def _ack(self, topic: str, payload: bytes):
        try:
            ack = json.loads(payload)
        except ValueError:
            return                               # not an ack of ours; the ingest counts it
        if not (isinstance(ack, dict) and isinstance(ack.get("id"), str)):
            return
        # only the gateway a command went to can answer it: another gateway's ack topic
        # naming its id (a bug, or a gateway not ours) must not mark it done
        if topic != f"{self.prefix}/{self._gateway_of.get(ack['id'])}/ack":
            return
        self.acks.setdefault(ack["id"], ack)      # the first ack is the authoritative one
        self._changed.set()
