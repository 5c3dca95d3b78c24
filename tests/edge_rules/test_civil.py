from edge_rules import civil


def test_days_from_civil_known_values():
    assert civil.days_from_civil(1970, 1, 1) == 0
    assert civil.days_from_civil(2000, 1, 1) == 10957
    assert civil.days_from_civil(2000, 3, 1) == 11017  # 2000 is a leap year
    assert civil.days_from_civil(1969, 12, 31) == -1
    # 1700000000 is 2023-11-14 22:13:20 UTC
    assert civil.days_from_civil(2023, 11, 14) * 86400 + 22 * 3600 + 13 * 60 + 20 == 1700000000


def test_civil_from_days_round_trips_across_four_centuries():
    for days in range(-1000, 150000, 37):
        y, m, d = civil.civil_from_days(days)
        assert civil.days_from_civil(y, m, d) == days


def test_weekday_known_dates():
    assert civil.WEEKDAYS[civil.weekday_of_days(0)] == "thu"
    assert civil.WEEKDAYS[civil.weekday_of_days(civil.days_from_civil(2025, 3, 30))] == "sun"
    assert civil.WEEKDAYS[civil.weekday_of_days(civil.days_from_civil(2024, 2, 29))] == "thu"


def test_last_sunday_of_month():
    assert civil.civil_from_days(civil.last_weekday_of_month(2025, 3, 6)) == (2025, 3, 30)
    assert civil.civil_from_days(civil.last_weekday_of_month(2025, 10, 6)) == (2025, 10, 26)
    assert civil.civil_from_days(civil.last_weekday_of_month(2024, 3, 6)) == (2024, 3, 31)


def test_parse_date_and_time():
    assert civil.parse_date("2024-02-29") == (2024, 2, 29)
    assert civil.parse_hhmm("22:00") == 79200
    assert civil.parse_hhmm("24:00") == 86400
    for bad in ("2023-02-29", "2024-13-01", "2024-1-01", "tomorrow"):
        try:
            civil.parse_date(bad)
        except ValueError:
            continue
        raise AssertionError("accepted %r" % bad)
    for bad in ("25:00", "22:60", "2200", "ab:cd", "24:30"):
        try:
            civil.parse_hhmm(bad)
        except ValueError:
            continue
        raise AssertionError("accepted %r" % bad)
