"""An Event and a Lock for the poll path that bind their loop once, not on every wait.

On CPython 3.11 `asyncio.get_running_loop()` makes a getpid syscall per call (gone in 3.12),
and asyncio's Event.wait and a contended Lock.acquire call it each time: some 30 µs a poll at
500 lights (issue 24's profile). These bind the running loop on first use and then make plain
loop futures. Same semantics as asyncio's for what the bus scheduler uses (agent/core/bus.py
takes them as factories; MicroPython keeps asyncio's): a released lock goes to the first
waiter still waiting, a cancelled waiter passes a lock it was just handed on.
"""

import asyncio
from collections import deque


class LoopEvent:
    """asyncio.Event's set / clear / is_set / wait, one loop future per waiting task."""

    __slots__ = ("_set", "_waiters", "loop")

    def __init__(self):
        self._set = False
        self._waiters = []
        self.loop = None                 # bound on the first wait

    def is_set(self) -> bool:
        """True once set, until cleared."""
        return self._set

    def set(self) -> None:
        """Set it and wake every waiter."""
        if not self._set:
            self._set = True
            for fut in self._waiters:
                if not fut.done():
                    fut.set_result(True)

    def clear(self) -> None:
        """Unset it; waiters wait for the next set."""
        self._set = False

    async def wait(self) -> bool:
        """Until set (at once if it is)."""
        if self._set:
            return True
        loop = self.loop or self._bind()
        fut = loop.create_future()
        self._waiters.append(fut)
        try:
            await fut
            return True
        finally:
            self._waiters.remove(fut)

    def _bind(self):
        self.loop = asyncio.get_running_loop()
        return self.loop


class LoopLock:
    """asyncio.Lock as `async with`: fair, handed straight to the first waiter on release."""

    __slots__ = ("_locked", "_waiters", "_loop")

    def __init__(self):
        self._locked = False
        self._waiters = deque()
        self._loop = None

    def locked(self) -> bool:
        """True while held."""
        return self._locked

    async def __aenter__(self):
        if not self._locked:
            self._locked = True
            return None
        loop = self._loop or self._bind()
        fut = loop.create_future()
        self._waiters.append(fut)
        try:
            await fut                    # release() handed us the lock (still locked)
        except BaseException:
            if fut.done() and not fut.cancelled():
                self.release()           # handed over, then cancelled: pass it on
            raise
        return None

    async def __aexit__(self, *exc_info):
        self.release()

    def release(self) -> None:
        """Hand the lock to the first waiter still waiting, or unlock it."""
        waiters = self._waiters
        while waiters:
            fut = waiters.popleft()
            if not fut.done():           # a cancelled waiter's future is done: skip it
                fut.set_result(None)
                return
        self._locked = False

    def _bind(self):
        self._loop = asyncio.get_running_loop()
        return self._loop
