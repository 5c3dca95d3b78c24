"""Outbox unit tests: a real SQLite file in a temp dir, injected wall clock."""

import asyncio
import json
import sqlite3

import pytest

from agent.store.outbox import ALARM, EVENT, NOISE, ROUTINE, Outbox
from agent.store.outbox_db import OutboxDb


class Clock:
    """Injected epoch-ms clock."""

    def __init__(self, now=1_700_000_000_000):
        self.now = now

    def __call__(self):
        return self.now


def run(coro):
    return asyncio.run(coro)


async def _filled(path, n, priority=ROUTINE, **kwargs):
    box = Outbox(path, **{"max_mb": 10, **kwargs})
    await box.open()
    for i in range(n):
        box.put(f"t/L-{i % 3}", f"L-{i % 3}", priority, 1000 + i, {"values": {"i": i}})
    await box.flush()
    return box


def test_seq_is_assigned_at_commit_and_continues_after_reopen(tmp_path):
    async def go():
        box = await _filled(tmp_path / "o.db", 5)
        rows = await box.fetch_after(0, 100)
        await box.close()
        box = await _filled(tmp_path / "o.db", 3)
        more = await box.fetch_after(rows[-1][0], 100)
        await box.close()
        return rows, more
    rows, more = run(go())
    seqs = [json.loads(p)["seq"] for _, _, p in rows + more]
    assert seqs == list(range(1, 9))
    assert json.loads(rows[0][2]) == {"ts": 1000, "seq": 1, "values": {"i": 0}}


def test_acked_rows_are_deleted_and_backlog_reports_size_and_age(tmp_path):
    async def go():
        clock = Clock(10_000)
        box = Outbox(tmp_path / "o.db", max_mb=10, clock_ms=clock)
        await box.open()
        for i in range(4):
            box.put("t", "L", ROUTINE, 4000 + i, {})
        await box.flush()
        rows = await box.fetch_after(0, 10)
        box.consumer("json").ack(rows[0][0])
        box.consumer("json").ack(rows[1][0])
        await box.flush()
        status = await box.status()
        left = await box.fetch_after(0, 10)
        await box.close()
        return status, left, rows
    status, left, rows = run(go())
    assert [r[0] for r in left] == [r[0] for r in rows[2:]]
    assert status["backlog"] == 2 and status["oldest_age_s"] == 6 and status["dropped"] == 0


def test_batch_window_groups_puts_into_one_commit(tmp_path):
    async def go():
        box = Outbox(tmp_path / "o.db", max_mb=10, batch_window_s=0.05)
        await box.open()
        commits = []
        box.consumer("json").on_committed = lambda: commits.append(box.db.count)
        task = asyncio.create_task(box.commit_loop())
        for i in range(30):
            box.put("t", "L", ROUTINE, i, {})
            await asyncio.sleep(0)
        while not commits:
            await asyncio.sleep(0.01)
        task.cancel()
        await box.close()
        return commits
    assert run(go()) == [30]


def test_cap_drops_oldest_routine_first_and_keeps_alarms(tmp_path):
    async def go():
        dropped = []
        box = Outbox(tmp_path / "o.db", max_mb=0.05)
        box.on_dropped = lambda n, total: dropped.append((n, total))
        await box.open()
        box.put("t/alarm", "L-1", ALARM, 1, {"event": "lamp_failure"})
        box.put("t/event", "L-1", EVENT, 2, {"event": "x"})
        for i in range(2000):
            box.put("t/L-1", "L-1", ROUTINE, 10 + i, {"values": {"power": i}})
            if i % 100 == 99:
                await box.flush()
        await box.flush()
        rows = await box.fetch_after(0, 10000)
        status = await box.status()
        await box.close()
        return rows, status, dropped
    rows, status, dropped = run(go())
    topics = [t for _, t, _ in rows]
    assert topics[:2] == ["t/alarm", "t/event"]
    routine = [json.loads(p)["values"]["power"] for _, t, p in rows if t == "t/L-1"]
    assert routine == list(range(2000 - len(routine), 2000))     # the newest kept, in order
    assert status["backlog_bytes"] <= 0.05 * 1024 * 1024
    assert status["dropped"] == 2000 - len(routine) == dropped[-1][1]


def test_age_cap_drops_old_routine_readings(tmp_path):
    async def go():
        clock = Clock(10_000_000)
        box = Outbox(tmp_path / "o.db", max_mb=10, max_age_s=3600, clock_ms=clock)
        await box.open()
        box.put("t", "L", ROUTINE, clock.now - 2 * 3600_000, {})
        box.put("t", "L", ALARM, clock.now - 2 * 3600_000, {})
        box.put("t", "L", ROUTINE, clock.now - 60_000, {})
        await box.flush()
        rows = await box.fetch_after(0, 10)
        await box.close()
        return rows
    assert len(run(go())) == 2


def test_corrupt_file_is_moved_aside_and_a_fresh_store_started(tmp_path):
    path = tmp_path / "o.db"
    path.write_bytes(b"this is not a database, it is garbage " * 200)

    async def go():
        box = Outbox(path, max_mb=10)
        note = await box.open()
        box.put("t", "L", ROUTINE, 1, {})
        await box.flush()
        rows = await box.fetch_after(0, 10)
        await box.close()
        return note, rows
    note, rows = run(go())
    aside = list(tmp_path.glob("o.db.corrupt-*"))
    assert len(aside) == 1 and "corrupt" in note and aside[0].name in note
    assert aside[0].read_bytes().startswith(b"this is not a database")
    assert json.loads(rows[0][2])["seq"] > 1_600_000_000_000   # above any seq used before


def test_disk_full_keeps_committed_rows_and_items_in_memory(tmp_path):
    async def go():
        box = await _filled(tmp_path / "o.db", 10)
        pragma = lambda sql: box.db.conn.execute(sql).fetchone()
        page_count = (await box.call(pragma, "PRAGMA page_count"))[0]
        await box.call(pragma, f"PRAGMA max_page_count={page_count}")
        for i in range(3000):
            box.put("t/L", "L", ROUTINE, i, {"values": {"padding": "x" * 200}})
        ok = await box.flush()
        error = box.error
        status = await box.status()
        rows = await box.fetch_after(0, 100000)
        await box.call(pragma, "PRAGMA max_page_count=1000000")
        ok_again = await box.flush()
        after = await box.status()
        await box.close()
        return ok, error, status, rows, ok_again, after
    ok, error, status, rows, ok_again, after = run(go())
    assert not ok and "full" in error and status["error"] == error
    assert ok_again and after["error"] is None
    # committed rows survive, or were dropped oldest-first to make room and counted
    assert len(rows) + after["dropped"] >= 10
    assert after["backlog"] + after["dropped"] >= 3010


DAY = 86_400_000


def test_command_ids_are_remembered_across_reopen(tmp_path):
    db = OutboxDb(tmp_path / "o.db", 10**6, None)
    assert db.remember_command("c1", 5000, 0, 1000, DAY) == "accepted"
    assert db.remember_command("c1", 5000, 0, 1000, DAY) == "replayed"
    db.close()
    db = OutboxDb(tmp_path / "o.db", 10**6, None)
    assert db.remember_command("c1", 5000, 0, 2000, DAY) == "replayed"
    db.close()


def test_a_forward_clock_jump_forgets_no_id_only_uptime_does(tmp_path):
    """Old code pruned ids by wall time alone: +2 days and the id was forgotten."""
    mono = [0.0]
    db = OutboxDb(tmp_path / "o.db", 10**6, None, mono=lambda: mono[0])
    t0 = 1_800_000_000_000
    assert db.remember_command("c1", t0 + 60_000, t0, t0, DAY) == "accepted"
    mono[0] = 10.0                                           # 10 s of real uptime later...
    jumped = t0 + 2 * DAY                                    # ...the wall clock says +2 days
    assert db.remember_command("c2", jumped + 60_000, t0 + 5_000, jumped, DAY) == "accepted"
    db.close()
    db = OutboxDb(tmp_path / "o.db", 10**6, None, mono=lambda: mono[0])   # restart
    assert db.remember_command("c1", t0 + 60_000, t0, t0 + 20_000, DAY) == "replayed"
    assert db.uptime_ms() == 10_000                          # uptime carried across restart
    mono[0] = 10.0 + 86_401                                  # a day of uptime later: forgotten
    assert db.remember_command("c3", t0 + 3 * DAY, t0 + 2 * DAY, t0 + 2 * DAY, DAY) \
        == "accepted"
    assert db.conn.execute("SELECT count(*) FROM accepted_ids WHERE id = 'c1'").fetchone()[0] == 0
    db.close()


def test_a_command_that_expired_before_the_horizon_is_stale(tmp_path):
    db = OutboxDb(tmp_path / "o.db", 10**6, None)
    t0 = 1_800_000_000_000
    assert db.remember_command("new", t0 + 60_000, t0, t0, DAY) == "accepted"
    assert db.newest_issued == t0
    # an old command (expired before "new" was issued), replayed to a gateway whose clock
    # was set back: refused whatever the clock says
    assert db.remember_command("old", t0 - 1, t0 - 60_000, t0 - DAY, DAY) == "stale"
    db.close()
    assert OutboxDb(tmp_path / "o.db", 10**6, None).newest_issued == t0


def test_ids_of_the_old_table_are_carried_over(tmp_path):
    conn = sqlite3.connect(tmp_path / "o.db", isolation_level=None)
    conn.executescript("CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
                       "CREATE TABLE command_ids(id TEXT PRIMARY KEY, expires_at INTEGER);"
                       "INSERT INTO command_ids VALUES ('c-old', 99999999999999);")
    conn.close()
    db = OutboxDb(tmp_path / "o.db", 10**6, None)
    assert db.remember_command("c-old", 99999999999999, 0, 1000, DAY) == "replayed"
    db.close()


def test_locked_file_is_an_error_not_corruption(tmp_path):
    path = tmp_path / "o.db"
    OutboxDb(path, 10**6, None).close()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("PRAGMA locking_mode=EXCLUSIVE")
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(sqlite3.OperationalError):
            OutboxDb(path, 10**6, None, busy_timeout_s=0.1)
    finally:
        other.close()
    assert not list(tmp_path.glob("*.corrupt-*"))


def test_a_commit_cut_off_by_shutdown_is_still_saved_on_close(tmp_path):
    async def go():
        box = Outbox(tmp_path / "o.db", max_mb=10)
        await box.open()
        gate = asyncio.Event()
        # keep the SQLite thread busy so the batch's commit is still queued when cancelled
        blocker = asyncio.ensure_future(box.call(lambda: __import__("time").sleep(0.3)))
        for i in range(4):
            box.put("t/L-1", "L-1", ROUTINE, 1000 + i, {"values": {"i": i}})
        flush = asyncio.create_task(box.flush())
        await asyncio.sleep(0.05)
        flush.cancel()                      # what the supervisor does at SIGTERM
        try:
            await flush
        except asyncio.CancelledError:
            gate.set()
        await blocker
        await box.close()
        reopened = Outbox(tmp_path / "o.db", max_mb=10)
        await reopened.open()
        rows = await reopened.fetch_after(0, 100)
        await reopened.close()
        return gate.is_set(), rows
    cancelled, rows = run(go())
    assert cancelled
    assert [json.loads(p)["values"]["i"] for _, _, p in rows] == [0, 1, 2, 3]


def test_one_value_json_cannot_carry_drops_that_message_not_the_batch(tmp_path):
    """Before: encoding ran outside the try, so one bad value lost the whole batch."""
    async def go():
        box = Outbox(tmp_path / "o.db", max_mb=10)
        told = []
        box.on_unencodable = lambda device, error: told.append((device, error))
        await box.open()
        box.put("t/L-1", "L-1", ROUTINE, 1, {"values": {"v": 1}})
        box.put("t/L-2", "L-2", ROUTINE, 2, {"values": {"v": b"\x00raw"}})   # bytes: no JSON
        box.put("t/L-3", "L-3", ROUTINE, 3, {"values": {"v": 3}})
        ok = await box.flush()
        rows = await box.fetch_after(0, 10)
        await box.close()
        return ok, rows, told
    ok, rows, told = run(go())
    assert ok
    assert [(t, json.loads(p)["seq"]) for _, t, p in rows] == [("t/L-1", 1), ("t/L-3", 2)]
    assert told and told[0][0] == "L-2" and "bytes" in told[0][1]


def test_noise_is_dropped_before_routine_when_the_cap_is_reached(tmp_path):
    async def go():
        box = Outbox(tmp_path / "o.db", max_mb=0.05)
        await box.open()
        for i in range(100):
            box.put("t/ack", "gateway", NOISE, i, {"id": "x" * 400})
        await box.flush()
        for i in range(100):
            box.put("t/L", "L", ROUTINE, 1000 + i, {"values": {"i": i, "pad": "y" * 200}})
        await box.flush()
        rows = await box.fetch_after(0, 1000)
        await box.close()
        return rows
    topics = [t for _, t, _ in run(go())]
    assert topics.count("t/L") == 100 and topics.count("t/ack") < 100


def test_a_stop_that_lands_as_the_batch_fills_still_ends_the_commit_loop(tmp_path):
    """Before: commit_loop waited for a full batch with wait_for, which on CPython 3.11 returns
    when a cancel lands in the step the batch fills (gh-86296): the loop committed and then
    waited for work forever after its stop."""
    async def body():
        box = Outbox(tmp_path / "o.db", max_mb=10, batch_window_s=30, batch_max=3)
        await box.open()
        loop_task = asyncio.create_task(box.commit_loop(), name="test.commit")
        box.put("t/L-1", "L-1", ROUTINE, 1000, {"values": {"i": 0}})
        for _ in range(3):
            await asyncio.sleep(0)              # the loop waits for the batch to fill
        box.put("t/L-1", "L-1", ROUTINE, 1001, {"values": {"i": 1}})
        box.put("t/L-1", "L-1", ROUTINE, 1002, {"values": {"i": 2}})   # full now
        loop_task.cancel()                      # and the stop comes in the same step
        done, _ = await asyncio.wait({loop_task}, timeout=2.0)
        assert done, "commit_loop went on after it was cancelled"
        assert (await box.status())["backlog"] == 3     # nothing put was lost by the stop
        await box.close()
    run(body())
