"""Lighting service: steps the edge-rules controller and makes the lights match its outputs.

It is also the arbitration-backed city-command port: a command becomes a
"city command" layer in the controller (below a crew's maintenance override,
above rules and schedules), and the controller's outputs are written.
"""

import asyncio
import logging

from agent.services.arbiter import CityArbiter
from agent.services.holds import HoldFile
from agent.services.clock_trust import ClockTrust, load_mark, save_mark
from agent.services.overrides import OverrideApi
from agent.core.bus import PRIORITY_COMMAND
from agent.errors import DeviceError, Refused
from agent.store.outbox import ALARM, EVENT
from edge_rules.errors import ArbitrationFull

log = logging.getLogger(__name__)

STEP_S = 5.0
MIN_REAL_STEP_S = 0.05   # under --time-warp a step every STEP_S warped seconds, at most 20/s real
UNTIL_REVOKED_S = 7 * 86400.0   # a command "without end" still expires: a week
CLOCK_STEP_S = 2.0   # wall minus monotonic moving more than this between steps is a clock step


class LightingService(OverrideApi, CityArbiter):
    """Keeps each street light's switch and dim at what the controller decides."""

    def __init__(self, controller, clock, devices: dict, scheduler_of: dict, emit_event,
                 step_s: float = STEP_S, trust_file: str | None = None,
                 holds_file: str | None = None, on_corrupt=None):
        self.controller = controller
        self.clock = clock
        self.devices = devices                # device id -> ModbusDevice (controllable ones)
        self.scheduler_of = scheduler_of      # device id -> BusScheduler
        self.emit_event = emit_event
        self.step_s = step_s
        self.latest: dict[str, dict] = {}    # device id -> its last good values
        self.actual: dict[str, dict] = {}     # device id -> {"switch", "dim"} as last read
        self.outputs: dict[str, dict] = {}
        self.write_errors: dict[str, str] = {}
        self.on_commanded = None              # (device id, epoch s): a write was made
        self._lock = asyncio.Lock()
        self._wall_offset = None              # wall - monotonic at the last step
        self.trust = ClockTrust(trust_file)
        if trust_file and hasattr(clock, "carry"):
            clock.carry(load_mark(trust_file))   # trust kept across a restart, if still continuous
        # held across a restart; a holds.json that cannot be read reaches the city as
        # state_file_corrupt through on_corrupt(path, aside, exc), like every state file
        self.holds = HoldFile(holds_file, on_corrupt) if holds_file else None
        if self.holds is not None and (n := self.holds.rearm(controller, clock.wall())):
            log.warning("%d override(s)/timed command(s) re-armed from %s", n, holds_file)

    def observe(self, reading: dict) -> None:
        """Feed a reading into what the rules see (hot path: store only; step() flattens)."""
        device = reading["device"]
        if reading["quality"] != "good":
            self.latest.pop(device, None)     # rules must not act on stale values
            return
        values = reading["values"]
        self.latest[device] = values
        if device in self.devices and "switch" in values and "dim" in values:
            self.actual[device] = {"switch": int(values["switch"]), "dim": int(values["dim"])}

    async def run_loop(self) -> None:
        """Step every step_s (commands, overrides and pushed plans step at once themselves).

        Under --time-warp the period is step_s of warped time (at most 20 steps a real
        second), so a warped night switches at the times a real one would.
        """
        rate = getattr(self.clock, "rate", 1.0) if getattr(self.clock, "warped", False) else 1.0
        period = max(MIN_REAL_STEP_S, self.step_s / rate) if rate > 1 else self.step_s
        while True:
            await self.step()
            await asyncio.sleep(period)        # a period, not a poll: nothing else wakes it

    async def step(self) -> dict:
        """One decision and the writes it needs; {device: None or error} of those written."""
        async with self._lock:
            self._follow_clock_steps()
            outputs, records, alarms = self.controller.step(
                int(self.clock.wall()), self._points(), self.clock.trusted(),
                self.clock.monotonic())
            self.outputs = outputs
            if self.holds is not None:
                self.holds.save(self.controller.arbiter, self.clock.wall())
            self._observe_trust()
            for record in records:
                self.emit_event(record["light"], "output_changed", EVENT, **{
                    k: v for k, v in record.items() if k != "light"})
            for alarm in alarms:
                self.emit_event("gateway", "alarm", ALARM, **alarm)
            todo = [d for d in outputs if d in self.devices and self._differs(d, outputs[d])]
            results = await asyncio.gather(*(self._write(d, outputs[d]) for d in todo))
            return dict(zip(todo, results))

    def _follow_clock_steps(self) -> None:
        """Holds and timed commands end on the monotonic clock: when the wall clock steps
        (NTP's first sync after boot, an RTC set by hand), their ends step with it."""
        offset = self.clock.wall() - self.clock.monotonic()
        last, self._wall_offset = self._wall_offset, offset
        if last is None or abs(offset - last) <= CLOCK_STEP_S:
            return
        delta = int(round(offset - last))
        self.controller.arbiter.shift(delta)
        log.warning("the wall clock stepped %+d s: overrides and timed commands keep their "
                    "remaining time (their ends moved with it)", delta)

    def _observe_trust(self) -> None:
        """Log and publish every change of clock trust; keep the continuity mark while synced."""
        trusted, why = self.controller.clock_state
        source = self.clock.trust_source() if hasattr(self.clock, "trust_source") else "injected"
        change = self.trust.observe(trusted, source, why, self.clock.wall())
        if change is not None:
            (log.info if trusted else log.warning)(
                "clock %s (%s): %s", "trusted" if trusted else "NOT trusted, lights follow failsafe",
                source, change["reason"])
            self.emit_event("gateway", "clock_trust", ALARM if not trusted else EVENT, **change)
        if trusted and source == "ntp":
            save_mark(self.trust, self.clock)

    def _points(self) -> dict:
        """{"DEVICE.point": value} of every device's last good reading."""
        return {f"{device}.{point}": value for device, values in self.latest.items()
                for point, value in values.items()}

    def _differs(self, device: str, out: dict) -> bool:
        have = self.actual.get(device)
        if have is None:
            return True
        if not out["switch"]:
            return have["switch"] != 0
        return have["switch"] != 1 or have["dim"] != out["dim"]

    async def _write(self, device_id: str, out: dict):
        device = self.devices[device_id]
        have = self.actual.get(device_id, {})

        async def job():
            if out["switch"] and have.get("dim") != out["dim"]:
                await device.write("dim", out["dim"])
            if have.get("switch") != int(bool(out["switch"])):
                await device.write("switch", int(bool(out["switch"])))
        try:
            await self.scheduler_of[device_id].execute(job, PRIORITY_COMMAND)
        except DeviceError as exc:
            if self.write_errors.get(device_id) != str(exc):   # log once per state change
                log.warning("cannot apply %s to %s: %s", out, device_id, exc)
            self.write_errors[device_id] = str(exc)
            return str(exc)
        self.write_errors.pop(device_id, None)
        if self.on_commanded is not None:
            self.on_commanded(device_id, self.clock.wall())
        self.actual[device_id] = {"switch": int(bool(out["switch"])),
                                  "dim": out["dim"] if out["switch"] else have.get("dim", 0)}
        return None

    async def replace_controller(self, controller) -> None:
        """Swap in a new lighting plan (a pushed schedule) and apply it at once.

        Active city commands belong to the old plan and end with it.
        """
        async with self._lock:
            old, self.controller = self.controller, controller
            # a crew's override is about safety on site (a lamp being replaced): it
            # survives a new plan from the city; city commands end with the old plan
            for entry in reversed(old.arbiter.entries("maintenance")):   # oldest first
                controller.adopt(entry)
        await self.step()

    async def apply_city_command(self, device_ids, switch, dim, duration_s) -> dict:
        """A city command through arbitration; per device None (applied) or why not.

        One entry with an expiry: a later command lies above it until it ends, then this one
        (or whatever is live underneath) shows again.
        """
        expires = int(self.clock.wall() + (duration_s or UNTIL_REVOKED_S))
        results = {}
        for device_id in device_ids:
            if device_id not in self.controller.devices:
                results[device_id] = ("not in any lighting group: its switch and dim are not "
                                      "under local control")
        mine = [d for d in device_ids if d not in results]
        if mine:
            try:
                self.controller.apply_command(expires, lights=mine, switch=switch, dim=dim,
                                              reason="city command")
            except ArbitrationFull as exc:      # one entry for all: nothing was held
                raise Refused(f"busy: {exc} (wait for one to end, or send fewer and "
                              "longer commands)") from None
        written = await self.step()
        for device_id in mine:
            source = self.outputs.get(device_id, {}).get("source")
            if source == "maintenance":
                results[device_id] = "a maintenance override on site holds this light"
            else:
                results[device_id] = written.get(device_id)
        return results

    async def replace_commands(self, origin: str, device_ids: list, switch, dim,
                               expires_s: float | None, reason: str) -> dict:
        """City commands from `origin` (e.g. "talq") that replace that origin's earlier ones on
        these lights; switch and dim both None only withdraws them, so the lights resume their
        plan or failsafe. At the city's priority: a crew's hold still wins. Per device None
        (applied), or why not; Refused and nothing changed when arbitration is full."""
        unknown = [d for d in device_ids if d not in self.controller.devices]
        if unknown:
            raise Refused(f"{', '.join(unknown[:5])}: not in any lighting group, so not under "
                          "local control; add them to a group in gateway.yaml")
        arbiter = self.controller.arbiter
        saved = arbiter.saved("command")
        arbiter.withdraw("command", origin, device_ids)
        if switch is not None or dim is not None:
            expires = int(expires_s if expires_s is not None
                          else self.clock.wall() + UNTIL_REVOKED_S)
            try:
                arbiter.hold("command", (origin, reason), list(device_ids), switch, dim,
                             expires, reason)
            except ArbitrationFull as exc:      # nothing withdrawn, nothing held
                arbiter.restore("command", saved)
                raise Refused(f"busy: {exc} (let some end, or address groups instead of "
                              "single lights)") from None
        written = await self.step()
        return {d: ("a maintenance override on site holds this light"
                    if self.outputs.get(d, {}).get("source") == "maintenance"
                    else written.get(d)) for d in device_ids}

    def close(self) -> None:
        """Nothing to release: commands live in the controller."""

    def status(self) -> dict:
        """Per-source light counts and write failures, for the status message."""
        sources: dict[str, int] = {}
        for out in self.outputs.values():
            sources[out["source"]] = sources.get(out["source"], 0) + 1
        return {"sources": sources, "write_errors": len(self.write_errors),
                "overrides": len(self.controller.arbiter.entries("maintenance")),
                "commands": len(self.controller.arbiter.entries("command")),
                **({"holds_error": self.holds.error} if self.holds and self.holds.error else {})}
