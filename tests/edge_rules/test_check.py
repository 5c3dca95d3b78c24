"""lighting_errors: every problem of a lighting section in one pass (check-config), MicroPython too."""

from edge_rules.check import lighting_errors, point_refs
from edge_rules.controller import LightingController


def paths(config):
    return [e.path for e in lighting_errors(config)[0]]


BROKEN = {
    "groups": {"road": {"devices": ["L-001"], "schedule": "evening"},
               "side": {"devices": ["L-002", "L-001"], "schedule": "market"}},
    "schedules": {"evening": {"on": "sunset", "off": "26:00"}, "market": {"on": "sunsett", "of": "02:00"}},
    "rules": {"hot": {"when": "L-001.t >", "for": "5 minutes", "then": [{"alarm": "x", "severity": "awful"}]}},
    "failsafe": {"level": 0},
}


def test_every_problem_is_collected_where_the_controller_stops_at_the_first():
    # sorted: MicroPython's dicts keep no insertion order
    assert sorted(paths(BROKEN)) == sorted([
        "schedules.evening.off", "schedules.market.of", "schedules.market.on", "schedules.market.off",
        # L-001 is in two groups: reported at whichever group comes second
        "groups.side.devices[1]" if "groups.side.devices[1]" in paths(BROKEN) else "groups.road.devices[0]",
        "rules.hot.when", "rules.hot.for", "rules.hot.then[0].severity",
        "failsafe.level"])
    try:
        LightingController(BROKEN, None, 0.0, 0.0)
    except ValueError as exc:
        assert exc.path in paths(BROKEN)   # whichever it met first
    else:
        raise AssertionError("the controller accepted a broken section")


def test_a_valid_section_has_no_problems_and_lists_the_points_it_reads():
    config = {"groups": {"road": {"devices": ["L-001", "L-002"], "schedule": "evening"}},
              "schedules": {"evening": {"on": "sunset", "off": "sunrise",
                                        "photocell": {"point": "LUX-1.lux", "on_below": 30}}},
              "rules": {"hot": {"when": "L-001.driver_temp > 85 and max(road.power) > 1",
                                "until": "L-001.driver_temp < 80", "then": [{"dim": 50, "group": "road"}]}},
              "failsafe": {"lux_point": "LUX-1.lux"}}
    errors, groups, trees = lighting_errors(config)
    assert errors == [] and groups == {"road": ["L-001", "L-002"]}
    assert sorted(point_refs(config, groups, trees), key=repr) == sorted([
        ("rules.hot.when", "L-001.driver_temp", None),
        ("rules.hot.when", "road.power", ["L-001.power", "L-002.power"]),
        ("rules.hot.until", "L-001.driver_temp", None),
        ("schedules.evening.photocell.point", "LUX-1.lux", None),
        ("failsafe.lux_point", "LUX-1.lux", None)], key=repr)


def test_junk_in_place_of_sections_is_a_problem_not_a_crash():
    for junk in (None, [], "x", 3):
        assert len(paths(junk)) == 1
    assert sorted(paths({"groups": [], "schedules": 3, "rules": "r"})) == ["groups", "rules", "schedules"]
    assert sorted(paths({"groups": {"g": None}, "rules": {"r": None}})) == ["groups.g", "rules.r"]
