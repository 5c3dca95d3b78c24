"""Supervisor: starts every long-lived loop by name, restarts crashed ones, stops all.

MicroPython-compatible: only create_task, gather, wait_for, Event, sleep.
"""

import asyncio
import random


class Supervisor:
    """Runs named loops; a crash is logged and the loop restarted with capped, jittered back-off."""

    def __init__(self, log=None, backoff_initial: float = 0.5, backoff_max: float = 30.0,
                 rand=random.random):
        self.log = log or (lambda msg: print(msg))
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.rand = rand
        self.tasks = {}
        self.restarts = {}
        self.last_error = {}

    def start(self, name: str, factory) -> None:
        """Run factory() (a coroutine function) under supervision as task `name`."""
        if name in self.tasks:
            raise ValueError("task name already running: " + name)
        self.restarts[name] = 0
        self.tasks[name] = asyncio.create_task(self._guard(name, factory))

    async def _guard(self, name, factory):
        delay = self.backoff_initial
        while True:
            try:
                await factory()
                self.log("task " + name + " finished")
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the one place that catches everything: we restart
                self.restarts[name] += 1
                self.last_error[name] = repr(exc)
                self.log("task " + name + " crashed (" + repr(exc) + "); restart #"
                         + str(self.restarts[name]) + " in " + str(round(delay, 2)) + " s")
            await asyncio.sleep(delay * (0.5 + self.rand()))
            delay = min(delay * 2, self.backoff_max)

    def status(self) -> dict:
        """Per task: running, restarts and last error."""
        out = {}
        for name, task in self.tasks.items():
            out[name] = {"running": not task.done(), "restarts": self.restarts[name],
                         "last_error": self.last_error.get(name)}
        return out

    async def stop(self, timeout: float = 3.0) -> None:
        """Cancel every task and wait (bounded) for them to finish."""
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            try:
                await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout)
            except asyncio.TimeoutError:
                self.log("some tasks did not stop within " + str(timeout) + " s")
        self.tasks = {}
