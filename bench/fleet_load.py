"""A contract-exact load generator: G simulated gateways publishing telemetry (docs/mqtt.md:
`{prefix}/{gw}/telemetry/{device}`, ts/seq/values/quality, seq from 1 per gateway), MQTT 5,
QoS 1, as fast as the broker acknowledges.

    python bench/fleet_load.py PORT FIRST_GW COUNT_GW MESSAGES_PER_GW [paho|raw]

`paho` (the default) publishes through paho's client, as the agent's uplink does; it costs
~200-290 µs of CPU a message, more than the ingest itself. `raw` writes pre-encoded MQTT 5
PUBLISH packets on one socket (the same topics and payloads, at most WINDOW unacknowledged)
and reads the PUBACKs: a few µs a message, so on a small machine the load generator leaves
the cores to the broker, the database and the workers.

Prints `published N in S s` once every PUBACK has arrived (a gateway's outbox would re-send
what was not acknowledged; here a message without PUBACK, or a PUBACK with a reason code of
16 "no matching subscribers" or a failure, makes the run fail).
"""

import json
import socket
import struct
import sys
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

WINDOW = 2000                    # unacknowledged PUBLISHes at once (as paho's inflight below)


def payload(seq: int, device: int) -> bytes:
    """One poll of one street light, as the agent publishes it."""
    return json.dumps({"ts": 1795881120000 + seq * 1000, "seq": seq, "quality": "good",
                       "values": {"switch": 1, "dim": 100, "lamp_state": 1, "voltage": 221.4,
                                  "current": 0.431, "power": 90.6, "power_factor": 0.95,
                                  "energy": 31234 + seq, "driver_temp": 61.7,
                                  "burn_hours": 11502, "faults": 0, "rated_power": 90}},
                      separators=(",", ":")).encode()


def messages(first: int, count: int, per_gateway: int):
    """(topic, payload) in publishing order: every gateway's seq 1, then seq 2, ..."""
    for seq in range(1, per_gateway + 1):
        for g in range(first, first + count):
            device = seq % 20
            yield f"city/lighting/gw-{g:05d}/telemetry/L-{device:02d}", payload(seq, device)


def with_paho(port: int, first: int, count: int, per_gateway: int) -> int:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(WINDOW)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    infos = [client.publish(topic, body, qos=1)
             for topic, body in messages(first, count, per_gateway)]
    for info in infos:
        info.wait_for_publish(120)
        if not info.is_published():
            raise SystemExit(f"message {info.mid} was not acknowledged by the broker")
    client.loop_stop()
    client.disconnect()
    return len(infos)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, byte = n >> 7, n & 0x7F
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _packet(first_byte: int, body: bytes) -> bytes:
    return bytes([first_byte]) + _varint(len(body)) + body


def _publish(topic: str, body: bytes, mid: int) -> bytes:
    """QoS 1 PUBLISH, MQTT 5, no properties."""
    t = topic.encode()
    return _packet(0x32, struct.pack("!H", len(t)) + t + struct.pack("!H", mid) + b"\x00" + body)


class _Reader:
    """MQTT packets off a blocking socket: (first byte, body)."""

    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def packets(self):
        """Every whole packet read by one recv()."""
        data = self.sock.recv(65536)
        if not data:
            raise SystemExit("the broker closed the connection")
        self.buf += data
        out, pos, buf = [], 0, self.buf
        while len(buf) - pos >= 2:
            length, shift, i = 0, 0, pos + 1
            while i < len(buf):
                byte = buf[i]
                i, length, shift = i + 1, length | (byte & 0x7F) << shift, shift + 7
                if not byte & 0x80:
                    break
            else:
                break
            if i + length > len(buf):
                break
            out.append((buf[pos], buf[i:i + length]))
            pos = i + length
        self.buf = buf[pos:]
        return out


def raw(port: int, first: int, count: int, per_gateway: int) -> int:
    sock = socket.create_connection(("127.0.0.1", port), timeout=120)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client_id = f"fleet-load-{first}-{time.monotonic_ns()}".encode()
    # CONNECT: "MQTT", version 5, clean start, keepalive 0, no properties
    sock.sendall(_packet(0x10, b"\x00\x04MQTT\x05\x02\x00\x00\x00"
                         + struct.pack("!H", len(client_id)) + client_id))
    reader = _Reader(sock)
    connack = []
    while not connack:
        connack = reader.packets()
    if connack[0][0] != 0x20 or connack[0][1][1] != 0:
        raise SystemExit(f"the broker refused the connection: {connack[0]!r}")
    todo = [_publish(t, b, 0) for t, b in messages(first, count, per_gateway)]
    sent = acked = 0
    free = list(range(WINDOW, 0, -1))            # packet ids not in flight
    while acked < len(todo):
        out = []
        while free and sent < len(todo):
            out.append(_with_mid(todo[sent], free.pop()))
            sent += 1
        if out:
            sock.sendall(b"".join(out))
        for kind, body in reader.packets():
            if kind != 0x40:
                continue
            reason = body[2] if len(body) > 2 else 0
            if reason >= 0x80 or reason == 0x10:
                raise SystemExit(f"PUBACK reason {reason} for packet id "
                                 f"{struct.unpack('!H', body[:2])[0]}")
            free.append(struct.unpack("!H", body[:2])[0])
            acked += 1
    sock.sendall(b"\xe0\x00")                   # DISCONNECT
    sock.close()
    return len(todo)


def _with_mid(packet: bytes, mid: int) -> bytes:
    """The pre-encoded PUBLISH with its packet id set."""
    i = 1
    while packet[i] & 0x80:
        i += 1
    start = i + 1
    at = start + 2 + struct.unpack("!H", packet[start:start + 2])[0]
    return packet[:at] + struct.pack("!H", mid) + packet[at + 2:]


def main(port: int, first: int, count: int, per_gateway: int, how: str = "paho") -> None:
    start = time.monotonic()
    n = (raw if how == "raw" else with_paho)(port, first, count, per_gateway)
    print(f"published {n} in {time.monotonic() - start:.2f} s", flush=True)


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:5]), *sys.argv[5:6])
