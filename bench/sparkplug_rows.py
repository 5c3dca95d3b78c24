"""CPU per telemetry row in the Sparkplug edge node's translation (EdgeState.row), no network.

Translates N outbox rows of 500 simulated `streetlight-generic` lights (every reading with a
change, as the simulator's are) into DDATA bytes and prints microseconds per row, split into
the JSON decode and the rest (diff + protobuf build + serialise). Two paths, alternated over
--rounds: `row` (a row read back from SQLite: its stored JSON, the only path before the outbox
handed just-committed Items on) and `item` (a just-committed row's in-memory Item: no decode).

Run: .venv/bin/python bench/sparkplug_rows.py [--rows 50000] [--rounds 3]
"""

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from agent.sparkplug.edge import EdgeState  # noqa: E402
from agent.sparkplug.payloads import build_models  # noqa: E402
from agent.sparkplug.topics import Topics  # noqa: E402
from agent.store.outbox_db import Item  # noqa: E402
from drivers.modbus.profile import load_profile  # noqa: E402


class Device:
    def __init__(self, profile):
        self.profile = profile


def rows(n: int, lights: int) -> list:
    rand = random.Random(1)
    out = []
    for i in range(n):
        values = {"switch": 1, "dim": 100, "lamp_state": 1, "voltage": 220 + rand.random(),
                  "current": 0.4 + rand.random() / 100, "power": 90 + rand.random(),
                  "power_factor": 0.95, "energy": 31234 + i, "driver_temp": 61.7,
                  "burn_hours": 11502, "faults": 0, "rated_power": 90}
        out.append((f"city/lighting/gw/telemetry/L-{i % lights:03d}",
                    json.dumps({"ts": 10**12 + i, "values": values, "quality": "good"},
                               separators=(",", ":"))))
    return out


def translate(light, data, how: str) -> tuple[float, list]:
    """CPU seconds of translating data one way, on a fresh node; the DDATA sizes."""
    sent = []
    edge = EdgeState(Topics("city", "gw"), build_models({f"L-{i:03d}": light
                                                          for i in range(500)}),
                     lambda: 10**12, lambda topic, data: sent.append(len(data)))
    edge.birth(0)
    translate_one = getattr(edge, how)
    t0 = time.process_time()
    for topic, body in data:
        translate_one(topic, body)
    return time.process_time() - t0, sent


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    light = Device(load_profile("streetlight-generic"))
    data = rows(args.rows, 500)
    # the same rows as the outbox's Items: body without the ts it adds when it encodes
    items = []
    for topic, body in data:
        body = json.loads(body)
        items.append((topic, Item(topic, topic.rsplit("/", 1)[1], 1, body.pop("ts"), body)))
    t0 = time.process_time()
    for _, body in data:
        json.loads(body)
    decode = (time.process_time() - t0) / args.rows * 1e6
    for r in range(args.rounds):
        for how, inputs in (("row", data), ("item", items)):
            cpu, sent = translate(light, inputs, how)
            print(f"round {r + 1} {how:4}: {args.rows} rows, 500 lights: "
                  f"{cpu / args.rows * 1e6:.1f} us CPU per row; {len(sent) - 501} DDATA, "
                  f"mean {sum(sent[501:]) / max(1, len(sent) - 501):.0f} bytes")
    print(f"(json.loads alone: {decode:.1f} us per row)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
