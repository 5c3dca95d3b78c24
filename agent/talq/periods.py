"""Active periods of a recording mode (spec §5.5 "Active periods"; RecordingMode.activePeriods
in the data-model OAS): the times of day when a logger records. None given: all day.

Supported: AbsoluteActivePeriod (startTime..endTime, hh:mm:ss in the gateway's local time; an
end before the start runs past midnight; start = end is the whole day) and
AstroClockActivePeriod (sunset + sunsetOffset .. sunrise + sunriseOffset, signed minutes).
Sensor, astro-and-sensor and value periods are refused with 422: Lentera has no photocell or
value trigger to start them. A logger is active when any of its periods is.
"""

import re
from datetime import datetime

from edge_rules.sunclock import sun_day
from agent.talq.errors import TalqError, bad

TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d):([0-5]\d)$")
MAX_PERIODS = 16
MAX_OFFSET_MIN = 720
DAY_S = 86400


def _seconds(value, where: str) -> int:
    found = TIME.match(value) if isinstance(value, str) else None
    if found is None:
        raise bad("payloadError", f"{where}: a time of day hh:mm:ss")
    return int(found[1]) * 3600 + int(found[2]) * 60 + int(found[3])


def _offset(value, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or \
            not -MAX_OFFSET_MIN <= value <= MAX_OFFSET_MIN:
        raise bad("payloadError", f"{where}: whole minutes -{MAX_OFFSET_MIN}..{MAX_OFFSET_MIN}")
    return value


def decode_periods(raw) -> list:
    """activePeriods -> [("absolute", start s, end s) | ("astro", sunset min, sunrise min)];
    TalqError (400 malformed, 422 a kind not supported) is the only error it raises."""
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > MAX_PERIODS:
        raise bad("payloadError", f"recordingMode.activePeriods: at most {MAX_PERIODS} periods")
    out = []
    for i, period in enumerate(raw):
        where = f"recordingMode.activePeriods[{i}]"
        name = period.get("name") if isinstance(period, dict) else None
        if name == "AbsoluteActivePeriod":
            out.append(("absolute", _seconds(period.get("startTime"), where + ".startTime"),
                        _seconds(period.get("endTime"), where + ".endTime")))
        elif name == "AstroClockActivePeriod":
            out.append(("astro", _offset(period.get("sunsetOffset"), where + ".sunsetOffset"),
                        _offset(period.get("sunriseOffset"), where + ".sunriseOffset")))
        elif isinstance(name, str):
            raise TalqError(422, "payloadError", f"{where}: {name[:40]!r} is not supported; "
                            "this gateway takes AbsoluteActivePeriod and AstroClockActivePeriod")
        elif isinstance(period, dict) and "type" in period:
            raise bad("payloadError", f"{where}.name is missing: the data-model OAS names an "
                      "active period by name, not type (§5.5's example writes \"type\": "
                      f"{str(period['type'])[:40]!r}): send \"name\": \"AbsoluteActivePeriod\" "
                      "or \"AstroClockActivePeriod\"")
        else:
            raise bad("payloadError", f"{where}: an ActivePeriod with its name "
                      "(AbsoluteActivePeriod or AstroClockActivePeriod)")
    return out


def active(periods: list, epoch_s: float, zone, lat: float, lon: float) -> bool:
    """Whether a logger with these periods records at epoch_s (no periods: always)."""
    if not periods:
        return True
    local = datetime.fromtimestamp(epoch_s, zone)
    second = local.hour * 3600 + local.minute * 60 + local.second
    for period in periods:
        if period[0] == "absolute":
            start, end = period[1], period[2]
            if start == end or (start <= second < end if start < end
                                else second >= start or second < end):
                return True
        else:
            sun = sun_day(lat, lon, local.year, local.month, local.day)
            sunrise, sunset = sun.get("sunrise"), sun.get("sunset")
            if sunrise is None or sunset is None:
                return True             # no sunrise or sunset today: record rather than lose
            if epoch_s >= sunset + period[1] * 60 or epoch_s < sunrise + period[2] * 60:
                return True
    return False
