"""Crew holds and timed city commands last their duration on the monotonic clock, whatever
the wall clock does (NTP's first step after boot, a clock set back by hand)."""

import asyncio

from agent.services.lighting import LightingService
from edge_rules.controller import LightingController
from edge_rules.tz import FixedOffset
from tests.agent.services.test_lighting_service import NOON, Device, Scheduler

ROAD = {"groups": {"road": {"devices": ["L-001", "L-002"]}}}


class SteppedClock:
    """A real-time clock whose wall can be stepped like NTP does."""

    def __init__(self):
        self.mono = 1000.0
        self.offset = NOON - 1000.0

    def wall(self):
        return self.mono + self.offset

    def monotonic(self):
        return self.mono

    def trusted(self):
        return True


def _service():
    ctl = LightingController(ROAD, FixedOffset(7 * 3600, "WIB"), -6.178, 106.632)
    devices = {d: Device() for d in ("L-001", "L-002")}
    clock = SteppedClock()
    svc = LightingService(ctl, clock, devices, {d: Scheduler() for d in devices},
                          lambda *a, **k: None)
    asyncio.run(svc.step())
    return svc, clock


def test_an_ntp_step_forward_does_not_end_a_two_hour_hold():
    """Before: the hold's end was a wall time; NTP's +3 days step 60 s after boot ended an
    "off, 2 h" hold and the light went back to the failsafe (ON)."""
    svc, clock = _service()
    asyncio.run(svc.override(device="L-001", switch=False, for_s=7200, user="budi"))
    clock.mono += 60
    clock.offset += 3 * 86400                       # NTP's first sync
    asyncio.run(svc.step())
    assert svc.outputs["L-001"] == {"switch": False, "dim": 0, "source": "maintenance"}
    clock.mono += 7200 - 60 - 5
    asyncio.run(svc.step())
    assert svc.outputs["L-001"]["source"] == "maintenance"
    clock.mono += 10                                  # two real hours after it was set
    asyncio.run(svc.step())
    assert svc.outputs["L-001"]["source"] != "maintenance" and svc.outputs["L-001"]["switch"]


def test_a_step_back_does_not_stretch_a_hold_or_a_city_command():
    svc, clock = _service()
    asyncio.run(svc.override(device="L-001", switch=False, for_s=600))
    asyncio.run(svc.apply_city_command(["L-002"], None, 30, 600))
    clock.mono += 30
    clock.offset -= 86400                             # the clock set back a day
    asyncio.run(svc.step())
    assert [svc.outputs[d]["source"] for d in ("L-001", "L-002")] == ["maintenance", "command"]
    clock.mono += 575
    asyncio.run(svc.step())
    assert [svc.outputs[d]["source"] for d in ("L-001", "L-002")] == ["failsafe", "failsafe"]


def test_a_slewing_clock_is_not_a_step():
    svc, clock = _service()
    asyncio.run(svc.override(device="L-001", switch=False, for_s=600))
    entry = svc.controller.arbiter.entries("maintenance")[0]
    end = entry.expires_s
    for _ in range(10):
        clock.mono += 5
        clock.offset += 0.5                           # NTP slewing: small, steady
        asyncio.run(svc.step())
    assert entry.expires_s == end


# Review finding 3: holds and timed city commands survive a restart, re-armed honestly.

def _restartable(path, clock):
    ctl = LightingController(ROAD, FixedOffset(7 * 3600, "WIB"), -6.178, 106.632)
    devices = {d: Device() for d in ("L-001", "L-002")}
    svc = LightingService(ctl, clock, devices, {d: Scheduler() for d in devices},
                          lambda *a, **k: None, holds_file=str(path))
    asyncio.run(svc.step())
    return svc


def _wait_saved(path, count):
    import json
    import time
    for _ in range(500):                  # the save is on the holds' writer thread
        if path.exists() and len(json.loads(path.read_text())["entries"]) == count:
            return
        time.sleep(0.01)
    raise AssertionError(f"{path} never held {count} entries")


def _held_then_restarted(tmp_path, down_s, wall_step_s):
    path = tmp_path / "holds.json"
    clock = SteppedClock()
    svc = _restartable(path, clock)
    asyncio.run(svc.override(device="L-001", switch=False, for_s=600, user="budi"))
    asyncio.run(svc.apply_city_command(["L-002"], None, 30, 600))
    _wait_saved(path, 2)
    again = SteppedClock()                  # a new process: a new monotonic origin
    again.offset = clock.wall() + down_s + wall_step_s - again.mono
    return _restartable(path, again), again


def test_a_restart_under_a_hold_keeps_it_until_its_end(tmp_path):
    """Before: holds lived only in memory; a restart handed the light back to the schedule
    (seen failing on the old code)."""
    svc, clock = _held_then_restarted(tmp_path, down_s=100, wall_step_s=0)
    assert [svc.outputs[d]["source"] for d in ("L-001", "L-002")] == ["maintenance", "command"]
    assert svc.outputs["L-001"]["switch"] is False and svc.outputs["L-002"]["dim"] == 30
    clock.mono += 600 - 100 - 5
    asyncio.run(svc.step())
    assert svc.outputs["L-001"]["source"] == "maintenance"
    clock.mono += 10                                  # the downtime counted against it
    asyncio.run(svc.step())
    assert [svc.outputs[d]["source"] for d in ("L-001", "L-002")] == ["failsafe", "failsafe"]


def test_a_clock_stepped_forward_while_down_ends_the_hold(tmp_path):
    svc, _ = _held_then_restarted(tmp_path, down_s=10, wall_step_s=3 * 86400)
    assert svc.outputs["L-001"]["source"] != "maintenance"


def test_a_clock_behind_at_start_gives_no_more_than_the_time_left(tmp_path):
    """No RTC: the gateway boots with the clock days behind; the hold gets what it had left
    when saved (600 s), not the days up to its stored end."""
    svc, clock = _held_then_restarted(tmp_path, down_s=0, wall_step_s=-5 * 86400)
    entry = svc.controller.arbiter.entries("maintenance")[0]
    assert entry.expires_s == int(clock.wall()) + 600
