"""Backlog drain: 24 h of 100 lights at 10 s (864,000 readings) to a local mosquitto, with
live readings flowing during the drain.

    .venv/bin/python bench/backlog.py [--lights 100] [--hours 24] [--poll 10]

Prints: fill time, drain time and rate, peak RSS of this process (outbox, publisher, paho
and a small live-topic subscriber), and the latency of live readings (put -> delivered to
a subscriber) while the backlog drains. In-process (Outbox + Publisher + MqttUplink, as
the agent wires them, window = inflight); starts its own mosquitto on a free port.
"""

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.config.models import Mqtt                     # noqa: E402
from agent.demo.broker import Broker                     # noqa: E402
from agent.store.outbox import ROUTINE, Outbox           # noqa: E402
from agent.uplink.mqtt import MqttUplink                 # noqa: E402
from agent.uplink.publisher import Publisher             # noqa: E402
from tests.support.subscriber import Subscriber          # noqa: E402

VALUES = {"switch": 1, "dim": 100, "lamp_state": 1, "voltage": 221.4, "current": 0.431,
          "power": 90.6, "power_factor": 0.95, "energy": 31234, "driver_temp": 61.7,
          "burn_hours": 11502, "faults": 0, "rated_power": 90}
BASE = "city/lighting/bench"


class TimedSubscriber(Subscriber):
    """Records when each live reading arrived: latency = arrival - its ts."""

    def __init__(self, port, topic):
        self.latencies: list[tuple[float, float]] = []    # (arrival, latency s)
        super().__init__(port, topic)

    def _on_message(self, client, userdata, msg):
        import json
        now = time.time()
        self.latencies.append((now, now - json.loads(msg.payload)["ts"] / 1000))


def rss_mb() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def fill(box: Outbox, lights: int, polls: int, poll_s: float) -> float:
    t0 = int(time.time() * 1000) - int(polls * poll_s * 1000)
    start = time.perf_counter()
    for k in range(polls):
        for i in range(lights):
            box.put(f"{BASE}/telemetry/L-{i:03d}", f"L-{i:03d}", ROUTINE,
                    t0 + int(k * poll_s * 1000), {"values": VALUES, "quality": "good"})
        if len(box._pending) >= 5000:
            await box.flush()
    await box.flush()
    return time.perf_counter() - start


async def live(box: Outbox, lights: int, poll_s: float, stop: asyncio.Event) -> int:
    """The lights keep polling during the drain (spread evenly); returns readings put."""
    n = 0
    while not stop.is_set():
        i = n % lights
        box.put(f"{BASE}/live/L-{i:03d}", f"L-{i:03d}", ROUTINE, int(time.time() * 1000),
                {"values": VALUES, "quality": "good"})
        n += 1
        await asyncio.sleep(poll_s / lights)
    return n


async def main(lights: int, hours: float, poll_s: float, inflight: int) -> None:
    polls = int(hours * 3600 / poll_s)
    with tempfile.TemporaryDirectory(prefix="lentera-backlog-") as tmp:
        box = Outbox(Path(tmp) / "outbox.db", max_mb=2048)
        await box.open()
        filled = await fill(box, lights, polls, poll_s)
        total = box.db.count
        print(f"filled {total} readings ({box.db.bytes / 1e6:.0f} MB) in {filled:.1f} s",
              flush=True)
        broker = Broker().start()
        sub = TimedSubscriber(broker.port, f"{BASE}/live/#")
        try:
            uplink = MqttUplink(Mqtt(url=broker.url, inflight=inflight), "bench")
            publisher = Publisher(box.consumer("json"), uplink, window=inflight)
            commit = asyncio.create_task(box.commit_loop())
            pump = asyncio.create_task(publisher.run_loop())
            stop = asyncio.Event()
            producer = asyncio.create_task(live(box, lights, poll_s, stop))
            start = time.perf_counter()
            wall_start = time.time()
            uplink.start()
            peak = rss_mb()
            while box.db.count > 0 or box._pending:
                await asyncio.sleep(0.5)          # bench only: sample backlog and memory
                peak = max(peak, rss_mb())
            drained = time.perf_counter() - start
            wall_end = time.time()
            stop.set()
            put_live = await producer
            pump.cancel()
            commit.cancel()
            await uplink.stop()
        finally:
            sub.close()
            broker.stop()
        await box.close()
    print(f"drained {total} + {put_live} live readings in {drained:.1f} s "
          f"({(total + put_live) / drained:.0f} readings/s), peak RSS {peak:.0f} MB")
    during = sorted(lat for at, lat in sub.latencies if wall_start + 1 <= at <= wall_end)
    if during:
        pick = lambda q: during[min(len(during) - 1, int(q * len(during)))]   # noqa: E731
        print(f"live readings during the drain: {len(during)}, latency p50 {pick(0.5):.3f} s, "
              f"p99 {pick(0.99):.3f} s, max {during[-1]:.3f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lights", type=int, default=100)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--poll", type=float, default=10.0)
    parser.add_argument("--inflight", type=int, default=100)
    a = parser.parse_args()
    asyncio.run(main(a.lights, a.hours, a.poll, a.inflight))
