"""systemd's notify protocol (sd_notify(3)): READY=1, WATCHDOG=1 and STATUS= to $NOTIFY_SOCKET.

No dependency: one AF_UNIX datagram per message. Outside systemd (no NOTIFY_SOCKET) every
call is a no-op, so `lentera run` behaves the same from a shell.

The watchdog is fed only while the agent makes progress: the ping is sent from the event loop
(a blocked loop sends nothing), and only when every watched counter (polls per bus) moved and
no supervised task stayed down within `stall_s` (`ProgressWatch`).
"""

import asyncio
import os
import socket
import time

READY_WITHIN_S = 60.0    # READY waits for devices first due within this (slow polls come later)


class Notifier:
    """Sends notify messages to systemd; silent when not started by systemd."""

    def __init__(self, address: str | None, watchdog_s: float | None = None):
        self.address = address
        self.watchdog_s = watchdog_s      # WatchdogSec= of the unit, None when not enabled
        self.sent = 0
        self.failed = 0
        self._sock = None

    @classmethod
    def from_env(cls, env=None) -> "Notifier":
        """From NOTIFY_SOCKET / WATCHDOG_USEC / WATCHDOG_PID as systemd sets them."""
        env = os.environ if env is None else env
        address = env.get("NOTIFY_SOCKET") or None
        watchdog = None
        usec, pid = env.get("WATCHDOG_USEC"), env.get("WATCHDOG_PID")
        if usec and usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            watchdog = int(usec) / 1e6
        return cls(address, watchdog)

    @property
    def enabled(self) -> bool:
        """Started by systemd with Type=notify."""
        return self.address is not None

    def send(self, *fields: str) -> bool:
        """One message ('READY=1', 'STATUS=...'); False when it could not be sent."""
        if self.address is None:
            return False
        target = self.address
        if target.startswith("@"):               # abstract namespace socket
            target = "\0" + target[1:]
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.setblocking(False)
            self._sock.sendto("\n".join(fields).encode(), target)
        except OSError:
            self.failed += 1                     # systemd gone or socket full: try next time
            return False
        self.sent += 1
        return True

    def close(self) -> None:
        """Close the socket (a later send opens it again)."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class ProgressWatch:
    """Is the agent making progress? Counters must move and tasks stay up within stall_s."""

    def __init__(self, stall_s: float, clock=time.monotonic):
        self.stall_s = stall_s
        self.clock = clock
        self._last: dict = {}          # name -> (value, when it last changed)
        self._down_since: dict = {}    # task name -> when first seen down

    def check(self, counters: dict, down) -> str | None:
        """None when healthy, else why not (for STATUS= and the journal)."""
        now = self.clock()
        for name, value in counters.items():
            old = self._last.get(name)
            if old is None or old[0] != value:
                self._last[name] = (value, now)
        down = set(down)
        for name in list(self._down_since):
            if name not in down:
                del self._down_since[name]
        for name in down:
            self._down_since.setdefault(name, now)
        stalled = sorted(n for n, (_, t) in self._last.items() if now - t > self.stall_s)
        if stalled:
            return f"no progress for {self.stall_s:.0f} s: {', '.join(stalled)}"
        dead = sorted(n for n, t in self._down_since.items() if now - t > self.stall_s)
        if dead:
            return f"task(s) down for {self.stall_s:.0f} s: {', '.join(dead)}"
        return None


async def notify_loop(notifier: Notifier, first_cycle_done, health, interval: float) -> None:
    """READY=1 once first_cycle_done() is true, then WATCHDOG=1 while health() is None."""
    # a look at counters at a fixed pace, not a hand-off: the schedulers have no event for it
    while not first_cycle_done():
        await asyncio.sleep(min(interval, 0.2))
    notifier.send("READY=1", "STATUS=running: first poll cycle done")
    unhealthy = None
    while True:
        await asyncio.sleep(interval)
        why = health()
        if why is None:
            notifier.send("WATCHDOG=1", *(["STATUS=running"] if unhealthy else []))
        elif why != unhealthy:
            notifier.send(f"STATUS=unhealthy: {why}")   # no ping: systemd restarts us
        unhealthy = why


def agent_watch(notifier: Notifier, schedulers: dict, supervisor, stall_s: float):
    """The notify loop for a running agent: its bus schedulers' polls and supervised tasks.

    READY once every device first due within READY_WITHIN_S has been polled. A poll counts
    whether it succeeded or not (a dead device is the field's problem, not a hung agent);
    stall_s must outlast the longest poll period and back-off.
    """
    watch = ProgressWatch(stall_s)
    limits: dict = {}

    def first_cycle_done() -> bool:
        # first polls are spread over each device's period: a 15-minute meter must not hold
        # READY (and trip TimeoutStartSec=) for 15 minutes
        for name, s in schedulers.items():
            limit = limits.setdefault(name, s.clock() + READY_WITHIN_S)
            if any(t.polls == 0 and t.next_due <= limit for t in s.targets):
                return False
        return True

    def health() -> str | None:
        polls = {f"bus.{n}": sum(t.polls for t in s.targets) for n, s in schedulers.items()}
        down = [n for n, t in supervisor.status().items()
                if not t["running"] and n != "systemd.notify"]
        return watch.check(polls, down)

    interval = notifier.watchdog_s / 2 if notifier.watchdog_s else 10.0
    return lambda: notify_loop(notifier, first_cycle_done, health, interval)
