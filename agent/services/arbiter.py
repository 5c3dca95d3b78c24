"""The arbiter port: how a city command reaches the lights.

With a lighting section, LightingService weighs commands against schedules, rules and the
crew's overrides. Without one, DirectArbiter does: every command is an entry with an expiry
in the same edge_rules arbitration; per device and field the newest live command wins, and
when none is left the device gets back the value it had before the first of them.
"""

import asyncio
import logging
import time

from agent.core.bus import PRIORITY_COMMAND
from agent.errors import DeviceError, Refused
from edge_rules.arbitration import Arbiter
from edge_rules.errors import ArbitrationFull

log = logging.getLogger(__name__)

FIELDS = ("switch", "dim")
FOREVER_S = 100 * 365 * 86400.0   # a command without a duration holds until a newer one


class CityArbiter:
    """Port: apply a city command to devices; returns {device_id: None or error text}."""

    async def apply_city_command(self, device_ids: list[str], switch: bool | None,
                                 dim: int | None, duration_s: float | None) -> dict:
        """Switch and/or dim the devices, for duration_s (None: until told otherwise)."""
        raise NotImplementedError


class DirectArbiter(CityArbiter):
    """No lighting plan: commands as arbitration entries above the devices' state as found."""

    def __init__(self, devices: dict, schedulers: dict, clock=None):
        self.devices = devices          # device id -> ModbusDevice
        self.schedulers = schedulers    # device id -> BusScheduler of its bus
        # a command's duration is measured on the monotonic clock, as a crew's hold is
        # (review finding 2): an NTP step must neither end it early nor stretch it
        self.monotonic = clock.monotonic if clock is not None else time.monotonic
        self.arbiter = Arbiter(list(devices))
        self.found: dict[str, dict] = {}     # device -> {field: value before any command held it}
        self.current: dict[str, dict] = {}   # device -> {field: value last written}
        self._changed = asyncio.Event()
        self._lock = asyncio.Lock()

    async def apply_city_command(self, device_ids, switch, dim, duration_s):
        """Hold the command until it expires, write it (buses in parallel); per-device outcome."""
        wanted = {k: v for k, v in (("switch", None if switch is None else int(switch)),
                                    ("dim", dim)) if v is not None}
        async with self._lock:
            try:
                self.arbiter.hold("command", ("lights", ",".join(device_ids)), list(device_ids),
                                  switch, dim, self.monotonic() + (duration_s or FOREVER_S),
                                  "city command")
            except ArbitrationFull as exc:      # nothing was held or written
                raise Refused(f"busy: {exc} (wait for one to end, or send fewer and "
                              "longer commands)") from None
            results = await asyncio.gather(*(self._write(d, wanted) for d in device_ids))
        self._changed.set()
        return dict(zip(device_ids, results))

    def _wanted(self, device_id: str) -> dict:
        """{field: value} the live entries want for the fields commands hold (or held) on a device."""
        out = {}
        for field in self.found.get(device_id, {}):
            for entry in self.arbiter.entries("command"):          # newest first
                if device_id in entry.lights and entry.sets(field):
                    value = entry.switch if field == "switch" else entry.dim
                    out[field] = int(value)
                    break
            else:
                out[field] = self.found[device_id][field]          # nothing left: as found
        return out

    async def _write(self, device_id: str, wanted: dict):
        device = self.devices[device_id]
        found = self.found.setdefault(device_id, {})
        missing = [f for f in wanted if f not in found]

        async def job():
            if missing:
                values = await device.read()
                found.update({f: int(values[f]) for f in missing if f in values})
            for point, value in wanted.items():
                if self.current.get(device_id, {}).get(point) != value:
                    await device.write(point, value)
                    self.current.setdefault(device_id, {})[point] = value
        try:
            await self.schedulers[device_id].execute(job, PRIORITY_COMMAND)
        except DeviceError as exc:
            return str(exc)
        return None

    async def run_loop(self) -> None:
        """Wake at the next expiry (or a new command) and write what shows through."""
        while True:
            nxt = self.arbiter.next_expiry()
            timeout = None if nxt is None else max(0.0, nxt - self.monotonic())
            try:                        # not wait_for: it can lose a cancel (gh-86296)
                async with asyncio.timeout(timeout):
                    await self._changed.wait()
            except TimeoutError:
                pass
            self._changed.clear()
            await self.settle()

    async def settle(self) -> None:
        """Drop expired commands and write each device's fields back to what is live underneath."""
        async with self._lock:
            self.arbiter.expire(self.monotonic())
            todo = {d: self._wanted(d) for d in list(self.found)}
            for device_id, wanted in todo.items():
                live = [e for e in self.arbiter.entries("command") if device_id in e.lights]
                error = await self._write(device_id, wanted)
                if error:
                    log.warning("city command on %s ended but writing %s failed: %s",
                                device_id, wanted, error)
                    continue
                for field in [f for f in wanted if not any(e.sets(f) for e in live)]:
                    del self.found[device_id][field]               # back as found: released
                    self.current.get(device_id, {}).pop(field, None)
                if not self.found[device_id]:
                    del self.found[device_id]

    def close(self) -> None:
        """Nothing to cancel: the expiry loop is supervised."""
