from edge_rules.calendar import parse_calendars
from edge_rules.civil import days_from_civil
from edge_rules.dimming import parse_dimming
from edge_rules.errors import RuleConfigError
from edge_rules.plan import GroupPlan
from edge_rules.schedule import parse_schedules
from edge_rules.sunclock import sun_day
from edge_rules.timespec import Sky, parse_timespec
from edge_rules.tz import FixedOffset, eu_zone

H = 3600
TANGERANG = (-6.178, 106.632)
OSLO = (59.9139, 10.7522)
WIB = FixedOffset(7 * H, "WIB")


def utc(y, mo, d, h=0, mi=0):
    return days_from_civil(y, mo, d) * 86400 + h * H + mi * 60


def switch_times(plan, sky, start, minutes, points=None):
    """[(instant, switch)] of every change, stepping a minute at a time."""
    changes, last = [], None
    for m in range(minutes):
        t = start + m * 60
        state = plan.decide(sky, t, points or {})[0]
        if state != last:
            changes.append((t, state))
            last = state
    return changes


def expect_raises(raw_schedules, path, fragment):
    try:
        parse_schedules(raw_schedules)
    except RuleConfigError as err:
        assert err.path == path, err.path
        assert fragment in err.message, err.message
        return
    raise AssertionError("accepted %r" % (raw_schedules,))


def test_week_in_jakarta_switches_at_sunset_plus_10_and_sunrise_minus_15():
    scheds = parse_schedules({"evening": {"on": "sunset+10min", "off": "sunrise-15min"}})
    plan = GroupPlan("A", scheds, schedule=scheds["evening"])
    sky = Sky(WIB, TANGERANG[0], TANGERANG[1])
    start = utc(2025, 6, 2) - 7 * H  # Monday 00:00 WIB
    changes = switch_times(plan, sky, start, 7 * 24 * 60)
    assert changes[0] == (start, True)  # still night at midnight
    ons = [t for t, s in changes[1:] if s]
    offs = [t for t, s in changes[1:] if not s]
    assert len(ons) == 7 and len(offs) == 7
    for i in range(7):
        day = sun_day(TANGERANG[0], TANGERANG[1], 2025, 6, 2 + i)
        assert abs(ons[i] - (day.get("sunset") + 600)) < 60, i
        assert abs(offs[i] - (day.get("sunrise") - 900)) < 60, i


def test_week_across_eu_spring_change_keeps_fixed_times_in_local_time():
    scheds = parse_schedules({"late": {"on": "20:00", "off": "06:30"}})
    plan = GroupPlan("A", scheds, schedule=scheds["late"])
    sky = Sky(eu_zone(1, "CET"), OSLO[0], OSLO[1])
    start = utc(2025, 3, 26, 23)  # 2025-03-27 00:00 CET
    changes = switch_times(plan, sky, start, 7 * 24 * 60)[1:]
    expected = []
    for d in range(27, 33):
        mo, dd = (3, d) if d <= 31 else (4, d - 31)
        summer = (mo, dd) >= (3, 30)
        expected.append((utc(2025, mo, dd, 5 if not summer else 4, 30), False))
        expected.append((utc(2025, mo, dd, 19 if not summer else 18, 0), True))
    # the 29th ends in winter time, 30th onwards is summer time (UTC+2)
    assert changes[:12] == expected, changes[:12]


def test_sunset_schedule_follows_dst_in_oslo():
    scheds = parse_schedules({"evening": {"on": "sunset", "off": "sunrise"}})
    plan = GroupPlan("A", scheds, schedule=scheds["evening"])
    sky = Sky(eu_zone(1, "CET"), OSLO[0], OSLO[1])
    changes = switch_times(plan, sky, utc(2025, 3, 29, 12), 2 * 24 * 60)
    sat, sun, mon = [sun_day(OSLO[0], OSLO[1], 2025, 3, d) for d in (29, 30, 31)]
    minute = lambda t: -(-t // 60)  # first whole minute at or after t
    assert [(t // 60, s) for t, s in changes] == [
        (utc(2025, 3, 29, 12) // 60, False), (minute(sat.get("sunset")), True),
        (minute(sun.get("sunrise")), False), (minute(sun.get("sunset")), True),
        (minute(mon.get("sunrise")), False)]
    # summer time began between the two sunsets: the local clock time of sunset jumps by about an hour
    local = lambda t: (t + sky.tz.utcoffset(t)) % 86400
    assert 3300 < local(sun.get("sunset")) - local(sat.get("sunset")) < 3900


def test_polar_day_keeps_lights_off_and_polar_night_on():
    scheds = parse_schedules({"evening": {"on": "sunset", "off": "sunrise"}})
    plan = GroupPlan("A", scheds, schedule=scheds["evening"])
    sky = Sky(FixedOffset(2 * H), 69.6492, 18.9553)
    assert switch_times(plan, sky, utc(2025, 6, 20), 24 * 60) == [(utc(2025, 6, 20), False)]
    sky = Sky(FixedOffset(1 * H), 69.6492, 18.9553)
    assert switch_times(plan, sky, utc(2024, 12, 20), 24 * 60) == [(utc(2024, 12, 20), True)]


def test_dimming_profile_through_the_night():
    scheds = parse_schedules({"evening": {"on": "sunset", "off": "sunrise"}})
    profiles = parse_dimming({"res": [{"from": "dusk", "level": 100}, {"from": "22:00", "level": 60},
                                      {"from": "04:30", "level": 100}]})
    plan = GroupPlan("A", scheds, schedule=scheds["evening"], dimming=profiles["res"])
    sky = Sky(WIB, TANGERANG[0], TANGERANG[1])
    wib = lambda h, mi=0: utc(2025, 6, 2, h, mi) - 7 * H
    assert plan.decide(sky, wib(21, 59), {})[:2] == (True, 100)
    assert plan.decide(sky, wib(22, 0), {})[:2] == (True, 60)
    assert plan.decide(sky, wib(23, 59), {})[:2] == (True, 60)
    assert plan.decide(sky, wib(28, 29), {})[:2] == (True, 60)  # 04:29 next morning
    assert plan.decide(sky, wib(28, 30), {})[:2] == (True, 100)
    assert plan.decide(sky, wib(12), {})[:2] == (False, None)


def test_calendar_weekdays_and_dated_exceptions():
    scheds = parse_schedules({"evening": {"on": "sunset", "off": "sunrise"},
                              "market": {"on": "sunset", "off": "02:00"},
                              "short": {"on": "sunset", "off": "23:00"}})
    cals = parse_calendars({"city": {"default": "short", "weekdays": {"sat": "evening"},
                                     "exceptions": [{"date": "2025-03-31", "schedule": "evening", "name": "Eid"},
                                                    {"from": "2025-03-01", "to": "2025-03-30",
                                                     "schedule": "market", "name": "Ramadan market"}]}}, scheds)
    cal = cals["city"]
    assert cal.pick(days_from_civil(2025, 3, 31)) == ("evening", "calendar city: exception Eid")
    assert cal.pick(days_from_civil(2025, 3, 15))[0] == "market"  # a Saturday, but the event wins
    assert cal.pick(days_from_civil(2025, 4, 5))[0] == "evening"  # Saturday
    assert cal.pick(days_from_civil(2025, 4, 7))[0] == "short"
    plan = GroupPlan("A", scheds, calendar=cal)
    sky = Sky(WIB, TANGERANG[0], TANGERANG[1])
    wib = lambda d, h: utc(2025, 4, d, h) - 7 * H
    assert plan.decide(sky, wib(7, 22), {})[0] is True
    assert plan.decide(sky, wib(7, 23) + 60, {})[0] is False  # Monday: off at 23:00
    assert plan.decide(sky, wib(6, 1), {})[0] is True  # Saturday night runs till sunrise


def test_photocell_switches_within_window_only():
    scheds = parse_schedules({"evening": {"on": "sunset", "off": "sunrise", "photocell": {
        "point": "LUX-1.lux", "on_below": 30, "off_above": 60, "window": "30min"}}})
    plan = GroupPlan("A", scheds, schedule=scheds["evening"])
    sky = Sky(WIB, TANGERANG[0], TANGERANG[1])
    sunset = sun_day(TANGERANG[0], TANGERANG[1], 2025, 6, 2).get("sunset")
    dark = {"LUX-1.lux": 5}
    bright = {"LUX-1.lux": 500}
    assert plan.decide(sky, sunset - 31 * 60, dark)[0] is False  # dark storm, but too early
    assert plan.decide(sky, sunset - 29 * 60, dark)[0] is True  # dark inside window: on early
    assert plan.decide(sky, sunset - 20 * 60, bright)[0] is True  # latched for the night
    plan = GroupPlan("A", scheds, schedule=scheds["evening"])
    assert plan.decide(sky, sunset + 29 * 60, bright)[0] is False  # bright: wait
    assert plan.decide(sky, sunset + 30 * 60, bright)[0] is True  # window over: on regardless
    assert plan.decide(sky, sunset + 5 * 60, {})[0] is True  # no reading: astronomical time


def test_timespec_errors_name_the_path():
    expect_raises({"evening": {"on": "sunsett+10min", "off": "sunrise"}}, "schedules.evening.on",
                  "unknown anchor 'sunsett'")
    expect_raises({"evening": {"on": "sunset+10 parsecs", "off": "sunrise"}}, "schedules.evening.on",
                  "bad duration")
    expect_raises({"evening": {"on": "25:00", "off": "sunrise"}}, "schedules.evening.on", "no such time")
    expect_raises({"evening": {"on": "sunset"}}, "schedules.evening.off", "missing")
    expect_raises({"evening": {"on": "sunset", "off": "sunrise", "colour": "red"}},
                  "schedules.evening.colour", "unknown key")
    assert parse_timespec("sunrise - 15 min", "x") == ("sun", "sunrise", -900)


def test_calendar_and_dimming_errors_name_the_path():
    scheds = parse_schedules({"evening": {"on": "sunset", "off": "sunrise"}})
    for raw, path in (({"c": {"default": "evenin"}}, "calendars.c.default"),
                      ({"c": {"default": "evening", "weekdays": {"fry": "evening"}}}, "calendars.c.weekdays.fry"),
                      ({"c": {"default": "evening", "exceptions": [{"date": "2025-02-30", "schedule": "evening"}]}},
                       "calendars.c.exceptions[0].date")):
        try:
            parse_calendars(raw, scheds)
        except RuleConfigError as err:
            assert err.path == path, err.path
            continue
        raise AssertionError("accepted %r" % (raw,))
    try:
        parse_dimming({"res": [{"from": "dusk", "level": 140}]})
    except RuleConfigError as err:
        assert err.path == "dimming.res[0].level" and "out of range" in err.message
    else:
        raise AssertionError("accepted level 140")
