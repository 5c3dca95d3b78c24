"""Supervisor: restarts crashed loops with back-off, stops everything cleanly."""

import asyncio

from agent.core.supervisor import Supervisor


async def test_crashed_loop_is_restarted_and_others_keep_running():
    logs = []
    sup = Supervisor(log=logs.append, backoff_initial=0.001, backoff_max=0.004,
                     rand=lambda: 0.5)
    runs = [0]
    third_run = asyncio.Event()
    ticks = [0]

    async def flaky_loop():
        runs[0] += 1
        if runs[0] == 3:
            third_run.set()
        await asyncio.sleep(0)
        raise RuntimeError("serial port vanished")

    async def steady_loop():
        while True:
            ticks[0] += 1
            await asyncio.sleep(0.001)

    sup.start("bus.rs485-1.poll", flaky_loop)
    sup.start("status.publish", steady_loop)
    await asyncio.wait_for(third_run.wait(), 5)
    status = sup.status()
    assert status["bus.rs485-1.poll"]["restarts"] >= 2
    assert "serial port vanished" in status["bus.rs485-1.poll"]["last_error"]
    assert status["status.publish"]["running"] and status["status.publish"]["restarts"] == 0
    assert any("bus.rs485-1.poll crashed" in line for line in logs)
    await sup.stop(timeout=2)
    assert sup.tasks == {}


async def test_stop_cancels_every_task_and_waits_for_cleanup():
    sup = Supervisor(log=lambda m: None)
    cleaned = []
    started = asyncio.Event()

    async def long_loop():
        try:
            started.set()
            await asyncio.sleep(3600)
        finally:
            cleaned.append("closed port")

    sup.start("bus.lan.poll", long_loop)
    await asyncio.wait_for(started.wait(), 5)
    await sup.stop(timeout=2)
    assert cleaned == ["closed port"]


async def test_duplicate_task_name_is_refused():
    sup = Supervisor(log=lambda m: None)

    async def idle():
        await asyncio.sleep(3600)
    sup.start("x", idle)
    try:
        sup.start("x", idle)
        raised = False
    except ValueError:
        raised = True
    await sup.stop()
    assert raised


async def test_back_off_starts_again_after_a_healthy_run():
    """A loop that crashes once a day must not wait like a crash loop (it used to keep the
    doubled delay for ever)."""
    clock = [0.0]
    delays = []
    sup = Supervisor(log=lambda m: delays.append(float(m.split(" in ")[1].split(" ")[0])),
                     backoff_initial=0.01, backoff_max=0.08, rand=lambda: 0.5,
                     healthy_after=10.0, clock=lambda: clock[0])
    runs = [0]
    done = asyncio.Event()

    async def loop():
        runs[0] += 1
        if runs[0] == 4:
            clock[0] += 60.0                # this run lasted a minute: healthy
        if runs[0] == 6:
            done.set()
            await asyncio.sleep(3600)
        await asyncio.sleep(0)
        raise RuntimeError("boom")

    sup.start("uplink.publish", loop)
    await asyncio.wait_for(done.wait(), 5)
    await sup.stop(timeout=2)
    assert delays == [0.01, 0.02, 0.04, 0.01, 0.02]


async def test_timers_are_owned_named_replaced_and_cancelled_on_stop():
    sup = Supervisor(log=lambda m: None)
    fired = []
    done = asyncio.Event()

    async def restore(what):
        fired.append(what)
        done.set()

    sup.later("revert.L-001", 0.01, lambda: restore("first"))
    sup.later("revert.L-001", 0.01, lambda: restore("second"))   # replaces the first
    sup.later("revert.L-002", 3600, lambda: restore("never"))
    await asyncio.wait_for(done.wait(), 5)
    await asyncio.sleep(0.05)
    assert fired == ["second"]
    assert list(sup.timers) == ["revert.L-002"]
    await sup.stop(timeout=2)
    assert sup.timers == {} and fired == ["second"]


async def test_stop_returns_at_its_timeout_even_if_a_task_ignores_cancellation():
    # a loop stuck in cleanup (a slow card, a wedged driver) must not hold the shutdown:
    # the agent's stop has a budget, and the supervisor's share of it is `timeout`
    logs = []
    sup = Supervisor(log=logs.append)
    started = asyncio.Event()
    release = asyncio.Event()

    async def stubborn():
        started.set()
        while not release.is_set():
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                pass                      # swallowed, every time
    sup.start("stubborn.loop", stubborn)
    await started.wait()
    try:
        await asyncio.wait_for(sup.stop(timeout=0.1), 3)
    finally:
        release.set()
    assert any("did not stop within" in line for line in logs)
    assert sup.tasks == {}
