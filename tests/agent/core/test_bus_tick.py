"""BusScheduler's tick: polls due within one tick start in one wake-up, periods still kept."""

import asyncio

from agent.core.bus import BusScheduler, PollTarget
from virtual_time import Collector, FakeDevice, VirtualClock


class CountingClock(VirtualClock):
    """The virtual clock, counting the idle waits that moved it (the scheduler's wake-ups)."""

    def __init__(self):
        super().__init__()
        self.wakes = 0

    async def wait(self, event, timeout):
        if not await super().wait(event, timeout):
            self.wakes += 1
        return False


async def _run(tick, seconds=10.0):
    clock = CountingClock()
    devices = [FakeDevice(clock, "L-%03d" % (i + 1), 0.0005) for i in range(100)]
    targets = [PollTarget(d.device_id, 1.0, d.read) for d in devices]
    bus = BusScheduler("ep0", targets, Collector(), clock, clock.wall_ms, max_in_flight=1,
                       wait=clock.wait, tick=tick)
    task = asyncio.create_task(bus.run_loop())
    until = clock.now + seconds
    while clock.now < until:
        await asyncio.sleep(0)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    return clock.wakes / seconds, [len(d.reads) for d in devices]


async def test_polls_due_within_a_tick_share_one_wake_up():
    wakes_per_s, reads = await _run(tick=0.02)
    assert wakes_per_s <= 52                  # 100 polls a second, about 2 a wake-up
    assert all(9 <= n <= 11 for n in reads)   # every device still polled once a second


async def test_without_a_tick_every_poll_has_a_wake_up_of_its_own():
    wakes_per_s, reads = await _run(tick=0.0)
    assert wakes_per_s >= 95
    assert all(9 <= n <= 11 for n in reads)
