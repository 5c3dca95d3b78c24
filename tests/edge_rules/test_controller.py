from edge_rules.civil import days_from_civil
from edge_rules.controller import LightingController
from edge_rules.errors import RuleConfigError
from edge_rules.sunclock import sun_day
from edge_rules.tz import FixedOffset, eu_zone

H = 3600
LAT, LON = -6.178, 106.632
WIB = FixedOffset(7 * H, "WIB")
CONFIG = {
    "groups": {"A": {"devices": ["L-001", "L-002"], "calendar": "city", "dimming": "residential"},
               "B": {"devices": ["L-003"], "schedule": "evening"},
               "spare": {"devices": ["L-004"]}},
    "schedules": {"evening": {"on": "sunset+10min", "off": "sunrise-15min"},
                  "market": {"on": "sunset", "off": "02:00"}},
    "calendars": {"city": {"default": "evening", "weekdays": {"sat": "market"}}},
    "dimming": {"residential": [{"from": "dusk", "level": 100}, {"from": "22:00", "level": 60},
                                {"from": "04:30", "level": 100}]},
    "rules": {"overheat": {"when": "L-001.driver_temp > 85", "until": "L-001.driver_temp < 80",
                           "then": [{"dim": 50, "device": "L-001"}, {"alarm": "driver hot"}]}},
    "failsafe": {"level": 100, "lux_point": "LUX-1.lux"},
}


def wib(y, mo, d, h=0, mi=0):
    return days_from_civil(y, mo, d) * 86400 + (h - 7) * H + mi * 60


class Clock:
    """Injected wall and monotonic time stepping together."""

    def __init__(self, start):
        self.now = start
        self.mono = 1000.0

    def advance(self, seconds):
        self.now += seconds
        self.mono += seconds


def test_week_of_outputs_in_jakarta():
    ctl = LightingController(CONFIG, WIB, LAT, LON)
    clock = Clock(wib(2025, 6, 2, 12))  # Monday noon
    on_times = []
    for _ in range(7 * 24 * 60):
        outputs, records, _ = ctl.step(clock.now, {}, True, clock.mono)
        for rec in records:
            if rec["light"] == "L-003" and rec["new"]["switch"] and rec["old"] and not rec["old"]["switch"]:
                on_times.append(rec["ts"])
        clock.advance(60)
    assert len(on_times) == 7
    for i, t in enumerate(on_times):
        sunset = sun_day(LAT, LON, 2025, 6, 2 + i).get("sunset")
        assert 0 <= t - (sunset + 600) < 60, i


def test_group_a_calendar_and_dimming_and_spare_failsafe():
    ctl = LightingController(CONFIG, WIB, LAT, LON)
    out = ctl.step(wib(2025, 6, 2, 23), {}, True, 10)[0]  # Monday 23:00
    assert out["L-001"] == {"switch": True, "dim": 60, "source": "schedule"}
    assert out["L-004"] == {"switch": True, "dim": 100, "source": "failsafe"}  # no timetable: failsafe default
    out = ctl.step(wib(2025, 6, 3, 12), {}, True, 10 + 13 * H)[0]
    assert out["L-001"]["switch"] is False and out["L-003"]["switch"] is False
    out = ctl.step(wib(2025, 6, 8, 3), {}, True, 10 + (13 + 111) * H)[0]  # Sunday 03:00 after a market Saturday
    assert out["L-001"]["switch"] is False and out["L-003"]["switch"] is True


def test_rule_dims_over_schedule_and_raises_alarm():
    ctl = LightingController(CONFIG, WIB, LAT, LON)
    outputs, records, alarms = ctl.step(wib(2025, 6, 2, 20), {"L-001.driver_temp": 90}, True, 10)
    assert outputs["L-001"] == {"switch": True, "dim": 50, "source": "rule"}
    assert outputs["L-002"] == {"switch": True, "dim": 100, "source": "schedule"}
    assert [a["state"] for a in alarms] == ["raised"]
    outputs, records, alarms = ctl.step(wib(2025, 6, 2, 20, 1), {"L-001.driver_temp": 70}, True, 70)
    assert outputs["L-001"]["source"] == "schedule" and alarms[0]["state"] == "cleared"
    assert [r["light"] for r in records] == ["L-001"]


def test_override_and_command_expire_in_order():
    ctl = LightingController(CONFIG, WIB, LAT, LON)
    t = wib(2025, 6, 2, 20)
    ctl.apply_command(t + 600, group="A", dim=30, reason="city: event dimming")
    ctl.apply_override(t + 300, device="L-001", switch=False, reason="lamp replacement")
    out, records, _ = ctl.step(t, {}, True, 0)
    assert out["L-001"] == {"switch": False, "dim": 0, "source": "maintenance"}
    assert out["L-002"] == {"switch": True, "dim": 30, "source": "command"}
    out, records, _ = ctl.step(t + 300, {}, True, 300)
    assert out["L-001"] == {"switch": True, "dim": 30, "source": "command"}
    assert records[0]["reason"] == "maintenance expired; city: event dimming"
    out, records, _ = ctl.step(t + 600, {}, True, 600)
    assert out["L-001"]["source"] == "schedule" and len(records) == 2
    ctl.apply_command(t + 9999, device="L-003", switch=False)
    assert ctl.step(t + 601, {}, True, 601)[0]["L-003"]["switch"] is False
    ctl.clear("command", device="L-003")
    assert ctl.step(t + 602, {}, True, 602)[0]["L-003"]["switch"] is True


def test_untrusted_clock_follows_failsafe_not_schedule():
    ctl = LightingController(CONFIG, WIB, LAT, LON)
    noon = wib(2025, 6, 2, 12)
    out = ctl.step(noon, {}, False, 5)[0]  # no sync since boot, no lux: on, whatever the schedule says
    assert out["L-003"] == {"switch": True, "dim": 100, "source": "failsafe"}
    out = ctl.step(noon, {"LUX-1.lux": 20000}, False, 6)[0]
    assert out["L-003"]["switch"] is False  # lux says day
    out = ctl.step(noon + 10, {"LUX-1.lux": 20000}, True, 16)[0]
    assert out["L-003"] == {"switch": False, "dim": 0, "source": "schedule"}
    out, records, _ = ctl.step(noon + 10 + 12 * H, {}, True, 26)[0], None, None  # wall jumped 12 h
    assert out["L-003"]["source"] == "failsafe" and out["L-003"]["switch"] is True


def test_software_fault_falls_back_to_failsafe_on_and_alarms_once():
    ctl = LightingController(CONFIG, WIB, LAT, LON)

    class BrokenSky:
        def local_day(self, epoch_s):
            raise ZeroDivisionError("simulated bug")

    ctl.sky = BrokenSky()
    out, _, alarms = ctl.step(wib(2025, 6, 2, 12), {}, True, 0)
    assert out["L-003"] == {"switch": True, "dim": 100, "source": "failsafe"}
    assert len(alarms) == 2 and all(a["rule"] == "edge_rules.fault" for a in alarms)
    assert ctl.step(wib(2025, 6, 2, 12) + 5, {}, True, 5)[2] == []


def test_dst_zone_controller_evening_in_local_time():
    config = {"groups": {"A": {"devices": ["L-1"], "schedule": "late"}},
              "schedules": {"late": {"on": "19:00", "off": "sunrise"}}}
    ctl = LightingController(config, eu_zone(1, "CET"), 59.9139, 10.7522)
    summer_1859 = days_from_civil(2025, 7, 1) * 86400 + 16 * H + 59 * 60  # 18:59 CEST
    assert ctl.step(summer_1859, {}, True, 0)[0]["L-1"]["switch"] is False
    assert ctl.step(summer_1859 + 60, {}, True, 60)[0]["L-1"]["switch"] is True
    winter_1859 = days_from_civil(2025, 12, 1) * 86400 + 17 * H + 59 * 60  # 18:59 CET
    mono = winter_1859 - summer_1859  # monotonic time runs with the wall clock: no jump
    assert ctl.step(winter_1859, {}, True, mono)[0]["L-1"]["switch"] is False
    assert ctl.step(winter_1859 + 60, {}, True, mono + 60)[0]["L-1"]["switch"] is True


def test_config_errors_name_the_path():
    cases = (
        ({"groups": {"A": {"devices": ["L-1"], "schedule": "nope"}}}, "groups.A.schedule"),
        ({"groups": {"A": {"devices": ["L-1"]}, "B": {"devices": ["L-1"]}}}, "groups.B.devices[0]"),
        ({"groups": {"A": {"devices": []}}}, "groups.A.devices"),
        ({"groups": {}, "schedule": {}}, "config.schedule"),
        ({"schedules": {}}, "config.groups"),
        ({"groups": {"A": {"devices": ["L-1"]}},
          "schedules": {"evening": {"on": "sunsett", "off": "sunrise"}}}, "schedules.evening.on"),
    )
    for raw, path in cases:
        try:
            LightingController(raw, WIB, LAT, LON)
        except RuleConfigError as err:
            assert err.path == path, (err.path, path)
            continue
        raise AssertionError("accepted %r" % (raw,))
