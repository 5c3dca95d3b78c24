from edge_rules.civil import days_from_civil
from edge_rules.tz import FixedOffset, eu_zone, local_seconds, local_to_utc, posix_zone

H = 3600


def utc(y, mo, d, h=0, mi=0):
    return days_from_civil(y, mo, d) * 86400 + h * H + mi * 60


# Published transition instants (UTC) for 2025
EU_2025 = (utc(2025, 3, 30, 1), utc(2025, 10, 26, 1))
US_EASTERN_2025 = (utc(2025, 3, 9, 7), utc(2025, 11, 2, 6))
SYDNEY_2025 = (utc(2025, 10, 4, 16), utc(2025, 4, 5, 16))  # (start, end): AEDT ends in April


def test_fixed_offset_jakarta():
    wib = FixedOffset(7 * H, "WIB")
    for t in range(utc(2025, 1, 1), utc(2026, 1, 1), 86400 * 7):
        assert wib.utcoffset(t) == 7 * H
    assert local_to_utc(wib, utc(2025, 6, 1, 22)) == utc(2025, 6, 1, 15)


def test_eu_week_across_spring_change_hour_by_hour():
    cet = eu_zone(1, "CET")
    start = utc(2025, 3, 27)
    for hour in range(7 * 24):
        t = start + hour * H
        expected = 2 * H if t >= EU_2025[0] else 1 * H
        assert cet.utcoffset(t) == expected, hour
    assert cet.utcoffset(EU_2025[0] - 1) == H


def test_eu_week_across_autumn_change():
    cet = eu_zone(1, "CET")
    for hour in range(7 * 24):
        t = utc(2025, 10, 23) + hour * H
        assert cet.utcoffset(t) == (2 * H if t < EU_2025[1] else H), hour


def test_posix_strings_match_published_transitions():
    zones = (
        ("CET-1CEST,M3.5.0,M10.5.0/3", EU_2025, H, 2 * H),
        ("EST5EDT,M3.2.0,M11.1.0", US_EASTERN_2025, -5 * H, -4 * H),
        ("AEST-10AEDT,M10.1.0,M4.1.0/3", SYDNEY_2025, 10 * H, 11 * H),
    )
    for spec, (start, end), std, dst in zones:
        zone = posix_zone(spec)
        assert zone.utcoffset(start - 1) == std, spec
        assert zone.utcoffset(start) == dst, spec
        assert zone.utcoffset(end - 1) == dst, spec
        assert zone.utcoffset(end) == std, spec


def test_posix_fixed_zone():
    assert posix_zone("WIB-7").utcoffset(0) == 7 * H
    assert posix_zone("<+0530>-5:30").utcoffset(0) == 5 * H + 1800


def test_bad_posix_string_is_rejected():
    for bad in ("", "X1", "CET-1CEST,J60,J300", "CET-1CEST"):
        try:
            posix_zone(bad)
        except ValueError:
            continue
        raise AssertionError("accepted %r" % bad)


def test_local_to_utc_in_fold_and_gap():
    cet = eu_zone(1, "CET")
    # 02:30 on 2025-03-30 does not exist in Berlin: moved forward to 03:30 CEST = 01:30 UTC
    assert local_to_utc(cet, utc(2025, 3, 30, 2, 30)) == utc(2025, 3, 30, 1, 30)
    # 02:30 on 2025-10-26 happens twice: the first (CEST) one is chosen
    assert local_to_utc(cet, utc(2025, 10, 26, 2, 30)) == utc(2025, 10, 26, 0, 30)
    assert local_to_utc(cet, utc(2025, 7, 1, 22)) == utc(2025, 7, 1, 20)
    assert local_seconds(cet, utc(2025, 7, 1, 20)) == utc(2025, 7, 1, 22)


def test_matches_zoneinfo_for_a_year_on_cpython():
    try:
        from zoneinfo import ZoneInfo
        from datetime import datetime
    except ImportError:
        return  # MicroPython: the published-transition tables above are the reference there
    pairs = (("Europe/Berlin", eu_zone(1)), ("Europe/Oslo", posix_zone("CET-1CEST,M3.5.0,M10.5.0/3")),
             ("America/New_York", posix_zone("EST5EDT,M3.2.0,M11.1.0")),
             ("Australia/Sydney", posix_zone("AEST-10AEDT,M10.1.0,M4.1.0/3")))
    for key, zone in pairs:
        ref = ZoneInfo(key)
        for t in range(utc(2024, 1, 1), utc(2026, 1, 1), 1800):
            expected = datetime.fromtimestamp(t, ref).utcoffset().total_seconds()
            assert zone.utcoffset(t) == expected, (key, t)
