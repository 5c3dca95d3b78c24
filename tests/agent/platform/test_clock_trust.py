"""Clock trust carried across a restart: only while the clock provably ran on, within the drift bound."""

import asyncio
import json

from agent.platform.clock import (CARRY_MAX_S, DRIFT_PPM, MARK_SLACK_S, AgentClock, current_mark,
                                  kernel_clock_synchronised, still_continuous)
from agent.services.clock_trust import ClockTrust, load_mark, save_mark

MARK = {"wall": 1_800_000_000.0, "boottime": 5_000.0, "boot_id": "b-1", "rtc": False}


def later(seconds, stepped=0.0, **changes):
    return {**MARK, "wall": MARK["wall"] + seconds + stepped, "boottime": MARK["boottime"] + seconds,
            **changes}


def test_same_boot_clock_that_ran_on_stays_trusted_within_the_drift_bound():
    assert still_continuous(MARK, later(600))
    hour_bound = MARK_SLACK_S + 3600 * DRIFT_PPM / 1e6
    assert still_continuous(MARK, later(3600, stepped=hour_bound * 0.9))
    assert not still_continuous(MARK, later(3600, stepped=hour_bound * 1.1))
    assert not still_continuous(MARK, later(600, stepped=-30))          # stepped back
    assert not still_continuous(MARK, later(CARRY_MAX_S + 1))           # too long without sync


def test_a_reboot_keeps_trust_only_from_a_battery_backed_rtc():
    # a Pi without RTC restarts from fake-hwclock's last save: never trusted
    assert not still_continuous(MARK, later(120, boot_id="b-2", boottime=30.0))
    assert still_continuous(MARK, later(120, boot_id="b-2", boottime=30.0, rtc=True))
    assert not still_continuous(MARK, later(-120, boot_id="b-2", boottime=30.0, rtc=True))


def test_a_mark_that_is_garbage_is_not_trust():
    for bad in ({}, {"boot_id": "b-1"}, {**MARK, "wall": "soon"}, {**MARK, "boot_id": ""}):
        assert not still_continuous(bad, later(60))


def test_agent_clock_carries_a_fresh_mark_of_this_boot():
    clock = AgentClock(trust="kernel")
    assert clock.trust_source() in ("ntp", "none")
    clock.carry(current_mark())
    expected = "ntp" if kernel_clock_synchronised() else "continuous"
    assert clock.trust_source() == expected and clock.trusted()
    clock.carry({**current_mark(), "wall": current_mark()["wall"] - 3600})   # stepped an hour
    assert clock.trust_source() in ("ntp", "none")
    assert AgentClock(start=0.0, rate=60).trust_source() == "time-warp"


def test_the_mark_file_survives_corruption_and_is_written_atomically(tmp_path):
    path = tmp_path / "clock-trust.json"
    assert load_mark(str(path)) is None
    path.write_text("{torn")
    assert load_mark(str(path)) is None
    trust = ClockTrust(str(path))
    save_mark(trust, AgentClock(trust="kernel"))
    mark = json.loads(path.read_text())
    assert set(mark) == {"wall", "boottime", "boot_id", "rtc"}
    assert load_mark(str(path)) == mark
    path.write_text("[1, 2]")
    assert load_mark(str(path)) is None
    assert not list(tmp_path.glob("clock-trust.json.tmp*"))


def test_a_restarted_service_resumes_trust_from_the_mark(tmp_path):
    from tests.agent.services.test_lighting_service import ROAD, Device, Scheduler
    from agent.services.lighting import LightingService
    from edge_rules.controller import LightingController
    from edge_rules.tz import FixedOffset
    path = tmp_path / "clock-trust.json"
    path.write_text(json.dumps(current_mark()))
    clock = AgentClock(trust="kernel")
    ctl = LightingController(ROAD, FixedOffset(7 * 3600, "WIB"), -6.178, 106.632)
    events = []
    svc = LightingService(ctl, clock, {"L-001": Device()}, {"L-001": Scheduler()},
                          lambda d, e, p=0, **f: events.append((e, f)), trust_file=str(path))
    asyncio.run(svc.step())
    trust = [f for e, f in events if e == "clock_trust"]
    assert trust[0]["trusted"] is True and trust[0]["source"] in ("continuous", "ntp")
