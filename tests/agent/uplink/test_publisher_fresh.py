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

    async def fetch_after(self, row_id, limit, bit=None):
        self.fetches += 1
        return await super().fetch_after(row_id, limit, bit)


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
        publisher = Publisher(box.consumer("json"), uplink, window=100)
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
        publisher = Publisher(box.consumer("json"), uplink, window=100)
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


class AckingUplink(RecordingUplink):
    """Acks every message on the next loop turn, and records the most ever unacked."""

    def __init__(self):
        super().__init__()
        self.unacked = 0
        self.most_unacked = 0

    def publish_raw(self, topic, payload, qos=1):
        mid = super().publish_raw(topic, payload, qos)
        self.unacked += 1
        self.most_unacked = max(self.most_unacked, self.unacked)
        asyncio.get_running_loop().call_soon(self._ack, mid)
        return mid

    def _ack(self, mid):
        self.unacked -= 1
        self.on_puback(mid)


def test_live_rows_go_out_during_a_long_drain_and_every_row_exactly_once(tmp_path):
    """Before: live rows queued behind the whole backlog (hours of it after a long outage)."""
    async def go():
        box = Outbox(tmp_path / "o.db", max_mb=100)
        await box.open()
        for i in range(20_000):                     # the backlog of an outage
            box.put("t/old", "L-1", ROUTINE, i, {"n": i})
        await box.flush()
        uplink = AckingUplink()
        publisher = Publisher(box.consumer("json"), uplink, window=50)
        task = asyncio.create_task(publisher.run_loop())
        commit = asyncio.create_task(box.commit_loop())
        publisher.wake.set()
        await _until(lambda: len(uplink.published) > 500)
        box.put("t/live", "L-2", ROUTINE, 99, {"n": -1})      # a fresh reading mid-drain
        await _until(lambda: any(t == "t/live" for t, _ in uplink.published))
        sent_before_live = len(uplink.published)
        for i in range(300):                        # more live rows while the drain goes on
            box.put("t/live", "L-2", ROUTINE, 100 + i, {"n": -2 - i})
            await asyncio.sleep(0.001)
        for _ in range(6000):
            if len(uplink.published) >= 20_301:
                break
            await asyncio.sleep(0.005)
        task.cancel()
        commit.cancel()
        await box.close()
        return uplink, sent_before_live, publisher
    uplink, sent_before_live, publisher = asyncio.run(go())
    seqs = [int(p.split('"seq":')[1].split(",")[0]) for _, p in uplink.published]
    assert sent_before_live < 20_000 // 2, sent_before_live      # not after the whole backlog
    assert sorted(seqs) == list(range(1, 20_302))                # all, each exactly once
    assert uplink.most_unacked <= 50                             # never more than the window
    assert publisher.sent_ahead > 0
    old = [s for s, (t, _) in zip(seqs, uplink.published) if t == "t/old"]
    live = [s for s, (t, _) in zip(seqs, uplink.published) if t == "t/live"]
    assert old == sorted(old) and live == sorted(live)           # in order within each stream
