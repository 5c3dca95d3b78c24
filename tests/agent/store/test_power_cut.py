"""Crash consistency of the outbox under power loss (tests/support/powercut.py).

100 cuts at random points of the outbox's own commit code (inserts and acked deletes,
one transaction per batch): at each, every write since the file's last fsync is lost.
Then the files are reopened as the next boot would: no repair, integrity_check ok, every
committed reading that was not acknowledged is there, the batch being committed at the
cut is there entirely or not at all, and every record is whole.
"""

import json
import random

import pytest

from agent.store.outbox_db import ROUTINE, Item, OutboxDb

apsw = pytest.importorskip("apsw", reason="apsw (test extra) is needed for the power-cut VFS")

from tests.support.powercut import ApswConnection, CutVFS, PowerCut  # noqa: E402

CUTS = 100
BIG = 10 ** 9


def _truth(path) -> tuple[dict, int]:
    """After the reboot: {seq: row id}, checked record by record, and the stored next seq."""
    db = OutboxDb(path, BIG, None)
    assert db.recovered is None, db.recovered
    assert db.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = {}
    for row_id, seq, payload in db.conn.execute("SELECT id, seq, payload FROM messages"):
        body = json.loads(payload)                      # no partial record
        assert body["seq"] == seq and body["values"]["n"] == seq, payload
        rows[seq] = row_id
    stored_seq = db.seq
    db.close()
    return rows, stored_seq


def _run_until_cut(path, vfs, rng, live: dict):
    """Commit random batches (and ack random rows) until the power goes; what was in flight."""
    inflight = ([], [])
    db = None
    try:
        db = OutboxDb(path, BIG, None, connect=lambda p, **kw: ApswConnection(p, vfs))
        while True:
            first = db.seq + 1
            items = [Item(f"t/L-{i % 7}", f"L-{i % 7}", ROUTINE, first + i,
                          {"values": {"n": first + i}, "quality": "good"})
                     for i in range(rng.randint(1, 40))]
            acked_seqs = rng.sample(sorted(live), k=min(len(live), rng.randint(0, 30)))
            inflight = (list(range(first, first + len(items))), acked_seqs)
            result = db.commit(items, {1: [live[s] for s in acked_seqs]}, 0)
            assert result.error is None, result.error
            for s in acked_seqs:
                del live[s]
            for (row_id, *_), s in zip(result.rows, inflight[0]):
                live[s] = row_id
            inflight = ([], [])
    except (PowerCut, apsw.Error):
        pass
    finally:
        if db is not None and getattr(db, "conn", None) is not None:
            db.conn.close()
    return inflight


def test_a_hundred_power_cuts_lose_no_committed_reading(tmp_path):
    rng = random.Random(11)
    path = tmp_path / "outbox.db"
    OutboxDb(path, BIG, None).close()
    live: dict[int, int] = {}           # committed, not acknowledged: seq -> row id
    highest = 0
    lost_writes = 0
    for cut in range(CUTS):
        vfs = CutVFS(f"powercut{cut}")
        vfs.cut_at = rng.randint(1, 400)
        new_seqs, acked_seqs = _run_until_cut(path, vfs, rng, live)
        lost_writes += vfs.power_loss()
        vfs.unregister()
        rows, stored_seq = _truth(path)
        missing = set(live) - set(rows) - set(acked_seqs)
        assert not missing, f"cut {cut}: committed readings lost: {sorted(missing)[:10]}"
        extra = set(rows) - set(live)
        assert extra in (set(), set(new_seqs)), f"cut {cut}: a torn batch {sorted(extra)[:10]}"
        assert stored_seq >= max(rows, default=0) and stored_seq >= highest   # seq never reused
        highest = stored_seq
        live = rows
    assert lost_writes > 0              # the model did take unsynced writes back
