"""Publisher: sends committed outbox rows with QoS 1 and acknowledges them on the broker's PUBACK.

One publisher per MQTT-borne northbound interface: it drains that interface's outbox consumer
(agent/store/outbox.py) into a *sink*, anything with `connected` (an asyncio.Event),
`publish_raw(topic, payload, qos) -> mid` (raising UplinkError when it cannot send) and the
settable callbacks `on_connected()` and `on_puback(mid)`, and optionally `batch()`, a context
manager under which a round's publishes wake the network once. The JSON uplink (agent/uplink/mqtt.py)
is one; a sink may translate the row to its own topic and encoding. Fresh rows bound for other
interfaces arrive as `(id, topic, None)`: they keep the ids consecutive and are never sent.

Rows go out strictly in outbox order (so in order per device), up to `window`
unacknowledged at a time. A row is deleted only when paho reports the PUBACK for
its mid. After a reconnect paho re-sends what was in flight (same mids); after a
restart everything still in the file is sent again from the start. Hence
at-least-once: the backend drops duplicates by (gateway, seq).

Rows reach the publisher two ways: read back from SQLite (`fetch_after`, after a
restart, an outage or whenever it is behind) or, in the steady state, handed over
by the outbox right after their commit (`on_fresh`) - used only while they follow
on directly from the last row sent, so order and the commit-before-publish rule
hold either way; the fresh list is dropped (and the rows fetched instead) on any gap.

During a long drain (more than one window of backlog) live rows are not made to wait for
hours of backlog: every round sends up to a quarter of the window of fresh rows *ahead*
(one contiguous id range, remembered so the drain skips them) and fills the rest with
backlog. A fresh reading then reaches the broker within a round trip or two even while
the backlog drains; order per device holds within the live stream and within the
backlog, and `seq` orders the two (docs/mqtt.md). Short gaps keep strict order.
The window is the uplink's inflight window: paho is never handed more than it may send.
"""

import asyncio
from contextlib import nullcontext
import logging

from agent.errors import UplinkError

log = logging.getLogger(__name__)

FETCH_MAX = 500        # rows read from SQLite per round trip
FRESH_MAX = 2000       # just-committed rows held for sending; beyond that, fetch them later


class Publisher:
    """Drains the outbox to the uplink: a bounded window of messages awaiting PUBACK."""

    def __init__(self, consumer, uplink, window: int = 200):
        self.consumer = consumer             # this interface's end of the outbox
        self.uplink = uplink                 # the sink
        self.window = window
        self.unacked: dict[int, int] = {}    # mid -> outbox row id
        self.cursor = 0                      # highest row id handed to paho
        self.sent = 0
        self.acked = 0
        self.wake = asyncio.Event()
        self.fresh: list[tuple[int, str, str]] = []   # committed, not yet sent, consecutive ids
        self.behind = True                   # SQLite may hold unsent rows that fresh lacks
        self._gaps = 0                       # fresh lists dropped so far
        self.ahead = (0, 0)                  # ids (first, last) sent ahead of the drain
        self.sent_ahead = 0
        consumer.on_committed = self.wake.set
        consumer.on_fresh = self.on_fresh
        uplink.on_connected = self.wake.set
        uplink.on_puback = self.on_puback
        self._batch = getattr(uplink, "batch", nullcontext)   # one network wake-up a round

    def on_fresh(self, rows: list) -> None:
        """Rows just committed: keep them for sending if they continue the fresh list."""
        fresh = self.fresh
        if (not rows or (fresh and rows[0][0] != fresh[-1][0] + 1)
                or len(fresh) + len(rows) > FRESH_MAX):
            fresh.clear()                    # a gap or a long outage: SQLite has them all
            self.behind = True
            self._gaps += 1
        if rows and len(rows) <= FRESH_MAX:
            fresh.extend(rows)

    def on_puback(self, mid: int) -> None:
        """The broker has the message with this mid: free its row."""
        row_id = self.unacked.pop(mid, None)
        if row_id is None:
            return                           # a status message, or a late duplicate PUBACK
        self.consumer.ack(row_id)
        self.acked += 1
        if len(self.unacked) <= self.window - max(1, self.window // 4):
            self.wake.set()                  # refill in steps of a quarter window

    async def run_loop(self) -> None:
        """Send whatever is committed and fits in the window; sleep until there is more."""
        while True:
            await self.wake.wait()
            self.wake.clear()
            await self._fill()

    async def _fill(self) -> None:
        while self.uplink.connected.is_set() and len(self.unacked) < self.window:
            room = min(FETCH_MAX, self.window - len(self.unacked))
            ahead = self._take_ahead(max(1, room // 4))
            if ahead and not self._send(ahead, backlog=False):
                return
            room -= len(ahead)
            if room <= 0:
                continue
            rows = self._take_fresh(room)
            if rows is None:
                gaps = self._gaps
                rows = await self.consumer.fetch_after(self.cursor, room)
                if len(rows) < room and gaps == self._gaps:
                    self.behind = False      # caught up; later commits arrive as fresh rows
            if not rows and not ahead:
                return
            if not self._send(rows, backlog=True):
                return

    def _send(self, rows: list, backlog: bool) -> bool:
        """Hand rows to paho, in one batch; backlog rows move the cursor (skipping those sent
        ahead)."""
        with self._batch():
            return self._send_rows(rows, backlog)

    def _send_rows(self, rows: list, backlog: bool) -> bool:
        first, last = self.ahead
        for row_id, topic, payload in rows:
            if backlog and first <= row_id <= last:
                self.cursor = row_id         # already sent ahead of the drain
                continue
            if payload is None:              # bound for another interface only
                if backlog:
                    self.cursor = row_id
                else:
                    self.ahead = (first or row_id, row_id)
                    first, last = self.ahead
                continue
            try:
                mid = self.uplink.publish_raw(topic, payload, qos=1)
            except UplinkError as exc:
                log.warning("publisher: %s; will retry", exc)
                return False
            self.unacked[mid] = row_id
            self.sent += 1
            if backlog:
                self.cursor = row_id
            else:
                self.ahead = (first or row_id, row_id)
                first, last = self.ahead
                self.sent_ahead += 1
        if last and self.cursor >= last:
            self.ahead = (0, 0)              # the drain has passed everything sent ahead
        return True

    def _take_ahead(self, limit: int) -> list:
        """Fresh rows to send ahead of a long drain (one contiguous range), else []."""
        fresh = self.fresh
        if not self.behind or not fresh:
            return []
        first = fresh[0][0]
        if self.ahead[1]:
            if first != self.ahead[1] + 1:
                return []                    # not contiguous: the drain will fetch them
        elif first - self.cursor <= self.window:
            return []                        # a short backlog: keep strict order
        rows = fresh[:limit]
        del fresh[:limit]
        return rows

    def _take_fresh(self, room: int) -> list | None:
        """Up to room fresh rows if they follow the cursor directly; None: fetch instead."""
        fresh = self.fresh
        skip = 0
        while skip < len(fresh) and fresh[skip][0] <= self.cursor:
            skip += 1                        # already sent (fetched while they were fresh)
        if skip:
            del fresh[:skip]
        if not fresh:
            return None if self.behind else []
        if fresh[0][0] != self.cursor + 1:
            self.behind = True
            return None
        rows = fresh[:room]
        del fresh[:room]
        return rows

    def status(self) -> dict:
        """Counters for the status message."""
        return {"sent": self.sent, "acked": self.acked, "in_flight": len(self.unacked),
                "sent_ahead_of_backlog": self.sent_ahead}
