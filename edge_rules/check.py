"""Every problem of a lighting section at once, and every point its rules and sensors read.

LightingController stops at the first problem, which is right for a gateway starting up. A person
fixing a config wants all of them in one run, so this walks the section item by item with the
same parsers, keeping each problem and going on. An item that is broken still counts as defined,
so a bad schedule does not also make every calendar that names it "unknown".
"""

from edge_rules.calendar import Calendar
from edge_rules.controller import TOP_KEYS, parse_group
from edge_rules.dimming import DimmingProfile
from edge_rules.errors import RuleConfigError, collect
from edge_rules.failsafe import Failsafe
from edge_rules.rules import check_rule
from edge_rules.schedule import SCHEDULE_KEYS, Photocell
from edge_rules.timespec import parse_timespec


def _unknown_keys(raw: dict, allowed, path: str, errors: list) -> None:
    for key in raw:
        if key not in allowed:
            errors.append(RuleConfigError(path + "." + str(key), "unknown key: allowed are %s" % ", ".join(allowed)))


def _mapping(raw, path: str, errors: list) -> dict:
    """raw, {} when absent, or {} and a problem when it is not a mapping."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        errors.append(RuleConfigError(path, "expected a mapping of name to entry, got %r" % (raw,)))
        return {}
    return raw


def _schedule(raw, path: str, errors: list) -> None:
    if not isinstance(raw, dict):
        errors.append(RuleConfigError(path, "expected a mapping, got %r" % (raw,)))
        return
    _unknown_keys(raw, SCHEDULE_KEYS, path, errors)
    for key in ("on", "off"):
        if key in raw:
            collect(errors, parse_timespec, raw[key], path + "." + key)
        else:
            errors.append(RuleConfigError(path + "." + key, "missing"))
    if raw.get("photocell"):
        collect(errors, Photocell, raw["photocell"], path + ".photocell")


def _groups(config: dict, parts: dict, errors: list) -> dict:
    """{group: [device]} of every group, broken ones with the devices they list."""
    if "groups" not in config:
        errors.append(RuleConfigError("groups", "missing"))
    groups = {}
    seen = {}
    for name, body in _mapping(config.get("groups"), "groups", errors).items():
        found = collect(errors, parse_group, str(name), body, parts, seen, "groups." + str(name))
        if found is not None:
            groups[str(name)] = found[0]
        elif isinstance(body, dict) and isinstance(body.get("devices"), list):
            groups[str(name)] = [str(d) for d in body["devices"]]
        else:
            groups[str(name)] = []
    return groups


def lighting_errors(config) -> tuple:
    """([RuleConfigError] in config order, {group: [device]}, [(path, expression tree)])."""
    if not isinstance(config, dict):
        return [RuleConfigError("", "expected a mapping with groups, schedules, ..., got %r" % (config,))], {}, []
    errors = []
    _unknown_keys(config, TOP_KEYS, "config", errors)
    schedules = _mapping(config.get("schedules"), "schedules", errors)
    for name, body in schedules.items():
        _schedule(body, "schedules." + str(name), errors)
    defined = dict((str(n), None) for n in schedules)
    dimming = _mapping(config.get("dimming"), "dimming", errors)
    for name, body in dimming.items():
        collect(errors, DimmingProfile, str(name), body, "dimming." + str(name))
    profiles = dict((str(n), None) for n in dimming)
    calendars = _mapping(config.get("calendars"), "calendars", errors)
    for name, body in calendars.items():
        collect(errors, Calendar, str(name), body, defined, "calendars." + str(name), profiles)
    parts = {"schedules": defined, "calendars": dict((str(n), None) for n in calendars),
             "dimming": profiles}
    groups = _groups(config, parts, errors)
    lights = []
    for members in groups.values():
        lights.extend(members)
    trees = []
    for name, body in _mapping(config.get("rules"), "rules", errors).items():
        trees.extend(check_rule(body, groups, lights, "rules." + str(name), errors))
    collect(errors, Failsafe, config.get("failsafe"))
    return errors, groups, trees


def _tree_refs(path: str, tree: tuple, groups: dict, out: list) -> None:
    if tree[0] == "pt":
        out.append((path, tree[1], None))
    elif tree[0] == "agg":
        out.append((path, tree[2] + "." + tree[3], [d + "." + tree[3] for d in groups.get(tree[2], [])]))
    else:
        for sub in tree[1:]:
            if isinstance(sub, tuple):
                _tree_refs(path, sub, groups, out)


def point_refs(config, groups: dict, trees: list) -> list:
    """[(path, written, keys)]: every point the section reads. keys is None for a DEVICE.point
    written as is; for GROUP.point in min/max/avg/count, the keys of which at least one must exist."""
    out = []
    for path, tree in trees:
        _tree_refs(path, tree, groups, out)
    if not isinstance(config, dict):
        return out
    schedules = config.get("schedules")
    for name, body in (schedules.items() if isinstance(schedules, dict) else ()):
        cell = body.get("photocell") if isinstance(body, dict) else None
        if isinstance(cell, dict) and isinstance(cell.get("point"), str):
            out.append(("schedules.%s.photocell.point" % name, cell["point"], None))
    failsafe = config.get("failsafe")
    if isinstance(failsafe, dict) and isinstance(failsafe.get("lux_point"), str):
        out.append(("failsafe.lux_point", failsafe["lux_point"], None))
    return out

