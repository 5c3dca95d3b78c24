"""The last few hundred events, kept in memory for the crew (the outbox forgets what it sent)."""

from collections import deque

KEEP = 300


class RecentEvents:
    """A bounded list of {ts, device, event, alarm, detail}; newest last."""

    def __init__(self, keep: int = KEEP):
        self._items = deque(maxlen=keep)

    def add(self, ts_ms: int, device: str, event: str, alarm: bool, fields: dict) -> None:
        """One event as the outbox got it (the hot path: one append)."""
        self._items.append({"ts": ts_ms / 1000.0, "device": device, "event": event,
                            "alarm": alarm, "fields": fields})

    def items(self) -> list[dict]:
        """Oldest first."""
        return list(self._items)
