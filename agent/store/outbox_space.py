"""The outbox's room: which rows go when a cap or a full disk demands it, lowest class first.

Statements only, run inside the caller's transaction in the outbox's SQLite thread
(agent/store/outbox_db.py). Each returns what it dropped, so the caller can keep its counters.
"""

import sqlite3

# drop order when full: noise (answers to unverified commands) first, then routine telemetry,
# events, and alarms/acks last
NOISE, ROUTINE, EVENT, ALARM = -1, 0, 1, 2
ROW_OVERHEAD = 48                      # bytes a row costs beyond topic + payload (ids, b-tree)
DROP_CHUNK = 500
SIZE = f"length(topic) + length(payload) + {ROW_OVERHEAD}"


def drop_older(conn: sqlite3.Connection, before_ms: int) -> tuple[int, int]:
    """Drop noise and routine rows read before `before_ms` (outbox.max_age); (rows, bytes)."""
    got = conn.execute(f"DELETE FROM messages WHERE priority <= {ROUTINE} AND ts < ? "
                       f"RETURNING {SIZE}", (before_ms,)).fetchall()
    return len(got), sum(n for (n,) in got)


def drop_to(conn: sqlite3.Connection, total_bytes: int, total_count: int,
            target: float) -> tuple[int, int]:
    """Drop lowest class and oldest first until the file's rows fit `target` bytes."""
    count = size = 0
    for priority in (NOISE, ROUTINE, EVENT, ALARM):
        while total_bytes - size > target and count < total_count:
            got = conn.execute(
                "DELETE FROM messages WHERE id IN (SELECT id FROM messages WHERE priority = ?"
                f" ORDER BY id LIMIT {DROP_CHUNK}) RETURNING {SIZE}", (priority,)).fetchall()
            if not got:
                break
            count += len(got)
            size += sum(n for (n,) in got)
    return count, size


def drop_lowest(conn: sqlite3.Connection, n: int) -> list[tuple[int]]:
    """A full disk: drop the `n` oldest noise/routine rows (noise first); their sizes."""
    return conn.execute(
        "DELETE FROM messages WHERE id IN (SELECT id FROM messages WHERE priority <= ? "
        f"ORDER BY priority, id LIMIT ?) RETURNING {SIZE}", (ROUTINE, n)).fetchall()
