"""check-config on the lighting section: every problem in one run, every point resolved."""

import pytest

from agent.config.loading import parse_config
from agent.config.text import ConfigProblems

HEAD = """\
gateway: {id: tgr-gw-0001, site: cikokol, location: {lat: -6.178, lon: 106.632}, timezone: Asia/Jakarta}
uplink:
  mqtt: {url: "mqtt://broker.example:8883", topic_prefix: city/lighting, qos: 1}
buses:
  lan: {type: modbus-tcp, host: 127.0.0.1, port: 5020, timeout_ms: 500}
devices:
  - {id: L-001, bus: lan, unit: 1, profile: streetlight-generic}
  - {id: L-002, bus: lan, unit: 2, profile: streetlight-generic}
  - {id: LUX-1, bus: lan, unit: 3, profile: lux-rs485-generic}
  - {id: pole.7, bus: lan, unit: 4, profile: streetlight-generic}
serial_sensors:
  - {id: AQ-01, kind: sds011, port: /dev/ttyUSB0}
  - {id: W-1, kind: ascii, port: /dev/ttyAMA0, pattern: "T=(?P<temp>[0-9.]+)"}
"""


def problems_of(lighting: str, head: str = HEAD) -> list[str]:
    with pytest.raises(ConfigProblems) as info:
        parse_config(head + lighting)
    return info.value.problems


def accepts(lighting: str) -> None:
    assert parse_config(HEAD + lighting).lighting is not None


GROUPS = """\
lighting:
  groups:
    road: {devices: [L-001, L-002, LUX-1], schedule: evening}
  schedules:
    evening: {on: sunset, off: sunrise}
"""


def test_points_of_profiles_sensors_and_dotted_ids_resolve():
    accepts(GROUPS + """\
  rules:
    hot:
      when: "L-001.driver_temp > 85 and AQ-01.pm2_5 > 50 and W-1.temp > 40 and pole.7.voltage > 1"
      then: [{alarm: hot}]
    dark:
      when: "avg(road.lux) < 20"
      then: [{switch: on, group: road}]
  failsafe: {lux_point: LUX-1.lux}
""")


def test_every_unknown_point_is_named_with_its_line_and_a_suggestion():
    found = problems_of(GROUPS.replace("sunset, off", "sunset, photocell: {point: LUX-1.luks, on_below: 30}, off")
                        + """\
  rules:
    hot:
      when: "AQ-01.pm25 > 50 or W-1.tmp > 40"
      until: "L-003.driver_temp < 80"
      then: [{alarm: hot}]
    dark:
      when: "min(road.luxx) < 20"
      then: [{switch: on, group: road}]
  failsafe: {lux_point: LUX-2.lux}
""")
    text = "\n".join(found)
    assert "lighting.schedules.evening.photocell.point: LUX-1.luks: device LUX-1 reports no point 'luks' " \
           "(its points: lux)" in text
    assert "AQ-01.pm25: device AQ-01 reports no point 'pm25' (did you mean pm2_5?)" in text
    assert "W-1.tmp: device W-1 reports no point 'tmp' (did you mean temp?)" in text
    assert "lighting.rules.hot.until: L-003.driver_temp: no device 'L-003' under devices: " \
           "(did you mean L-001 or L-002?)" in text
    assert "lighting.rules.dark.when: road.luxx: no device of the group reports 'luxx' (did you mean lux?)" in text
    assert "lighting.failsafe.lux_point: LUX-2.lux: no device 'LUX-2'" in text
    assert all("line " in line for line in found), found
    assert len(found) == 6, text


def test_every_problem_inside_lighting_comes_in_one_run():
    found = problems_of("""\
lighting:
  colour: blue
  groups:
    road: {devices: [L-001, L-009], calendar: city, dimming: night}
    side: {devices: [L-002], schedule: nope}
  schedules:
    evening: {on: sunset, off: "26:00"}
  calendars:
    city: {default: evening, weekdays: {sat: market}}
  dimming:
    night: [{from: dusk, level: 140}]
  rules:
    hot:
      when: "L-001.driver_temp >"
      for: 5 minutes
      then: [{alarm: hot, severity: awful}, {dim: 50, device: L-02}]
  failsafe: {level: 0}
""")
    text = "\n".join(found)
    for expected in (
            "lighting.colour: unknown key",
            "lighting.groups.road.devices[1]: unknown device 'L-009': lights must be in devices",
            "lighting.groups.side.schedule: unknown schedule 'nope'",
            "lighting.schedules.evening.off: no such time of day: '26:00'",
            "lighting.calendars.city.weekdays.sat: unknown schedule 'market'",
            "lighting.dimming.night[0].level: 140 is out of range",
            "lighting.rules.hot.when: expected a value",
            "lighting.rules.hot.for: bad duration",
            "lighting.rules.hot.then[0].severity: use one of minor, major, critical",
            "lighting.rules.hot.then[1].device: unknown device 'L-02': lights under groups are L-001",
            "lighting.failsafe.level: 0 is out of range"):
        assert expected in text, f"{expected!r} not in:\n{text}"
    assert len(found) == 11, text
    # in file order: the report reads top to bottom like the file
    lines = [int(line.rsplit("line ", 1)[1].rstrip(")")) for line in found]
    assert lines == sorted(lines)


def test_a_broken_schedule_is_still_defined_for_the_calendar_naming_it():
    found = problems_of("""\
lighting:
  groups:
    road: {devices: [L-001], calendar: city}
  schedules:
    evening: {on: sunsett, off: sunrise}
  calendars:
    city: {default: evening}
""")
    assert len(found) == 1 and found[0].startswith("lighting.schedules.evening.on: unknown anchor")


def test_lighting_is_checked_when_other_sections_fail():
    head = HEAD.replace("timezone: Asia/Jakarta", "timezone: Mars/Olympus").replace("unit: 2,", "unit: 0,")
    found = problems_of(GROUPS.replace("L-001, L-002", "L-001, L-02") + """\
  rules:
    hot: {when: "L-001.driver_tmp > 85", then: [{alarm: hot}]}
""", head)
    text = "\n".join(found)
    assert "gateway.timezone: unknown time zone 'Mars/Olympus'" in text
    assert "devices[1].unit:" in text
    assert "lighting.groups.road.devices[1]: unknown device 'L-02': lights must be in devices " \
           "(did you mean L-001 or L-002?)" in text
    assert "lighting.rules.hot.when: L-001.driver_tmp: device L-001 reports no point 'driver_tmp' " \
           "(did you mean driver_temp?)" in text
    assert len(found) == 4, text


def test_a_pushed_schedule_on_a_missing_point_is_refused_too():
    from agent.config.lighting import lighting_problems
    cfg = parse_config(HEAD + GROUPS)
    pushed = {"groups": {"road": {"devices": ["L-001"], "schedule": "evening"}},
              "schedules": {"evening": {"on": "sunset", "off": "sunrise"}},
              "rules": {"hot": {"when": "L-001.driver_tmp > 85", "then": [{"alarm": "hot"}]}}}
    (loc, message), = lighting_problems(cfg, pushed, "schedule")
    assert loc == ("schedule", "rules", "hot", "when") and "did you mean driver_temp" in message


def test_calendar_rules_and_their_dimming_are_checked_with_the_path():
    found = problems_of("""\
lighting:
  groups:
    road: {devices: [L-001], calendar: city}
  schedules:
    evening: {on: sunset, off: sunrise}
  calendars:
    city:
      default: evening
      default_dimming: night
      rules:
        - {from: 2026-12-26, to: 2026-12-24, schedule: evening}
        - {dates: ["--12-24..---26"], schedule: evening, dimming: nigth}
  dimming:
    night: [{from: dusk, level: 80}]
""")
    text = "\n".join(found)
    assert "lighting.calendars.city.rules[0].to: ends before it starts" in text, text
    assert len(found) == 1, text      # check stops at a calendar's first problem
