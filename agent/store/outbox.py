"""The durable outbox: every reading, event and ack is committed here before it is published.

Producers call `put()` (never blocks). The commit loop gathers what arrives within
one batch window (or until a batch is full) and commits it in one transaction in
the outbox's single dedicated SQLite thread; only then does the publisher see it.
Deletes of broker-acknowledged rows ride along in the same transactions.
The rows a commit inserted are handed to each interface's consumer (`on_fresh`) so that,
when it has no backlog, it publishes them without reading them back from SQLite; a consumer
that translates readings (Sparkplug) takes their in-memory Items instead (`on_fresh_items`).

Northbound interfaces (JSON topics, Sparkplug, TALQ) each take what is bound for them through
their own `OutboxConsumer`: a row is stored once, with the mask of the interfaces that still
have to deliver it, and is deleted when the last of them has acknowledged it.
The batch window is a cap on the wait, not a fixed delay: a commit takes whatever
arrived, up to `batch_max`. Commits are sized by time and count: readings and events start a
window (and a full batch ends it early); acks alone do not - deleting a delivered row is no
promise to anyone, so acks ride along with the next commit of items, or go alone after
ACK_WINDOW_S or once `batch_max` of them wait. A power cut can then re-send up to
ACK_WINDOW_S of delivered rows after the restart (at-least-once; the backend drops them by seq),
and loses nothing accepted.

Why one thread: sqlite3 calls block (an fsync on an SD card takes 5-50 ms), so
they must stay off the event loop; one thread also means one connection and no
locking between our own writers.
"""

import asyncio
import logging
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

from agent.errors import StoreError
from agent.store.outbox_consumer import OutboxConsumer
from agent.store.outbox_db import ALARM, EVENT, INTERFACES, NOISE, ROUTINE, Item, OutboxDb

__all__ = ["Outbox", "OutboxConsumer", "INTERFACES", "NOISE", "ROUTINE", "EVENT", "ALARM"]

log = logging.getLogger(__name__)

MAX_PENDING = 20000       # items held in memory while the disk refuses writes
SHED_TO = 0.9             # over MAX_PENDING: shed down to 90 % of it (not one item per put)
RETRY_S = 1.0             # pause after a failed commit before trying again
RESERVE_EVERY = 200       # after a full disk: try to make the reserve again every N commits
ACK_WINDOW_S = 1.0        # acks with no items to ride along with wait at most this long


def wall_ms() -> int:
    """Epoch milliseconds."""
    return int(time.time() * 1000)


class Outbox:
    """Async front of the outbox file: batching, the SQLite thread, counters for status."""

    def __init__(self, path, max_mb: float, max_age_s: float | None = None,
                 batch_window_s: float = 0.02, batch_max: int = 500, clock_ms=wall_ms,
                 interfaces=("json",), ack_window_s: float = ACK_WINDOW_S):
        self.path = path
        self.ack_window_s = ack_window_s
        self.interfaces = 0                   # mask of the configured INTERFACES
        for name in interfaces:
            self.interfaces |= INTERFACES[name]
        self.max_bytes = int(max_mb * 1024 * 1024)
        self.max_age_ms = int(max_age_s * 1000) if max_age_s else None
        self.batch_window_s = batch_window_s
        self.batch_max = batch_max
        self.clock_ms = clock_ms
        self.db: OutboxDb | None = None
        self.consumers: dict[str, OutboxConsumer] = {}
        self.on_dropped = lambda rows, total: None
        self.on_unencodable = lambda device, error: None   # an item JSON cannot carry
        self.error: str | None = None
        self.lost_in_memory = 0
        self._pending: list[Item] = []
        self._since_full = 0              # successful commits since the disk was last full
        self._unfinished = None           # (commit future, items, acked) cut off by shutdown
        self._acked: dict[int, list[int]] = {}    # interface bit -> row ids it delivered
        self._acked_n = 0                 # row ids in _acked
        self._wake = asyncio.Event()
        self._full = asyncio.Event()
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-sqlite")

    async def call(self, fn, *args):
        """Run fn(*args) in the SQLite thread."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    async def open(self) -> str | None:
        """Open (or create, or recover) the file; returns the recovery note, if any."""
        self.db = await self.call(lambda: OutboxDb(self.path, self.max_bytes, self.max_age_ms,
                                                   interfaces=self.interfaces))
        log.info("outbox %s: %d message(s) waiting from before, next seq %d", self.path,
                 self.db.count, self.db.seq + 1)
        return self.db.recovered

    def consumer(self, name: str) -> "OutboxConsumer":
        """The delivery end of one configured northbound interface ('json', 'sparkplug', ...)."""
        if not INTERFACES[name] & self.interfaces:
            raise ValueError(f"outbox: interface {name!r} is not configured")
        if name not in self.consumers:
            self.consumers[name] = OutboxConsumer(self, name)
        return self.consumers[name]

    def put(self, topic: str, device: str, priority: int, ts: int, body: dict,
            to: int | None = None) -> None:
        """Queue a message for the next batch commit (ts, and seq if it is bound for the JSON
        interface, are added to body); `to`: mask of INTERFACES, None for every one."""
        self._pending.append(Item(topic, device, priority, ts, body,
                                  self.interfaces if to is None else to))
        if len(self._pending) > MAX_PENDING:
            self._shed_pending()
        self._wake.set()
        if len(self._pending) >= self.batch_max:
            self._full.set()

    def _ack(self, bit: int, row_id: int) -> None:
        self._acked.setdefault(bit, []).append(row_id)
        self._acked_n += 1
        if self._acked_n == 1 or self._acked_n >= self.batch_max:
            self._wake.set()              # the first starts the ack window; many end it

    def _ack_many(self, bit: int, row_ids: list[int]) -> None:
        if not row_ids:
            return
        first = not self._acked_n
        self._acked.setdefault(bit, []).extend(row_ids)
        self._acked_n += len(row_ids)
        if first or self._acked_n >= self.batch_max:
            self._wake.set()

    def _shed_pending(self) -> None:
        """The disk refuses and memory is at its cap: shed the lowest class first (answers to
        forged commands, then routine telemetry, then events), oldest first within a class, so
        acks and alarms are the last to go; down to SHED_TO of the cap in one pass."""
        excess = len(self._pending) - int(MAX_PENDING * SHED_TO)
        for priority in (NOISE, ROUTINE, EVENT, ALARM):
            if excess <= 0:
                break
            kept = []
            for item in self._pending:
                if excess > 0 and item.priority == priority:
                    excess -= 1
                    self.lost_in_memory += 1
                else:
                    kept.append(item)
            self._pending = kept

    async def commit_loop(self) -> None:
        """Commit batches forever: wait for work, gather for one window, one transaction."""
        while True:
            await self._work()
            if len(self._pending) < self.batch_max:
                try:
                    async with asyncio.timeout(self.batch_window_s):   # not wait_for: gh-86296
                        await self._full.wait()
                except TimeoutError:
                    pass
            if not await self.flush():
                await asyncio.sleep(RETRY_S)   # disk full / I/O error: back off, keep items

    async def _work(self) -> None:
        """Until there are items to commit, or acks that waited ack_window_s or fill a batch."""
        while not self._pending and self._acked_n < self.batch_max:
            self._wake.clear()
            if not self._acked_n:
                await self._wake.wait()
                continue
            try:
                async with asyncio.timeout(self.ack_window_s):   # not wait_for: gh-86296
                    await self._wake.wait()
            except TimeoutError:
                return

    async def flush(self) -> bool:
        """Commit everything pending now; False (items kept) when the disk refused."""
        self._wake.clear()
        self._full.clear()
        items, self._pending = self._pending, []
        acked, self._acked = self._acked, {}
        self._acked_n = 0
        if not items and not acked:
            return True
        commit = asyncio.ensure_future(self.call(self.db.commit, items, acked, self.clock_ms()))
        try:
            # shielded: a shutdown that cancels the commit loop must not cancel a commit
            # still queued for the SQLite thread, or its batch would be lost
            result = await asyncio.shield(commit)
        except asyncio.CancelledError:
            self._unfinished = (commit, items, acked)
            raise
        self._settle(result, items, acked)
        return not result.error

    def _settle(self, result, items: list, acked: list) -> None:
        """Book a commit's outcome: items back in the queue on error, hooks on success."""
        if result.error:
            self._pending[:0] = items
            for bit, ids in acked.items():
                self._acked[bit] = ids + self._acked.get(bit, [])
                self._acked_n += len(ids)
            self._disk_trouble(result.error)
            return
        # after a full disk, commits succeed again once room was made by dropping old rows;
        # the card is still full until the reserve could be made again: say so until then
        if self.error and (self.db.reserve.held or "full" not in self.error):
            log.warning("outbox writable again")
            self.error = None
        self._since_full += 1
        if self._since_full % RESERVE_EVERY == 0 and not self.db.reserve.held:
            asyncio.get_running_loop().run_in_executor(self._thread, self.db.reserve.make)
        for device, error in result.unencodable:
            log.error("outbox: dropped a message of %s that cannot be encoded (%s)",
                      device, error)
            self.on_unencodable(device, error)
        if result.dropped:
            log.warning("outbox over its cap: dropped %d oldest message(s) (%d in total)",
                        result.dropped, self.db.dropped)
            self.on_dropped(result.dropped, self.db.dropped)
        if result.added:
            for consumer in self.consumers.values():
                consumer.committed(result.rows, result.items)

    def _disk_trouble(self, error: str) -> None:
        if self.error is None:
            log.error("outbox %s cannot commit: %s; keeping %d message(s) in memory and "
                      "retrying every %g s. Free space on the card or lower outbox.max_mb",
                      self.path, error, len(self._pending), RETRY_S)
        self.error = error
        self._since_full = 0
        if "full" in error:
            freeing = asyncio.get_running_loop().run_in_executor(self._thread, self.db.free_space)
            freeing.add_done_callback(self._freed)

    def _freed(self, freeing) -> None:
        """free_space finished: the rows it dropped are counted like any cap drop."""
        if freeing.cancelled() or freeing.exception() is not None or not freeing.result():
            return
        log.warning("outbox: disk full, dropped the %d oldest routine message(s) to make room",
                    freeing.result())
        self.on_dropped(freeing.result(), self.db.dropped)

    async def fetch_after(self, row_id: int, limit: int, bit: int | None = None
                          ) -> list[tuple[int, str, str]]:
        """Committed rows after row_id, oldest first: those interface `bit` still has to
        deliver, or every row (bit None)."""
        return await self.call(self.db.fetch_after, row_id, limit, bit)

    async def remember_command(self, command_id: str, expires_at: int, issued_ms: int,
                               now_ms: int, max_ttl_ms: int) -> str:
        """Durably record an accepted command id: 'accepted', 'replayed' or 'stale'.

        StoreError when the file refuses (disk full, I/O error, busy beyond busy_timeout).
        """
        try:
            return await self.call(self.db.remember_command, command_id, expires_at, issued_ms,
                                   now_ms, max_ttl_ms)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot record the command id in {self.path}: {exc}") from exc

    @property
    def newest_issued(self) -> int:
        """The replay horizon (epoch ms): the latest issue time of an accepted command."""
        return self.db.newest_issued if self.db else 0

    async def status(self) -> dict:
        """Backlog size and age, drops, errors."""
        try:
            oldest = await self.call(self.db.oldest_ts)
        except sqlite3.Error as exc:     # busy beyond busy_timeout, I/O error: say so, go on
            oldest = None
            self.error = self.error or str(exc)
        return {"backlog": self.db.count + len(self._pending),
                "backlog_bytes": self.db.bytes,
                "oldest_age_s": round((self.clock_ms() - oldest) / 1000) if oldest else 0,
                "dropped": self.db.dropped + self.lost_in_memory,
                "error": self.error}

    async def close(self) -> None:
        """Commit what is pending (after any commit a shutdown interrupted) and close the file."""
        if self._unfinished is not None:
            commit, items, acked = self._unfinished
            self._unfinished = None
            self._settle(await commit, items, acked)
        if self.db is not None:
            if not await self.flush():
                log.error("outbox: %d message(s) could not be saved at shutdown",
                          len(self._pending))
            await self.call(self.db.close)
        # not wait=True: that blocks the event loop (no timeout could fire); the thread is
        # idle by now, and the interpreter joins it at exit
        self._thread.shutdown(wait=False)
