"""The ingest's paho client reads PUBLISH packets itself (agent/fleet/mqtt.py): every
message, of every size (packets split across its 64 kB reads, larger than one read), with
or without MQTT 5 properties, at QoS 0 and 1, arrives exactly as published, against a real
mosquitto; and its batched PUBACKs really acknowledge (the broker redelivers nothing)."""

import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from agent.fleet.mqtt import IngestClient
from tests.support.broker import Broker


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
