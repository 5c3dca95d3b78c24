from edge_rules.errors import RuleConfigError
from edge_rules.rules import RuleSet

GROUPS = {"A": ["L-001", "L-002"], "B": ["L-003"]}
T0 = 1750000000


def ruleset(raw):
    return RuleSet(raw, GROUPS)


def rejects(raw, path, fragment):
    try:
        ruleset(raw)
    except RuleConfigError as err:
        assert err.path == path, err.path
        assert fragment in err.message, err.message
        return
    raise AssertionError("accepted %r" % (raw,))


def test_lux_below_30_for_2_min_switches_group_on():
    rs = ruleset({"dark": {"when": "LUX-1.lux < 30", "for": "2min", "then": [{"switch": "on", "group": "A"}]}})
    dark = {"LUX-1.lux": 10}
    assert rs.step(T0, 0, dark)[0] == {}
    assert rs.step(T0 + 119, 119, dark)[0] == {}
    decisions = rs.step(T0 + 120, 120, dark)[0]
    assert decisions == {"L-001": (True, None, "rule dark (LUX-1.lux < 30)"),
                         "L-002": (True, None, "rule dark (LUX-1.lux < 30)")}
    assert rs.step(T0 + 121, 121, {"LUX-1.lux": 31})[0] == {}  # released without hysteresis


def test_for_duration_restarts_when_condition_breaks():
    rs = ruleset({"dark": {"when": "LUX-1.lux < 30", "for": "2min", "then": [{"switch": True, "group": "B"}]}})
    rs.step(T0, 0, {"LUX-1.lux": 10})
    rs.step(T0 + 100, 100, {"LUX-1.lux": 40})
    assert rs.step(T0 + 130, 130, {"LUX-1.lux": 10})[0] == {}
    assert rs.step(T0 + 249, 249, {"LUX-1.lux": 10})[0] == {}
    assert rs.step(T0 + 250, 250, {"LUX-1.lux": 10})[0]["L-003"][0] is True


def test_overheat_dims_and_raises_alarm_with_hysteresis():
    rs = ruleset({"overheat": {"when": "L-001.driver_temp > 85", "until": "L-001.driver_temp < 80", "then": [
        {"dim": 50, "device": "L-001"}, {"alarm": "driver over temperature", "severity": "critical"}]}})
    decisions, alarms = rs.step(T0, 0, {"L-001.driver_temp": 86})
    assert decisions == {"L-001": (None, 50, "rule overheat (L-001.driver_temp > 85)")}
    assert alarms == [{"rule": "overheat", "severity": "critical", "message": "driver over temperature",
                       "state": "raised", "ts": T0}]
    decisions, alarms = rs.step(T0 + 5, 5, {"L-001.driver_temp": 82})  # below 85, not yet below 80
    assert decisions["L-001"][1] == 50 and alarms == []
    decisions, alarms = rs.step(T0 + 10, 10, {"L-001.driver_temp": 79})
    assert decisions == {} and alarms[0]["state"] == "cleared"


def test_first_rule_in_order_wins_per_field():
    rs = ruleset({"hot": {"when": "max(A.driver_temp) > 85", "then": [{"dim": 40, "group": "A"}]},
                  "dark": {"when": "LUX-1.lux < 30", "then": [{"dim": 100, "group": "A"},
                                                              {"switch": "on", "group": "A"}]}})
    decisions = rs.step(T0, 0, {"L-002.driver_temp": 90, "LUX-1.lux": 5})[0]
    assert decisions["L-001"][:2] == (True, 40)


def test_bad_rules_are_rejected_with_name_and_reason():
    then = [{"switch": "on", "group": "A"}]
    rejects({"r1": {"when": "LUX-1.lux <", "then": then}}, "rules.r1.when", "expected a value")
    rejects({"r2": {"when": "LUX-1.lux < 3", "for": "soon", "then": then}}, "rules.r2.for", "bad duration")
    rejects({"r3": {"when": "LUX-1.lux < 3", "then": [{"switch": "on", "group": "Z"}]}}, "rules.r3.then[0].group",
            "unknown group")
    rejects({"r4": {"when": "LUX-1.lux < 3", "then": [{"dim": 120, "device": "L-001"}]}}, "rules.r4.then[0].dim",
            "out of range")
    rejects({"r5": {"when": "LUX-1.lux < 3", "then": []}}, "rules.r5.then", "non-empty")
    rejects({"r6": {"when": "LUX-1.lux < 3", "then": [{"switch": "maybe", "device": "L-001"}]}},
            "rules.r6.then[0].switch", "on or off")
    rejects({"r7": {"when": "LUX-1.lux < 3", "then": [{"dim": 50, "switch": "on", "device": "L-001"}]}},
            "rules.r7.then[0]", "exactly one")
    rejects({"r8": {"if": "LUX-1.lux < 3", "then": then}}, "rules.r8.if", "unknown key")
    rejects({"r9": {"when": "LUX-1.lux < 3", "then": [{"switch": "on", "device": "L-404"}]}},
            "rules.r9.then[0].device", "unknown device")
