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
