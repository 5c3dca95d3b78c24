"""Head-room for a full disk: a reserve file next to the outbox, given up when the disk fills.

SQLite needs a little space even to delete (WAL frames, the checkpoint), so on a card that
is full to the last byte the outbox could not even drop its oldest rows or delete what the
broker acknowledged. The reserve (RESERVE_BYTES) is created at start; when a commit fails
with "disk full" it is deleted, which lets the outbox drop its oldest routine rows and
checkpoint the WAL (RESTART: the WAL is reused in place). It is made again right after the
drop, smaller after each drop that found fewer rows than it asked for (so the failed batch
gets room the drop could not free, agent/store/outbox_db.py `free_space`), and in full once
commits succeed and the space is really there (agent/store/outbox.py, RESERVE_EVERY).
"""

import os
from pathlib import Path

RESERVE_BYTES = 512 * 1024


class Reserve:
    """The reserve file `<outbox>.reserve`."""

    def __init__(self, outbox_path: Path, size: int = RESERVE_BYTES):
        self.path = Path(str(outbox_path) + ".reserve")
        self.size = size

    @property
    def held(self) -> bool:
        """Whether the reserve is on disk (full size)."""
        try:
            return self.path.stat().st_size >= self.size
        except OSError:
            return False

    def make(self, size: int | None = None) -> bool:
        """Create it, `size` (default: its full size) or as large as the space allows
        (halving down to 1/8 of its full size), written and fsynced so it is really
        allocated; False if not even that fits."""
        if self.held:
            return True
        size = self.size if size is None else size
        while size >= self.size // 8:
            try:
                with open(self.path, "wb") as fh:
                    fh.write(b"\0" * size)
                    fh.flush()
                    os.fsync(fh.fileno())
                return True
            except OSError:
                self.path.unlink(missing_ok=True)
                size //= 2
        return False

    def give_up(self) -> bool:
        """Delete it; True if there was one to delete."""
        try:
            self.path.unlink()
        except OSError:
            return False
        return True


def reuse_wal(conn, path: Path) -> None:
    """Checkpoint so the WAL is reused from its start instead of growing.

    RESTART, not TRUNCATE: the WAL file keeps its size, its blocks stay ours. The
    auto-checkpoint is set just below that size, so later commits never need the WAL to
    grow; the pages of dropped rows are reused by new rows. Raises sqlite3/OS errors.
    """
    conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
    wal = Path(str(path) + "-wal")
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = wal.stat().st_size // (page + 24) if wal.exists() else 0
    conn.execute(f"PRAGMA wal_autocheckpoint={max(8, min(1000, pages - 4))}")
