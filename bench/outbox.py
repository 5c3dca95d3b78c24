"""Outbox benchmark: readings/s committed, readings/s drained to a real local mosquitto,
and the drain time of a 1-hour backlog of 100 lights polled every 10 s (36,000 readings).

    .venv/bin/python bench/outbox.py [--readings 36000]

Starts its own mosquitto on a free loopback port; writes to a temp dir.
"""

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.config.models import Mqtt
from agent.demo.broker import Broker               # noqa: E402
from agent.store.outbox import ROUTINE, Outbox           # noqa: E402
from agent.uplink.publisher import Publisher              # noqa: E402
from agent.uplink.mqtt import MqttUplink                # noqa: E402

VALUES = {"switch": 1, "dim": 100, "lamp_state": 1, "voltage": 221.4, "current": 0.431,
          "power": 90.6, "power_factor": 0.95, "energy": 31234, "driver_temp": 61.7,
          "burn_hours": 11502, "faults": 0, "rated_power": 90}


def _put(box, n, t0):
    for i in range(n):
        device = f"L-{i % 100:03d}"
        box.put(f"city/lighting/bench/telemetry/{device}", device, ROUTINE, t0 + i * 100,
                {"values": VALUES, "quality": "good"})


async def commit_rate(folder: Path, n: int, batch: int) -> float:
    """Readings/s committed in batches of `batch` (one transaction, one fsync, each)."""
    box = Outbox(folder / f"commit-{batch}.db", max_mb=512, batch_max=batch)
    await box.open()
    start = time.perf_counter()
    for done in range(0, n, batch):
        _put(box, min(batch, n - done), 0)
        await box.flush()
    rate = n / (time.perf_counter() - start)
    await box.close()
    return rate


async def drain(folder: Path, n: int, inflight: int) -> tuple[float, float]:
    """Seconds to drain an n-reading backlog to mosquitto (PUBACKed and deleted); readings/s."""
    box = Outbox(folder / "drain.db", max_mb=512)
    await box.open()
    _put(box, n, int(time.time() * 1000) - 3600_000)
    await box.flush()
    broker = Broker().start()
    try:
        cfg = Mqtt(url=broker.url, inflight=inflight)
        uplink = MqttUplink(cfg, "bench")
        publisher = Publisher(box.consumer("json"), uplink, window=inflight)   # as the agent: the inflight window
        commit = asyncio.create_task(box.commit_loop())
        start = time.perf_counter()
        pump = asyncio.create_task(publisher.run_loop())
        uplink.start()
        while box.db.count:
            await asyncio.sleep(0.05)          # bench only: sample the backlog size
        elapsed = time.perf_counter() - start
        pump.cancel()
        commit.cancel()
        await uplink.stop()
    finally:
        broker.stop()
    await box.close()
    return elapsed, n / elapsed


async def main(n: int) -> None:
    with tempfile.TemporaryDirectory(prefix="lentera-bench-") as tmp:
        folder = Path(tmp)
        for batch in (1, 10, 500):
            count = min(n, 2000 if batch == 1 else n)
            rate = await commit_rate(folder, count, batch)
            print(f"commit, batch {batch:4d}: {rate:9.0f} readings/s "
                  f"({1000 * batch / rate:6.2f} ms per transaction)")
        for inflight in (20, 100):
            seconds, rate = await drain(folder, n, inflight)
            print(f"drain {n} readings, {inflight:3d} in flight: {seconds:6.1f} s "
                  f"({rate:.0f} readings/s)")
            (folder / "drain.db").unlink()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--readings", type=int, default=36000)
    asyncio.run(main(parser.parse_args().readings))
