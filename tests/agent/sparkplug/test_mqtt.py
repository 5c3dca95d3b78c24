"""The edge node's MQTT 3.1.1 codec: framing, the packets it reads, and a fuzz of its readers.

The packets it writes are checked against a real mosquitto by tests/e2e/test_sparkplug_e2e.py
(every session there goes through them); here the readers of broker bytes.
"""

import random

import pytest

from agent.sparkplug import mqtt


@pytest.mark.parametrize("length", [0, 1, 127, 128, 16383, 16384, 200_000])
def test_a_packet_is_framed_whole_whatever_the_chunks(length):
    body = bytes(random.Random(length).randbytes(length))
    stream = mqtt.packet(mqtt.PUBLISH, body) + mqtt.packet(mqtt.PINGRESP, b"")
    framer, got = mqtt.Framer(), []
    for i in range(0, len(stream), 7):
        got += framer.feed(stream[i:i + 7])
    assert got == [(mqtt.PUBLISH, body), (mqtt.PINGRESP, b"")]
    assert framer.buf == bytearray()


def test_lengths_of_more_than_four_bytes_or_past_the_cap_are_refused():
    with pytest.raises(mqtt.FrameError, match="more than four bytes"):
        mqtt.Framer().feed(b"\x30\xff\xff\xff\xff\x01")
    with pytest.raises(mqtt.FrameError, match="at most"):
        mqtt.Framer().feed(b"\x30" + mqtt._length(mqtt.MAX_PACKET + 1))


def test_a_publish_from_the_broker_reads_back_with_qos_and_packet_id():
    data = mqtt.publish(b"spBv1.0/city/NCMD/gw", b"\x08\x01", mid=513)
    [(first, body)] = mqtt.Framer().feed(data)
    assert mqtt.read_publish(first, body) == ("spBv1.0/city/NCMD/gw", b"\x08\x01", 1, 513)
    [(first, body)] = mqtt.Framer().feed(mqtt.publish(b"a/b", b""))
    assert mqtt.read_publish(first, body) == ("a/b", b"", 0, 0)
    for bad in (b"", b"\x00", b"\x00\x09ab", b"\x00\x02\xff\xfe"):
        with pytest.raises(mqtt.FrameError):
            mqtt.read_publish(0x30, bad)
    with pytest.raises(mqtt.FrameError, match="QoS 3"):
        mqtt.read_publish(0x36, b"\x00\x01a\x00\x01")


def test_connect_carries_the_will_and_credentials_where_mqtt_311_puts_them():
    data = mqtt.connect("lentera-spb-gw", 30, "spBv1.0/city/NDEATH/gw", b"\x01\x02", "u", "p")
    [(first, body)] = mqtt.Framer().feed(data)
    assert first == mqtt.CONNECT
    assert body[:6] == b"\x00\x04MQTT" and body[6] == 4
    assert body[7] == 0x02 | 0x04 | 0x08 | 0x80 | 0x40    # clean, will QoS 1, user, password
    assert body[8:10] == (30).to_bytes(2, "big")
    assert body[10:] == (b"\x00\x0elentera-spb-gw\x00\x16spBv1.0/city/NDEATH/gw\x00\x02\x01\x02"
                         b"\x00\x01u\x00\x01p")


def test_the_readers_of_broker_bytes_raise_only_frame_error():
    """A fuzz: random bytes and mutated real packets through Framer, read_publish, ack_mid."""
    rand = random.Random(20)
    seeds = [mqtt.publish(b"spBv1.0/STATE/scada", b'{"online": true}', mid=7),
             mqtt.packet(mqtt.CONNACK, b"\x00\x00"), mqtt.packet(mqtt.SUBACK, b"\x00\x01\x01"),
             mqtt.packet(mqtt.UNSUBACK, b"\x00\x02"), mqtt.packet(mqtt.PINGRESP, b"")]
    for n in range(60_000):
        if n % 2:
            data = bytearray(rand.choice(seeds) * rand.randint(1, 3))
            for _ in range(rand.randint(1, 4)):
                data[rand.randrange(len(data))] = rand.randrange(256)
        else:
            data = bytearray(rand.randbytes(rand.randint(0, 40)))
        try:
            for first, body in mqtt.Framer().feed(bytes(data)):
                if first & 0xF0 == mqtt.PUBLISH:
                    mqtt.read_publish(first, body)
                else:
                    mqtt.ack_mid(body)
        except mqtt.FrameError:
            pass
