"""agent/loopsync.py: the poll path's Event and Lock keep asyncio's semantics."""

import asyncio

import pytest

from agent.loopsync import LoopEvent, LoopLock


def run(test):
    """The test as a plain function: its coroutine run on a fresh loop."""
    def plain():
        asyncio.run(test())
    plain.__name__ = test.__name__
    return plain


@run
async def test_event_wakes_every_waiter_and_stays_set_until_cleared():
    event = LoopEvent()
    woken = []

    async def waiter(n):
        await event.wait()
        woken.append(n)
    tasks = [asyncio.create_task(waiter(n)) for n in range(3)]
    await asyncio.sleep(0)
    assert not woken and not event.is_set()
    event.set()
    await asyncio.gather(*tasks)
    assert sorted(woken) == [0, 1, 2]
    assert await asyncio.wait_for(event.wait(), 1) is True     # set: returns at once
    event.clear()
    late = asyncio.create_task(event.wait())
    await asyncio.sleep(0.01)
    assert not late.done()
    event.set()
    assert await asyncio.wait_for(late, 1) is True


@run
async def test_a_cancelled_event_waiter_leaves_no_future_behind():
    event = LoopEvent()
    task = asyncio.create_task(event.wait())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert event._waiters == []
    event.set()                                # nothing left to wake, nothing raises


@run
async def test_lock_serves_waiters_in_order_one_at_a_time():
    lock = LoopLock()
    inside, order = [], []

    async def worker(n):
        async with lock:
            inside.append(n)
            assert len(inside) == 1
            await asyncio.sleep(0.001)
            order.append(n)
            inside.remove(n)
    await asyncio.gather(*(worker(n) for n in range(5)))
    assert order == [0, 1, 2, 3, 4]
    assert not lock.locked()


@run
async def test_a_lock_waiter_cancelled_after_the_hand_over_passes_the_lock_on():
    lock = LoopLock()
    await lock.__aenter__()
    got = []

    async def take(n):
        async with lock:
            got.append(n)
    first = asyncio.create_task(take(1))
    second = asyncio.create_task(take(2))
    await asyncio.sleep(0)
    lock.release()                     # handed to the first waiter...
    first.cancel()                     # ...which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await first
    await asyncio.wait_for(second, 1)  # the lock went on to the second, not lost
    assert got == [2] and not lock.locked()


@run
async def test_a_lock_waiter_cancelled_while_waiting_is_skipped():
    lock = LoopLock()
    await lock.__aenter__()
    gone = asyncio.create_task(lock.__aenter__())
    await asyncio.sleep(0)
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    lock.release()
    assert not lock.locked()           # nobody was waiting any more: unlocked
    await asyncio.wait_for(lock.__aenter__(), 1)
    assert lock.locked()
