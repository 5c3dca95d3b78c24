"""Publisher: sends committed outbox rows with QoS 1 and deletes them on the broker's PUBACK.

Rows go out strictly in outbox order (so in order per device), up to `window`
unacknowledged at a time. A row is deleted only when paho reports the PUBACK for
its mid. After a reconnect paho re-sends what was in flight (same mids); after a
restart everything still in the file is sent again from the start. Hence
at-least-once: the backend drops duplicates by (gateway, seq).
"""

import asyncio
import logging

from agent.errors import UplinkError

log = logging.getLogger(__name__)

FETCH_MAX = 500        # rows read from SQLite per round trip


class Publisher:
    """Drains the outbox to the uplink: a bounded window of messages awaiting PUBACK."""

    def __init__(self, outbox, uplink, window: int = 200):
        self.outbox = outbox
        self.uplink = uplink
        self.window = window
        self.unacked: dict[int, int] = {}    # mid -> outbox row id
        self.cursor = 0                      # highest row id handed to paho
        self.sent = 0
        self.acked = 0
        self.wake = asyncio.Event()
        outbox.on_committed = self.wake.set
        uplink.on_connected = self.wake.set
        uplink.on_puback = self.on_puback

    def on_puback(self, mid: int) -> None:
        """The broker has the message with this mid: free its row."""
        row_id = self.unacked.pop(mid, None)
        if row_id is None:
            return                           # a status message, or a late duplicate PUBACK
        self.outbox.ack(row_id)
        self.acked += 1
        if len(self.unacked) <= self.window // 2:
            self.wake.set()                  # refill in big steps, not one row per ack

    async def run_loop(self) -> None:
        """Send whatever is committed and fits in the window; sleep until there is more."""
        while True:
            await self.wake.wait()
            self.wake.clear()
            await self._fill()

    async def _fill(self) -> None:
        while self.uplink.connected.is_set() and len(self.unacked) < self.window:
            room = min(FETCH_MAX, self.window - len(self.unacked))
            rows = await self.outbox.fetch_after(self.cursor, room)
            if not rows:
                return
            for row_id, topic, payload in rows:
                try:
                    mid = self.uplink.publish_raw(topic, payload, qos=1)
                except UplinkError as exc:
                    log.warning("publisher: %s; will retry", exc)
                    return
                self.unacked[mid] = row_id
                self.cursor = row_id
                self.sent += 1

    def status(self) -> dict:
        """Counters for the status message."""
        return {"sent": self.sent, "acked": self.acked, "in_flight": len(self.unacked)}
