"""CPU per telemetry row in the Sparkplug edge node's translation (EdgeState.row), no network.

Translates N outbox rows of 500 simulated `streetlight-generic` lights (every reading with a
change, as the simulator's are) into DDATA bytes and prints microseconds per row, split into
the JSON decode and the rest (diff + protobuf build + serialise).

Run: .venv/bin/python bench/sparkplug_rows.py [--rows 50000]
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


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50000)
    args = parser.parse_args()
    light = Device(load_profile("streetlight-generic"))
    sent = []
    edge = EdgeState(Topics("city", "gw"), build_models({f"L-{i:03d}": light
                                                          for i in range(500)}),
                     lambda: 10**12, lambda topic, data: sent.append(len(data)))
    edge.birth(0)
    data = rows(args.rows, 500)
    t0 = time.process_time()
    for _, body in data:
        json.loads(body)
    t1 = time.process_time()
    for topic, body in data:
        edge.row(topic, body)
    t2 = time.process_time()
    per_row = (t2 - t1) / args.rows * 1e6
    decode = (t1 - t0) / args.rows * 1e6
    print(f"{args.rows} rows, 500 lights: {per_row:.1f} us CPU per row in EdgeState.row "
          f"(of which JSON decode ~{decode:.1f} us); {len(sent) - 501} DDATA, "
          f"mean {sum(sent[501:]) / max(1, len(sent) - 501):.0f} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
