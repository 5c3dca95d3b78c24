"""Without a lighting plan, a city command lasts its duration on the monotonic clock, whatever
the wall clock does (review finding 2, as for crew holds): DirectArbiter measured it on wall
time, so NTP's first step after boot ended a 2 h command at once and a step back stretched it."""

import asyncio

from agent.services.arbiter import DirectArbiter
from tests.agent.services.test_arbitration_property import Device, Scheduler


class SteppedClock:
    """A real-time clock whose wall can be stepped like NTP does."""

    def __init__(self):
        self.mono = 1000.0
        self.offset = 1_800_000_000.0

    def wall(self):
        return self.mono + self.offset

    def monotonic(self):
        return self.mono


def _arbiter():
    clock = SteppedClock()
    devices = {"L-001": Device()}
    return DirectArbiter(devices, {"L-001": Scheduler()}, clock=clock), devices["L-001"], clock


def test_an_ntp_step_forward_does_not_end_a_two_hour_city_command():
    arb, light, clock = _arbiter()

    async def body():
        await arb.apply_city_command(["L-001"], False, None, 7200)
        assert light.values["switch"] == 0
        clock.mono += 60
        clock.offset += 3 * 86400                  # NTP's first sync after boot
        await arb.settle()
        assert light.values["switch"] == 0, "the command ended on the wall clock's step"
        clock.mono += 7200 - 60 - 5
        await arb.settle()
        assert light.values["switch"] == 0
        clock.mono += 10                           # its two hours are over
        await arb.settle()
        assert light.values["switch"] == 1         # back as found
    asyncio.run(body())


def test_a_step_back_does_not_stretch_a_city_command():
    arb, light, clock = _arbiter()

    async def body():
        await arb.apply_city_command(["L-001"], None, 30, 600)
        assert light.values["dim"] == 30
        clock.offset -= 86400                      # the clock set back a day by hand
        clock.mono += 601
        await arb.settle()
        assert light.values["dim"] == 100, "the command outlived its 10 minutes"
    asyncio.run(body())
