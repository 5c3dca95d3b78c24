"""One outbox, several northbound interfaces: each delivers what is bound for it, a row lives
until the last of them has it, and the JSON interface's seq stays gapless."""

import asyncio
import json
import sqlite3

from agent.store import outbox as outbox_module
from agent.store.outbox import ALARM, INTERFACES, NOISE, ROUTINE, Outbox
from agent.store.outbox_db import OutboxDb
from agent.uplink.publisher import Publisher

JSON, SPARKPLUG, TALQ = INTERFACES["json"], INTERFACES["sparkplug"], INTERFACES["talq"]


def run(coro):
    return asyncio.run(coro)


async def _open(path, interfaces=("json", "sparkplug")):
    box = Outbox(path, max_mb=10, interfaces=interfaces)
    await box.open()
    return box


def test_a_row_lives_until_every_interface_it_is_bound_for_has_acknowledged_it(tmp_path):
    async def go():
        box = await _open(tmp_path / "o.db")
        box.put("t/L-1", "L-1", ROUTINE, 1, {"n": 1})             # both interfaces
        await box.flush()
        js, sp = box.consumer("json"), box.consumer("sparkplug")
        (row,) = await js.fetch_after(0, 10)
        js.ack(row[0])
        await box.flush()
        after_json = (box.db.count, await js.fetch_after(0, 10), await sp.fetch_after(0, 10))
        sp.ack(row[0])
        await box.flush()
        after_both = box.db.count
        await box.close()
        return after_json, after_both
    (count, json_left, sparkplug_left), after_both = run(go())
    assert count == 1 and json_left == [] and len(sparkplug_left) == 1
    assert after_both == 0


def test_only_json_bound_rows_take_a_seq_so_the_json_backend_sees_no_gap(tmp_path):
    async def go():
        box = await _open(tmp_path / "o.db")
        for i in range(6):
            to = SPARKPLUG if i % 2 else None          # every other reading: Sparkplug only
            box.put("t/L-1", "L-1", ROUTINE, i, {"n": i}, to)
        await box.flush()
        rows = (await box.consumer("json").fetch_after(0, 10),
                await box.consumer("sparkplug").fetch_after(0, 10))
        await box.close()
        return rows
    json_rows, sparkplug_rows = run(go())
    assert [json.loads(p)["seq"] for _, _, p in json_rows] == [1, 2, 3]
    assert [json.loads(p)["n"] for _, _, p in json_rows] == [0, 2, 4]
    assert len(sparkplug_rows) == 6
    assert ["seq" in json.loads(p) for _, _, p in sparkplug_rows] == [True, False] * 3


def test_fresh_rows_of_other_interfaces_arrive_as_markers_and_are_never_published(tmp_path):
    class Sink:
        def __init__(self):
            self.connected = asyncio.Event()
            self.connected.set()
            self.on_connected = self.on_puback = None
            self.published = []

        def publish_raw(self, topic, payload, qos=1):
            self.published.append(json.loads(payload)["n"])
            return len(self.published)

    async def go():
        box = await _open(tmp_path / "o.db", ("json", "talq"))
        fresh = []
        sink = Sink()
        publisher = Publisher(box.consumer("json"), sink, window=100)
        box.consumer("json").on_fresh = lambda rows: (fresh.extend(rows),
                                                      publisher.on_fresh(rows))
        task = asyncio.create_task(publisher.run_loop())
        for i in range(8):
            box.put("t", "L-1", ROUTINE, i, {"n": i}, TALQ if i in (2, 3, 5) else None)
            await box.flush()
        for _ in range(400):
            if len(sink.published) == 5:
                break
            await asyncio.sleep(0.005)
        task.cancel()
        await box.close()
        return fresh, sink.published, publisher
    fresh, published, publisher = run(go())
    assert [row[0] for row in fresh] == list(range(1, 9))           # consecutive ids
    assert [row[2] is None for row in fresh] == [i in (2, 3, 5) for i in range(8)]
    assert published == [0, 1, 4, 6, 7]
    assert publisher.cursor == 8 and not publisher.behind


def test_a_restart_resends_to_each_interface_only_what_it_had_not_acknowledged(tmp_path):
    async def go():
        box = await _open(tmp_path / "o.db")
        for i in range(4):
            box.put("t", "L-1", ROUTINE, i, {"n": i})
        await box.flush()
        for row_id, _, _ in await box.consumer("json").fetch_after(0, 10):
            box.consumer("json").ack(row_id)
        await box.flush()
        await box.close()                               # the json interface had everything
        box = await _open(tmp_path / "o.db")
        left = (await box.consumer("json").fetch_after(0, 10),
                await box.consumer("sparkplug").fetch_after(0, 10))
        await box.close()
        return left
    json_left, sparkplug_left = run(go())
    assert json_left == [] and len(sparkplug_left) == 4


def test_an_interface_no_longer_configured_never_pins_rows(tmp_path):
    async def go():
        box = await _open(tmp_path / "o.db", ("json", "sparkplug"))
        box.put("t", "L-1", ROUTINE, 1, {"n": "both"})
        box.put("t", "L-1", ROUTINE, 2, {"n": "sparkplug only"}, SPARKPLUG)
        await box.flush()
        await box.close()
        box = await _open(tmp_path / "o.db", ("json",))         # Sparkplug switched off
        rows, count = await box.consumer("json").fetch_after(0, 10), box.db.count
        (row_id, _, _), = rows
        box.consumer("json").ack(row_id)
        await box.flush()
        empty = box.db.count
        await box.close()
        return rows, count, empty
    rows, count, empty = run(go())
    assert [json.loads(p)["n"] for _, _, p in rows] == ["both"]
    assert count == 1 and empty == 0


def test_an_outbox_file_from_before_interfaces_opens_with_its_rows_for_json(tmp_path):
    path = tmp_path / "o.db"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE messages(id INTEGER PRIMARY KEY AUTOINCREMENT, seq INTEGER NOT NULL,
            ts INTEGER NOT NULL, device TEXT NOT NULL, priority INTEGER NOT NULL,
            topic TEXT NOT NULL, payload TEXT NOT NULL);
        CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);
        INSERT INTO messages(seq, ts, device, priority, topic, payload)
            VALUES (7, 1, 'L-1', 0, 't', '{"ts":1,"seq":7}');
        INSERT INTO meta VALUES ('seq', 7);""")
    conn.close()
    db = OutboxDb(path, 10**6, None, interfaces=JSON | SPARKPLUG)
    assert db.fetch_after(0, 10, JSON) == [(1, "t", '{"ts":1,"seq":7}')]
    assert db.fetch_after(0, 10, SPARKPLUG) == []
    assert db.seq == 7
    db.close()


def test_memory_full_of_a_refusing_disk_sheds_forged_answers_before_acks(tmp_path,
                                                                          monkeypatch):
    """Review finding (issue 22, 15): shedding took routine rows, then the oldest item of any
    class, so a genuine command's ack went while the refusals to forged commands stayed."""
    monkeypatch.setattr(outbox_module, "MAX_PENDING", 100)
    box = Outbox(tmp_path / "o.db", max_mb=10)           # never opened: the disk refuses
    box.put("ack", "gateway", ALARM, 0, {"id": "genuine"})
    for i in range(150):
        box.put("ack", "gateway", NOISE, i, {"id": f"forged-{i}"})
    kept = [item.body["id"] for item in box._pending]
    assert kept[0] == "genuine"
    assert len(kept) <= 100 and box.lost_in_memory == 151 - len(kept)
