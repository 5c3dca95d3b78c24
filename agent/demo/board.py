"""The demo's terminal board: every light in a compact grid, redrawn in place, last events."""

import shutil
import sys
import time

from agent.platform.clock import clock_text

CELL = 28                     # "L-007  ON  60%  53W  sched" and a gap
EVENTS_SHOWN = 6
PIPE_EVERY_S = 5.0            # piped (a log, a test): one table every few seconds

ZONE = "Asia/Jakarta"          # the demo site's gateway.timezone (tour.py's config)

SOURCE = {"maintenance": "CREW", "command": "city", "rule": "rule", "schedule": "sched",
          "failsafe": "FAIL"}


def sim_stamp(ts_ms) -> str:
    """'18:08:03 +07 (simulated)': a message's own time (the demo always warps), gateway zone."""
    return clock_text((ts_ms or 0) / 1000, ZONE, "%H:%M:%S", simulated=True)


def short(line: str) -> str:
    """An event line without its JSON noise (the terminal board has one line per event)."""
    return line.replace('{"old": ', "").replace('"', "")


class Board:
    """Telemetry and events in, a screenful out (ANSI in place on a terminal)."""

    def __init__(self, intro: str, tty: bool, out=sys.stdout, width: int | None = None):
        self.intro = intro
        self.tty = tty
        self.out = out
        self.width = width or min(160, shutil.get_terminal_size((80, 24)).columns)
        self.lights: dict[str, dict] = {}
        self.sources: dict[str, str] = {}
        self.events: list[str] = []
        self._drawn_at = 0.0

    def telemetry(self, device: str, payload: dict) -> None:
        """A telemetry message: the light's latest values."""
        self.lights[device] = payload

    def event(self, device: str, payload: dict, line: str) -> None:
        """An event: remembered (and printed at once when piped)."""
        if payload.get("event") == "output_changed":
            self.sources[device] = payload.get("source", "")
        self.events = (self.events + [line])[-EVENTS_SHOWN:]
        if not self.tty:
            print(line, file=self.out, flush=True)

    def cell(self, device: str) -> str:
        """One light in 25 characters."""
        p = self.lights[device]
        v = p.get("values") or {}
        if p.get("quality") != "good" or not v:
            state = f"{p.get('quality', '?'):^13}"
        elif v.get("faults"):
            state = f"FAULT {v.get('power', 0):4.0f}W  "
        elif v.get("switch"):
            state = f"ON {v.get('dim', 0):3d}% {v.get('power', 0):3.0f}W"
        else:
            state = "off          "
        return f"{device:6} {state:13} {SOURCE.get(self.sources.get(device), ''):5}"

    def table(self) -> list[str]:
        """The grid of lights plus a summary line."""
        per_line = max(1, (self.width + 2) // CELL)
        names = sorted(self.lights)
        cells = [self.cell(d) for d in names]
        rows = ["  ".join(cells[i:i + per_line]) for i in range(0, len(cells), per_line)]
        good = [self.lights[d].get("values") or {} for d in names
                if self.lights[d].get("quality") == "good"]
        on = sum(1 for v in good if v.get("switch"))
        faults = sum(1 for v in good if v.get("faults"))
        newest = max((self.lights[d].get("ts") or 0 for d in names), default=0)
        stamp = sim_stamp(newest) if newest else "--:--:--"
        return [f"{stamp}  {len(names)} lights: {on} on, {len(good) - on} off, "
                f"{faults} with a fault, {len(names) - len(good)} without data"] + rows

    def draw(self) -> None:
        """Redraw in place (terminal) or print a snapshot now and then (pipe)."""
        now = time.monotonic()
        if not self.tty:
            if now - self._drawn_at >= PIPE_EVERY_S and self.lights:
                self._drawn_at = now
                print("\n".join(self.table()), file=self.out, flush=True)
            return
        screen = self.intro.splitlines() + [""] + self.table() + ["", "last events:"] + [
            short(line) for line in self.events]
        self.out.write("\x1b[H\x1b[2J" + "\n".join(line[:self.width] for line in screen) + "\n")
        self.out.flush()
