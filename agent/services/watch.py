"""Fault watch: feeds every poll into the vectorized detectors and publishes their events.

Street-light fault detectors (lamp failure, day burning, cycling, ...) run over
all lights at once; the generic streaming detector runs over every analog
channel of every device. Both keep their state in arrays, saved across restarts.
"""

import asyncio
import io
import logging
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from agent.anomaly import AnomalyDetector
from agent.anomaly.events import anomaly_transitions, events_from_transitions
from agent.anomaly.hysteresis import Hysteresis
from agent.anomaly.npz import NpzArrays
from agent.anomaly.streetlight import StreetlightDetectors
from agent.store.outbox import ALARM
from agent.store.statefile import load_or_quarantine, write_atomic, write_atomic_off_loop
from edge_rules.sunclock import sun_day

log = logging.getLogger(__name__)

LIGHT_POINTS = ("switch", "dim", "lamp_state", "voltage", "power", "energy", "rated_power")
# counters and discrete states are not analog signals: the generic detector skips them
NOT_ANALOG = {"switch", "dim", "lamp_state", "faults", "energy", "burn_hours", "rated_power"}


def analog_channels(devices: dict) -> list[tuple[str, str]]:
    """(device id, point) of every analog point: what the generic detector watches."""
    return [(d, p.name) for d, dev in devices.items() for p in dev.profile.points
            if p.name not in NOT_ANALOG and "energy" not in p.name]


class FaultWatch:
    """Latest values in arrays; every period one vectorized detector step and its events."""

    def __init__(self, light_ids: list[str], channels: list[tuple[str, str]], lat: float,
                 lon: float, emit_event, period_s: float = 60.0, threshold: float = 0.9,
                 state_file: str | None = None, wall=time.time):
        self.light_ids = list(light_ids)
        self.light_index = {d: i for i, d in enumerate(self.light_ids)}
        self.channels = list(channels)
        self.channel_index = {c: i for i, c in enumerate(self.channels)}
        self.lat, self.lon = lat, lon
        self.emit_event = emit_event
        self.period_s = period_s
        self.threshold = threshold
        self.state_file = Path(state_file) if state_file else None
        self.wall = wall
        n = len(self.light_ids)
        self.poll = {p: np.full(n, np.nan) for p in LIGHT_POINTS}
        self.last_command = np.full(n, np.nan)
        self.samples = np.full(len(self.channels), np.nan)
        self.lights = StreetlightDetectors(n)
        self.generic = AnomalyDetector(len(self.channels))
        self.generic_latch = Hysteresis(len(self.channels), 3, 3)
        self.events_sent = 0
        self._latest: dict[str, dict] = {}    # device -> its newest values since the last step
        self._sun_cache = (None, None)
        # told when the state file could not be loaded and was moved aside: (path, aside, exc)
        self.on_corrupt = lambda path, aside, exc: None

    def observe(self, reading: dict) -> None:
        """Take one device reading (good ones only: stale values are not new samples).

        Only the newest value of each point counts at the next step, so a reading is merged into
        its device's latest values here and the arrays are filled once per step (`_fill`), not
        point by point on every poll."""
        if reading["quality"] != "good":
            return
        latest = self._latest.get(reading["device"])
        if latest is None:
            self._latest[reading["device"]] = dict(reading["values"])
        else:
            latest.update(reading["values"])

    def _fill(self) -> None:
        """The latest values of every device since the last step into the detectors' arrays."""
        for device, values in self._latest.items():
            i = self.light_index.get(device)
            if i is not None:
                for point in LIGHT_POINTS:
                    if point in values:
                        self.poll[point][i] = values[point]
            for point, value in values.items():
                j = self.channel_index.get((device, point))
                if j is not None:
                    self.samples[j] = value
        self._latest.clear()

    def note_command(self, device: str, ts: float) -> None:
        """A switch/dim was commanded: transitions soon after are not 'cycling'."""
        i = self.light_index.get(device)
        if i is not None:
            self.last_command[i] = ts

    def sun_up(self, ts: float) -> bool:
        """Whether the sun is up at ts at the gateway (astronomical, no network)."""
        # the civil date of local solar time (lon * 4 min), not of UTC: in Jakarta UTC's
        # date is still "yesterday" until 07:00, after sunrise
        day = datetime.fromtimestamp(ts + self.lon * 240.0, timezone.utc)
        key = (day.year, day.month, day.day)
        if self._sun_cache[0] != key:
            self._sun_cache = (key, sun_day(self.lat, self.lon, *key))
        sun = self._sun_cache[1]
        rise, set_ = sun.get("sunrise"), sun.get("sunset")
        if rise is None or set_ is None:
            return sun.reason("sunrise") == "polar day"
        return rise <= ts < set_ if rise < set_ else not set_ <= ts < rise

    def evaluate(self, ts: float) -> list[dict]:
        """One detector step over everything observed since the last; returns the events sent."""
        events = []
        self._fill()
        if self.light_ids:
            transitions = self.lights.update(self.poll, ts, self.sun_up(ts),
                                             last_command_ts=self.last_command)
            events += events_from_transitions(transitions, self.light_ids)
        if self.channels:
            scores = self.generic.update(self.samples, ts)
            for tr in anomaly_transitions(self.generic_latch, scores, ts, self.threshold):
                events += self._generic_events(tr)
        for point in self.poll.values():
            point[:] = np.nan
        self.samples[:] = np.nan
        for event in events:
            device = event.pop("device_id")
            self.emit_event(device, event.pop("kind"), ALARM, **event)
        self.events_sent += len(events)
        return events

    def _generic_events(self, tr) -> list[dict]:
        out = []
        for pos, j in enumerate(tr.index):
            device, point = self.channels[int(j)]
            out.append({"kind": "anomaly", "device_id": device, "state": tr.state,
                        "ts": tr.ts, "score": round(float(tr.score[pos]), 4),
                        "evidence": {"point": point}, "first_seen_ts": float(tr.first_seen_ts[pos])})
        return out

    async def run_loop(self) -> None:
        """Evaluate every period_s; save learnt state every hour (off the event loop)."""
        saved_at = time.monotonic()
        while True:
            await asyncio.sleep(self.period_s)
            self.evaluate(self.wall())
            if self.state_file and time.monotonic() - saved_at > 3600:
                await self.save_async()
                saved_at = time.monotonic()

    def _state_bytes(self) -> bytes:
        """The learnt state as .npz bytes (on the loop: the arrays are copied as they are now)."""
        state = _flatten({"generic": {k: v for k, v in self.generic.state_dict().items()
                                      if isinstance(v, np.ndarray)},
                          "lights": self.lights.state_dict()})
        state["channels"] = np.array(["%s.%s" % c for c in self.channels])
        state["light_ids"] = np.array(self.light_ids)
        buf = io.BytesIO()
        np.savez(buf, **state)
        return buf.getvalue()

    def save(self) -> None:
        """Write the learnt state (atomic, fsynced) so a restart does not relearn for a day."""
        if self.state_file:
            write_atomic(self.state_file, self._state_bytes())

    async def save_async(self) -> None:
        """save(), with the file write (fsync on an SD card) in a daemon thread."""
        if not self.state_file:
            return
        data = self._state_bytes()
        try:
            await write_atomic_off_loop(self.state_file, data)
        except OSError as exc:
            log.error("could not save the anomaly state %s (%s); it will be relearnt after a "
                      "restart", self.state_file, exc)

    def load(self) -> bool:
        """Restore learnt state if the file matches these channels; False otherwise.

        A file that cannot be read at all is moved aside (NAME.corrupt-<time>) and
        on_corrupt is told; a valid file for other devices is just not used.
        """
        if not self.state_file:
            return False
        return bool(load_or_quarantine(self.state_file, self._load_file, self._corrupt))

    def _corrupt(self, path, aside, exc) -> None:
        # a load that failed half-way may have filled some arrays: start really fresh
        self.lights = StreetlightDetectors(len(self.light_ids))
        self.generic = AnomalyDetector(len(self.channels))
        self.on_corrupt(path, aside, exc)

    def _load_file(self, path: Path) -> bool:
        # one array at a time from the file into the detectors' own arrays: the state is
        # held once at start-up, not three times (issue 24: ~5 MB at 5,000 channels)
        with NpzArrays(path) as data:
            if (list(data["channels"]) != ["%s.%s" % c for c in self.channels]
                    or list(data["light_ids"]) != self.light_ids):
                log.info("anomaly state %s is for other devices: starting fresh", path)
                return False
            # only the saved arrays, with today's params: what an older version did not save
            # is filled by the detector as an upgrade (zeros from a fresh state are not neutral)
            self.generic.restore(data.under("generic/"))
            lights = data.under("lights/")        # a few arrays per light: small, read whole
            self.lights.load_state_dict(_unflatten({k: lights[k] for k in lights}))
        return True


def _flatten(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}/"))
        else:
            out[f"{prefix}{key}"] = np.asarray(value)
    return out


def _unflatten(flat: dict) -> dict:
    tree: dict = {}
    for key, value in flat.items():
        node = tree
        *parents, leaf = key.split("/")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree
