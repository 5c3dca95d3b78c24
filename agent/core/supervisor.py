"""Supervisor: starts every long-lived loop by name, restarts crashed ones, stops all.

MicroPython-compatible: only create_task, gather, wait_for, Event, sleep; the clock is
injected (time.monotonic on CPython, ticks_ms on MicroPython).
"""

import asyncio
import random
import time


def _default_clock():
    if hasattr(time, "monotonic"):
        return time.monotonic()
    return time.ticks_ms() / 1000.0   # MicroPython


def _create_task(coro, name):
    try:
        return asyncio.create_task(coro, name=name)   # CPython: the name shows in tracebacks
    except TypeError:
        return asyncio.create_task(coro)              # MicroPython has no task names


class Supervisor:
    """Runs named loops; a crash is logged and the loop restarted with capped, jittered back-off.

    The back-off starts again from `backoff_initial` once a loop has run `healthy_after`
    seconds without crashing, so one crash a day is not punished like a crash loop.
    One-shot timers (`later`, e.g. restoring a light when a timed command ends) are owned
    here too: named, counted in status, cancelled and awaited on stop.
    """

    def __init__(self, log=None, backoff_initial: float = 0.5, backoff_max: float = 30.0,
                 rand=random.random, healthy_after: float = 60.0, clock=_default_clock):
        self.log = log or (lambda msg: print(msg))
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.healthy_after = healthy_after
        self.rand = rand
        self.clock = clock
        self.tasks = {}
        self.restarts = {}
        self.last_error = {}
        self.timers = {}

    def start(self, name: str, factory) -> None:
        """Run factory() (a coroutine function) under supervision as task `name`."""
        if name in self.tasks:
            raise ValueError("task name already running: " + name)
        self.restarts[name] = 0
        self.tasks[name] = _create_task(self._guard(name, factory), name)

    async def _guard(self, name, factory):
        delay = self.backoff_initial
        while True:
            started = self.clock()
            try:
                await factory()
                self.log("task " + name + " finished")
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the one place that catches everything: we restart
                if self.clock() - started >= self.healthy_after:
                    delay = self.backoff_initial      # it ran well for a while: not a loop
                self.restarts[name] += 1
                self.last_error[name] = repr(exc)
                self.log("task " + name + " crashed (" + repr(exc) + "); restart #"
                         + str(self.restarts[name]) + " in " + str(round(delay, 2)) + " s")
            await asyncio.sleep(delay * (0.5 + self.rand()))
            delay = min(delay * 2, self.backoff_max)

    def later(self, name: str, delay_s: float, factory) -> None:
        """Run factory() once after delay_s, as timer `name` (replacing one of that name)."""
        old = self.timers.pop(name, None)
        if old is not None:
            old.cancel()
        self.timers[name] = _create_task(self._timer(name, delay_s, factory), name)

    async def _timer(self, name, delay_s, factory):
        me = self.timers.get(name)
        try:
            await asyncio.sleep(delay_s)
            await factory()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a timer that fails is logged and counted, never lost
            self.last_error[name] = repr(exc)
            self.log("timer " + name + " failed (" + repr(exc) + ")")
        finally:
            if self.timers.get(name) is me:
                self.timers.pop(name, None)

    def status(self) -> dict:
        """Per task: running, restarts and last error."""
        out = {}
        for name, task in self.tasks.items():
            out[name] = {"running": not task.done(), "restarts": self.restarts[name],
                         "last_error": self.last_error.get(name)}
        return out

    async def stop(self, timeout: float = 3.0) -> None:
        """Cancel every task and timer and wait, at most timeout, for them to finish."""
        tasks = list(self.tasks.values()) + list(self.timers.values())
        for task in tasks:
            task.cancel()
        if tasks and hasattr(asyncio, "wait"):
            # CPython: asyncio.wait returns at the timeout, where wait_for(gather) would
            # then wait for the gather's own cancellation without a bound (3.11)
            _, pending = await asyncio.wait(tasks, timeout=timeout)
            if pending:
                self.log("some tasks did not stop within " + str(timeout) + " s")
        elif tasks:                             # MicroPython has no asyncio.wait
            try:
                await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout)
            except asyncio.TimeoutError:
                self.log("some tasks did not stop within " + str(timeout) + " s")
        self.tasks = {}
        self.timers = {}
