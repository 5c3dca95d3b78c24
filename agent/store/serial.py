"""One daemon thread that runs blocking writes in the order they were asked for.

For the audit log: a write and its fsync on an SD card can take hundreds of milliseconds,
which on the event loop would stall every other light, login and uplink. Queued to one
thread, the loop only waits on a future; one thread keeps the lines in order, so the hash
chain is the order of the calls. A daemon thread (not the loop's executor), for the same
reason as statefile.write_atomic_off_loop: a write stuck on a dying card must not hold the
agent's stop without bound.
"""

import asyncio
import queue
import threading


class SerialWorker:
    """run(fn, *args) on the worker thread, awaited; calls run one at a time, in order."""

    def __init__(self, name: str):
        self.name = name
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = None
        self._lock = threading.Lock()

    async def run(self, fn, *args, **kwargs):
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self._start()
        self._jobs.put((loop, done, fn, args, kwargs))
        return await done

    def submit(self, fn, *args) -> None:
        """Queue fn(*args) and return at once (fn reports its own errors; nobody awaits it)."""
        self._start()
        self._jobs.put((None, None, fn, args, {}))

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name=self.name, daemon=True)
                self._thread.start()

    def _work(self) -> None:
        while True:
            loop, done, fn, args, kwargs = self._jobs.get()
            try:
                outcome = (True, fn(*args, **kwargs))
            except BaseException as exc:      # handed to the awaiting coroutine, raised there
                outcome = (False, exc)
            if loop is None:
                continue
            try:
                loop.call_soon_threadsafe(_settle, done, outcome)
            except RuntimeError:
                pass                          # the loop is gone: nobody waits any more


def _settle(done, outcome) -> None:
    if done.done():
        return
    ok, value = outcome
    if ok:
        done.set_result(value)
    else:
        done.set_exception(value)
