"""The crew's override API of the lighting service: override, clear, lights.

The control socket (`lentera override`, `lentera lights`) and the local console call these;
both get the same checks, the same events and the same log lines, with the user who asked.
"""

import logging

from agent.errors import LenteraError
from agent.store.outbox import EVENT
from edge_rules.errors import ArbitrationFull

log = logging.getLogger("agent.services.lighting")

MAX_OVERRIDE_S = 7 * 86400


class OverrideError(LenteraError, ValueError):
    """A crew request to correct, or one that found nothing to do; the message says what to do."""


def _target(device, group) -> dict:
    target = {k: v for k, v in (("device", device), ("group", group)) if v}
    if len(target) != 1:
        raise OverrideError("name exactly one of device or group")
    return target


def _check(switch, dim, for_s) -> None:
    if switch is None and dim is None:
        raise OverrideError("give switch, dim or both")
    if switch is not None and not isinstance(switch, bool):
        raise OverrideError("switch must be true or false")
    if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or not 0 <= dim <= 100):
        raise OverrideError("dim must be a whole percentage 0..100")
    if isinstance(for_s, bool) or not isinstance(for_s, (int, float)) or not 0 < for_s <= MAX_OVERRIDE_S:
        raise OverrideError("for_s must be 1 s .. 7 days: an override always ends")


def _named(target: dict) -> str:
    kind, name = next(iter(target.items()))
    return f"{kind} {name}"


class OverrideApi:
    """Mixin of LightingService: what a crew on site may do (needs controller, clock, step, emit_event)."""

    async def override(self, device=None, group=None, switch=None, dim=None, for_s=7200,
                       reason=None, user=None) -> dict:
        """Maintenance override of a device or group for for_s seconds; beats every other source.

        {"expires_s", "written": {device: None or error}}; OverrideError for a bad request.
        """
        target = _target(device, group)
        _check(switch, dim, for_s)
        reason = str(reason or "maintenance on site")
        expires = int(self.clock.wall() + for_s)
        try:
            self.controller.apply_override(expires, switch=switch, dim=dim, reason=reason,
                                           user=user, **target)
        except ArbitrationFull as exc:
            raise OverrideError(f"{exc}: clear some overrides first") from None
        written = await self.step()
        self._override_event(target, "set", user, switch=switch, dim=dim, reason=reason,
                             expires_s=expires, for_s=for_s)
        return {"expires_s": expires, "written": written}

    async def clear(self, device=None, group=None, user=None) -> dict:
        """End the override(s) set on exactly that device or group; OverrideError if there is none."""
        target = _target(device, group)
        ended = self.controller.clear("maintenance", **target)
        if not ended:
            raise OverrideError(f"no maintenance override on {_named(target)}: "
                                f"nothing cleared{self._held_hint(target)}")
        await self.step()
        self._override_event(target, "cleared", user, ended=len(ended))
        return {"cleared": target, "ended": len(ended)}

    def _held_hint(self, target: dict) -> str:
        """Which overrides do hold the light, so the crew knows what to clear instead."""
        if "device" not in target:
            return ""
        holders = [e for e in self.controller.arbiter.entries("maintenance")
                   if target["device"] in e.lights]
        if not holders:
            return ""
        names = sorted({f"--{e.target[0]} {e.target[1]}" for e in holders})
        return f" (it is held by {', '.join(names)}: clear that)"

    def lights(self) -> dict:
        """Every light's output and source, write failures, live overrides and the clock's trust."""
        return {"lights": self.outputs, "write_errors": self.write_errors,
                "overrides": [e.as_dict() for e in self.controller.arbiter.entries("maintenance")],
                "clock": self.trust.as_dict(),
                "timezone": getattr(self.controller.sky.tz, "name", None)}

    def _override_event(self, target: dict, state: str, user, **fields) -> None:
        device = target.get("device") or "gateway"
        body = {"state": state, **{k: v for k, v in fields.items() if v is not None}}
        if "group" in target:
            body["group"] = target["group"]
        body["user"] = user or "unknown"
        log.info("maintenance override %s on %s by %s: %s", state, _named(target), body["user"],
                 ", ".join(f"{k}={v}" for k, v in fields.items() if v is not None))
        self.emit_event(device, "maintenance_override", EVENT, **body)
