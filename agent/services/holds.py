"""Crew holds and timed city commands kept across a restart (review finding 3).

Without this a restart (crash, power cut, update) handed a held light back to the schedule.
The held entries are written to `holds.json` next to the outbox, atomically (tmp, fsync,
rename), whenever they change, on one writer thread so the newest state lands last.

While the agent runs, a hold's end moves with every wall-clock step (finding 2: its length
is measured on the monotonic clock). Across a restart there is no monotonic clock to
compare, so the file stores each end as a wall-clock time plus `saved_at`, and the rule at
start is: a hold never gets more time than it had left when it was saved.
- clock fine while down: ends at the stored time (the downtime counted against it);
- clock stepped forward while down (or a long outage): the stored end has passed, the hold
  is over and the light goes back to the schedule at once;
- clock behind `saved_at` at start (no RTC, booted before NTP): the time it had left at the
  save is re-armed from now, never the larger gap to the stored end; when NTP then steps
  the clock the running hold's end steps with it, as any other.
"""

import json
import logging
from pathlib import Path

from agent.store.serial import SerialWorker
from agent.store.statefile import load_or_quarantine, write_atomic

log = logging.getLogger(__name__)
HELD = ("maintenance", "command")


def _entries(arbiter) -> list:
    return [{"source": e.source, "target": list(e.target), "lights": e.lights,
             "switch": e.switch, "dim": e.dim, "expires_s": e.expires_s, "reason": e.reason,
             "user": e.user}
            for source in HELD for e in reversed(arbiter.entries(source))]   # oldest first


class HoldFile:
    """save() the controller's held entries when they change; rearm() them at start."""

    def __init__(self, path: str | Path, on_corrupt=None):
        self.path = Path(path)
        self.on_corrupt = on_corrupt or (lambda *a: None)   # (path, aside, exc): tell the city
        self.error: str | None = None        # why the last save failed (status shows it)
        self._last = None
        self._writer = SerialWorker(f"save {self.path.name}")

    def save(self, arbiter, wall_s: float) -> None:
        """Queue a write of the held entries if they changed since the last one."""
        entries = _entries(arbiter)
        if entries == self._last:
            return
        self._last = entries
        data = json.dumps({"saved_at": int(wall_s), "entries": entries}).encode()
        self._writer.submit(self._write, data)

    def _write(self, data: bytes) -> None:
        try:
            write_atomic(self.path, data)
        except OSError as exc:
            self._last = None                # try again at the next step, not only on a change
            error = (f"cannot save the held overrides to {self.path} ({exc.strerror}): a "
                     "restart now would hand them back to the schedule; free space or fix "
                     "permissions")
            if error != self.error:          # logged once per state change
                log.error("%s", error)
            self.error = error
            return
        if self.error is not None:
            log.warning("held overrides saved to %s again", self.path)
        self.error = None

    def rearm(self, controller, now_s: float) -> int:
        """Put the saved entries still live back into controller; how many were re-armed."""
        saved = load_or_quarantine(self.path, _read, self.on_corrupt)
        if not saved:
            return 0
        saved_at, entries = saved
        count = 0
        for item, expires_s in entries:
            left = expires_s - saved_at                       # what it had left at the save
            end = expires_s if now_s >= saved_at else int(now_s) + left
            if end <= now_s:
                continue
            try:
                controller.adopt(_Saved(item, end))
            except (ValueError, KeyError, TypeError) as exc:   # a light gone from the plan...
                log.warning("saved hold %s not re-armed: %s", item.get("target"), exc)
                continue
            count += 1
        self._last = _entries(controller.arbiter)
        return count


def _read(path: Path) -> tuple[int, list]:
    """(saved_at, [(entry, its end)]); any other shape raises, so load_or_quarantine moves
    the file aside instead of the agent failing to start on it."""
    saved = json.loads(path.read_bytes())
    return int(saved["saved_at"]), [(item, int(item["expires_s"])) for item in saved["entries"]]


class _Saved:
    """The shape controller.adopt() takes."""

    def __init__(self, item: dict, end: int):
        self.source, self.target = item["source"], tuple(item["target"])
        self.lights, self.switch, self.dim = item["lights"], item["switch"], item["dim"]
        self.expires_s, self.reason, self.user = end, item["reason"], item.get("user")
