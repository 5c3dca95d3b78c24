"""On/off schedules anchored on the sun or the local clock, with optional photocell blending."""

from edge_rules.errors import RuleConfigError
from edge_rules.timespec import SUN_DOWN, SUN_UP, format_timespec, parse_duration, parse_timespec

SCHEDULE_KEYS = ("on", "off", "photocell")
PHOTOCELL_KEYS = ("point", "on_below", "off_above", "window")
DEFAULT_WINDOW_S = 30 * 60
# a morning 'off' anchor resolved on the evening's own day lies before 'on': it belongs to the next day
NEXT_DAY = 1


def check_keys(raw, allowed, path: str) -> None:
    """Raise RuleConfigError unless raw is a dict whose keys are all allowed."""
    if not isinstance(raw, dict):
        raise RuleConfigError(path, "expected a mapping, got %r" % (raw,))
    for key in raw:
        if key not in allowed:
            raise RuleConfigError(path + "." + str(key), "unknown key: allowed are %s" % ", ".join(allowed))


def require(raw: dict, key: str, path: str):
    """raw[key], or a RuleConfigError naming the missing key."""
    if key not in raw:
        raise RuleConfigError(path + "." + key, "missing")
    return raw[key]


def number(value, path: str, low=None, high=None) -> float:
    """A number within [low, high], or a RuleConfigError naming path."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RuleConfigError(path, "expected a number, got %r" % (value,))
    if (low is not None and value < low) or (high is not None and value > high):
        raise RuleConfigError(path, "%r is out of range %r..%r" % (value, low, high))
    return value


class Photocell:
    """Lets a lux reading move the switch time, but only within +-window of the scheduled time."""

    def __init__(self, raw, path: str):
        check_keys(raw, PHOTOCELL_KEYS, path)
        self.point = str(require(raw, "point", path))
        self.on_below = number(require(raw, "on_below", path), path + ".on_below", 0)
        self.off_above = number(raw.get("off_above", self.on_below), path + ".off_above", 0)
        if self.off_above < self.on_below:
            raise RuleConfigError(path + ".off_above", "must be >= on_below (%r)" % (self.on_below,))
        self.window_s = parse_duration(raw["window"], path + ".window") if "window" in raw else DEFAULT_WINDOW_S


class Schedule:
    """A named on/off pair, e.g. on: sunset+10min, off: sunrise-15min."""

    def __init__(self, name: str, raw, path: str):
        check_keys(raw, SCHEDULE_KEYS, path)
        self.name = name
        self.on = parse_timespec(require(raw, "on", path), path + ".on")
        self.off = parse_timespec(require(raw, "off", path), path + ".off")
        self.photocell = Photocell(raw["photocell"], path + ".photocell") if raw.get("photocell") else None

    def night(self, sky, day: int):
        """(on, off) UTC instants of the lit period starting on a local day, or None if it never gets dark."""
        on = sky.resolve(self.on, day)
        if on == SUN_UP:
            return None
        if on == SUN_DOWN:
            on = sky.day_start(day)
        off = sky.resolve(self.off, day)
        if off in (SUN_UP, SUN_DOWN) or off <= on:
            off = sky.resolve(self.off, day + NEXT_DAY)
            if off == SUN_UP:
                off = sky.day_start(day + 1)
            elif off == SUN_DOWN:
                off = sky.day_start(day + 2)
        return (on, off) if off > on else None

    def describe(self) -> str:
        """'on sunset+10min, off sunrise-15min' for reasons."""
        return "on %s, off %s" % (format_timespec(self.on), format_timespec(self.off))


def parse_schedules(raw, path: str = "schedules") -> dict:
    """Schedules by name from the `schedules` mapping."""
    if raw is None:
        return {}
    check_keys(raw, list(raw) if isinstance(raw, dict) else (), path)
    return dict((str(name), Schedule(str(name), body, path + "." + str(name))) for name, body in raw.items())


class Latch:
    """Photocell decisions already taken for a night, so a cloud passing does not flap the lights."""

    def __init__(self):
        self.key = None
        self.state = None

    def get(self, key):
        """The latched state for key, or None."""
        return self.state if key == self.key else None

    def set(self, key, state: bool) -> None:
        """Latch a state for key."""
        self.key = key
        self.state = state


def photocell_state(cell, night: tuple, now_s: int, lux, latch: Latch):
    """(on?, reason) inside one of the night's windows, or None outside both windows."""
    on, off = night
    w = cell.window_s
    if on - w <= now_s < on + w:
        if lux is None:
            return None
        if latch.get((on, "on")) or lux < cell.on_below:
            latch.set((on, "on"), True)
            return True, "photocell %s=%r below %r near switch-on" % (cell.point, lux, cell.on_below)
        return False, "photocell %s=%r still bright, waiting until %ds after switch-on" % (cell.point, lux, w)
    if off - w <= now_s < off + w:
        if lux is None:
            return None
        if latch.get((off, "off")) is False or lux > cell.off_above:
            latch.set((off, "off"), False)
            return False, "photocell %s=%r above %r near switch-off" % (cell.point, lux, cell.off_above)
        return True, "photocell %s=%r still dark, waiting until %ds after switch-off" % (cell.point, lux, w)
    return None
