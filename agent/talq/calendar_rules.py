"""TALQ calendars with rules (spec §5.8 "Creating a calendar"; Calendar, CalendarRule, ccDay and
ccDate in the data-model OAS) as the rules of a Lentera calendar (edge_rules/calendar_rules.py).

What runs exactly: `startDate`/`endDate` as full dates (either absent: open), or both as yearly
days (`--mm-dd`) with the end after the start; a `ccDay` condition (weekdays 1..7, ranges) and a
`ccDate` condition (`---dd`, `--mm-dd`, ranges). The order of the list is the priority (§5.8:
"Rules priorities ... is defined by the order"): the first rule in force wins. A rule runs from
noon to noon of its days (ControlService.dayOffset 12): the night that starts on a date is that
date's. What does not run exactly is refused whole with 422 serviceConstraintExceeded (the
ControlService in GET /services says what is supported): `occurrences`, yearly bounds with a
ccDate condition, full-date and yearly bounds mixed. Yearly bounds over the new year
(startDate --12-20, endDate --01-06) run as one yearly range; a ccDate item's end must be
higher than its start (the data-model OAS), so one over the new year is a payloadError.
"""

import re
from datetime import date

from agent.talq.errors import TalqError, bad

MAX_RULES = 64
FULL_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
MONTH_DAY = re.compile(r"^--(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])\Z")     # gMonthDay
DAY = re.compile(r"^---(0[1-9]|[12][0-9]|3[01])\Z")                          # gDay
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")              # 1 is Monday
DAYS_IN = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)                # a leap year's


def unsupported(description: str) -> TalqError:
    return TalqError(422, "serviceConstraintExceeded", description)


def meaningless(description: str) -> TalqError:
    return TalqError(422, "payloadError", description)


def _month_day(text: str, where: str) -> str:
    found = MONTH_DAY.match(text)
    if int(found[2]) > DAYS_IN[int(found[1]) - 1]:
        raise meaningless(f"{where} {text}: no such day in any year")
    return text


def _bounds(rule: dict, where: str) -> dict:
    """startDate/endDate -> Lentera's {from, to} or {dates: [yearly range]}."""
    kinds = {}
    for key in ("startDate", "endDate"):
        value = rule.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not (FULL_DATE.match(value) or MONTH_DAY.match(value)):
            raise bad("payloadError", f"{where}.{key}: a date yyyy-mm-dd or a yearly day --mm-dd")
        if FULL_DATE.match(value):
            try:
                date.fromisoformat(value)
            except ValueError:
                raise meaningless(f"{where}.{key} {value}: no such date") from None
            kinds[key] = ("full", value)
        elif (key, value) not in (("startDate", "--01-01"), ("endDate", "--12-31")):
            kinds[key] = ("year", _month_day(value, f"{where}.{key}"))   # not the OAS default
    if len({k for k, _ in kinds.values()}) > 1:
        raise unsupported(f"{where}: a full-date and a yearly bound together are not supported; "
                          "give both as yyyy-mm-dd or both as --mm-dd")
    start, end = kinds.get("startDate", (None, None))[1], kinds.get("endDate", (None, None))[1]
    if start and end and end < start and kinds["startDate"][0] == "full":
        raise meaningless(f"{where}: endDate {end} is before startDate {start}")
    # yearly bounds with the end before the start run over the new year (--12-20..--01-06),
    # which edge_rules/calendar_rules.py runs as one yearly range
    if any(k == "year" for k, _ in kinds.values()):
        first, last = start or "--01-01", end or "--12-31"
        return {"dates": [first if first == last else f"{first}..{last}"]}
    return {k: v for k, v in (("from", start), ("to", end)) if v}


def _ranges(items, where: str, kind: str) -> list:
    if not isinstance(items, list) or (kind == "days" and len(items) > 7):
        raise bad("payloadError", f"{where}: a list" + (" of at most 7" if kind == "days" else ""))
    if not items:
        raise meaningless(f"{where}: empty, the rule would never be in force")
    out = []
    for i, item in enumerate(items):
        here = f"{where}[{i}]"
        if not isinstance(item, dict) or "start" not in item:
            raise bad("payloadError", f"{here}: an object with start (and optional end)")
        out.append((item["start"], item.get("end", item["start"]), "end" in item, here))
    return out


def _weekdays(condition: dict, where: str) -> list:
    occurrences = condition.get("occurrences")
    if occurrences is not None and not isinstance(occurrences, list):
        raise bad("payloadError", f"{where}.occurrences: a list")
    if occurrences:
        raise unsupported(f"{where}.occurrences: the nth weekday of the month is not supported "
                          "(ControlService.ccDaySupport noOccurrences); give weekdays or dates")
    days = set()
    for start, end, ranged, here in _ranges(condition.get("days"), where + ".days", "days"):
        if any(isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 7
               for v in (start, end)):
            raise bad("payloadError", f"{here}: weekdays 1..7 (1 is Monday)")
        if ranged and end <= start:
            raise meaningless(f"{here}: the end weekday must be higher than the start")
        days.update(range(start, end + 1))
    return [WEEKDAYS[d - 1] for d in sorted(days)]


def _dates(condition: dict, where: str) -> list:
    out = []
    for start, end, ranged, here in _ranges(condition.get("dates"), where + ".dates", "dates"):
        kinds = []
        for value in (start, end):
            if isinstance(value, str) and DAY.match(value):
                kinds.append("month")
            elif isinstance(value, str) and MONTH_DAY.match(value):
                _month_day(value, here)
                kinds.append("year")
            else:
                raise bad("payloadError", f"{here}: days ---dd or --mm-dd")
        if kinds[0] != kinds[1]:
            raise meaningless(f"{here}: start and end are of one format (---dd or --mm-dd)")
        if not ranged:
            out.append(start)
        elif end <= start:
            raise meaningless(f"{here}: the end day must be higher than the start")
        else:
            out.append(f"{start}..{end}")
    return out


def decode_rule(rule, i: int, programs: dict) -> dict:
    """A CalendarRule -> a Lentera calendar rule with the program's id as "program"."""
    where = f"rules[{i}]"
    if not isinstance(rule, dict) or not isinstance(rule.get("program"), str):
        raise bad("payloadError", f"{where}: a CalendarRule object with its program")
    if rule["program"] not in programs:
        raise TalqError(422, "relatedResourceNotFound", f"{where}.program "
                        f"{rule['program'][:60]!r} is not a control program of this gateway")
    out = {"name": str(i + 1), **_bounds(rule, where), "program": rule["program"]}
    condition = rule.get("condition")
    if condition is None:
        return out
    kind = condition.get("type") if isinstance(condition, dict) else None
    if kind == "ccDay":
        out["weekdays"] = _weekdays(condition, where + ".condition")
    elif kind == "ccDate":
        if "dates" in out:
            raise unsupported(f"{where}: a ccDate condition within yearly startDate/endDate "
                              "is not supported; give the bounds as yyyy-mm-dd or drop them")
        out["dates"] = _dates(condition, where + ".condition")
    else:
        raise bad("payloadError", f"{where}.condition.type: ccDay or ccDate")
    return out


def decode_rules(rules, programs: dict) -> list:
    """A Calendar's `rules` -> Lentera rules in priority order (checked whole)."""
    if rules is None:
        return []
    if not isinstance(rules, list):
        raise bad("payloadError", "rules: a list of CalendarRule")
    if len(rules) > MAX_RULES:
        raise unsupported(f"{len(rules)} rules: this gateway runs at most {MAX_RULES} per calendar")
    return [decode_rule(rule, i, programs) for i, rule in enumerate(rules)]
