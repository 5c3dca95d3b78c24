"""LightingController: the pure facade the agent steps every few seconds to get each light's output."""

from edge_rules.arbitration import Arbiter
from edge_rules.calendar import parse_calendars
from edge_rules.dimming import parse_dimming
from edge_rules.errors import RuleConfigError
from edge_rules.failsafe import ClockGuard, Failsafe
from edge_rules.plan import GroupPlan
from edge_rules.rules import RuleSet
from edge_rules.schedule import check_keys, parse_schedules, require
from edge_rules.timespec import Sky

TOP_KEYS = ("groups", "schedules", "calendars", "dimming", "rules", "failsafe")
GROUP_KEYS = ("devices", "schedule", "calendar", "dimming")


def parse_group(name: str, raw, parts: dict, seen: dict, path: str) -> tuple:
    """(devices, GroupPlan or None) of one group."""
    check_keys(raw, GROUP_KEYS, path)
    devices = require(raw, "devices", path)
    if not isinstance(devices, list) or not devices:
        raise RuleConfigError(path + ".devices", "expected a non-empty list of device ids")
    for i, device in enumerate(devices):
        if str(device) in seen:
            raise RuleConfigError("%s.devices[%d]" % (path, i), "%r is already in group %r: a light belongs to one group"
                                  % (device, seen[str(device)]))
        seen[str(device)] = name
    if "schedule" in raw and "calendar" in raw:
        raise RuleConfigError(path, "give a schedule or a calendar, not both")
    refs = {}
    for key, table in (("schedule", "schedules"), ("calendar", "calendars"), ("dimming", "dimming")):
        if key in raw:
            if raw[key] not in parts[table]:
                raise RuleConfigError(path + "." + key, "unknown %s %r: defined are %s"
                                      % (key, raw[key], ", ".join(sorted(parts[table])) or "none"))
            refs[key] = parts[table][raw[key]]
    if "schedule" not in refs and "calendar" not in refs:
        if "dimming" in refs:
            raise RuleConfigError(path + ".dimming", "a dimming profile needs a schedule or calendar")
        return [str(d) for d in devices], None
    plan = GroupPlan(name, parts["schedules"], calendar=refs.get("calendar"),
                     schedule=refs.get("schedule"), dimming=refs.get("dimming"),
                     profiles=parts["dimming"])
    return [str(d) for d in devices], plan


class LightingController:
    """Parses the lighting config once; step() turns time, points and clock trust into light outputs."""

    def __init__(self, config: dict, tz, lat: float, lon: float):
        check_keys(config, TOP_KEYS, "config")
        parts = {"schedules": parse_schedules(config.get("schedules"))}
        parts["dimming"] = parse_dimming(config.get("dimming"))
        parts["calendars"] = parse_calendars(config.get("calendars"), parts["schedules"],
                                             dimming=parts["dimming"])
        raw_groups = require(config, "groups", "config")
        check_keys(raw_groups, list(raw_groups) if isinstance(raw_groups, dict) else (), "groups")
        self.groups = {}
        self.plans = {}
        seen = {}
        for name, body in raw_groups.items():
            devices, plan = parse_group(str(name), body, parts, seen, "groups." + str(name))
            self.groups[str(name)] = devices
            if plan is not None:
                self.plans[str(name)] = plan
        self.rules = RuleSet(config.get("rules"), self.groups)
        self.failsafe = Failsafe(config.get("failsafe"))
        self.clock = ClockGuard(self.failsafe.jump_tolerance_s, self.failsafe.settle_s)
        self.sky = Sky(tz, lat, lon)
        self.devices = list(seen)
        self.arbiter = Arbiter(self.devices)
        self.faults = {}
        self.clock_state = (None, "not stepped yet")   # (trusted, why) of the last step

    def _targets(self, device, group) -> tuple:
        """((kind, name), [lights]) of exactly one of device or group."""
        if (device is None) == (group is None):
            raise ValueError("give exactly one of device or group")
        if group is not None:
            if group not in self.groups:
                raise ValueError("unknown group %r: groups are %s" % (group, ", ".join(sorted(self.groups))))
            return ("group", group), self.groups[group]
        if device not in self.devices:
            raise ValueError("unknown device %r: lights are listed under lighting groups" % (device,))
        return ("device", device), [device]

    def apply_override(self, expires_s: int, device=None, group=None, switch=None, dim=None, reason="",
                       user=None):
        """Local maintenance override of a device or group until expires_s (UTC epoch); beats everything."""
        target, lights = self._targets(device, group)
        return self.arbiter.hold("maintenance", target, lights, switch, dim, expires_s,
                                 reason or "maintenance override", user)

    def apply_command(self, expires_s: int, device=None, group=None, switch=None, dim=None, reason="",
                      lights=None):
        """City command for a device, a group or a list of lights until expires_s; beats rules and schedules."""
        if lights is not None:
            target = ("lights", ",".join(lights))
        else:
            target, lights = self._targets(device, group)
        return self.arbiter.hold("command", target, lights, switch, dim, expires_s, reason or "city command")

    def clear(self, source: str, device=None, group=None) -> list:
        """End a 'maintenance' override or 'command' early on exactly that device or group; the entries ended."""
        target = self._targets(device, group)[0]
        return self.arbiter.release(source, target)

    def adopt(self, entry) -> None:
        """Take over an entry from another controller (a new plan), on the lights this one still has."""
        lights = [light for light in entry.lights if light in self.devices]
        if lights:
            self.arbiter.hold(entry.source, entry.target, lights, entry.switch, entry.dim,
                              entry.expires_s, entry.reason, entry.user)

    def _plan_layers(self, now_s: int, points: dict, trusted: bool, why: str) -> tuple:
        """({device: {'schedule'|'failsafe': decision}}, [alarm]) from timetables and the failsafe."""
        layers = {}
        alarms = []
        fallback = self.failsafe.default() if trusted else self.failsafe.untrusted(points, why)
        for name, devices in self.groups.items():
            decision = None
            plan = self.plans.get(name)
            if trusted and plan is not None:
                try:
                    decision = plan.decide(self.sky, now_s, points)
                    self._fault("group " + name, None, now_s, alarms)
                except Exception as exc:  # a timetable bug must fall back to failsafe, never leave lights dark
                    self._fault("group " + name, exc, now_s, alarms)
            for device in devices:
                layers[device] = {"schedule": decision, "failsafe": fallback}
        return layers, alarms

    def step(self, now_s: int, points: dict, clock_trusted: bool, monotonic_s: float) -> tuple:
        """(outputs {device: {switch, dim, source}}, change records, alarm events) at now_s."""
        trusted, why = self.clock.observe(now_s, monotonic_s, clock_trusted)
        self.clock_state = (trusted, why)
        layers, alarms = self._plan_layers(now_s, points, trusted, why)
        try:
            decisions, rule_alarms = self.rules.step(now_s, monotonic_s, points)
            alarms.extend(rule_alarms)
            self._fault("rules", None, now_s, alarms)
        except Exception as exc:  # same reasoning: a rule bug degrades to schedule/failsafe
            decisions = {}
            self._fault("rules", exc, now_s, alarms)
        for device, decision in decisions.items():
            layers[device]["rule"] = decision
        outputs, records = self.arbiter.step(now_s, layers)
        return outputs, records, alarms

    def _fault(self, where: str, exc, now_s: int, alarms: list) -> None:
        """Raise a fault alarm once when `where` starts failing, clear it once when it recovers."""
        if exc is None:
            if self.faults.pop(where, None) is not None:
                alarms.append({"rule": "edge_rules.fault", "severity": "critical", "state": "cleared",
                               "ts": now_s, "message": "%s works again" % where})
            return
        if where not in self.faults:
            self.faults[where] = now_s
            alarms.append({"rule": "edge_rules.fault", "severity": "critical", "state": "raised", "ts": now_s,
                           "message": "%s failed, lights follow failsafe: %s: %s" % (where, type(exc).__name__, exc)})
