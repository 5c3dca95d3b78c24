"""Calendar rules: dated, weekday and day-of-month conditions, the first that holds wins.

A rule is in force on a local date (the date a night starts, so a rule of Saturday still runs
at 01:00 on Sunday morning) when the date is within its `from`..`to` (both days included,
either may be absent: since always, for ever), its weekday is one of `weekdays` (when given),
and it is one of its `dates` (when given). `dates` are yearly ("--12-24", every 24 December)
or monthly ("---01", the first of every month) days, or ranges of one kind ("--12-24..--12-26",
"---01..---07"); a yearly range may run over the new year ("--12-20..--01-06": 20 December
to 6 January, both included). Priority is the order of the list: the first rule in force wins, and a later
one in force on the same date never runs that night.
"""

from edge_rules.civil import (WEEKDAYS, civil_from_days, days_from_civil, days_in_month, parse_date,
                              weekday_of_days)
from edge_rules.errors import RuleConfigError
from edge_rules.schedule import check_keys, require

RULE_KEYS = ("name", "from", "to", "weekdays", "dates", "schedule", "dimming")
MAX_RULES = 64
# a day-of-month range covers at most the month; a yearly one is checked against a leap year
LEAP_YEAR = 2024


def _day(text, path: str) -> int:
    try:
        return days_from_civil(*parse_date(text))
    except ValueError as exc:
        raise RuleConfigError(path, str(exc))


def _one_date(text: str, path: str) -> tuple:
    """("year", (month, day)) from '--MM-DD', ("month", day) from '---DD'."""
    text = str(text)
    if len(text) == 5 and text[:3] == "---" and text[3:].isdigit() and 1 <= int(text[3:]) <= 31:
        return ("month", int(text[3:]))
    if len(text) == 7 and text[:2] == "--" and text[4] == "-" and text[2:4].isdigit() \
            and text[5:].isdigit():
        month, day = int(text[2:4]), int(text[5:])
        if 1 <= month <= 12 and 1 <= day <= days_in_month(LEAP_YEAR, month):
            return ("year", (month, day))
    raise RuleConfigError(path, "expected a yearly day like --12-24 or a monthly day like ---01 "
                          "(or a range of one kind, --12-24..--12-26), got %r" % (text,))


def parse_dates(raw, path: str) -> list:
    """[(kind, first, last)] of a `dates` list; a range ends after it starts, within one kind."""
    if not isinstance(raw, list) or not raw:
        raise RuleConfigError(path, "expected a non-empty list of days like --12-24 or ---01")
    out = []
    for i, item in enumerate(raw):
        where = "%s[%d]" % (path, i)
        parts = str(item).split("..")
        if len(parts) > 2:
            raise RuleConfigError(where, "a range is FIRST..LAST, got %r" % (item,))
        first = _one_date(parts[0], where)
        last = _one_date(parts[-1], where)
        if first[0] != last[0]:
            raise RuleConfigError(where, "a range is of yearly days or of monthly days, not both")
        # a yearly range may run over the new year (--12-20..--01-06: 20 December to 6 January);
        # a monthly one ends after it starts within the month
        if len(parts) == 2 and (last[1] == first[1] or (first[0] == "month" and last[1] < first[1])):
            raise RuleConfigError(where, "the range must end after it starts, got %r (a range "
                                  "over the new year is of yearly days, --12-20..--01-06)" % (item,))
        out.append((first[0], first[1], last[1]))
    return out


def _weekdays(raw, path: str) -> tuple:
    if not isinstance(raw, list) or not raw:
        raise RuleConfigError(path, "expected a non-empty list of %s" % " ".join(WEEKDAYS))
    out = []
    for i, name in enumerate(raw):
        if name not in WEEKDAYS:
            raise RuleConfigError("%s[%d]" % (path, i), "unknown weekday %r: use %s"
                                  % (name, " ".join(WEEKDAYS)))
        out.append(WEEKDAYS.index(name))
    return tuple(out)


class CalendarRule:
    """One rule: its bounds and conditions, the schedule and the dimming profile it runs."""

    def __init__(self, raw, pick_schedule, pick_dimming, path: str):
        check_keys(raw, RULE_KEYS, path)
        self.name = str(raw.get("name", ""))
        self.first = _day(raw["from"], path + ".from") if "from" in raw else None
        self.last = _day(raw["to"], path + ".to") if "to" in raw else None
        if self.first is not None and self.last is not None and self.last < self.first:
            raise RuleConfigError(path + ".to", "ends before it starts")
        self.weekdays = _weekdays(raw["weekdays"], path + ".weekdays") if "weekdays" in raw else None
        self.dates = parse_dates(raw["dates"], path + ".dates") if "dates" in raw else None
        self.schedule = pick_schedule(require(raw, "schedule", path), path + ".schedule")
        self.dimming = pick_dimming(raw["dimming"], path + ".dimming") if "dimming" in raw else None

    def holds(self, day: int) -> bool:
        """Whether the rule is in force on a local day (days since 1970-01-01)."""
        if (self.first is not None and day < self.first) or (self.last is not None and day > self.last):
            return False
        if self.weekdays is not None and weekday_of_days(day) not in self.weekdays:
            return False
        if self.dates is None:
            return True
        _, month, mday = civil_from_days(day)
        for kind, first, last in self.dates:
            value = (month, mday) if kind == "year" else mday
            if first <= value <= last or (last < first and (value >= first or value <= last)):
                return True
        return False


def parse_rules(raw, pick_schedule, pick_dimming, path: str) -> list:
    """[CalendarRule] in priority order (the list's order)."""
    if not isinstance(raw, list) or len(raw) > MAX_RULES:
        raise RuleConfigError(path, "expected a list of at most %d rules" % MAX_RULES)
    return [CalendarRule(r, pick_schedule, pick_dimming, "%s[%d]" % (path, i)) for i, r in enumerate(raw)]


def rule_in_force(rules: list, day: int):
    """(index, rule) of the first rule in force on a local day, or None: the order is the priority."""
    for i, rule in enumerate(rules):
        if rule.holds(day):
            return i, rule
    return None
