"""A contract-exact load generator: G simulated gateways publishing telemetry (docs/mqtt.md:
`{prefix}/{gw}/telemetry/{device}`, ts/seq/values/quality, seq from 1 per gateway), MQTT 5,
QoS 1, as fast as the broker acknowledges.

    python bench/fleet_load.py PORT FIRST_GW COUNT_GW MESSAGES_PER_GW

Prints `published N in S s` once every PUBACK has arrived (a gateway's outbox would re-send
what was not acknowledged; here a message without PUBACK makes the run fail).
"""

import json
import sys
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


def payload(seq: int, device: int) -> bytes:
    """One poll of one street light, as the agent publishes it."""
    return json.dumps({"ts": 1795881120000 + seq * 1000, "seq": seq, "quality": "good",
                       "values": {"switch": 1, "dim": 100, "lamp_state": 1, "voltage": 221.4,
                                  "current": 0.431, "power": 90.6, "power_factor": 0.95,
                                  "energy": 31234 + seq, "driver_temp": 61.7,
                                  "burn_hours": 11502, "faults": 0, "rated_power": 90}},
                      separators=(",", ":")).encode()


def main(port: int, first: int, count: int, per_gateway: int) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(2000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    start = time.monotonic()
    infos = []
    for seq in range(1, per_gateway + 1):
        for g in range(first, first + count):
            device = seq % 20
            infos.append(client.publish(f"city/lighting/gw-{g:05d}/telemetry/L-{device:02d}",
                                        payload(seq, device), qos=1))
    for info in infos:
        info.wait_for_publish(120)
        if not info.is_published():
            raise SystemExit(f"message {info.mid} was not acknowledged by the broker")
    print(f"published {len(infos)} in {time.monotonic() - start:.2f} s", flush=True)
    client.loop_stop()
    client.disconnect()


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:5]))
