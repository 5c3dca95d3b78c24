"""Replay protection that does not trust the wall clock alone (docs/mqtt.md "Replay").

Kept in the outbox file, inside the outbox's transactions, so the ids, the horizon and the
uptime counter can never disagree after a crash:

- `accepted_ids(id, expires_at, uptime_ms)`: every accepted command id. A row is pruned only
  when BOTH its wall-clock expiry has passed AND `max_ttl` of accumulated agent uptime has
  passed since it was accepted. A forward clock jump alone therefore forgets nothing.
- `meta.uptime_ms`: the agent's uptime accumulated across restarts (monotonic clock,
  persisted with every commit); it cannot be moved by setting the wall clock.
- `meta.newest_issued_ms`: the horizon, the latest issue time of an accepted command (its
  `issued_at`, or `expires_at - max_ttl` when it has none). Signed by the backend, so it is
  a lower bound of the true time that no gateway clock error can move: a command that
  expired before the horizon is refused as stale whatever the gateway's clock says.

Blocking: called only in the outbox's SQLite thread.
"""

import sqlite3

SCHEMA = """
CREATE TABLE IF NOT EXISTS accepted_ids(id TEXT PRIMARY KEY, expires_at INTEGER NOT NULL,
                                        uptime_ms INTEGER NOT NULL);
"""

ACCEPTED, REPLAYED, STALE = "accepted", "replayed", "stale"


def migrate(conn: sqlite3.Connection) -> None:
    """Create the table; carry ids over from the older `command_ids` table (kept for max_ttl)."""
    conn.executescript(SCHEMA)
    old = conn.execute("SELECT name FROM sqlite_master WHERE name = 'command_ids'").fetchone()
    if old:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT OR IGNORE INTO accepted_ids SELECT id, expires_at, "
                     "coalesce((SELECT value FROM meta WHERE key = 'uptime_ms'), 0) "
                     "FROM command_ids")
        conn.execute("DROP TABLE command_ids")
        conn.execute("COMMIT")


def remember(conn: sqlite3.Connection, command_id: str, expires_at: int, issued_ms: int,
             now_ms: int, uptime_ms: int, max_ttl_ms: int) -> tuple[str, int]:
    """One transaction: prune, check horizon and id, record; (verdict, horizon after)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("DELETE FROM accepted_ids WHERE expires_at < ? AND uptime_ms < ?",
                      (now_ms, uptime_ms - max_ttl_ms))
        horizon = newest_issued(conn)
        if expires_at <= horizon:
            conn.execute("COMMIT")
            return STALE, horizon
        cur = conn.execute("INSERT OR IGNORE INTO accepted_ids VALUES (?, ?, ?)",
                           (command_id, expires_at, uptime_ms))
        if cur.rowcount != 1:
            conn.execute("COMMIT")
            return REPLAYED, horizon
        horizon = max(horizon, issued_ms)
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('newest_issued_ms', ?)", (horizon,))
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('uptime_ms', ?)", (uptime_ms,))
        conn.execute("COMMIT")
    except BaseException:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.OperationalError:
            pass    # the failure already ended the transaction
        raise
    return ACCEPTED, horizon


def newest_issued(conn: sqlite3.Connection) -> int:
    """The horizon (epoch ms), 0 when nothing was accepted yet."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'newest_issued_ms'").fetchone()
    return row[0] if row else 0
