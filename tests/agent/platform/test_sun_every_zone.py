"""Dusk-to-dawn in every zone of the system's zoneinfo, at latitudes -60..+70: never off at night.

For each zone (at its zone.tab longitude; an Etc/ zone at the longitude of its offset) and each
latitude, on four dates around the year: the sunset and next sunrise are found independently
(bisection of the sun's altitude at an instant, no day arithmetic), then the controller's plan
must be on from 2 min after that local evening's sunset to 2 min before sunrise, across local
midnight, and off 2 min before the sunset (switch-on within 2 min of the sunset).
"""

import math
import zoneinfo
from pathlib import Path

import pytest

from agent.platform.clock import ZoneOffset
from edge_rules.civil import DAY_S, days_from_civil
from edge_rules.controller import LightingController
from edge_rules.sunclock import SUNRISE_ZENITH, _jd, _solar
from edge_rules.tz import local_to_utc

TZDIR = Path("/usr/share/zoneinfo")
LATITUDES = (-60, -45, -30, -15, 0, 15, 30, 45, 60, 70)
DATES = ((2026, 3, 20), (2026, 6, 21), (2026, 9, 22), (2026, 12, 21))
PLAN = {"groups": {"A": {"devices": ["L-1"], "schedule": "night"}},
        "schedules": {"night": {"on": "sunset", "off": "sunrise"}}}
SLACK_S = 120


def _tab_longitudes() -> dict:
    """{zone: longitude} from zone1970.tab and zone.tab (ISO 6709 +DDMM[SS]+DDDMM[SS])."""
    found = {}
    for tab in ("zone.tab", "zone1970.tab"):
        path = TZDIR / tab
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            if line.startswith("#") or not line.strip():
                continue
            coords, zone = line.split("\t")[1:3]
            cut = max(coords.rfind("+"), coords.rfind("-"))
            lon = coords[cut:]
            deg = 3
            value = int(lon[1:1 + deg]) + int(lon[1 + deg:3 + deg]) / 60 + (
                int(lon[3 + deg:5 + deg]) / 3600 if len(lon) > 6 else 0)
            found[zone] = value if lon[0] == "+" else -value
    return found


def _zones() -> list:
    zones = sorted(zoneinfo.available_timezones())
    if len(zones) < 300:
        pytest.fail(f"the system zoneinfo has only {len(zones)} zones: install tzdata (apt-get install tzdata)")
    return zones


def _altitude_error(t: float, lat: float, lon: float) -> float:
    """cos(zenith) - cos(90.833 deg) at instant t: > 0 while the sun is up."""
    decl, eqt = _solar(_jd(t))
    true_solar_min = (t % DAY_S) / 60.0 + eqt + 4.0 * lon
    ha = math.radians(true_solar_min / 4.0 - 180.0)
    latr = math.radians(lat)
    cos_zenith = math.sin(latr) * math.sin(decl) + math.cos(latr) * math.cos(decl) * math.cos(ha)
    return cos_zenith - math.cos(math.radians(SUNRISE_ZENITH))


def _crossing(a: float, b: float, lat: float, lon: float):
    fa, fb = _altitude_error(a, lat, lon), _altitude_error(b, lat, lon)
    if (fa > 0) == (fb > 0):
        return None
    for _ in range(30):
        mid = (a + b) / 2
        if (_altitude_error(mid, lat, lon) > 0) == (fa > 0):
            a = mid
        else:
            b = mid
    return (a + b) / 2


def _night(tz, day: int, lat: float, lon: float):
    """(sunset of local day's evening, next sunrise) by bisection, or None (polar, or too short)."""
    local_noon = local_to_utc(tz, day * DAY_S + DAY_S // 2)
    decl, eqt = _solar(_jd(local_noon))
    hour_angle = ((local_noon % DAY_S) / 60.0 + eqt + 4.0 * lon) / 4.0 - 180.0
    solar_noon = local_noon - ((hour_angle + 180.0) % 360.0 - 180.0) * 240.0
    sunset = _crossing(solar_noon, solar_noon + DAY_S / 2, lat, lon)
    sunrise = _crossing(solar_noon + DAY_S / 2, solar_noon + DAY_S, lat, lon)
    if sunset is None or sunrise is None or not 3600 < sunrise - sunset < DAY_S - 3600:
        return None
    return sunset, sunrise


def _check_zone(name: str, lon: float) -> tuple:
    tz = ZoneOffset(name)
    checked = 0
    problems = []
    for lat in LATITUDES:
        ctl = LightingController(PLAN, tz, lat, lon)
        plan = ctl.plans["A"]
        for y, m, d in DATES:
            day = days_from_civil(y, m, d)
            night = _night(tz, day, lat, lon)
            if night is None:
                continue
            sunset, sunrise = night
            midnight = local_to_utc(tz, (day + 1) * DAY_S)
            probes = [sunset + SLACK_S, sunrise - SLACK_S, (sunset + sunrise) / 2]
            probes += [t for t in (midnight - 1, midnight + 1) if sunset + SLACK_S < t < sunrise - SLACK_S]
            for t in probes:
                if plan.decide(ctl.sky, int(t), {})[0] is not True:
                    problems.append(f"{name} lat {lat} {y}-{m:02d}-{d:02d}: off at night "
                                    f"({(t - sunset) / 3600:.2f} h after sunset)")
            if plan.decide(ctl.sky, int(sunset - SLACK_S), {})[0] is not False:
                problems.append(f"{name} lat {lat} {y}-{m:02d}-{d:02d}: on more than 2 min before sunset")
            checked += 1
    return checked, problems


def test_dusk_to_dawn_is_on_all_night_and_switches_on_at_sunset_in_every_zone():
    longitudes = _tab_longitudes()
    checked = 0
    problems = []
    for name in _zones():
        lon = longitudes.get(name)
        if lon is None:   # Etc/GMT+5, UTC, legacy links: the longitude of its standard offset
            offset = ZoneOffset(name).utcoffset(days_from_civil(2026, 1, 15) * DAY_S)
            lon = max(-180.0, min(180.0, offset / 240.0))
        n, bad = _check_zone(name, lon)
        checked += n
        problems.extend(bad)
    assert checked > 15000, checked
    assert not problems, f"{len(problems)} failed checks over {checked} nights, e.g.:\n" + "\n".join(problems[:20])
