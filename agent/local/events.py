"""The last few hundred events, kept in memory for the crew (the outbox forgets what it sent)."""

import time
from collections import deque

KEEP = 300


class RecentEvents:
    """A bounded list of {ts, real, device, event, alarm, fields}; newest last.

    ts is the event's own time (the lighting clock: warped under --time-warp); real is when it
    happened on the machine's clock, the one clock the console orders every list by.
    """

    def __init__(self, keep: int = KEEP):
        self._items = deque(maxlen=keep)

    def add(self, ts_ms: int, device: str, event: str, alarm: bool, fields: dict) -> None:
        """One event as the outbox got it (the hot path: one append)."""
        self._items.append({"ts": ts_ms / 1000.0, "real": time.time(), "device": device, "event": event,
                            "alarm": alarm, "fields": fields})

    def items(self) -> list[dict]:
        """Oldest first."""
        return list(self._items)
