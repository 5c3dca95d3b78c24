"""Publisher hand-off: just-committed rows go out without a read-back, backlog still comes first."""

import asyncio

from agent.store.outbox import ROUTINE, Outbox
from agent.uplink.publisher import Publisher


class RecordingUplink:
    """A connected uplink that records what is published and never acks by itself."""

    def __init__(self):
        self.connected = asyncio.Event()
        self.connected.set()
        self.on_connected = lambda: None
        self.on_puback = lambda mid: None
        self.published = []

    def publish_raw(self, topic, payload, qos=1):
        self.published.append((topic, payload))
        return len(self.published)


class CountingOutbox(Outbox):
    """The real outbox, counting read-backs from SQLite."""

    fetches = 0

    async def fetch_after(self, row_id, limit):
        self.fetches += 1
        return await super().fetch_after(row_id, limit)


async def _until(predicate):
    for _ in range(1000):
        if predicate():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached")


def test_steady_state_publishes_committed_rows_without_reading_them_back(tmp_path):
    async def go():
        box = CountingOutbox(tmp_path / "o.db", max_mb=10)
        await box.open()
        uplink = RecordingUplink()
        publisher = Publisher(box, uplink, window=100)
        task = asyncio.create_task(publisher.run_loop())
        for i in range(5):
            box.put(f"t/{i}", "L-1", ROUTINE, i, {"n": i})
            await box.flush()
        await _until(lambda: len(uplink.published) == 5)
        for mid in range(1, 6):
            publisher.on_puback(mid)
        await box.flush()
        task.cancel()
        left = box.db.count
        await box.close()
        return uplink.published, box.fetches, left
    published, fetches, left = asyncio.run(go())
    assert [t for t, _ in published] == [f"t/{i}" for i in range(5)]
    assert ['"seq":%d' % (i + 1) in p for i, (_, p) in enumerate(published)] == [True] * 5
    assert fetches == 1                         # the start-up look at the backlog only
    assert left == 0                            # deleted on PUBACK as before


def test_backlog_from_before_goes_first_then_fresh_rows_in_order(tmp_path):
    async def go():
        box = CountingOutbox(tmp_path / "o.db", max_mb=10)
        await box.open()
        for i in range(3):                      # committed while no publisher ran
            box.put("t/old", "L-1", ROUTINE, i, {"n": i})
        await box.flush()
        uplink = RecordingUplink()
        publisher = Publisher(box, uplink, window=100)
        box.put("t/new", "L-1", ROUTINE, 9, {"n": 9})
        await box.flush()                       # fresh, but not next after the cursor
        task = asyncio.create_task(publisher.run_loop())
        publisher.wake.set()
        await _until(lambda: len(uplink.published) == 4)
        box.put("t/newer", "L-1", ROUTINE, 10, {"n": 10})
        await box.flush()
        await _until(lambda: len(uplink.published) == 5)
        task.cancel()
        await box.close()
        return uplink.published, box.fetches
    published, fetches = asyncio.run(go())
    assert [t for t, _ in published] == ["t/old"] * 3 + ["t/new", "t/newer"]
    seqs = [int(p.split('"seq":')[1].split(",")[0]) for _, p in published]
    assert seqs == [1, 2, 3, 4, 5]
    assert fetches >= 1                         # the backlog was read back from SQLite
