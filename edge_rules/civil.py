"""Proleptic Gregorian civil-date arithmetic on epoch seconds (MicroPython has no `datetime`)."""

DAY_S = 86400

# Monday is 0, as in CPython's date.weekday()
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm)."""
    y = year - 1 if month <= 2 else year
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    mp = (month + 9) % 12
    doy = (153 * mp + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil_from_days(days: int) -> tuple:
    """(year, month, day) of a count of days since 1970-01-01."""
    z = days + 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (1 if month <= 2 else 0)
    return (year, month, day)


def weekday_of_days(days: int) -> int:
    """Weekday (Monday=0) of a count of days since 1970-01-01, which was a Thursday."""
    return (days + 3) % 7


def days_in_month(year: int, month: int) -> int:
    """Number of days in a month."""
    if month == 12:
        return 31
    return days_from_civil(year, month + 1, 1) - days_from_civil(year, month, 1)


def last_weekday_of_month(year: int, month: int, weekday: int) -> int:
    """Days since epoch of the last given weekday (Monday=0) of a month."""
    last = days_from_civil(year, month, days_in_month(year, month))
    return last - (weekday_of_days(last) - weekday) % 7


def parse_date(text: str) -> tuple:
    """(year, month, day) from 'YYYY-MM-DD'; raises ValueError on anything else."""
    parts = str(text).split("-")
    if len(parts) != 3 or len(parts[0]) != 4 or len(parts[1]) != 2 or len(parts[2]) != 2:
        raise ValueError("expected a date like 2025-03-31, got %r" % (text,))
    year, month, day = int(parts[0]), int(parts[1]), int(parts[2])
    if not 1 <= month <= 12 or not 1 <= day <= days_in_month(year, month):
        raise ValueError("no such date: %r" % (text,))
    return (year, month, day)


def parse_hhmm(text: str) -> int:
    """Seconds after midnight from 'HH:MM' (00:00..24:00); raises ValueError otherwise."""
    parts = str(text).split(":")
    if len(parts) != 2 or not parts[0].isdigit() or not parts[1].isdigit() or len(parts[1]) != 2:
        raise ValueError("expected a time like 22:00, got %r" % (text,))
    hours, minutes = int(parts[0]), int(parts[1])
    if hours > 24 or minutes > 59 or (hours == 24 and minutes):
        raise ValueError("no such time of day: %r" % (text,))
    return hours * 3600 + minutes * 60


def local_midnight(local_s: int) -> int:
    """Start of the local day holding a local-seconds timestamp."""
    return local_s - local_s % DAY_S
