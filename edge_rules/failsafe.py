"""Failsafe: the default light state, and what lights do when the clock cannot be trusted.

Never off in the dark because of a software fault: without a trusted clock the lights stay on at the
failsafe level unless a lux sensor clearly says it is day.
"""

from edge_rules.errors import RuleConfigError
from edge_rules.schedule import check_keys, number
from edge_rules.timespec import parse_duration

FAILSAFE_KEYS = ("level", "lux_point", "dark_below", "light_above", "jump_tolerance", "settle")


class Failsafe:
    """The failsafe layer: a default level, and a lux-judged night when the clock is not trusted."""

    def __init__(self, raw, path: str = "failsafe"):
        raw = raw or {}
        check_keys(raw, FAILSAFE_KEYS, path)
        self.level = int(number(raw.get("level", 100), path + ".level", 1, 100))
        self.lux_point = str(raw["lux_point"]) if raw.get("lux_point") else None
        self.dark_below = number(raw.get("dark_below", 50), path + ".dark_below", 0)
        self.light_above = number(raw.get("light_above", 200), path + ".light_above", 0)
        if self.light_above < self.dark_below:
            raise RuleConfigError(path + ".light_above", "must be >= dark_below (%r)" % (self.dark_below,))
        self.jump_tolerance_s = parse_duration(raw.get("jump_tolerance", "60s"), path + ".jump_tolerance")
        self.settle_s = parse_duration(raw.get("settle", "10min"), path + ".settle")
        self.daylight = False

    def default(self) -> tuple:
        """(switch, dim, reason) when nothing else decides."""
        return True, self.level, "failsafe default: on at %d%%" % self.level

    def untrusted(self, points: dict, why: str) -> tuple:
        """(switch, dim, reason) while the clock is not trusted: on unless the lux sensor says day."""
        lux = points.get(self.lux_point) if self.lux_point else None
        if lux is None:
            self.daylight = False
            return True, self.level, "failsafe (%s), no lux reading: on at %d%%" % (why, self.level)
        if lux > self.light_above:
            self.daylight = True
        elif lux < self.dark_below:
            self.daylight = False
        if self.daylight:
            return False, None, "failsafe (%s): %s=%r says day" % (why, self.lux_point, lux)
        return True, self.level, "failsafe (%s): %s=%r says night, on at %d%%" % (why, self.lux_point, lux, self.level)


class ClockGuard:
    """Judges whether wall time can be trusted: synced since boot, and no jump against monotonic time."""

    def __init__(self, jump_tolerance_s: int = 60, settle_s: int = 600):
        self.jump_tolerance_s = jump_tolerance_s
        self.settle_s = settle_s
        self.offset = None
        self.was_synced = False
        self.jump_at = None

    def observe(self, now_s: float, monotonic_s: float, synced: bool) -> tuple:
        """(trusted, reason) for this step; a jump distrusts the clock for settle_s of monotonic time."""
        offset = now_s - monotonic_s
        newly_synced = synced and not self.was_synced
        if self.offset is not None and not newly_synced and abs(offset - self.offset) > self.jump_tolerance_s:
            self.jump_at = monotonic_s
        self.offset = offset
        self.was_synced = synced
        if newly_synced:
            self.jump_at = None  # a fresh sync is the one jump we expect
        if not synced:
            return False, "clock not synchronised"
        if self.jump_at is not None:
            if monotonic_s - self.jump_at < self.settle_s:
                return False, "clock jumped against monotonic time"
            self.jump_at = None
        return True, "clock trusted"
