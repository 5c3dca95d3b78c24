from edge_rules.errors import RuleConfigError
from edge_rules.failsafe import ClockGuard, Failsafe


def test_default_is_full_on_unless_configured():
    assert Failsafe(None).default()[:2] == (True, 100)
    assert Failsafe({"level": 70}).default()[:2] == (True, 70)


def test_untrusted_without_lux_sensor_is_on():
    fs = Failsafe({})
    assert fs.untrusted({}, "no sync")[:2] == (True, 100)
    fs = Failsafe({"lux_point": "LUX-1.lux"})
    assert fs.untrusted({}, "no sync")[:2] == (True, 100)  # sensor configured but silent


def test_untrusted_follows_lux_with_hysteresis():
    fs = Failsafe({"lux_point": "LUX-1.lux", "dark_below": 50, "light_above": 200})
    assert fs.untrusted({"LUX-1.lux": 10}, "jump")[0] is True
    assert fs.untrusted({"LUX-1.lux": 120}, "jump")[0] is True  # between thresholds: stays on
    assert fs.untrusted({"LUX-1.lux": 5000}, "jump")[0] is False
    assert fs.untrusted({"LUX-1.lux": 120}, "jump")[0] is False  # between thresholds: stays off
    assert fs.untrusted({"LUX-1.lux": 20}, "jump")[0] is True
    assert fs.untrusted({"LUX-1.bogus": 5000}, "jump")[0] is True


def test_bad_failsafe_config():
    for raw, path in (({"level": 0}, "failsafe.level"), ({"light_above": 10, "dark_below": 50}, "failsafe.light_above"),
                      ({"colour": 1}, "failsafe.colour")):
        try:
            Failsafe(raw)
        except RuleConfigError as err:
            assert err.path == path, err.path
            continue
        raise AssertionError("accepted %r" % (raw,))


def test_clock_untrusted_until_first_sync():
    guard = ClockGuard(60, 600)
    assert guard.observe(0, 10, False)[0] is False  # RTC-less Pi boots in 1970
    # the first sync jumps the clock by decades: expected, trusted at once
    assert guard.observe(1750000000, 15, True) == (True, "clock trusted")
    assert guard.observe(1750000005, 20, True)[0] is True


def test_jump_distrusts_clock_until_it_settles():
    guard = ClockGuard(60, 600)
    guard.observe(1750000000, 100, True)
    assert guard.observe(1750000030, 130, True)[0] is True  # small drift tolerated
    trusted, why = guard.observe(1750003700, 160, True)  # an hour's jump in 30 s
    assert trusted is False and "jumped" in why
    assert guard.observe(1750003700 + 599, 160 + 599, True)[0] is False
    assert guard.observe(1750003700 + 600, 160 + 600, True)[0] is True
    assert guard.observe(1750000000, 800, True)[0] is False  # and backwards


def test_resync_after_jump_restores_trust():
    guard = ClockGuard(60, 600)
    guard.observe(1750000000, 100, True)
    assert guard.observe(1750090000, 110, True)[0] is False
    assert guard.observe(1750000020, 120, False)[0] is False
    assert guard.observe(1750000030, 130, True)[0] is True
