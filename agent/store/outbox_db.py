"""The outbox's SQLite file: batched commits, acks per interface, size/age caps.

Opening, schema and recovery from corruption: outbox_file.py; which rows go when room is
needed: outbox_space.py.

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
import shutil
import sqlite3
import time
from pathlib import Path

from agent.store import outbox_file, outbox_space as space, replay
from agent.store.outbox_space import ALARM, EVENT, NOISE, ROUTINE, ROW_OVERHEAD
from agent.store.reserve import Reserve, reuse_wal

log = logging.getLogger(__name__)

# the northbound interfaces a row can be bound for: its `pending` column is the mask of those
# that still have to deliver it, and the row is deleted when the last one has. `seq` numbers
# the JSON interface's messages (docs/mqtt.md); the others have their own sequence numbers.
INTERFACES = outbox_file.INTERFACES
JSON = INTERFACES["json"]
__all__ = ["OutboxDb", "Item", "CommitResult", "INTERFACES", "JSON",
           "NOISE", "ROUTINE", "EVENT", "ALARM"]

CAP_HYSTERESIS = 0.9                   # when over the cap, drop down to 90 % of it


class Item:
    """A message on its way into the outbox; seq is assigned when it is committed."""

    __slots__ = ("topic", "device", "priority", "ts", "body", "to")

    def __init__(self, topic: str, device: str, priority: int, ts: int, body: dict,
                 to: int = JSON):
        self.topic = topic
        self.device = device
        self.priority = priority
        self.ts = ts
        self.body = body
        self.to = to          # mask of INTERFACES it is bound for


class CommitResult:
    """What one batch commit did."""

    def __init__(self, added=0, deleted=0, dropped=0, error=None):
        self.added = added
        self.deleted = deleted
        self.dropped = dropped
        self.error = error
        self.rows: list[tuple[int, str, str, int]] = []  # inserted: (id, topic, payload, to)
        self.items: list[Item] = []      # the Item of each of rows, in the same order
        self.unencodable: list[tuple[str, str]] = []  # (device, error) of items dropped


class OutboxDb:
    """One outbox file. Not thread-safe: use from a single thread only."""

    def __init__(self, path: Path, max_bytes: int, max_age_ms: int | None,
                 busy_timeout_s: float = 5.0, mono=time.monotonic, connect=sqlite3.connect,
                 interfaces: int = JSON):
        self.path = Path(path)
        self.interfaces = interfaces            # mask of the INTERFACES configured now
        self.max_bytes = max_bytes
        self.max_age_ms = max_age_ms
        # recovered: the note when a corrupt file was moved aside
        self.conn, self.recovered = outbox_file.open_file(self.path, connect, busy_timeout_s)
        outbox_file.forget_interfaces(self.conn, interfaces, self.path)
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
        self._reserve_share = 1.0      # of RESERVE_BYTES made again after a full disk

    def close(self) -> None:
        """Close the file (checkpoints the WAL)."""
        self.conn.close()

    # -- the batch transaction --------------------------------------------------------
    def commit(self, items: list[Item], acked: dict[int, list[int]], now_ms: int) -> CommitResult:
        """Insert items (the JSON interface's numbered with the next seqs) and settle the rows
        each interface acknowledged ({interface bit: [row ids]}), in one transaction."""
        result = CommitResult()
        seq, rows = self._encode(items, result)
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            deleted = self._settle_acked(acked)
            self.conn.executemany("INSERT INTO messages(seq, ts, device, priority, topic, payload,"
                                  " pending) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
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
            result.rows = [(first + i, r[4], r[5], r[6]) for i, r in enumerate(rows)]
        else:
            result.items = []
        return result

    def _encode(self, items: list[Item], result: CommitResult) -> tuple[int, list]:
        """Each item encoded alone: one value JSON cannot carry drops that item, not the batch.
        Only the JSON interface's messages take a seq (its backend finds gaps by it); a row
        bound for the other interfaces only is stored with seq 0 and none in its payload."""
        seq = self.seq
        rows = []
        for item in items:
            to = item.to & self.interfaces
            if not to:
                continue            # bound for no configured interface: nobody to deliver to
            numbered = to & JSON
            try:
                head = {"ts": item.ts, "seq": seq + 1} if numbered else {"ts": item.ts}
                payload = json.dumps({**head, **item.body}, separators=(",", ":"))
            except (TypeError, ValueError) as exc:
                result.unencodable.append((item.device, str(exc)[:200]))
                continue
            if numbered:
                seq += 1
            rows.append((seq if numbered else 0, item.ts, item.device, item.priority, item.topic,
                         payload, to))
            result.items.append(item)
        return seq, rows

    def uptime_ms(self) -> int:
        """The agent's uptime accumulated over every run on this file (monotonic clock)."""
        return self._uptime_base + int((self._mono() - self._mono0) * 1000)

    def _rollback(self) -> None:
        try:
            self.conn.execute("ROLLBACK")
        except sqlite3.OperationalError:
            pass   # no transaction was open

    def _settle_acked(self, acked: dict[int, list[int]]) -> tuple[int, int]:
        """Clear each interface's bit on the rows it acknowledged; delete the rows no interface
        still waits for. (rows, bytes) deleted."""
        count = size = 0
        for bit, ids in acked.items():
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                marks = ",".join("?" * len(chunk))
                if bit != self.interfaces:      # others may still wait for these rows
                    self.conn.execute(f"UPDATE messages SET pending = pending & ? WHERE id IN "
                                      f"({marks})", (~bit, *chunk))
                    where = f"id IN ({marks}) AND pending = 0"
                else:                           # the only interface: its ack frees the row
                    where = f"id IN ({marks})"
                for (n,) in self.conn.execute(
                        f"DELETE FROM messages WHERE {where} RETURNING "
                        f"length(topic) + length(payload) + {ROW_OVERHEAD}", chunk):
                    count += 1
                    size += n
        return count, size

    def _enforce_caps(self, total_bytes: int, total_count: int, now_ms: int) -> tuple[int, int]:
        """Drop what the caps demand, lowest class and oldest first; (rows, bytes) dropped."""
        count = size = 0
        if self.max_age_ms and time.monotonic() - self._age_checked > 60:
            self._age_checked = time.monotonic()
            count, size = space.drop_older(self.conn, now_ms - self.max_age_ms)
        if total_bytes - size <= self.max_bytes:
            return count, size
        more = space.drop_to(self.conn, total_bytes - size, total_count - count,
                             self.max_bytes * CAP_HYSTERESIS)
        return count + more[0], size + more[1]

    def free_space(self, fraction: float = 0.05) -> int:
        """Disk full: give up the reserve, checkpoint (agent/store/reserve.py), drop the
        oldest `fraction` (at least DROP_CHUNK) of noise/routine rows; rows dropped."""
        self.reserve.give_up()
        self._checkpoint()
        asked = max(space.DROP_CHUNK, int(self.count * fraction))
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            got = space.drop_lowest(self.conn, asked)
            self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('dropped', ?)",
                              (self.dropped + len(got),))
            self.conn.execute("COMMIT")
        except sqlite3.OperationalError:
            self._rollback()
            return 0
        self._checkpoint()
        self._remake_reserve(short=len(got) < asked)
        self.count -= len(got)
        self.bytes -= sum(b for (b,) in got)
        self.dropped += len(got)
        return len(got)

    def _remake_reserve(self, short: bool) -> None:
        """Head-room for the next full disk, as far as it fits. After a short drop (fewer
        routine rows left than asked) the freed pages may not hold the failed batch: a full
        reserve would take back the very room it needs, the next drop would find nothing,
        and the outbox would never commit again while the disk stays full. So each short
        drop in a row on a disk without room for a second reserve halves the reserve, down
        to none; a full drop, or a disk with that room (a cap, not the card), restores it."""
        tight = short and shutil.disk_usage(self.path.parent).free < 2 * self.reserve.size
        self._reserve_share = self._reserve_share / 2 if tight else 1.0
        if self._reserve_share >= 1 / 8:
            self.reserve.make(int(self.reserve.size * self._reserve_share))

    def _checkpoint(self) -> None:
        try:
            reuse_wal(self.conn, self.path)
        except (sqlite3.OperationalError, OSError):
            pass    # still full: the next failed commit tries again

    # -- reads ------------------------------------------------------------------------
    def fetch_after(self, row_id: int, limit: int, bit: int | None = None
                    ) -> list[tuple[int, str, str]]:
        """Up to limit rows (id, topic, payload) with id > row_id, oldest first: those the
        interface `bit` has still to deliver, or every row when bit is None."""
        if bit is None or bit == self.interfaces:
            return self.conn.execute("SELECT id, topic, payload FROM messages WHERE id > ? "
                                     "ORDER BY id LIMIT ?", (row_id, limit)).fetchall()
        return self.conn.execute("SELECT id, topic, payload FROM messages WHERE id > ? AND "
                                 "pending & ? != 0 ORDER BY id LIMIT ?",
                                 (row_id, bit, limit)).fetchall()

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
