"""Opening the outbox's SQLite file: schema and its migrations, recovery from corruption, and
forgetting interfaces no longer configured.

Blocking; runs in the outbox's SQLite thread (agent/store/outbox.py).
"""

import logging
import os
import sqlite3
import time
from pathlib import Path

from agent.store import replay

log = logging.getLogger("agent.store.outbox_db")

# the northbound interfaces a row can be bound for (bits of its `pending` column)
INTERFACES = {"json": 1, "sparkplug": 2, "talq": 4}
CORRUPT = {"SQLITE_CORRUPT", "SQLITE_NOTADB"}

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages(
    id INTEGER PRIMARY KEY AUTOINCREMENT,   -- never reused: the publisher's cursor relies on it
    seq INTEGER NOT NULL, ts INTEGER NOT NULL, device TEXT NOT NULL,
    priority INTEGER NOT NULL, topic TEXT NOT NULL, payload TEXT NOT NULL,
    pending INTEGER NOT NULL DEFAULT 1);   -- mask of INTERFACES still to deliver it
CREATE INDEX IF NOT EXISTS messages_by_class ON messages(priority, id);
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


def open_file(path: Path, connect, busy_timeout_s: float) -> tuple[sqlite3.Connection, str | None]:
    """(connection, recovery note): a corrupt file is moved aside and a fresh one started."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return _connect(path, connect, busy_timeout_s), None
    except sqlite3.DatabaseError as exc:
        if getattr(exc, "sqlite_errorname", None) not in CORRUPT and "malformed" not in str(
                exc) and "not a database" not in str(exc):
            raise
        aside = _move_aside(path)
        recovered = (f"outbox {path} was corrupt ({exc}); moved aside to {aside.name}, "
                     "started a fresh store")
        log.error("%s", recovered)
        return _connect(path, connect, busy_timeout_s), recovered


def _connect(path: Path, connect, busy_timeout_s: float) -> sqlite3.Connection:
    # timeout = busy_timeout: every statement waits at most this long for a lock, then
    # fails with "database is locked" (an OperationalError the callers handle)
    conn = connect(path, isolation_level=None, timeout=busy_timeout_s)
    try:
        conn.execute("PRAGMA journal_mode=WAL").fetchone()
        conn.execute("PRAGMA synchronous=FULL")
        check = conn.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise sqlite3.DatabaseError(f"database disk image is malformed: {check}")
        conn.executescript(SCHEMA)
        columns = {c[1] for c in conn.execute("PRAGMA table_info(messages)")}
        if "pending" not in columns:    # a file from before there was more than one interface
            conn.execute("ALTER TABLE messages ADD COLUMN pending INTEGER NOT NULL DEFAULT 1")
        replay.migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def _move_aside(path: Path) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        src = Path(str(path) + suffix)
        if src.exists():
            os.replace(src, Path(str(aside) + suffix))
    return aside


def forget_interfaces(conn: sqlite3.Connection, configured: int, path: Path) -> None:
    """Rows bound only for interfaces no longer configured would never be acknowledged: clear
    those bits and delete what is then bound for nothing (not counted as dropped: nobody is
    left to miss them)."""
    others = conn.execute("SELECT count(*) FROM messages WHERE pending & ? != 0",
                          (~configured,)).fetchone()[0]
    if not others:
        return
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("UPDATE messages SET pending = pending & ? WHERE pending & ? != 0",
                 (configured, ~configured))
    gone = conn.execute("DELETE FROM messages WHERE pending = 0").rowcount
    conn.execute("COMMIT")
    log.warning("outbox %s: %d message(s) were waiting for interfaces no longer configured; "
                "%d bound for nothing else were deleted", path, others, gone)
