"""Calendars: which schedule runs on a local date, by weekday with dated exceptions (holidays, events)."""

from edge_rules.civil import WEEKDAYS, days_from_civil, parse_date, weekday_of_days
from edge_rules.errors import RuleConfigError
from edge_rules.schedule import check_keys, require

CALENDAR_KEYS = ("default", "weekdays", "exceptions")
EXCEPTION_KEYS = ("name", "date", "from", "to", "schedule")


def _day(text, path: str) -> int:
    try:
        return days_from_civil(*parse_date(text))
    except ValueError as exc:
        raise RuleConfigError(path, str(exc))


def _schedule_name(value, schedules: dict, path: str) -> str:
    if str(value) not in schedules:
        raise RuleConfigError(path, "unknown schedule %r: defined are %s"
                              % (value, ", ".join(sorted(schedules)) or "none"))
    return str(value)


class Calendar:
    """Picks a schedule per local date: the first matching exception, else the weekday's, else the default."""

    def __init__(self, name: str, raw, schedules: dict, path: str):
        check_keys(raw, CALENDAR_KEYS, path)
        self.name = name
        self.default = _schedule_name(require(raw, "default", path), schedules, path + ".default")
        self.weekdays = {}
        weekdays = raw.get("weekdays") or {}
        check_keys(weekdays, WEEKDAYS, path + ".weekdays")
        for wd, sched in weekdays.items():
            self.weekdays[WEEKDAYS.index(wd)] = _schedule_name(sched, schedules, path + ".weekdays." + wd)
        self.exceptions = []
        for i, exc in enumerate(raw.get("exceptions") or []):
            self.exceptions.append(self._exception(exc, schedules, "%s.exceptions[%d]" % (path, i)))

    @staticmethod
    def _exception(raw, schedules: dict, path: str) -> tuple:
        check_keys(raw, EXCEPTION_KEYS, path)
        sched = _schedule_name(require(raw, "schedule", path), schedules, path + ".schedule")
        label = str(raw.get("name", ""))
        if "date" in raw:
            if "from" in raw or "to" in raw:
                raise RuleConfigError(path, "give either date or from/to, not both")
            first = last = _day(raw["date"], path + ".date")
        else:
            first = _day(require(raw, "from", path), path + ".from")
            last = _day(require(raw, "to", path), path + ".to")
            if last < first:
                raise RuleConfigError(path + ".to", "ends before it starts")
        return (first, last, sched, label)

    def pick(self, day: int) -> tuple:
        """(schedule name, why) for the night starting on a local day."""
        for first, last, sched, label in self.exceptions:
            if first <= day <= last:
                return sched, "calendar %s: exception %s" % (self.name, label or "dated")
        wd = weekday_of_days(day)
        if wd in self.weekdays:
            return self.weekdays[wd], "calendar %s: %s" % (self.name, WEEKDAYS[wd])
        return self.default, "calendar %s: default" % self.name


def parse_calendars(raw, schedules: dict, path: str = "calendars") -> dict:
    """Calendars by name from the `calendars` mapping."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise RuleConfigError(path, "expected a mapping of calendar name to calendar")
    return dict((str(n), Calendar(str(n), body, schedules, path + "." + str(n))) for n, body in raw.items())
