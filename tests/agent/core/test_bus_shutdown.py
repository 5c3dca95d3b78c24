"""A bus loop that ends waits for its workers: none is still mid-transaction afterwards."""

import asyncio

from agent.core.bus import BusScheduler, PollTarget
from drivers.errors import DeviceError
from virtual_time import Collector, VirtualClock


async def test_a_crashed_worker_ends_the_loop_only_after_the_others_unwound():
    """Before: when one worker crashed, the others were cancelled but not awaited, so a job
    was still unwinding (its port in use) while the supervisor restarted the loop."""
    clock = VirtualClock()
    boom = asyncio.Event()
    started = asyncio.Event()
    cleaned = []

    async def bad_read():
        await boom.wait()
        raise RuntimeError("a bug in a reader")

    async def job():
        try:
            started.set()
            await asyncio.sleep(3600)
        finally:
            for _ in range(3):
                await asyncio.sleep(0)       # unwinding takes a few steps (closing a port)
            cleaned.append("transaction unwound")

    bus = BusScheduler("lan", [PollTarget("L-001", 10.0, bad_read)], Collector(), clock,
                       clock.wall_ms, max_in_flight=2)
    loop_task = asyncio.create_task(bus.run_loop())
    await asyncio.sleep(0)
    waiter = asyncio.create_task(bus.execute(job))
    await asyncio.wait_for(started.wait(), 5)
    boom.set()
    crashed = False
    try:
        await loop_task
    except RuntimeError:
        crashed = True
    assert crashed
    assert cleaned == ["transaction unwound"]
    try:
        await waiter                         # its job was aborted with the loop
    except (asyncio.CancelledError, DeviceError):
        pass


async def test_a_cancel_that_lands_as_the_wake_up_arrives_still_stops_the_worker():
    """Before: CPython 3.11's wait_for returns the inner result when a cancel lands in the same
    step as the event it waits for (gh-86296), so the cancel was lost and a bus worker polled
    on after its loop was stopped (the suite hung in test_oversubscribed_bus's teardown)."""
    from agent.core.bus import wait_event
    wake = asyncio.Event()
    task = asyncio.create_task(wait_event(wake, 10.0))
    await asyncio.sleep(0)                  # the task is waiting for the wake-up
    wake.set()
    task.cancel()                           # in the same step, as a stop meets a wake-up
    outcome = "returned"
    try:
        await task
    except asyncio.CancelledError:
        outcome = "cancelled"
    assert outcome == "cancelled"
