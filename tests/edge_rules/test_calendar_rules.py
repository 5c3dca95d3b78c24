"""Calendar rules (edge_rules/calendar_rules.py): which rule is in force on a local date, its
boundaries (first and last day, priority by order), and the night that starts on it, decided
at the gateway's local midnight. MicroPython-compatible (tests/micropython runs it too)."""

from edge_rules.calendar import parse_calendars
from edge_rules.calendar_rules import parse_rules, rule_in_force
from edge_rules.civil import days_from_civil
from edge_rules.dimming import parse_dimming
from edge_rules.errors import RuleConfigError
from edge_rules.plan import GroupPlan
from edge_rules.schedule import parse_schedules
from edge_rules.timespec import Sky
from edge_rules.tz import FixedOffset

H = 3600
TANGERANG = (-6.178, 106.632)
WIB = FixedOffset(7 * H, "WIB")
SCHEDULES = parse_schedules({"night": {"on": "sunset", "off": "sunrise"},
                             "short": {"on": "sunset", "off": "23:00"}})
PROFILES = parse_dimming({"full": [{"from": "sunset", "level": 90}],
                          "half": [{"from": "sunset", "level": 50}],
                          "low": [{"from": "sunset", "level": 30}]})


def day(y, m, d):
    return days_from_civil(y, m, d)


def names(value, path):
    return str(value)


def rules(raw):
    return parse_rules(raw, names, names, "rules")


def in_force(raw, y, m, d):
    found = rule_in_force(rules(raw), day(y, m, d))
    return None if found is None else found[0]


def test_a_date_range_holds_from_its_first_to_its_last_day_both_included():
    raw = [{"from": "2026-07-18", "to": "2026-07-25", "schedule": "a"}]
    assert in_force(raw, 2026, 7, 17) is None
    assert in_force(raw, 2026, 7, 18) == 0
    assert in_force(raw, 2026, 7, 25) == 0
    assert in_force(raw, 2026, 7, 26) is None


def test_an_open_range_holds_since_always_or_for_ever():
    assert in_force([{"to": "2026-07-25", "schedule": "a"}], 1999, 1, 1) == 0
    assert in_force([{"to": "2026-07-25", "schedule": "a"}], 2026, 7, 26) is None
    assert in_force([{"from": "2026-07-18", "schedule": "a"}], 2099, 12, 31) == 0
    assert in_force([{"from": "2026-07-18", "schedule": "a"}], 2026, 7, 17) is None
    assert in_force([{"schedule": "a"}], 2026, 2, 28) == 0           # no condition: always


def test_weekdays_within_a_range():
    raw = [{"from": "2026-12-01", "to": "2026-12-31", "weekdays": ["sat", "sun"], "schedule": "a"}]
    assert in_force(raw, 2026, 12, 5) == 0           # a Saturday
    assert in_force(raw, 2026, 12, 6) == 0           # a Sunday
    assert in_force(raw, 2026, 12, 7) is None        # a Monday
    assert in_force(raw, 2026, 11, 28) is None       # a Saturday before the range
    assert in_force(raw, 2027, 1, 2) is None         # a Saturday after it


def test_yearly_and_monthly_days_and_their_ranges():
    raw = [{"dates": ["--12-24..--12-26", "--10-16"], "schedule": "a"},
           {"dates": ["---01..---03"], "schedule": "b"}]
    assert in_force(raw, 2026, 12, 23) is None
    assert in_force(raw, 2026, 12, 24) == 0
    assert in_force(raw, 2031, 12, 26) == 0          # every year
    assert in_force(raw, 2026, 12, 27) is None
    assert in_force(raw, 2026, 10, 16) == 0
    assert in_force(raw, 2026, 10, 1) == 1           # a monthly day
    assert in_force(raw, 2026, 2, 3) == 1
    assert in_force(raw, 2026, 2, 4) is None
    assert in_force([{"dates": ["--02-29"], "schedule": "a"}], 2028, 2, 29) == 0
    assert in_force([{"dates": ["--02-29"], "schedule": "a"}], 2027, 3, 1) is None


def test_a_yearly_range_over_the_new_year_holds_from_december_to_january():
    raw = [{"dates": ["--12-20..--01-06"], "schedule": "a"}]
    assert in_force(raw, 2026, 12, 19) is None
    assert in_force(raw, 2026, 12, 20) == 0          # its first day
    assert in_force(raw, 2026, 12, 31) == 0
    assert in_force(raw, 2027, 1, 1) == 0
    assert in_force(raw, 2027, 1, 6) == 0            # its last day
    assert in_force(raw, 2027, 1, 7) is None
    assert in_force(raw, 2027, 7, 1) is None         # mid-year: outside
    assert in_force(raw, 2031, 1, 3) == 0            # every year


def test_the_first_rule_in_force_wins_a_tie():
    raw = [{"dates": ["--06-03"], "schedule": "june3"},
           {"weekdays": ["thu"], "schedule": "thursday"}]
    assert in_force(raw, 2027, 6, 3) == 0            # 3 June 2027 is a Thursday: the first wins
    assert in_force(raw, 2027, 6, 10) == 1
    assert in_force(list(reversed(raw)), 2027, 6, 3) == 0   # reversed: now Thursday's is first
    assert rule_in_force(rules(list(reversed(raw))), day(2027, 6, 3))[1].schedule == "thursday"


def test_bad_rules_name_the_path():
    for raw, path in (([{"from": "2026-02-30", "schedule": "a"}], "rules[0].from"),
                      ([{"from": "2026-03-02", "to": "2026-03-01", "schedule": "a"}], "rules[0].to"),
                      ([{"weekdays": ["fry"], "schedule": "a"}], "rules[0].weekdays[0]"),
                      ([{"dates": ["--02-30"], "schedule": "a"}], "rules[0].dates[0]"),
                      ([{"dates": ["---26..---24"], "schedule": "a"}], "rules[0].dates[0]"),
                      ([{"dates": ["--12-24..--12-24"], "schedule": "a"}], "rules[0].dates[0]"),
                      ([{"dates": ["--12-24..---26"], "schedule": "a"}], "rules[0].dates[0]"),
                      ([{"dates": [], "schedule": "a"}], "rules[0].dates"),
                      ([{"from": "2026-01-01"}], "rules[0].schedule"),
                      ([{"schedule": "a", "every": 2}], "rules[0].every")):
        try:
            rules(raw)
        except RuleConfigError as err:
            assert err.path == path, (raw, err.path)
            continue
        raise AssertionError("accepted %r" % (raw,))


def city():
    return parse_calendars({"city": {
        "default": "night", "default_dimming": "full",
        "rules": [{"name": "festival", "from": "2026-12-24", "to": "2026-12-26",
                   "schedule": "night", "dimming": "low"},
                  {"name": "weekend", "weekdays": ["sat"], "schedule": "short", "dimming": "half"}]}},
        SCHEDULES, dimming=PROFILES)["city"]


def test_a_calendar_names_the_schedule_and_the_dimming_together():
    cal = city()
    assert cal.entry(day(2026, 12, 24)) == ("night", "low", "calendar city: rule festival")
    assert cal.entry(day(2026, 12, 26)) == ("night", "low", "calendar city: rule festival")
    assert cal.entry(day(2026, 12, 19)) == ("short", "half", "calendar city: rule weekend")
    assert cal.entry(day(2026, 12, 21)) == ("night", "full", "calendar city: default")
    try:
        parse_calendars({"c": {"default": "night", "rules": [{"schedule": "night", "dimming": "dim"}]}},
                        SCHEDULES, dimming=PROFILES)
    except RuleConfigError as err:
        assert err.path == "calendars.c.rules[0].dimming", err.path
    else:
        raise AssertionError("an unknown dimming profile was accepted")


def local(offset_h, y, m, d, h, mi=0):
    """Epoch seconds of a local wall time in a zone offset_h hours from UTC."""
    return day(y, m, d) * 86400 + h * H + mi * 60 - offset_h * H


def test_the_rule_of_the_night_is_chosen_at_the_gateways_local_midnight():
    plan = GroupPlan("road", SCHEDULES, calendar=city(), profiles=PROFILES)
    sky = Sky(WIB, TANGERANG[0], TANGERANG[1])
    wib = lambda *a: local(7, *a)
    # Wednesday 23 Dec 2026: the default night at 90 %, still at 23:59 local
    assert plan.decide(sky, wib(2026, 12, 23, 22), {})[:2] == (True, 90)
    assert plan.decide(sky, wib(2026, 12, 23, 23, 59), {})[:2] == (True, 90)
    # 00:01 on the festival's first day: the night that runs is the one that started on the
    # 23rd (a rule runs noon to noon: ControlService.dayOffset 12); from its evening, the rule
    assert plan.decide(sky, wib(2026, 12, 24, 0, 1), {})[:2] == (True, 90)
    assert plan.decide(sky, wib(2026, 12, 24, 22), {})[:2] == (True, 30)
    # its last day, the 26th, a Saturday: the festival is first, so not the weekend rule
    assert plan.decide(sky, wib(2026, 12, 26, 23, 30), {})[:2] == (True, 30)
    assert plan.decide(sky, wib(2026, 12, 27, 3), {})[:2] == (True, 30)   # to the 27th's sunrise
    assert plan.decide(sky, wib(2026, 12, 27, 22), {})[:2] == (True, 90)
    # a Saturday outside the festival: the weekend rule, at 50 %, off at 23:00
    sat = plan.decide(sky, wib(2026, 12, 19, 22), {})
    assert sat[:2] == (True, 50) and "rule weekend" in sat[2], sat
    assert plan.decide(sky, wib(2026, 12, 19, 23, 1), {})[:2] == (False, None)


def test_the_local_date_not_the_utc_date_chooses():
    # Honolulu (UTC-10): Saturday 19 Dec 2026 at 20:00 local is Sunday 06:00 UTC
    plan = GroupPlan("road", SCHEDULES, calendar=city(), profiles=PROFILES)
    sky = Sky(FixedOffset(-10 * H, "HST"), 21.307, -157.858)
    hst = lambda *a: local(-10, *a)
    assert plan.decide(sky, hst(2026, 12, 19, 20), {})[:2] == (True, 50)     # Saturday's rule
    assert plan.decide(sky, hst(2026, 12, 19, 23, 1), {})[:2] == (False, None)
    assert plan.decide(sky, hst(2026, 12, 20, 20), {})[:2] == (True, 90)     # Sunday: default
    assert plan.decide(sky, hst(2026, 12, 18, 20), {})[:2] == (True, 90)     # Friday: default
