"""Wall clock, monotonic clock and time-zone adapter for the pure core.

`TimeWarp` lets installers (and end-to-end tests) run the lighting logic on a
chosen start time at a chosen rate — e.g. "5 minutes before sunset, 60x" — while
Modbus polling keeps real time.
"""

import ctypes
import ctypes.util
import time
from datetime import datetime
from zoneinfo import ZoneInfo

TIME_ERROR = 5   # adjtimex(2): the kernel says the clock is not synchronised


class ZoneOffset:
    """zoneinfo behind the core's tz port: utcoffset(epoch_s) -> seconds."""

    def __init__(self, name: str):
        self.name = name
        self._zone = ZoneInfo(name)

    def utcoffset(self, epoch_s: float) -> int:
        """Offset from UTC at that instant, DST included."""
        offset = datetime.fromtimestamp(epoch_s, self._zone).utcoffset()
        return int(offset.total_seconds())


class AgentClock:
    """Real time, or a warped time that starts at `start` and runs `rate` times faster."""

    def __init__(self, start: float | None = None, rate: float = 1.0, trust: str = "kernel"):
        self._mono0 = time.monotonic()
        self._start = start
        self.rate = rate
        self.trust = trust

    @property
    def warped(self) -> bool:
        """Whether this clock is not the machine's."""
        return self._start is not None

    def wall(self) -> float:
        """Epoch seconds."""
        if self._start is None:
            return time.time()
        return self._start + (time.monotonic() - self._mono0) * self.rate

    def monotonic(self) -> float:
        """Monotonic seconds, at the same rate as wall()."""
        return (time.monotonic() - self._mono0) * self.rate

    def trusted(self) -> bool:
        """Whether the wall clock may drive schedules (see docs/rules.md, failsafe)."""
        if self.trust == "assume" or self.warped:
            return True
        return kernel_clock_synchronised()


def _libc():
    try:
        # find_library runs `ldconfig -p`: once at import, never on the event loop's hot path
        return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    except OSError:
        return None


_LIBC = _libc()


def kernel_clock_synchronised() -> bool:
    """True when the kernel reports NTP synchronisation (adjtimex state is not TIME_ERROR)."""
    if _LIBC is None or not hasattr(_LIBC, "adjtimex"):
        return False
    buf = ctypes.create_string_buffer(512)    # struct timex; we only need the return value
    return _LIBC.adjtimex(buf) not in (TIME_ERROR, -1)


def parse_warp(text: str) -> tuple[float, float]:
    """'2026-11-28T17:40:00+07:00[,60]' -> (epoch start, rate)."""
    when, _, rate = text.partition(",")
    start = datetime.fromisoformat(when)
    if start.tzinfo is None:
        raise ValueError("give the time zone, e.g. 2026-11-28T17:40:00+07:00")
    speed = float(rate) if rate else 1.0
    if not 0 < speed <= 3600:
        raise ValueError("rate must be in (0, 3600]")
    return start.timestamp(), speed
