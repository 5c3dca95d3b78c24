"""Whether the lighting trusts the wall clock, since when and why — and the mark that carries it over a restart.

The controller's clock guard judges trust every step (kernel sync, jumps against monotonic
time); this keeps the last judgement for status and `lentera lights`, and the continuity mark
(agent/platform/clock.py) that lets a restarted agent keep trusting a clock that never stopped.
"""

import json
import logging

from agent.store.statefile import write_atomic

log = logging.getLogger("agent.services.lighting")

MARK_EVERY_S = 600.0     # a fresh continuity mark at most every 10 min while synced


class ClockTrust:
    """The last trust judgement: trusted, source (ntp, continuous, assume, time-warp, none), since."""

    def __init__(self, mark_file: str | None = None):
        self.trusted: bool | None = None
        self.source: str | None = None
        self.reason = "not judged yet"
        self.since: float | None = None
        self.mark_file = mark_file
        self.marked_at: float | None = None

    def observe(self, trusted: bool, source: str, reason: str, wall: float) -> dict | None:
        """Record a judgement; the change (for the log and an event) when trust or source moved."""
        if trusted == self.trusted and source == self.source:
            return None
        self.trusted, self.source, self.reason, self.since = trusted, source, reason, wall
        return self.as_dict()

    def as_dict(self) -> dict:
        """{trusted, source, since (epoch s), reason}: the status' `clock`."""
        return {"trusted": self.trusted, "source": self.source,
                "since": None if self.since is None else int(self.since), "reason": self.reason}


def load_mark(path: str) -> dict | None:
    """The continuity mark saved before a restart; None when missing or unreadable (said once)."""
    try:
        with open(path, encoding="utf-8") as fh:
            mark = json.load(fh)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("clock: ignoring the continuity mark %s (%s): trust waits for a sync", path, exc)
        return None
    return mark if isinstance(mark, dict) else None


def save_mark(trust: ClockTrust, clock) -> None:
    """Write a fresh continuity mark (atomically) when the last one is MARK_EVERY_S old."""
    if trust.mark_file is None or not hasattr(clock, "mark"):
        return
    mark = clock.mark()
    if trust.marked_at is not None and mark["boottime"] - trust.marked_at < MARK_EVERY_S:
        return
    trust.marked_at = mark["boottime"]
    try:
        write_atomic(trust.mark_file, json.dumps(mark).encode())
    except OSError as exc:
        log.warning("clock: cannot write the continuity mark %s (%s): a restart without "
                    "network will wait for a sync", trust.mark_file, exc)
