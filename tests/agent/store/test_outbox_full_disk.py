"""The outbox on a disk another writer filled, with few routine rows to drop.

`OutboxDb.free_space` gives up the reserve so SQLite has room to drop rows, then makes it
again as far as it fits. When the dropped rows were fewer than the failed batch, a reserve
made again in full took back the very room the retried commit needed: the commit failed
again, the next free_space found nothing left to drop, gave up the reserve and took it
back, and the outbox never committed again while the disk stayed full (the flaky
tests/e2e/test_disk_full.py: its second "to make room" never came, because no row was
committed again to be dropped). Now each short drop in a row halves the reserve, down to
none, and a drop of the full chunk restores it. (Once the reserve is all given away, the
next full disk cannot drop rows until space returns: the checkpoint itself needs room.)

The state directory is a small tmpfs the test mounts (root only; otherwise skipped).
"""

import os
import subprocess

import pytest

from tests.support.tmpfs import small_tmpfs

from agent.store.outbox_db import ROUTINE, Item, OutboxDb


@pytest.fixture
def small_fs(tmp_path):
    """A 2 MB tmpfs at tmp_path/state."""
    yield from small_tmpfs(tmp_path, "2m")


def _fill(path):
    """Write a filler file until the file system is full to the last byte."""
    with open(path, "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 4096)
        except OSError:
            pass     # ENOSPC: full


def _items(n, start=0):
    return [Item(f"city/gw/telemetry/L-{i % 30:03d}", f"L-{i % 30:03d}", ROUTINE, 1000 + i,
                 {"values": {"power_w": 41.5, "dim": 80, "lamp_h": 1234 + i},
                  "quality": {"power_w": "ok"}}) for i in range(start, start + n)]


def test_a_batch_larger_than_what_can_be_dropped_commits_once_the_reserve_is_given_up(small_fs):
    db = OutboxDb(small_fs / "outbox.db", max_bytes=64 * 2**20, max_age_ms=None)
    try:
        assert db.reserve.held
        assert not db.commit(_items(20), {}, 2000).error      # a few rows, then the card fills
        _fill(small_fs / "filler")
        batch = _items(2000, start=20)      # ~350 kB: more than the 20 rows and the WAL free
        failed = db.commit(batch, {}, 3000)
        assert failed.error and "full" in failed.error, failed.error
        tries = []
        for _ in range(5):                                    # the commit loop: drop, retry
            tries.append(db.free_space())
            result = db.commit(batch, {}, 3000)
            if not result.error:
                break
        assert not result.error, (f"the batch never committed on the full disk after giving "
                                  f"up the reserve: {result.error} (rows dropped per try: "
                                  f"{tries}, reserve held: {db.reserve.held})")
        assert tries[0] == 20 and result.added == 2000 and db.count == 2000
    finally:
        db.close()
