"""Astronomical clock: sunrise, sunset and civil twilight from NOAA's solar position algorithm.

The equations are those of NOAA's Solar Calculator (after Meeus, "Astronomical Algorithms"); times
are UTC epoch seconds. Accuracy is about a minute between the polar circles.
"""

import math

from edge_rules.civil import DAY_S, days_from_civil

# zenith angles in degrees: sunrise/sunset allow 34' refraction plus the sun's 16' radius
SUNRISE_ZENITH = 90.833
CIVIL_ZENITH = 96.0

POLAR_DAY = "polar day: the sun stays above the horizon all day"
POLAR_NIGHT = "polar night: the sun stays below the horizon all day"
WHITE_NIGHT = "white night: the sun never sinks 6 degrees below the horizon, no civil twilight"
NO_CIVIL_LIGHT = "the sun never rises to 6 degrees below the horizon all day"

EVENTS = ("dawn", "sunrise", "noon", "sunset", "dusk")


def _solar(jd: float) -> tuple:
    """(declination in radians, equation of time in minutes) at a Julian day."""
    t = (jd - 2451545.0) / 36525.0
    l0 = (280.46646 + t * (36000.76983 + t * 0.0003032)) % 360.0
    m = 357.52911 + t * (35999.05029 - 0.0001537 * t)
    e = 0.016708634 - t * (0.000042037 + 0.0000001267 * t)
    mr = math.radians(m)
    c = (math.sin(mr) * (1.914602 - t * (0.004817 + 0.000014 * t))
         + math.sin(2 * mr) * (0.019993 - 0.000101 * t) + math.sin(3 * mr) * 0.000289)
    omega = math.radians(125.04 - 1934.136 * t)
    apparent = math.radians(l0 + c - 0.00569 - 0.00478 * math.sin(omega))
    eps0 = 23.0 + (26.0 + (21.448 - t * (46.815 + t * (0.00059 - t * 0.001813))) / 60.0) / 60.0
    eps = math.radians(eps0 + 0.00256 * math.cos(omega))
    decl = math.asin(math.sin(eps) * math.sin(apparent))
    y = math.tan(eps / 2) ** 2
    l0r = math.radians(l0)
    eqt = (y * math.sin(2 * l0r) - 2 * e * math.sin(mr) + 4 * e * y * math.sin(mr) * math.cos(2 * l0r)
           - 0.5 * y * y * math.sin(4 * l0r) - 1.25 * e * e * math.sin(2 * mr))
    return decl, 4.0 * math.degrees(eqt)


def _jd(epoch_s: float) -> float:
    return epoch_s / DAY_S + 2440587.5


def _hour_angle_cos(lat: float, decl: float, zenith: float) -> float:
    latr = math.radians(lat)
    return (math.cos(math.radians(zenith)) / (math.cos(latr) * math.cos(decl))
            - math.tan(latr) * math.tan(decl))


def _event(day0: int, lat: float, lon: float, zenith: float, rising: bool) -> tuple:
    """(epoch seconds or None, cos of hour angle) of one event, refined by re-evaluating near it."""
    guess = day0 + (720.0 - 4.0 * lon) * 60.0
    cos_ha = 0.0
    for _ in range(3):
        decl, eqt = _solar(_jd(guess))
        cos_ha = _hour_angle_cos(lat, decl, zenith)
        if cos_ha > 1.0 or cos_ha < -1.0:
            return None, cos_ha
        ha = math.degrees(math.acos(cos_ha))
        minutes = 720.0 - 4.0 * (lon + ha if rising else lon - ha) - eqt
        guess = day0 + minutes * 60.0
    return int(round(guess)), cos_ha


class SunDay:
    """Sun events of one day at one place: epoch seconds (UTC) or None, with the reason for None."""

    def __init__(self, times: dict, reasons: dict):
        self.times = times
        self.reasons = reasons

    def get(self, name: str):
        """Epoch seconds of 'dawn', 'sunrise', 'noon', 'sunset' or 'dusk', or None if it does not happen."""
        return self.times[name]

    def reason(self, name: str):
        """Why an event does not happen this day, or None if it does."""
        return self.reasons.get(name)

    def __repr__(self):
        return "SunDay(%r, %r)" % (self.times, self.reasons)


def _missing_reason(cos_ha: float, civil: bool) -> str:
    if cos_ha < -1.0:
        return WHITE_NIGHT if civil else POLAR_DAY
    return NO_CIVIL_LIGHT if civil else POLAR_NIGHT


def sun_day(lat: float, lon: float, year: int, month: int, day: int) -> SunDay:
    """Dawn, sunrise, solar noon, sunset and dusk for the solar day of a civil date at lat/lon (degrees, east +)."""
    if not -90.0 <= lat <= 90.0 or not -180.0 <= lon <= 180.0:
        raise ValueError("latitude must be in -90..90 and longitude in -180..180")
    # NOAA's formulas are singular at the poles themselves
    lat = max(-89.999, min(89.999, lat))
    day0 = days_from_civil(year, month, day) * DAY_S
    times = {}
    reasons = {}
    for name, zenith, rising in (("dawn", CIVIL_ZENITH, True), ("sunrise", SUNRISE_ZENITH, True),
                                 ("sunset", SUNRISE_ZENITH, False), ("dusk", CIVIL_ZENITH, False)):
        when, cos_ha = _event(day0, lat, lon, zenith, rising)
        times[name] = when
        if when is None:
            reasons[name] = _missing_reason(cos_ha, zenith == CIVIL_ZENITH)
    noon = day0 + (720.0 - 4.0 * lon) * 60.0
    for _ in range(2):
        noon = day0 + (720.0 - 4.0 * lon - _solar(_jd(noon))[1]) * 60.0
    times["noon"] = int(round(noon))
    return SunDay(times, reasons)
