"""The node's drain of the outbox: just-committed rows translated from their in-memory Items
give the very bytes the same rows read back from SQLite give; under a steady load the node
sends at most one delivery barrier per BARRIER_EVERY_S and loses no row."""

import asyncio
import random
import time

from agent.config.models import Mqtt
from agent.config.sparkplug import SparkplugConfig
from agent.sparkplug import node as spnode
from agent.sparkplug import service
from agent.sparkplug.edge import EdgeState
from agent.sparkplug.payloads import build_models
from agent.sparkplug.topics import Topics
from agent.store.outbox import ROUTINE, Outbox
from agent.store.outbox_db import INTERFACES
from drivers.modbus.profile import load_profile
from tests.support.sparkplug_host import Payload

TELEMETRY = "city/lighting/gw/telemetry/{}"


class Device:
    def __init__(self, profile):
        self.profile = profile


def devices(n: int) -> dict:
    light = Device(load_profile("streetlight-generic"))
    return {f"L-{i}": light for i in range(n)}


def random_body(rand: random.Random) -> dict:
    """A reading as agent/app.py puts it: values of every JSON type a point can take, points
    missing or null, a bad quality now and then, sometimes an age or an error."""
    values = {}
    for name in ("switch", "dim", "lamp_state", "voltage", "current", "power", "energy",
                 "driver_temp", "faults", "not_in_profile"):
        pick = rand.random()
        if pick < 0.1:
            continue
        values[name] = (None if pick < 0.15 else rand.choice([True, False]) if pick < 0.2
                        else rand.randint(-40000, 70000) if pick < 0.5
                        else rand.choice([0.0, 1e16, -2.5]) if pick < 0.55
                        else rand.uniform(-1e3, 1e3))
    body = {"values": values, "quality": "good" if rand.random() < 0.85 else "timeout"}
    if rand.random() < 0.1:
        body["age_s"] = rand.randint(0, 9)
    if body["quality"] != "good":
        body["error"] = "no answer"
    return body


def test_fresh_items_and_rows_read_back_from_sqlite_give_byte_identical_births_and_data(
        tmp_path):
    rand = random.Random(20)
    models = build_models(devices(6))
    puts = []
    for i in range(400):
        device = f"L-{rand.randrange(7)}"                    # L-6: not a Modbus device
        topic = TELEMETRY.format(device) if rand.random() < 0.9 else \
            f"city/lighting/gw/events/{device}"
        ts = 5_000 + i * 10 + rand.randrange(-3000, 3000)     # before the birth: history
        to = rand.choice([None, None, None, INTERFACES["json"]])   # some not for Sparkplug
        puts.append((topic, device, ts, random_body(rand), to))

    async def committed():
        box = Outbox(tmp_path / "o.db", 10, interfaces=("json", "sparkplug"))
        await box.open()
        consumer = box.consumer("sparkplug")
        fresh = []
        consumer.on_fresh_items = fresh.extend
        for k in range(0, len(puts), 37):                    # several commits
            for topic, device, ts, body, to in puts[k:k + 37]:
                box.put(topic, device, ROUTINE, ts, body, to)
            assert await box.flush()
        stored = await consumer.fetch_after(0, 10_000)
        await box.close()
        return fresh, stored

    fresh, stored = asyncio.run(committed())
    mine = [r for r in fresh if r[2] is not None]
    assert [r[0] for r in mine] == [r[0] for r in stored] and len(mine) > 250

    def translate(rows, how):
        sent = []
        clock = [7_000]
        edge = EdgeState(Topics("city", "gw"), models, lambda: clock[0],
                         lambda topic, data: sent.append((topic, data)))
        edge.birth(3)
        for n, (_, topic, body) in enumerate(rows):
            if n == len(rows) // 2:
                edge.birth(3)                                # a rebirth half-way
            clock[0] += 1
            getattr(edge, how)(topic, body)
        return sent

    from_items, from_sqlite = translate(mine, "item"), translate(stored, "row")
    kinds = {t.split("/")[2] for t, _ in from_sqlite}
    assert {"NBIRTH", "DBIRTH", "DDATA", "DDEATH"} <= kinds, kinds
    assert from_items == from_sqlite                          # topics and bytes, in order
    # and as a host decodes them, with its own copy of Tahu's proto
    assert [Payload.FromString(d) for _, d in from_items] == \
        [Payload.FromString(d) for _, d in from_sqlite]
    assert any(m.is_historical for _, d in from_items for m in Payload.FromString(d).metrics)


def test_a_steady_load_costs_at_most_one_barrier_per_quarter_second_and_loses_no_row(
        tmp_path, broker, monkeypatch):
    """The node sent a barrier after every commit (one per 20 ms batch window here): 39
    barriers in ~1 s before, against a bound of 6."""
    barriers = []
    real_barrier = spnode.Session.barrier

    async def counting_barrier(self):                         # a spy: the real barrier runs
        barriers.append(time.monotonic())
        return await real_barrier(self)
    monkeypatch.setattr(spnode.Session, "barrier", counting_barrier)
    commits, lights = 50, 10

    async def main():
        box = Outbox(tmp_path / "o.db", 10, interfaces=("json", "sparkplug"))
        await box.open()
        committing = asyncio.create_task(box.commit_loop(), name="test.outbox.commit")
        cfg = SparkplugConfig(enabled=True, group_id="t", keepalive=5)
        node = service.EdgeNode(cfg, Mqtt(url=f"mqtt://127.0.0.1:{broker.port}"), "gw",
                                devices(lights), box.consumer("sparkplug"), tmp_path,
                                lambda: int(time.time() * 1000))
        running = asyncio.create_task(node.run_loop(), name="test.sparkplug.node")
        try:
            async with asyncio.timeout(10):
                while node.edge.counts["births"] == 0:
                    await asyncio.sleep(0.01)
            barriers.clear()
            start = time.monotonic()
            for k in range(commits):                          # the load: 10 readings per commit
                for i in range(lights):
                    box.put(TELEMETRY.format(f"L-{i}"), f"L-{i}", ROUTINE,
                            int(time.time() * 1000), {"values": {"dim": k}, "quality": "good"})
                await asyncio.sleep(0.02)
            loaded = time.monotonic() - start
            during = len([t for t in barriers if t <= start + loaded])
            async with asyncio.timeout(10):
                while node.acked < commits * lights:          # every row confirmed, in the end
                    await asyncio.sleep(0.02)
            await box.flush()
            left = await box.consumer("sparkplug").fetch_after(0, 10_000)
            return during, loaded, node, left
        finally:
            running.cancel()
            committing.cancel()
            await asyncio.gather(running, committing, return_exceptions=True)
            await box.close()

    during, loaded, node, left = asyncio.run(main())
    bound = int(loaded / 0.25) + 2                  # at most one per 0.25 s (issue 20)
    assert during <= bound, (during, bound, loaded)
    assert node.acked == commits * lights and left == []
    assert node.edge.counts["ddata"] >= commits * lights - lights   # every change reported
