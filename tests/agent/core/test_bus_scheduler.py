"""BusScheduler on virtual time: priorities, even degradation, back-off, quality, pipelining."""

import asyncio

from agent.core.bus import PRIORITY_ALARM, PRIORITY_COMMAND, BusScheduler, PollTarget
from virtual_time import Collector, FakeDevice, VirtualClock


async def run_until(clock, scheduler, until):
    """Run the scheduler until the virtual clock reaches `until`, then cancel it cleanly."""
    task = asyncio.create_task(scheduler.run_loop())
    while clock.now < until:
        await asyncio.sleep(0)
    await stop(task)


async def stop(task):
    """Cancel a running scheduler and wait until it has wound down."""
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


def make_bus(clock, n, period, service_s=0.01, max_in_flight=1, log=None):
    devices = [FakeDevice(clock, "L-%03d" % (i + 1), service_s, log) for i in range(n)]
    sink = Collector()
    targets = [PollTarget(d.device_id, period, d.read) for d in devices]
    bus = BusScheduler("rs485-1", targets, sink, clock, clock.wall_ms, retries=1,
                       backoff_max=60.0, max_in_flight=max_in_flight, wait=clock.wait)
    return bus, devices, sink


async def test_every_device_polled_at_its_period_when_bus_has_room():
    clock = VirtualClock()
    bus, devices, sink = make_bus(clock, 10, period=1.0, service_s=0.01)
    await run_until(clock, bus, clock.now + 20)
    for d in devices:
        assert 19 <= len(d.reads) <= 21, (d.device_id, len(d.reads))
    assert all(r["quality"] == "good" for r in sink.readings)
    assert not bus.status()["oversubscribed"]


async def test_oversubscribed_bus_stretches_every_period_evenly_and_says_so():
    clock = VirtualClock()
    # 20 devices x 0.1 s per poll = 2 s of bus time per 1 s period: demand 2.0
    bus, devices, sink = make_bus(clock, 20, period=1.0, service_s=0.1)
    await run_until(clock, bus, clock.now + 100)
    counts = [len(d.reads) for d in devices]
    assert max(counts) - min(counts) <= 2, counts          # nobody starves
    assert 45 <= sum(counts) / len(counts) <= 52, counts   # period stretched ~2x for all
    status = bus.status()
    assert status["oversubscribed"] and 1.8 <= status["demand"] <= 2.2, status
    assert status["load"] > 0.9


async def test_command_jumps_ahead_of_a_full_poll_cycle():
    clock = VirtualClock()
    log = []
    bus, devices, sink = make_bus(clock, 60, period=1.0, service_s=0.05, log=log)
    task = asyncio.create_task(bus.run_loop())
    while clock.now < 1005:                 # bus saturated: every device is overdue
        await asyncio.sleep(0)

    ran_at = []

    async def switch_on():
        ran_at.append(clock.now)
        log.append(("command", "L-042"))
        await clock.work(0.02)
        return "done"

    command = asyncio.create_task(bus.execute(switch_on, PRIORITY_COMMAND))
    while not bus.jobs:
        await asyncio.sleep(0)
    queued_at, queued_log = clock.now, len(log)
    while not command.done():
        await asyncio.sleep(0)
    await stop(task)
    assert (await command) == "done"
    polls_in_between = log[queued_log:].index(("command", "L-042"))
    # at most the one transaction already on the wire goes first, not the 59 overdue polls
    assert polls_in_between <= 1, log[queued_log:queued_log + 5]
    assert ran_at[0] - queued_at <= 0.05 + 1e-9      # waited for one transaction at most


async def test_commands_before_alarm_reads_before_telemetry():
    clock = VirtualClock()
    order = []
    bus, devices, sink = make_bus(clock, 5, period=0.5, service_s=0.05)

    def job(name):
        async def run():
            order.append(name)
            await clock.work(0.01)
            return name
        return run
    alarm = asyncio.create_task(bus.execute(job("alarm"), PRIORITY_ALARM))
    command = asyncio.create_task(bus.execute(job("command"), PRIORITY_COMMAND))
    await asyncio.sleep(0)
    await run_until(clock, bus, clock.now + 1)
    assert alarm.done() and command.done()
    assert order == ["command", "alarm"]
    first_poll = min(d.reads[0] for d in devices)
    assert first_poll >= 1000.0 + 0.02 - 1e-9     # both jobs ran before any routine poll


async def test_dead_device_backs_off_and_costs_others_nothing():
    clock = VirtualClock()
    bus, devices, sink = make_bus(clock, 10, period=1.0, service_s=0.01)
    devices[3].dead = True
    await run_until(clock, bus, clock.now + 120)
    healthy = [len(d.reads) for i, d in enumerate(devices) if i != 3]
    assert min(healthy) >= 118, healthy
    # back-off 1, 2, 4, ... 60 s: far fewer attempts than 120 polls (each try + 1 retry)
    assert len(devices[3].reads) <= 2 * 10, len(devices[3].reads)
    readings = sink.of("L-004")
    assert readings and all(r["quality"] == "comm_error" for r in readings)
    assert "no reply" in readings[0]["error"]
    assert bus.status()["devices_failing"] == 1


async def test_device_recovers_and_stale_readings_carry_age():
    clock = VirtualClock()
    bus, devices, sink = make_bus(clock, 3, period=1.0)
    task_end = clock.now + 5
    await run_until(clock, bus, task_end)
    devices[1].dead = True
    await run_until(clock, bus, clock.now + 10)
    stale = [r for r in sink.of("L-002") if r["quality"] == "stale"]
    assert stale and stale[0]["values"]["value"] >= 1 and stale[-1]["age_s"] > stale[0]["age_s"]
    devices[1].dead = False
    await run_until(clock, bus, clock.now + 70)       # longer than the capped back-off
    assert sink.of("L-002")[-1]["quality"] == "good"
    assert bus.status()["devices_failing"] == 0


async def test_pipelined_endpoint_keeps_several_requests_in_flight():
    clock = VirtualClock()
    bus, devices, sink = make_bus(clock, 8, period=1.0, service_s=0.05, max_in_flight=4)
    seen = []
    for target, device in zip(bus.targets, devices):
        target.next_due = clock.now         # all due at once

        async def read(device=device):
            seen.append(bus.in_flight)
            return await device.read()
        target.read = read
    await run_until(clock, bus, clock.now + 5)
    assert max(seen) == 4, seen
    assert all(len(d.reads) >= 4 for d in devices)


async def test_half_duplex_bus_never_overlaps_transactions():
    clock = VirtualClock()
    bus, devices, sink = make_bus(clock, 8, period=0.2, service_s=0.05, max_in_flight=1)
    seen = []
    for target, device in zip(bus.targets, devices):
        async def read(device=device):
            seen.append(bus.in_flight)
            return await device.read()
        target.read = read
    await run_until(clock, bus, clock.now + 3)
    assert seen and max(seen) == 1


async def test_a_job_that_fails_with_a_bug_is_reported_as_failed_not_done():
    clock = VirtualClock()
    bus, devices, sink = make_bus(clock, 2, period=1.0)

    async def buggy():
        raise KeyError("switch")
    task = asyncio.create_task(bus.run_loop())
    try:
        await bus.execute(buggy)
        outcome = "done"
    except Exception as exc:   # the caller sees a DeviceError naming the bug
        outcome = repr(exc)
    try:
        await task               # the worker went down with the bug: the supervisor's job
    except KeyError:
        pass
    assert "aborted" in outcome and "KeyError" in outcome, outcome


async def test_a_device_dead_for_days_does_not_overflow_its_back_off():
    clock = VirtualClock()
    bus, devices, sink = make_bus(clock, 2, period=1.0)
    devices[0].dead = True
    bus.targets[0].failures = 5000          # ~ weeks of failed polls
    bus.targets[0].next_due = clock.now
    await run_until(clock, bus, clock.now + 200)
    assert len(devices[1].reads) >= 190     # the healthy one is still polled
    assert sink.of("L-001")[-1]["quality"] == "comm_error"
