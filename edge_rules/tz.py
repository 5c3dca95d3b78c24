"""Time zones without zoneinfo: a fixed offset and a rule-based DST zone (POSIX TZ `M` rules).

Any object with `utcoffset(epoch_s) -> seconds east of UTC` is a zone for edge_rules; the CPython
agent may pass an adapter around zoneinfo instead of these.
"""

from edge_rules.civil import DAY_S, civil_from_days, days_from_civil, days_in_month, weekday_of_days


class FixedOffset:
    """A zone with one offset all year, e.g. Asia/Jakarta = FixedOffset(7 * 3600, 'WIB')."""

    def __init__(self, offset_s: int, name: str = ""):
        self.offset_s = int(offset_s)
        self.name = name or "UTC%+03d:%02d" % (offset_s // 3600, abs(offset_s) % 3600 // 60)

    def utcoffset(self, epoch_s: int) -> int:
        """Seconds east of UTC at an instant."""
        return self.offset_s

    def __repr__(self):
        return "FixedOffset(%d, %r)" % (self.offset_s, self.name)


def _nth_weekday(year: int, month: int, nth: int, weekday: int) -> int:
    """Days since epoch of the nth (1..4, 5 = last) given weekday (Sunday=0, POSIX) of a month."""
    wd = (weekday + 6) % 7  # POSIX Sunday=0 -> Monday=0
    first = days_from_civil(year, month, 1)
    day = first + (wd - weekday_of_days(first)) % 7 + 7 * (nth - 1)
    while day >= first + days_in_month(year, month):
        day -= 7
    return day


class DstZone:
    """A zone with standard and daylight offsets switched by two yearly rules in local wall time."""

    def __init__(self, name: str, std_s: int, dst_s: int, start: tuple, end: tuple):
        # start/end: (month, nth 1..5 with 5 = last, weekday Sunday=0, wall seconds after midnight)
        for rule in (start, end):
            if len(rule) != 4 or not 1 <= rule[0] <= 12 or not 1 <= rule[1] <= 5 or not 0 <= rule[2] <= 6:
                raise ValueError("bad DST rule %r: expected (month, nth 1..5, weekday 0..6, seconds)" % (rule,))
        self.name = name
        self.std_s = int(std_s)
        self.dst_s = int(dst_s)
        self.start = tuple(start)
        self.end = tuple(end)
        self._cache = (None, None)

    def transitions(self, year: int) -> tuple:
        """(DST start, DST end) of a year as UTC epoch seconds."""
        if self._cache[0] == year:
            return self._cache[1]
        m, n, wd, at = self.start
        start = _nth_weekday(year, m, n, wd) * DAY_S + at - self.std_s
        m, n, wd, at = self.end
        end = _nth_weekday(year, m, n, wd) * DAY_S + at - self.dst_s
        self._cache = (year, (start, end))
        return start, end

    def utcoffset(self, epoch_s: int) -> int:
        """Seconds east of UTC at an instant."""
        year = civil_from_days((epoch_s + self.std_s) // DAY_S)[0]
        start, end = self.transitions(year)
        if start < end:
            in_dst = start <= epoch_s < end
        else:  # southern hemisphere: DST spans the new year
            in_dst = not end <= epoch_s < start
        return self.dst_s if in_dst else self.std_s

    def __repr__(self):
        return "DstZone(%r, %d, %d, %r, %r)" % (self.name, self.std_s, self.dst_s, self.start, self.end)


def eu_zone(std_hours: int, name: str = "") -> DstZone:
    """An EU zone: summer time from the last Sunday of March to the last Sunday of October, 01:00 UTC."""
    std = std_hours * 3600
    return DstZone(name or "EU%+d" % std_hours, std, std + 3600,
                   (3, 5, 0, 3600 + std), (10, 5, 0, 3600 + std + 3600))


def _parse_offset(text: str) -> int:
    sign = 1
    if text[:1] in ("+", "-"):
        sign = -1 if text[0] == "+" else 1  # POSIX offsets are west-positive
        text = text[1:]
    else:
        sign = -1
    parts = [int(p) for p in text.split(":")]
    secs = parts[0] * 3600 + (parts[1] * 60 if len(parts) > 1 else 0) + (parts[2] if len(parts) > 2 else 0)
    return sign * secs


def _split_name(text: str) -> tuple:
    if text.startswith("<"):
        close = text.index(">")
        return text[1:close], text[close + 1:]
    i = 0
    while i < len(text) and text[i].isalpha():
        i += 1
    if i < 3:
        raise ValueError("zone abbreviation too short")
    return text[:i], text[i:]


def _parse_rule(text: str) -> tuple:
    date, _, at = text.partition("/")
    if not date.startswith("M"):
        raise ValueError("only Mm.w.d rules are supported, got %r" % (date,))
    month, nth, weekday = [int(p) for p in date[1:].split(".")]
    return (month, nth, weekday, -_parse_offset(at) if at else 7200)


def posix_zone(spec: str):
    """A zone from a POSIX TZ string, e.g. 'WIB-7' or 'CET-1CEST,M3.5.0,M10.5.0/3'."""
    try:
        std_name, rest = _split_name(spec)
        head, _, rules = rest.partition(",")
        i = 0
        while i < len(head) and (head[i].isdigit() or head[i] in "+-:"):
            i += 1
        std = _parse_offset(head[:i])
        if not head[i:]:
            return FixedOffset(std, std_name)
        dst_name, dst_off = _split_name(head[i:])
        dst = _parse_offset(dst_off) if dst_off else std + 3600
        start, end = rules.split(",")
        return DstZone(std_name + "/" + dst_name, std, dst, _parse_rule(start), _parse_rule(end))
    except (ValueError, IndexError) as exc:
        raise ValueError("bad POSIX TZ string %r: %s" % (spec, exc))


def local_to_utc(tz, local_s: int) -> int:
    """UTC epoch of a local wall time: the first one in a fold; a time in a gap is moved forward."""
    offsets = []
    for probe in (local_s - DAY_S, local_s + DAY_S):
        off = tz.utcoffset(probe)
        if off not in offsets:
            offsets.append(off)
    valid = [local_s - off for off in offsets if tz.utcoffset(local_s - off) == off]
    if valid:
        return min(valid)
    # in the spring-forward gap: read the wall time with the offset in force before it
    return local_s - tz.utcoffset(local_s - DAY_S)


def local_seconds(tz, epoch_s: int) -> int:
    """Local wall-clock seconds since 1970-01-01 local of a UTC instant."""
    return epoch_s + tz.utcoffset(epoch_s)
