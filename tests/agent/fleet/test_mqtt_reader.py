"""The ingest's paho client reads PUBLISH packets itself (agent/fleet/mqtt.py): every
message, of every size (packets split across its 64 kB reads, larger than one read), with
or without MQTT 5 properties, at QoS 0 and 1, arrives exactly as published, against a real
mosquitto; and its batched PUBACKs really acknowledge (the broker redelivers nothing).
A malformed PUBLISH from a scripted peer, whole in the buffer or assembled by paho's reader,
ends the connection and reaches no one; a QoS 0 flood is shed past Receive Maximum; a paho
without the internals the reader uses fails at import."""

import asyncio
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from agent.fleet.mqtt import IngestClient, SharedSubscriber
from tests.support.broker import Broker

REPO = Path(__file__).resolve().parents[3]


def sizes():
    """Payload sizes around the read size and the varint steps (127/128, 16383/16384)."""
    edge = [0, 1, 126, 127, 128, 129, 16382, 16383, 16384, 65535, 65536, 65537, 70_000]
    return edge + [(i * 7919) % 3000 for i in range(1500)]


def received_all(client_id: str, port: int, expected: int, timeout: float = 60):
    got, lock, done = [], threading.Lock(), threading.Event()

    def on_publish(topic, payload, mid, qos):
        with lock:
            got.append((topic.decode(), bytes(payload), qos, mid))
            if len(got) >= expected:
                done.set()
    client = IngestClient(client_id, on_publish)
    client.on_connect = lambda c, *a: c.subscribe("t/#", options=SubscribeOptions(qos=1))
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 60
    client.connect("127.0.0.1", port, clean_start=False, properties=props)
    client.loop_start()
    return client, got, done


def test_every_message_arrives_exactly_as_published_and_acks_in_one_write():
    b = Broker(extra_conf="max_queued_messages 0\nmax_inflight_messages 0\n").start()
    try:
        payloads = [bytes([65 + i % 26]) * n for i, n in enumerate(sizes())]
        client, got, done = received_all("reader", b.port, len(payloads))
        time.sleep(0.5)                                   # subscribed (SUBACK)
        pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        pub.max_inflight_messages_set(0)
        pub.connect("127.0.0.1", b.port)
        pub.loop_start()
        with_props = Properties(PacketTypes.PUBLISH)
        with_props.UserProperty = ("k", "v" * 300)       # a properties length over 127
        with_props.MessageExpiryInterval = 600
        infos = [pub.publish(f"t/{i}", p, qos=i % 2, properties=with_props if i % 3 else None)
                 for i, p in enumerate(payloads)]
        for info in infos:
            info.wait_for_publish(30)
        assert done.wait(60), f"{len(got)} of {len(payloads)} arrived"
        by_topic = {t: (p, q) for t, p, q, _mid in got}
        assert len(got) == len(payloads)
        for i, p in enumerate(payloads):
            assert by_topic[f"t/{i}"] == (p, i % 2), f"message {i} ({len(p)} B) differs"
        client.ack_many([mid for _t, _p, qos, mid in got if qos == 1])
        time.sleep(0.5)                                   # the PUBACKs written
        client.disconnect()
        client.loop_stop()
        # the same session again: a message not acknowledged would be redelivered now
        again, regot, _ = received_all("reader", b.port, 1)
        time.sleep(1.5)
        again.disconnect()
        again.loop_stop()
        assert regot == []
        pub.loop_stop()
        pub.disconnect()
    finally:
        b.stop()


def _packet(first: int, body: bytes) -> bytes:
    out, n = bytearray([first]), len(body)
    while True:
        n, byte = n >> 7, n & 0x7F
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out) + body


GOOD = _packet(0x32, b"\x00\x06t/good\x00\x01\x00ok")
MALFORMED = {   # a hostile or broken broker's PUBLISH packets; each must end the connection
    "qos 3": _packet(0x36, b"\x00\x03t/x\x00\x02\x00boom"),
    "properties past the packet": _packet(0x32, b"\x00\x03t/x\x00\x03\xc8\x01x"),
    "properties length of 5 bytes": _packet(0x32, b"\x00\x03t/x\x00\x04\xff\xff\xff\xff\x7fx"),
    "topic past the packet": _packet(0x32, b"\x00\xffab"),
}


class ScriptedBroker:
    """A test-owned peer on loopback: answers CONNECT with CONNACK, sends a good PUBLISH and
    then one malformed packet (whole, or split over two writes so paho's own reader has
    to assemble it), and records whether the client hung up."""

    def __init__(self, bad: bytes, split: bool):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.bad, self.split, self.closed = bad, split, threading.Event()
        threading.Thread(target=self._serve, daemon=True, name="test.scripted-broker").start()

    def _serve(self):
        conn, _ = self.server.accept()
        with conn:
            conn.settimeout(10)
            conn.recv(1024)                                  # CONNECT
            conn.sendall(_packet(0x20, b"\x00\x00\x00") + GOOD)
            time.sleep(0.2)
            if self.split:
                conn.sendall(self.bad[:3])
                time.sleep(0.3)
                conn.sendall(self.bad[3:])
            else:
                conn.sendall(self.bad)
            try:
                while conn.recv(1024):                       # PUBACK-less client: until EOF
                    pass
                self.closed.set()
            except OSError:
                self.closed.set()
        self.server.close()


@pytest.mark.parametrize("split", [False, True], ids=["whole", "split"])
@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_a_malformed_publish_ends_the_connection_and_reaches_no_one(name, split):
    peer = ScriptedBroker(MALFORMED[name], split)
    got = []
    client = IngestClient(f"reader-{name}", lambda *a: got.append(a))
    client.connect("127.0.0.1", peer.port)
    client.loop_start()
    try:
        assert peer.closed.wait(10), f"{name}: the client kept the connection"
    finally:
        client.loop_stop()
    assert got == [(b"t/good", b"ok", 1, 1)], f"{name}: {got}"


def test_a_qos0_flood_is_shed_beyond_receive_maximum_and_counted():
    """Receive Maximum bounds only QoS 1 and 2: QoS 0 messages past it are shed, counted."""
    b = Broker(extra_conf="max_queued_messages 0\nmax_inflight_messages 0\n").start()
    try:
        async def go():
            sub = SharedSubscriber(b.url, "g", "shed-test", prefix="city/lighting",
                                   receive_max=20)
            sub.start(asyncio.get_running_loop())
            try:
                deadline = time.monotonic() + 10
                while not sub.connected.is_set():
                    assert time.monotonic() < deadline, "not connected"
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.5)                      # SUBACK
                pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
                pub.connect("127.0.0.1", b.port)
                pub.loop_start()
                infos = [pub.publish(f"city/lighting/gw-1/telemetry/L-{i}", b"{}", qos=0)
                         for i in range(500)]
                for info in infos:
                    info.wait_for_publish(10)
                shed, deadline = 0, time.monotonic() + 20
                while sub.pending() + shed < 500 and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                    shed += sub.take_shed()
                pub.loop_stop()
                pub.disconnect()
                return sub.pending(), shed
            finally:
                sub.stop()
        pending, shed = asyncio.run(go())
        assert pending == 20 and shed == 480
    finally:
        b.stop()


def test_a_paho_without_the_internals_the_reader_uses_fails_at_import():
    code = ("import paho.mqtt.client as m; del m.Client._packet_read\n"
            "import agent.fleet.mqtt")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1
    assert "ImportError: paho-mqtt has no Client._packet_read: agent/fleet/mqtt.py needs 2.x" \
        in done.stderr
