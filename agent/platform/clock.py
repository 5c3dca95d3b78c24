"""Wall clock, monotonic clock and time-zone adapter for the pure core.

`TimeWarp` lets installers (and end-to-end tests) run the lighting logic on a
chosen start time at a chosen rate — e.g. "5 minutes before sunset, 60x" — while
Modbus polling keeps real time.

Trust carried across a restart (docs/rules.md, "Clock trust across a restart"): while the
kernel reports NTP sync the agent keeps a mark (wall time, CLOCK_BOOTTIME, boot id); after
a restart on the same boot, with the kernel not (yet) synchronised, the wall clock is still
trusted when it advanced like CLOCK_BOOTTIME since the mark, within DRIFT_PPM of the time
elapsed plus MARK_SLACK_S, and for at most CARRY_MAX_S.
"""

import ctypes
import ctypes.util
import time
from pathlib import Path
from datetime import datetime
from zoneinfo import ZoneInfo

TIME_ERROR = 5   # adjtimex(2): the kernel says the clock is not synchronised
DRIFT_PPM = 100.0        # a free-running crystal is within 100 ppm (a Pi's is ~20-50 ppm)
MARK_SLACK_S = 2.0       # reading the two clocks and a mark up to 10 min old
CARRY_MAX_S = 24 * 3600  # after a day without sync, the carried trust ends (error <= 10.6 s)
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
RTC_HCTOSYS = Path("/sys/class/rtc/rtc0/hctosys")   # "1": the kernel set the clock from the RTC


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
        self.carried: dict | None = None     # a continuity mark from before a restart

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
        return self.trust_source() in ("assume", "time-warp", "ntp", "continuous")

    def trust_source(self) -> str:
        """Why the wall clock is (not) trusted: assume, time-warp, ntp, continuous or none."""
        if self.warped:
            return "time-warp"
        if self.trust == "assume":
            return "assume"
        if kernel_clock_synchronised():
            return "ntp"
        if self.carried is not None:
            if still_continuous(self.carried, current_mark()):
                return "continuous"
            self.carried = None               # once broken, it stays broken until a sync
        return "none"

    def mark(self) -> dict:
        """A continuity mark of now (saved while synced, compared after a restart)."""
        return current_mark()

    def carry(self, mark: dict | None) -> None:
        """Resume from a mark saved before a restart (see the module docstring)."""
        self.carried = mark if isinstance(mark, dict) else None


def current_mark() -> dict:
    """{wall, boottime, boot_id} now: what the next start compares itself with."""
    return {"wall": time.time(), "boottime": time.clock_gettime(time.CLOCK_BOOTTIME),
            "boot_id": _read(BOOT_ID), "rtc": _read(RTC_HCTOSYS) == "1"}


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def still_continuous(mark: dict, now: dict) -> bool:
    """Whether the wall clock ran on, never stepped, since `mark`.

    Same boot: it advanced like CLOCK_BOOTTIME within the drift bound. Across a reboot only
    when the kernel set the clock from a battery-backed RTC at boot and it did not go back; a
    Pi without RTC restarts from fake-hwclock's last save, which is never trusted.
    """
    try:
        if not mark["boot_id"] or mark["boot_id"] != now["boot_id"]:
            elapsed = now["wall"] - float(mark["wall"])
            return bool(now.get("rtc")) and 0 <= elapsed <= CARRY_MAX_S
        elapsed = now["boottime"] - float(mark["boottime"])
        stepped = (now["wall"] - float(mark["wall"])) - elapsed
    except (KeyError, TypeError, ValueError):
        return False
    return 0 <= elapsed <= CARRY_MAX_S and abs(stepped) <= MARK_SLACK_S + elapsed * DRIFT_PPM / 1e6


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


def offset_label(offset_s: float) -> str:
    """'+07', '+05:30', '-03': a zone's offset as a person reads it beside a time."""
    sign = "-" if offset_s < 0 else "+"
    hours, minutes = divmod(int(abs(offset_s)) // 60, 60)
    return f"{sign}{hours:02d}" + (f":{minutes:02d}" if minutes else "")


def zone_of(name: str | None):
    """ZoneInfo of a zone name; UTC for none or an unknown one (the time still shows its offset)."""
    from zoneinfo import ZoneInfoNotFoundError
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def clock_text(epoch_s: float, zone=None, fmt: str = "%H:%M", simulated: bool = False) -> str:
    """'18:08 +07' (or '18:08 +07 (simulated)' for warped time): every time a person reads, in
    the gateway's zone (a ZoneInfo or a zone name) with its offset, so no clock goes unlabelled."""
    zone = zone_of(zone) if zone is None or isinstance(zone, str) else zone
    when = datetime.fromtimestamp(epoch_s, zone)
    text = f"{when.strftime(fmt)} {offset_label(when.utcoffset().total_seconds())}"
    return text + (" (simulated)" if simulated else "")
