"""Crew actions from the console: on / off / dim held for a while, or release — on the record.

A hold is a maintenance override in the lighting arbitration (the same operations the
control socket uses): the highest priority, and it always ends. A relay-protection limit
refuses switching one light more often than once per `relay_min_interval`. Every action is
appended to the audit log and sent to the city as a `crew_action` event (through the
outbox, so it survives an uplink outage).
"""

import logging
import time

from agent.errors import LenteraError
from agent.store.audit import AuditError
from agent.store.outbox import EVENT
from edge_rules.errors import ArbitrationFull

log = logging.getLogger(__name__)

OPS = ("on", "off", "dim", "release")
NO_ROOM = "not held: too many overrides are live already; release some and try again"
MAX_TARGETS = 1000


class ActionError(LenteraError, ValueError):
    """A request the crew must correct (HTTP 400); the message says how."""


class CrewActions:
    """Validates, applies and records crew actions against the lighting service."""

    def __init__(self, lighting, groups, audit, emit_event, cfg, monotonic=time.monotonic,
                 wall=time.time):
        self.lighting = lighting
        self.groups = groups                 # () -> {group: [light]}
        self.audit = audit
        self.emit_event = emit_event
        self.cfg = cfg                       # ConsoleConfig
        self.monotonic = monotonic           # relays wear in real time, not warped time
        self.wall = wall                     # the audit's time: the machine's clock
        self.last_toggle: dict[str, float] = {}

    def targets(self, form: dict) -> tuple[str, list[str]]:
        """('device L-001' | 'group road' | 'selection', [lights]) named by the request."""
        if self.lighting is None:
            raise ActionError("this gateway has no lighting section: nothing to switch")
        known = self.lighting.controller.devices
        if form.get("group"):
            group = str(form["group"])
            if group not in self.groups():
                raise ActionError(f"unknown group {group!r}")
            return f"group {group}", [d for d in self.groups()[group] if d in known]
        names = [d for d in str(form.get("devices") or form.get("device") or "").split(",") if d]
        if not names:
            raise ActionError("name a light, a group or a selection on the map")
        if len(names) > MAX_TARGETS:
            raise ActionError(f"at most {MAX_TARGETS} lights at once")
        unknown = [d for d in names if d not in known]
        if unknown:
            raise ActionError(f"not lights under local control: {', '.join(unknown[:5])}")
        label = f"device {names[0]}" if len(names) == 1 else f"selection of {len(names)}"
        return label, list(dict.fromkeys(names))

    def _wanted(self, form: dict) -> tuple:
        """(op, switch, dim, hold_s) from the request, checked."""
        op = form.get("op")
        if op not in OPS:
            raise ActionError(f"op must be one of {', '.join(OPS)}")
        if op == "release":
            return op, None, None, None
        try:
            hold_s = float(form.get("hold_s") or "nan")
        except ValueError:
            hold_s = float("nan")
        if not 60 <= hold_s <= self.cfg.hold_max:
            raise ActionError(f"a hold time is required: 1 min .. {self.cfg.hold_max / 3600:g} h "
                              "(the override ends by itself then)")
        if op == "dim":
            try:
                dim = int(form.get("dim"))
            except (TypeError, ValueError):
                dim = -1
            if not 0 <= dim <= 100:
                raise ActionError("dim must be a whole percentage 0..100")
            return op, True, dim, hold_s
        return op, op == "on", None, hold_s

    def _relay_refusals(self, lights: list[str], switch) -> dict[str, str]:
        if switch is None:
            return {}
        now = self.monotonic()
        refused = {}
        for light in lights:
            current = self.lighting.outputs.get(light, {}).get("switch")
            since = now - self.last_toggle.get(light, -1e12)
            if current is not None and bool(current) != switch \
                    and since < self.cfg.relay_min_interval:
                wait = self.cfg.relay_min_interval - since
                refused[light] = (f"relay protection: switched {since:.0f} s ago; one change per "
                                  f"{self.cfg.relay_min_interval:g} s, try again in {wait:.0f} s")
        return refused

    async def act(self, who: str, addr: str, form: dict) -> dict:
        """Apply one action; the answer lists what was applied, refused and failed."""
        label, lights = self.targets(form)
        op, switch, dim, hold_s = self._wanted(form)
        refused = self._relay_refusals(lights, switch)
        todo = [d for d in lights if d not in refused]
        arbiter = self.lighting.controller.arbiter
        saved = arbiter.saved("maintenance")
        before = {d: self.lighting.outputs.get(d, {}).get("switch") for d in todo}
        expires = None
        if op == "release":
            self._release(todo, refused)
        elif todo:
            expires = int(self.lighting.clock.wall() + hold_s)
            if not self._hold(todo, expires, switch, dim, who):
                refused.update({d: NO_ROOM for d in todo})
        todo = [d for d in todo if d not in refused]
        result = {"ok": not refused, "op": op, "target": label, "applied": todo,
                  "refused": refused, "errors": {}, "expires_s": expires}
        fields = _fields(who, addr, op, dim, hold_s, lights, result)
        try:        # on the record before any light changes: no record, no action
            head = (await self.audit.write(self.wall(), **fields))["hash"]
        except AuditError:
            arbiter.restore("maintenance", saved)
            raise
        written = await self.lighting.step() if todo or op == "release" else {}
        now = self.monotonic()
        for light in todo:
            if self.lighting.outputs.get(light, {}).get("switch") != before[light]:
                self.last_toggle[light] = now
        errors = {d: e for d, e in written.items() if e and d in todo}
        if errors:
            result.update(ok=False, errors=errors, applied=[d for d in todo if d not in errors])
            fields = _fields(who, addr, op, dim, hold_s, lights, result)
            head = await self._note_write_failure(fields) or head
        log.info("crew action: %s", fields)
        device = lights[0] if len(lights) == 1 else "gateway"
        # audit_head: the city's copy of the log's newest hash, the anchor root cannot retract
        self.emit_event(device, "crew_action", EVENT, **fields, audit_head=head)
        return result

    def _release(self, lights, refused) -> None:
        """End the crew's overrides on these lights; a light another override still holds
        (a group override from the control socket) is reported, not called released."""
        controller = self.lighting.controller
        for light in lights:
            controller.clear("maintenance", device=light)
        for light in lights:
            holders = [e for e in controller.arbiter.entries("maintenance") if light in e.lights]
            if holders:
                e = holders[0]
                by = f" (set by {e.user})" if e.user else ""
                refused[light] = (f"still held by the override on {e.target[0]} {e.target[1]}"
                                  f"{by}: end that one (`lentera override --{e.target[0]} "
                                  f"{e.target[1]} --clear`) or wait for it to expire")

    async def _note_write_failure(self, fields) -> str | None:
        """The switching failed after the record was written: say so on the record too
        (the new line's hash, None if it could not be written)."""
        try:
            return (await self.audit.write(
                self.wall(), **{**fields, "action": f"{fields['action']} result"}))["hash"]
        except AuditError as exc:
            log.error("%s", exc)
            return None

    def _hold(self, lights, expires, switch, dim, who) -> bool:
        """Hold every light (one entry each, so each can be released alone) or none."""
        controller = self.lighting.controller
        saved = controller.arbiter.saved("maintenance")
        try:
            for light in lights:
                controller.apply_override(expires, device=light, switch=switch, dim=dim,
                                          reason=f"crew {who} on site")
        except ArbitrationFull:
            controller.arbiter.restore("maintenance", saved)     # no half-applied selection
            return False
        return True


def _fields(who, addr, op, dim, hold_s, lights, result) -> dict:
    """The audit line and crew_action event of one action (empty fields left out)."""
    fields = {"who": who, "addr": addr, "action": op, "target": result["target"],
              "lights": lights, "dim": dim, "hold_s": hold_s, "expires_s": result["expires_s"],
              "result": "ok" if result["ok"] else "partly refused" if result["applied"]
              else "refused", "refused": result["refused"], "errors": result["errors"]}
    return {k: v for k, v in fields.items() if v not in (None, {}, [])}
