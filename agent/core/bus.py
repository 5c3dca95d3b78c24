"""Bus scheduler: one bus, its devices' periodic polls and priority jobs, one transaction at a time.

MicroPython-compatible. The bus is the bottleneck: commands jump ahead of alarm
reads, which jump ahead of routine telemetry. When the bus is over-subscribed
every device's effective period stretches in proportion (the most-late device,
relative to its own period, goes first) and the load is reported.
"""

import asyncio

from agent.core.due import DueQueue
from agent.core.rate import PollRate, cause
from drivers.errors import DeviceError

PRIORITY_COMMAND = 0
PRIORITY_ALARM = 1
LOAD_SMOOTHING = 0.1


async def wait_event(event, timeout: float) -> bool:
    """Wait for event at most timeout seconds; True if it was set."""
    try:
        await asyncio.wait_for(event.wait(), timeout)
    except asyncio.TimeoutError:
        return False
    _raise_lost_cancel()
    return True


def _raise_lost_cancel() -> None:
    # CPython 3.11's wait_for returns the result when a cancel lands in the step the awaited
    # event is set (gh-86296, fixed in 3.12): the stop would be lost and the worker poll on.
    # The task still counts the request; MicroPython has no cancelling() and no such race.
    task = asyncio.current_task()
    cancelling = getattr(task, "cancelling", None)
    if cancelling is not None and cancelling():
        raise asyncio.CancelledError


class PollTarget:
    """Scheduling state of one polled device."""

    def __init__(self, device_id: str, period: float, read):
        self.device_id = device_id
        self.period = period
        self.read = read              # async () -> dict of values; raises DeviceError
        self.next_due = 0.0
        self.failures = 0
        self.last_values = None
        self.last_good = None         # monotonic time of last good read
        self.last_error = None
        self.last_start = None
        self.effective_period = period
        self.polls = 0
        self.errors = 0
        self.service_s = 0.0          # smoothed bus time one poll costs
        self.busy = False             # a poll of it is in flight

    def lateness(self, now: float) -> float:
        """How late the poll is, in units of its own period."""
        return (now - self.next_due) / self.period


class Job:
    """A priority job (a command, an alarm read) with its outcome."""

    def __init__(self, run, priority: int):
        self.run = run
        self.priority = priority
        self.done = asyncio.Event()
        self.result = None
        self.error = None


class BusScheduler:
    """Polls a bus's devices at their periods and runs priority jobs in between."""

    def __init__(self, name: str, targets, sink, clock, wall_ms, retries: int = 1,
                 backoff_max: float = 300.0, max_in_flight: int = 1, log=None,
                 wait=None, tick: float = 0.0, lock=None, event=None):
        self.name = name
        self.wait = wait or wait_event   # injectable so tests can run on virtual time
        # lock, event: factories (default asyncio's); CPython's agent gives ones that skip 3.11's
        # getpid per get_running_loop() (agent/loopsync.py), MicroPython keeps asyncio's
        # > 0: wake on a grid of `tick` seconds of the clock, so every bus's polls due within one
        # tick start in one event-loop wake-up, not one each (a poll starts < tick late)
        self.tick = tick
        self.max_in_flight = max_in_flight   # 1 on RS-485 (half-duplex); more on Modbus TCP
        self.in_flight = 0
        self._picking = (lock or asyncio.Lock)()   # the worker holding it picks the next work
        self._watch_until = None         # when the picking worker will look again
        self.targets = list(targets)
        self.sink = sink              # sink(reading_dict): must not block
        self.clock = clock            # monotonic seconds
        self.wall_ms = wall_ms        # epoch milliseconds for reading timestamps
        self.retries = retries
        self.backoff_max = backoff_max
        self.log = log or (lambda msg: None)
        self.jobs = []
        self.wake = (event or asyncio.Event)()
        self._due = None              # DueQueue of the idle targets, built by run_loop
        self.busy_s = 0.0
        self.load = 0.0               # smoothed busy fraction of the bus
        self.demand = 0.0             # as of the last status()
        self._t_mark = None
        now = clock()
        self.rate = PollRate(now)     # achieved against configured poll rate
        for i, target in enumerate(self.targets):
            # spread first polls so a big bus does not start with a burst
            target.next_due = now + target.period * i / max(1, len(self.targets))

    async def execute(self, run, priority: int = PRIORITY_COMMAND):
        """Run `run()` (async) on this bus ahead of routine polls; returns its result."""
        job = Job(run, priority)
        self.jobs.append(job)
        self.wake.set()
        await job.done.wait()
        if job.error is not None:
            raise job.error
        return job.result

    def _next_job(self):
        if not self.jobs:
            return None
        best = min(self.jobs, key=lambda j: j.priority)
        self.jobs.remove(best)
        return best

    async def run_loop(self) -> None:
        """Serve the bus forever: max_in_flight workers, children of this coroutine."""
        self._t_mark = self.clock()
        self.rate.restart(self._t_mark)   # the window counts from the first poll, not the build
        for target in self.targets:       # a restart after a crash: nothing is in flight now
            target.busy = False
        self._due = DueQueue(self.targets)
        if self.max_in_flight == 1:
            await self._worker()
            return
        workers = [asyncio.create_task(self._worker()) for _ in range(self.max_in_flight)]
        try:
            await asyncio.gather(*workers)
        finally:
            for worker in workers:
                worker.cancel()
            # awaited, so none is still mid-transaction when the bus is closed
            await asyncio.gather(*workers, return_exceptions=True)

    async def _worker(self):
        """Take the next piece of work (one worker at a time watches the clock) and do it."""
        while True:
            async with self._picking:
                job, target = await self._next_work()
            self.in_flight += 1
            try:
                if job is not None:
                    await self._run_job(job)
                else:
                    await self._poll(target)
            finally:
                self.in_flight -= 1

    async def _next_work(self):
        while True:
            job = self._next_job()
            if job is not None:
                return job, None
            now = self.clock()
            target, earliest = self._due.pick(now)
            if target is not None:
                target.busy = True
                return None, target
            self.wake.clear()
            if self.tick > 0:
                earliest = (int(earliest / self.tick) + 1) * self.tick
            self._watch_until = earliest
            await self.wait(self.wake, earliest - now)
            self._watch_until = None

    async def _run_job(self, job):
        start = self.clock()
        try:
            job.result = await job.run()
        except DeviceError as exc:
            job.error = exc
        except BaseException as exc:
            # a bug or a cancellation: the caller must not read it as success; the
            # worker itself goes down and the supervisor restarts it
            job.error = DeviceError("bus " + self.name, "job", "aborted: " + repr(exc))
            raise
        finally:
            self._account(start)
            job.done.set()

    async def _poll(self, target):
        try:
            await self._poll_once(target)
        finally:
            target.busy = False
            self._due.push(target)
            watch = self._watch_until
            if watch is not None and target.next_due < watch:
                self.wake.set()          # due before the picking worker would look again

    async def _poll_once(self, target):
        start = self.clock()
        interval = None if target.last_start is None or target.failures else (
            start - target.last_start)   # none after a failure: its back-off is on purpose
        if interval is not None:
            target.effective_period += (interval - target.effective_period) * 0.2
        target.last_start = start
        ts = self.wall_ms()
        values, error = None, None
        for _ in range(self.retries + 1):
            try:
                values = await target.read()
                break
            except DeviceError as exc:
                error = exc
                if self.jobs:          # a command is waiting: don't spend the bus on retries
                    break
        spent = self._account(start)
        target.service_s = spent if not target.polls else target.service_s + (
            spent - target.service_s) * 0.2
        target.polls += 1
        if values is not None:
            if interval is not None:
                self.rate.polled(target.period, interval, start, self.max_in_flight)
            self._good(target, values, ts, start)
        else:
            self._failed(target, error, ts, start)

    def _good(self, target, values, ts, start):
        if target.failures:
            self.log("bus " + self.name + ": " + target.device_id + " answers again after "
                     + str(target.failures) + " failed poll(s)")
        target.failures = 0
        target.last_error = None
        target.last_values = values
        target.last_good = start
        target.next_due = max(target.next_due + target.period, start)
        self.sink({"device": target.device_id, "ts": ts, "values": values, "quality": "good"})

    def _failed(self, target, error, ts, start):
        target.errors += 1
        target.failures += 1
        if target.failures == 1:      # log once per state change, not every poll
            self.log("bus " + self.name + ": " + str(error))
        target.last_error = str(error)
        # capped exponent: a device dead for days must not overflow the float
        backoff = min(target.period * (2 ** min(target.failures - 1, 20)), self.backoff_max)
        target.next_due = start + max(target.period, backoff)
        reading = {"device": target.device_id, "ts": ts, "error": str(error)}
        if target.last_values is not None:
            reading["values"] = target.last_values
            reading["quality"] = "stale"
            reading["age_s"] = round(start - target.last_good, 3)
        else:
            reading["values"] = {}
            reading["quality"] = "comm_error"
        self.sink(reading)

    def _account(self, start) -> float:
        """Book bus time from start to now; returns it."""
        now = self.clock()
        busy = now - start
        elapsed = now - self._t_mark if self._t_mark is not None else busy
        self._t_mark = now
        self.rate.spent(busy)
        if elapsed > 0:
            self.load += (min(1.0, busy / elapsed) - self.load) * LOAD_SMOOTHING
        return busy

    def status(self) -> dict:
        """Bus figures for the status message."""
        # demand: sum(service time / period); > 1 means over-subscribed
        self.demand = sum(t.service_s / t.period for t in self.targets) / self.max_in_flight
        now = self.clock()
        self.rate.roll(now, self.max_in_flight)
        share = self.rate.share
        configured = sum(1.0 / t.period for t in self.targets if not t.failures)
        over = self.rate.oversubscribed()
        return {"load": round(self.load, 3), "demand": round(self.demand, 3),
                "oversubscribed": over,
                "rate_share": None if share is None else round(share, 4),
                "polls_per_s": round(configured * (1.0 if share is None else share), 2),
                "configured_polls_per_s": round(configured, 2),
                "oversubscribed_cause": cause(self.name, share, configured * share, configured,
                                              self.rate.bus_busy(now, self.max_in_flight))
                if over else None,
                "devices_failing": sum(1 for t in self.targets if t.failures),
                "pending_jobs": len(self.jobs)}
