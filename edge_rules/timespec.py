"""Time specs of schedules and dimming steps: 'sunset+10min', 'sunrise-15min', '22:00', and durations."""

from edge_rules.civil import DAY_S, civil_from_days, parse_hhmm
from edge_rules.errors import RuleConfigError
from edge_rules.sunclock import POLAR_DAY, WHITE_NIGHT, sun_day
from edge_rules.tz import local_to_utc

ANCHORS = ("dawn", "sunrise", "noon", "sunset", "dusk")
UNITS = (("min", 60), ("h", 3600), ("s", 1))

# what a missing sun event means for the sky: the sun stayed up, or it stayed down
SUN_UP = "up"
SUN_DOWN = "down"


def parse_duration(text, path: str) -> int:
    """Seconds from '30s', '5min', '2 min', '1h'; a RuleConfigError naming path otherwise."""
    raw = str(text).strip().replace(" ", "")
    for unit, scale in UNITS:
        if raw.endswith(unit):
            number = raw[:-len(unit)]
            if number.isdigit():
                return int(number) * scale
    raise RuleConfigError(path, "bad duration %r: use a whole number with s, min or h, e.g. 5min" % (text,))


def parse_timespec(text, path: str) -> tuple:
    """('fixed', seconds after local midnight) or ('sun', anchor, offset seconds) from config text."""
    raw = str(text).strip().replace(" ", "")
    if raw[:1].isdigit():
        try:
            return ("fixed", parse_hhmm(raw))
        except ValueError as exc:
            raise RuleConfigError(path, str(exc))
    cut = len(raw)
    for sign in ("+", "-"):
        if sign in raw:
            cut = min(cut, raw.index(sign))
    anchor = raw[:cut]
    if anchor not in ANCHORS:
        raise RuleConfigError(path, "unknown anchor %r: use one of %s, or a time like 22:00"
                              % (anchor, ", ".join(ANCHORS)))
    offset = 0
    if cut < len(raw):
        offset = parse_duration(raw[cut + 1:], path)
        if raw[cut] == "-":
            offset = -offset
    return ("sun", anchor, offset)


class Sky:
    """Resolves time specs to UTC instants for a place and zone; caches a few days of sun events."""

    def __init__(self, tz, lat: float, lon: float):
        self.tz = tz
        self.lat = lat
        self.lon = lon
        self._sun = {}

    def local_day(self, epoch_s: int) -> int:
        """The local civil day (days since 1970-01-01) holding an instant."""
        return (epoch_s + self.tz.utcoffset(epoch_s)) // DAY_S

    def day_start(self, day: int) -> int:
        """UTC instant of local midnight starting a local day."""
        return local_to_utc(self.tz, day * DAY_S)

    def solar_date(self, day: int) -> tuple:
        """(y, m, d): the UTC date whose solar day (in sun_day's sense) has its noon nearest local noon of `day`.

        sun_day() works from a UTC date and the longitude; near the date line the local date is a
        day off that UTC date (Pacific/Apia, UTC+13 at 171.8 W), so handing it the local date
        gave the next local day's sun.
        """
        local_noon = local_to_utc(self.tz, day * DAY_S + DAY_S // 2)
        solar_noon_of_day0 = DAY_S // 2 - self.lon * 240.0   # seconds after 00:00 UTC
        return civil_from_days(int((local_noon - solar_noon_of_day0 + DAY_S // 2) // DAY_S))

    def sun(self, day: int):
        """SunDay of a local day (its noon nearest local noon), cached."""
        found = self._sun.get(day)
        if found is None:
            if len(self._sun) > 8:
                self._sun = {}
            y, m, d = self.solar_date(day)
            found = sun_day(self.lat, self.lon, y, m, d)
            self._sun[day] = found
        return found

    def resolve(self, spec: tuple, day: int):
        """UTC instant of a spec on a local day, or SUN_UP / SUN_DOWN when its sun event does not happen."""
        if spec[0] == "fixed":
            return local_to_utc(self.tz, day * DAY_S + spec[1])
        sunday = self.sun(day)
        when = sunday.get(spec[1])
        if when is None:
            reason = sunday.reason(spec[1])
            return SUN_UP if reason in (POLAR_DAY, WHITE_NIGHT) else SUN_DOWN
        return when + spec[2]


def format_timespec(spec: tuple) -> str:
    """Config text of a parsed spec, for reasons in records."""
    if spec[0] == "fixed":
        return "%02d:%02d" % (spec[1] // 3600, spec[1] % 3600 // 60)
    if not spec[2]:
        return spec[1]
    sign = "+" if spec[2] > 0 else "-"
    secs = abs(spec[2])
    return "%s%s%s" % (spec[1], sign, "%dmin" % (secs // 60) if secs % 60 == 0 else "%ds" % secs)
