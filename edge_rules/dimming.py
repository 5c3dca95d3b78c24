"""Dimming profiles: the level a group burns at through the night, in steps on local or sun time."""

from edge_rules.errors import RuleConfigError
from edge_rules.schedule import check_keys, number, require
from edge_rules.timespec import format_timespec, parse_timespec

STEP_KEYS = ("from", "level")
# a step more than this before switch-on belongs to the next morning (e.g. '04:30' after an evening 'on')
EARLY_SLACK_S = 3600


class DimmingProfile:
    """Levels through the night, e.g. 100 from dusk, 60 from 22:00, 100 from 04:30."""

    def __init__(self, name: str, raw, path: str):
        if not isinstance(raw, list) or not raw:
            raise RuleConfigError(path, "expected a non-empty list of {from, level} steps")
        self.name = name
        self.steps = []
        for i, step in enumerate(raw):
            spath = "%s[%d]" % (path, i)
            check_keys(step, STEP_KEYS, spath)
            spec = parse_timespec(require(step, "from", spath), spath + ".from")
            level = int(number(require(step, "level", spath), spath + ".level", 0, 100))
            self.steps.append((spec, level))

    def level(self, sky, night: tuple, day: int, now_s: int) -> tuple:
        """(level %, reason) at now_s within the night (on, off) that started on local day."""
        on = night[0]
        level, since = self.steps[0][1], None
        for spec, step_level in self.steps:
            start = sky.resolve(spec, day)
            if not isinstance(start, int) or start < on - EARLY_SLACK_S:
                start = sky.resolve(spec, day + 1)
            if not isinstance(start, int):
                continue  # a sun anchor that does not happen tonight: skip the step
            if start <= now_s and (since is None or start >= since[0]):
                level, since = step_level, (start, spec)
        if since is None:
            return level, "dimming %s: %d%% before its first step" % (self.name, level)
        return level, "dimming %s: %d%% from %s" % (self.name, level, format_timespec(since[1]))


def parse_dimming(raw, path: str = "dimming") -> dict:
    """Dimming profiles by name from the `dimming` mapping."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise RuleConfigError(path, "expected a mapping of profile name to steps")
    return dict((str(n), DimmingProfile(str(n), body, path + "." + str(n))) for n, body in raw.items())
