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
