"""Calendars: which schedule (and dimming profile) runs on a local date, by dated exceptions,
ordered rules (edge_rules/calendar_rules.py) and weekdays, else the default."""

from edge_rules.calendar_rules import parse_rules, rule_in_force
from edge_rules.civil import WEEKDAYS, days_from_civil, parse_date, weekday_of_days
from edge_rules.errors import RuleConfigError
from edge_rules.schedule import check_keys, require

CALENDAR_KEYS = ("default", "default_dimming", "weekdays", "exceptions", "rules")
EXCEPTION_KEYS = ("name", "date", "from", "to", "schedule", "dimming")


def _day(text, path: str) -> int:
    try:
        return days_from_civil(*parse_date(text))
    except ValueError as exc:
        raise RuleConfigError(path, str(exc))


def _named(kind: str, table: dict):
    """A checker: value -> the entry of table it names, or a RuleConfigError listing the names."""
    def pick(value, path: str):
        if str(value) not in table:
            raise RuleConfigError(path, "unknown %s %r: defined are %s"
                                  % (kind, value, ", ".join(sorted(table)) or "none"))
        return str(value)
    return pick


class Calendar:
    """Picks a schedule per local date: the first matching exception, else the first rule in
    force, else the weekday's, else the default. An exception, a rule and the default may name
    a dimming profile with the schedule (the group's own dimming runs when they do not)."""

    def __init__(self, name: str, raw, schedules: dict, path: str, dimming=None):
        check_keys(raw, CALENDAR_KEYS, path)
        schedule_of = _named("schedule", schedules)
        dimming_of = _named("dimming profile", dimming or {})
        self.name = name
        self.default = schedule_of(require(raw, "default", path), path + ".default")
        self.default_dimming = dimming_of(raw["default_dimming"], path + ".default_dimming") \
            if "default_dimming" in raw else None
        self.weekdays = {}
        weekdays = raw.get("weekdays") or {}
        check_keys(weekdays, WEEKDAYS, path + ".weekdays")
        for wd, sched in weekdays.items():
            self.weekdays[WEEKDAYS.index(wd)] = schedule_of(sched, path + ".weekdays." + wd)
        self.exceptions = []
        for i, exc in enumerate(raw.get("exceptions") or []):
            self.exceptions.append(self._exception(exc, schedule_of, dimming_of,
                                                   "%s.exceptions[%d]" % (path, i)))
        self.rules = parse_rules(raw.get("rules") or [], schedule_of, dimming_of, path + ".rules")

    @staticmethod
    def _exception(raw, schedule_of, dimming_of, path: str) -> tuple:
        check_keys(raw, EXCEPTION_KEYS, path)
        sched = schedule_of(require(raw, "schedule", path), path + ".schedule")
        dim = dimming_of(raw["dimming"], path + ".dimming") if "dimming" in raw else None
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
        return (first, last, sched, dim, label)

    def entry(self, day: int) -> tuple:
        """(schedule name, dimming name or None, why) for the night starting on a local day."""
        for first, last, sched, dim, label in self.exceptions:
            if first <= day <= last:
                return sched, dim, "calendar %s: exception %s" % (self.name, label or "dated")
        found = rule_in_force(self.rules, day)
        if found is not None:
            i, rule = found
            return rule.schedule, rule.dimming, "calendar %s: rule %s" % (
                self.name, rule.name or "%d" % (i + 1))
        wd = weekday_of_days(day)
        if wd in self.weekdays:
            return self.weekdays[wd], None, "calendar %s: %s" % (self.name, WEEKDAYS[wd])
        return self.default, self.default_dimming, "calendar %s: default" % self.name

    def pick(self, day: int) -> tuple:
        """(schedule name, why) for the night starting on a local day."""
        sched, _, why = self.entry(day)
        return sched, why


def parse_calendars(raw, schedules: dict, path: str = "calendars", dimming=None) -> dict:
    """Calendars by name from the `calendars` mapping; `dimming` the profiles they may name."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise RuleConfigError(path, "expected a mapping of calendar name to calendar")
    return dict((str(n), Calendar(str(n), body, schedules, path + "." + str(n), dimming))
                for n, body in raw.items())
