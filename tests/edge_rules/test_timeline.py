"""The switching plan of a night from the config alone (edge_rules/timeline.py)."""

from edge_rules.civil import days_from_civil
from edge_rules.controller import LightingController
from edge_rules.timeline import describe_rules, timeline
from edge_rules.tz import FixedOffset

H = 3600
CONFIG = {
    "groups": {"main": {"devices": ["L-1", "L-2"], "calendar": "city", "dimming": "res"},
               "bare": {"devices": ["L-9"]}},
    "schedules": {"evening": {"on": "sunset+10min", "off": "sunrise-15min"},
                  "market": {"on": "sunset", "off": "02:00"}},
    "calendars": {"city": {"default": "evening",
                           "exceptions": [{"name": "Christmas Eve", "date": "2026-12-24",
                                           "schedule": "market"}]}},
    "dimming": {"res": [{"from": "dusk", "level": 100}, {"from": "22:00", "level": 60}]},
    "rules": {"hot": {"when": "L-1.driver_temp > 85", "then": [{"dim": 50, "device": "L-1"}]}},
}


def _wib_noon(y, m, d):
    return days_from_civil(y, m, d) * 86400 + 12 * H - 7 * H


def test_a_night_is_its_switch_on_dimming_and_switch_off_with_who_decides():
    ctl = LightingController(CONFIG, FixedOffset(7 * H, "WIB"), -6.178, 106.632)
    start = _wib_noon(2026, 12, 23)
    steps = [s for s in timeline(ctl, start, start + 24 * H) if s["light"] == "L-1"]
    assert [(s["switch"], s["dim"]) for s in steps] == [(False, 0), (True, 100), (True, 60), (False, 0)]
    assert steps[1]["reason"].startswith("calendar city: default evening")
    sunset = ctl.sky.sun(days_from_civil(2026, 12, 23)).get("sunset")
    assert steps[1]["ts"] == sunset + 600                    # to the second
    assert (steps[2]["ts"] + 7 * H) % 86400 == 22 * H
    bare = [s for s in timeline(ctl, start, start + 24 * H) if s["light"] == "L-9"]
    assert [(s["switch"], s["dim"], s["source"]) for s in bare] == [(True, 100, "failsafe")]


def test_a_calendar_exception_names_itself_and_its_fixed_off():
    ctl = LightingController(CONFIG, FixedOffset(7 * H, "WIB"), -6.178, 106.632)
    start = _wib_noon(2026, 12, 24)
    steps = [s for s in timeline(ctl, start, start + 24 * H) if s["light"] == "L-2"]
    assert "exception Christmas Eve" in steps[1]["reason"]
    assert (steps[-1]["ts"] + 7 * H) % 86400 == 2 * H and steps[-1]["switch"] is False


def test_rules_are_listed_apart():
    ctl = LightingController(CONFIG, FixedOffset(7 * H, "WIB"), -6.178, 106.632)
    assert describe_rules(ctl) == ["rule hot: when L-1.driver_temp > 85 -> dim 50 on L-1"]
