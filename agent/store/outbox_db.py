"""The outbox's SQLite file: schema, batched commits, size/age caps, recovery from corruption.

Blocking by nature: every method runs in the outbox's one dedicated thread
(agent/store/outbox.py), which is also the only thread that ever touches the connection.

Durability (docs/mqtt.md "Durability"): WAL journal with synchronous=FULL, one
transaction (one fsync) per batch. A committed batch survives SIGKILL and power
loss; a power cut can only lose the batch still being gathered (<= the batch
window). FULL rather than NORMAL because a seq is published right after its
commit: with NORMAL a power cut could roll back a published seq and the next
boot would hand the same seq to a different reading.
"""

import json
import logging
import os
import sqlite3
import time
from pathlib import Path

from agent.store import replay
from agent.store.reserve import Reserve, reuse_wal

log = logging.getLogger(__name__)

# drop order when full: noise (answers to unverified commands) first, then routine telemetry,
# events, and alarms/acks last
NOISE, ROUTINE, EVENT, ALARM = -1, 0, 1, 2
ROW_OVERHEAD = 48                      # bytes a row costs beyond topic + payload (ids, b-tree)
CAP_HYSTERESIS = 0.9                   # when over the cap, drop down to 90 % of it
DROP_CHUNK = 500
CORRUPT = {"SQLITE_CORRUPT", "SQLITE_NOTADB"}

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages(
    id INTEGER PRIMARY KEY AUTOINCREMENT,   -- never reused: the publisher's cursor relies on it
    seq INTEGER NOT NULL, ts INTEGER NOT NULL, device TEXT NOT NULL,
    priority INTEGER NOT NULL, topic TEXT NOT NULL, payload TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS messages_by_class ON messages(priority, id);
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class Item:
    """A message on its way into the outbox; seq is assigned when it is committed."""

    __slots__ = ("topic", "device", "priority", "ts", "body")

    def __init__(self, topic: str, device: str, priority: int, ts: int, body: dict):
        self.topic = topic
        self.device = device
        self.priority = priority
        self.ts = ts
        self.body = body


class CommitResult:
    """What one batch commit did."""

    def __init__(self, added=0, deleted=0, dropped=0, error=None):
        self.added = added
        self.deleted = deleted
        self.dropped = dropped
        self.error = error
        self.rows: list[tuple[int, str, str]] = []   # what was inserted: (id, topic, payload)
        self.unencodable: list[tuple[str, str]] = []  # (device, error) of items dropped


class OutboxDb:
    """One outbox file. Not thread-safe: use from a single thread only."""

    def __init__(self, path: Path, max_bytes: int, max_age_ms: int | None,
                 busy_timeout_s: float = 5.0, mono=time.monotonic, connect=sqlite3.connect):
        self.path = Path(path)
        self.busy_timeout_s = busy_timeout_s    # another process holding the file: wait this long
        self._sqlite_connect = connect          # a storage that models power loss, in tests
        self.max_bytes = max_bytes
        self.max_age_ms = max_age_ms
        self.recovered: str | None = None   # set when a corrupt file was moved aside
        self.conn = self._open()
        meta = dict(self.conn.execute("SELECT key, value FROM meta"))
        self.seq = meta.get("seq", 0)
        self.dropped = meta.get("dropped", 0)
        self._uptime_base = meta.get("uptime_ms", 0)   # agent uptime before this run
        self._mono = mono              # the monotonic clock (injected by tests)
        self._mono0 = mono()
        self.newest_issued = replay.newest_issued(self.conn)
        if self.recovered and not self.seq:
            # the old seqs are gone with the file: restart above any seq a gateway could
            # have used (< 1 reading per ms since 1970), so the backend never sees one twice
            self.seq = int(time.time() * 1000)
        self.count, self.bytes = self.conn.execute(
            f"SELECT count(*), coalesce(sum(length(topic) + length(payload) + {ROW_OVERHEAD}),"
            " 0) FROM messages").fetchone()
        self._age_checked = 0.0
        self.reserve = Reserve(self.path)
        self.reserve.make()

    # -- opening ------------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return self._connect()
        except sqlite3.DatabaseError as exc:
            if getattr(exc, "sqlite_errorname", None) not in CORRUPT and "malformed" not in str(
                    exc) and "not a database" not in str(exc):
                raise
            aside = self._move_aside()
            self.recovered = (f"outbox {self.path} was corrupt ({exc}); moved aside to "
                              f"{aside.name}, started a fresh store")
            log.error("%s", self.recovered)
            return self._connect()

    def _connect(self) -> sqlite3.Connection:
        # timeout = busy_timeout: every statement waits at most this long for a lock, then
        # fails with "database is locked" (an OperationalError the callers handle)
        conn = self._sqlite_connect(self.path, isolation_level=None,
                                    timeout=self.busy_timeout_s)
        try:
            conn.execute("PRAGMA journal_mode=WAL").fetchone()
            conn.execute("PRAGMA synchronous=FULL")
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(f"database disk image is malformed: {check}")
            conn.executescript(SCHEMA)
            replay.migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _move_aside(self) -> Path:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            src = Path(str(self.path) + suffix)
            if src.exists():
                os.replace(src, Path(str(aside) + suffix))
        return aside

    def close(self) -> None:
        """Close the file (checkpoints the WAL)."""
        self.conn.close()

    # -- the batch transaction --------------------------------------------------------
    def commit(self, items: list[Item], acked: list[int], now_ms: int) -> CommitResult:
        """Insert items (numbered with the next seqs) and delete acked rows, in one transaction."""
        result = CommitResult()
        seq, rows = self._encode(items, result)
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            deleted = self._delete_ids(acked)
            self.conn.executemany("INSERT INTO messages(seq, ts, device, priority, topic, payload)"
                                  " VALUES (?, ?, ?, ?, ?, ?)", rows)
            # one writer inside one transaction: the new ids are consecutive up to the last
            last_id = self.conn.execute("SELECT last_insert_rowid()").fetchone()[0]
            added_bytes = sum(len(r[4]) + len(r[5]) + ROW_OVERHEAD for r in rows)
            dropped = self._enforce_caps(self.bytes - deleted[1] + added_bytes,
                                         self.count - deleted[0] + len(rows), now_ms)
            if rows:
                self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('seq', ?)", (seq,))
            self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('uptime_ms', ?)",
                              (self.uptime_ms(),))
            if dropped[0]:
                self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('dropped', ?)",
                                  (self.dropped + dropped[0],))
            self.conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:   # disk full, I/O error, corruption found late
            self._rollback()
            result.error = str(exc)
            return result
        self.seq = seq
        self.count += len(rows) - deleted[0] - dropped[0]
        self.bytes += added_bytes - deleted[1] - dropped[1]
        self.dropped += dropped[0]
        result.added, result.deleted, result.dropped = len(rows), deleted[0], dropped[0]
        if rows and not dropped[0]:      # a cap drop may have removed some of them
            first = last_id - len(rows) + 1
            result.rows = [(first + i, r[4], r[5]) for i, r in enumerate(rows)]
        return result

    def _encode(self, items: list[Item], result: CommitResult) -> tuple[int, list]:
        """Each item encoded alone: one value JSON cannot carry drops that item, not the batch."""
        seq = self.seq
        rows = []
        for item in items:
            try:
                payload = json.dumps({"ts": item.ts, "seq": seq + 1, **item.body},
                                     separators=(",", ":"))
            except (TypeError, ValueError) as exc:
                result.unencodable.append((item.device, str(exc)[:200]))
                continue
            seq += 1
            rows.append((seq, item.ts, item.device, item.priority, item.topic, payload))
        return seq, rows

    def uptime_ms(self) -> int:
        """The agent's uptime accumulated over every run on this file (monotonic clock)."""
        return self._uptime_base + int((self._mono() - self._mono0) * 1000)

    def _rollback(self) -> None:
        try:
            self.conn.execute("ROLLBACK")
        except sqlite3.OperationalError:
            pass   # no transaction was open

    def _delete_ids(self, ids) -> tuple[int, int]:
        count = size = 0
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for (n,) in self.conn.execute(
                    f"DELETE FROM messages WHERE id IN ({marks}) RETURNING "
                    f"length(topic) + length(payload) + {ROW_OVERHEAD}", chunk):
                count += 1
                size += n
        return count, size

    def _enforce_caps(self, total_bytes: int, total_count: int, now_ms: int) -> tuple[int, int]:
        """Drop what the caps demand, lowest class and oldest first; (rows, bytes) dropped."""
        count = size = 0
        if self.max_age_ms and time.monotonic() - self._age_checked > 60:
            self._age_checked = time.monotonic()
            for (n,) in self.conn.execute(
                    f"DELETE FROM messages WHERE priority <= {ROUTINE} AND ts < ? RETURNING "
                    f"length(topic) + length(payload) + {ROW_OVERHEAD}",
                    (now_ms - self.max_age_ms,)):
                count += 1
                size += n
        if total_bytes - size <= self.max_bytes:
            return count, size
        target = self.max_bytes * CAP_HYSTERESIS
        for priority in (NOISE, ROUTINE, EVENT, ALARM):
            while total_bytes - size > target and count < total_count:
                got = self.conn.execute(
                    "DELETE FROM messages WHERE id IN (SELECT id FROM messages WHERE priority = ?"
                    f" ORDER BY id LIMIT {DROP_CHUNK}) RETURNING length(topic) + length(payload)"
                    f" + {ROW_OVERHEAD}", (priority,)).fetchall()
                if not got:
                    break
                count += len(got)
                size += sum(n for (n,) in got)
        return count, size

    def free_space(self, fraction: float = 0.05) -> int:
        """Disk full: give up the reserve, checkpoint (agent/store/reserve.py), drop the
        oldest `fraction` (at least DROP_CHUNK) of noise/routine rows; rows dropped."""
        self.reserve.give_up()
        self._checkpoint()
        n = max(DROP_CHUNK, int(self.count * fraction))
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            got = self.conn.execute(
                "DELETE FROM messages WHERE id IN (SELECT id FROM messages WHERE priority <= ? "
                "ORDER BY priority, id LIMIT ?) RETURNING length(topic) + length(payload) + ?",
                (ROUTINE, n, ROW_OVERHEAD)).fetchall()
            self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('dropped', ?)",
                              (self.dropped + len(got),))
            self.conn.execute("COMMIT")
        except sqlite3.OperationalError:
            self._rollback()
            return 0
        self._checkpoint()
        self.reserve.make()                # head-room for the next time, as far as it fits
        self.count -= len(got)
        self.bytes -= sum(b for (b,) in got)
        self.dropped += len(got)
        return len(got)

    def _checkpoint(self) -> None:
        try:
            reuse_wal(self.conn, self.path)
        except (sqlite3.OperationalError, OSError):
            pass    # still full: the next failed commit tries again

    # -- reads ------------------------------------------------------------------------
    def fetch_after(self, row_id: int, limit: int) -> list[tuple[int, str, str]]:
        """Up to limit rows (id, topic, payload) with id > row_id, oldest first."""
        return self.conn.execute("SELECT id, topic, payload FROM messages WHERE id > ? "
                                 "ORDER BY id LIMIT ?", (row_id, limit)).fetchall()

    def oldest_ts(self) -> int | None:
        """Reading time (epoch ms) of the oldest row still waiting, if any."""
        row = self.conn.execute("SELECT ts FROM messages ORDER BY id LIMIT 1").fetchone()
        return row[0] if row else None

    # -- command ids (replay protection, agent/store/replay.py) -------------------------
    def remember_command(self, command_id: str, expires_at: int, issued_ms: int, now_ms: int,
                         max_ttl_ms: int) -> str:
        """Record an accepted command id: 'accepted', 'replayed' or 'stale'."""
        verdict, self.newest_issued = replay.remember(
            self.conn, command_id, expires_at, issued_ms, now_ms, self.uptime_ms(), max_ttl_ms)
        return verdict
