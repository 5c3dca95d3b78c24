"""Which points each configured device reports, and rule references resolved against them.

A rule on `L-009.driver_temp` or `L-001.driver_tmp` never fires: the overheat protection is dead
and nobody is told. So every DEVICE.point a lighting section reads is resolved here against
`devices:` (their profiles' points) and `serial_sensors:` (their kind's values), on raw data too,
so the check runs even when other sections are broken.
"""

import difflib
import re

from drivers.errors import ProfileError
from drivers.modbus.profile import load_profile
from drivers.serial.parsers import PMS5003_POINTS

SENSOR_POINTS = {"sds011": ("pm2_5", "pm10"), "pms5003": PMS5003_POINTS}


def _profile_points(profile) -> set | None:
    try:
        return {p.name for p in load_profile(str(profile)).points}
    except (ProfileError, OSError):
        return None          # its own problem is reported under devices[i].profile


def _sensor_points(kind, pattern) -> set | None:
    if kind == "ascii":
        try:
            return set(re.compile(str(pattern)).groupindex)
        except (re.error, TypeError):
            return None
    points = SENSOR_POINTS.get(kind)
    return set(points) if points else None


def catalogue(devices, sensors) -> dict:
    """{device id: its point names, or None when they cannot be known (a bad profile)}.

    devices and sensors are the config's lists, validated objects or raw dicts alike.
    """
    def field(entry, key):
        return entry.get(key) if isinstance(entry, dict) else getattr(entry, key, None)
    found: dict = {}
    for dev in devices if isinstance(devices, list) else []:
        if isinstance(field(dev, "id"), str):
            found[field(dev, "id")] = _profile_points(field(dev, "profile"))
    for sensor in sensors if isinstance(sensors, list) else []:
        if isinstance(field(sensor, "id"), str):
            found[field(sensor, "id")] = _sensor_points(field(sensor, "kind"), field(sensor, "pattern"))
    return found


def did_you_mean(name: str, choices) -> str:
    """' (did you mean driver_temp?)' for a near miss, else ''."""
    close = difflib.get_close_matches(name, sorted(choices), n=2, cutoff=0.6)
    return f" (did you mean {' or '.join(sorted(close))}?)" if close else ""


def _split(key: str, known: dict) -> tuple:
    """('L-001', 'driver_temp') of 'L-001.driver_temp'; the longest known device id wins (ids
    may hold '.'); (None, point) when no device id matches."""
    owners = [d for d in known if key.startswith(d + ".")]
    if owners:
        device = max(owners, key=len)
        return device, key[len(device) + 1:]
    return None, key.partition(".")[2]


def resolve(key: str, known: dict) -> str | None:
    """Why `key` names no reported point, or None when it does (or cannot be told)."""
    device, point = _split(key, known)
    if device is None:
        written = key.partition(".")[0]
        return f"{key}: no device {written!r} under devices:{did_you_mean(written, known)}"
    points = known[device]
    if points is None or point in points:
        return None
    hint = did_you_mean(point, points) or f" (its points: {', '.join(sorted(points))})"
    return f"{key}: device {device} reports no point {point!r}{hint}"


def point_problems(refs: list, known: dict, prefix: tuple) -> list[tuple[tuple, str]]:
    """(key path, message) for every reference of edge_rules.check.point_refs that reads nothing."""
    from agent.config.text import split_path
    problems = []
    for path, written, keys in refs:
        loc = prefix + split_path(path)
        if keys is None:
            why = resolve(written, known)
            if why:
                problems.append((loc, f"{why}; it would never see a value"))
        elif keys and all(resolve(k, known) for k in keys):
            point = written.partition(".")[2]
            names = set().union(*(known.get(_split(k, known)[0]) or set() for k in keys))
            problems.append((loc, f"{written}: no device of the group reports {point!r}"
                                  f"{did_you_mean(point, names)}; it would never see a value"))
    return problems
