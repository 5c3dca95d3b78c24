"""A SQLite storage that models power loss: apsw's Python VFS over the real files.

Every write and truncate is recorded with what it overwrote until the file's next fsync
(xSync). At a chosen operation the power goes: that operation and everything after it fail,
and `power_loss()` puts back, newest first, every byte not yet fsynced - exactly what a
disk that honours fsync keeps. The outbox's own code (agent/store/outbox_db.py) runs on it
through a thin sqlite3-style adapter; afterwards the files are reopened with the
standard-library sqlite3, as the next boot would.

apsw's Python VFS has no shared-memory methods, so the connection uses
locking_mode=EXCLUSIVE (SQLite then keeps the WAL index in heap memory); the WAL, its
checksums and the fsync points are the same as in service.
"""

import os

import apsw


class PowerCut(Exception):
    """The power went at this operation."""


class CutVFS(apsw.VFS):
    """Counts write/truncate/sync operations; at `cut_at` the power goes."""

    def __init__(self, name: str = "powercut"):
        self.name = name
        self.ops = 0
        self.cut_at: int | None = None
        self.dead = False
        self.undo: dict[str, list] = {}     # path -> [(offset, old bytes, old size)]
        super().__init__(name, "")

    def tick(self) -> None:
        """One more operation; raise PowerCut when the power is (or has just) gone."""
        if self.dead:
            raise PowerCut()
        self.ops += 1
        if self.cut_at is not None and self.ops >= self.cut_at:
            self.dead = True
            raise PowerCut()

    def xOpen(self, name, flags):
        return CutFile(self, name, flags)

    def power_loss(self) -> int:
        """Undo every write not fsynced, newest first; returns how many writes were lost."""
        lost = 0
        for path, ops in self.undo.items():
            if not os.path.exists(path):
                continue
            with open(path, "r+b") as fh:
                for offset, old, size in reversed(ops):
                    fh.seek(offset)
                    fh.write(old)
                    fh.truncate(size)
                    lost += 1
        self.undo = {}
        return lost


class CutFile(apsw.VFSFile):
    """A real file whose unsynced writes can be taken back."""

    def __init__(self, vfs: CutVFS, name, flags):
        self.vfs = vfs
        self.path = name.filename() if hasattr(name, "filename") else name
        super().__init__("", name, flags)

    def _record(self, offset: int, length: int) -> None:
        if self.path is None:
            return                              # a temporary file: gone at reboot anyway
        size = super().xFileSize()
        old = super().xRead(min(length, size - offset), offset) if offset < size else b""
        self.vfs.undo.setdefault(self.path, []).append((offset, bytes(old), size))

    def xWrite(self, data, offset):
        self.vfs.tick()
        self._record(offset, len(data))
        super().xWrite(data, offset)

    def xTruncate(self, newsize):
        self.vfs.tick()
        size = super().xFileSize()
        if newsize < size:
            self._record(newsize, size - newsize)
        super().xTruncate(newsize)

    def xSync(self, flags):
        self.vfs.tick()
        super().xSync(flags)
        self.vfs.undo.pop(self.path, None)     # on the platter now


class _Cursor:
    def __init__(self, cur, conn):
        self._cur = cur
        self._conn = conn

    def fetchone(self):
        return self._cur.fetchone()

    def fetchall(self):
        return self._cur.fetchall()

    def __iter__(self):
        return iter(self._cur)

    @property
    def rowcount(self):
        return self._conn.changes()


class ApswConnection:
    """Enough of sqlite3.Connection for OutboxDb, on the power-cut VFS."""

    def __init__(self, path, vfs: CutVFS, **_ignored):
        self._conn = apsw.Connection(str(path), vfs=vfs.name)
        self._conn.execute("PRAGMA locking_mode=EXCLUSIVE")

    def execute(self, sql, params=()):
        return _Cursor(self._conn.execute(sql, params), self._conn)

    def executemany(self, sql, seq):
        return _Cursor(self._conn.executemany(sql, list(seq)), self._conn)

    def executescript(self, sql):
        self._conn.execute(sql)

    def close(self):
        try:
            self._conn.close()
        except (apsw.Error, PowerCut):
            pass     # the power is gone: nothing more reaches the disk anyway
