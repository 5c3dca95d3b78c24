"""Bus scan for installers: which unit ids answer on a bus, and which shipped profile each is.

A unit is probed with each profile's `probe:` points (read with as few requests
as coalescing allows). It is *present* when it answers at all, even with a
Modbus exception; a profile *matches* when every probe read succeeds and each
value lies in the point's plausible range (its min/max). When several profiles
match, the one with the most probe points is the most specific (an SDM630 also
satisfies the SDM120's probe; the SDM120 cannot show three live phases).

A unit that does not answer the first probe is taken as absent, so an empty
address costs one timeout, not one per profile.

The bus is the agent's own: ModbusRtuBus or ModbusTcpBus, which check every reply
against its request and wait out late replies. A scan is where late replies bite
hardest (short timeouts, one request straight after another), so a reply to an
earlier probe must never be read as the answer to the next one.
"""

import math
import time
from typing import Callable, NamedTuple

from drivers.errors import DeviceError, NoReply
from drivers.modbus.codec import decode
from drivers.modbus.coalesce import plan_reads
from drivers.modbus.line import rtu_gap_s
from drivers.modbus.profile import Profile, available_profiles, load_profile

SWEEP_BAUDS = (9600, 19200, 4800, 38400, 2400, 57600, 115200, 1200)   # most common first
SWEEP_PARITIES = ("N", "E", "O")
ID_PREFIX = {"streetlight": "L", "meter": "M", "lux-sensor": "LUX"}


class LineSetting(NamedTuple):
    """A serial line setting to scan with (None for a TCP bus)."""

    baudrate: int | None
    parity: str | None
    stopbits: int = 1

    def label(self) -> str:
        """'9600 8N1'-style label: the framing the scan used (8 data bits, parity, stop bits)."""
        return ("tcp" if self.baudrate is None
                else f"{self.baudrate} 8{self.parity}{self.stopbits}")


class ScanHit(NamedTuple):
    """A unit that answered."""

    unit: int
    setting: LineSetting
    profile: str | None               # best-matching profile, None when nothing matched
    matches: tuple[str, ...]          # every matching profile, best first
    values: dict                      # probe values of the best match


class Progress(NamedTuple):
    """Where a scan is: for a progress line."""

    probed: int
    total: int
    found: int
    eta_s: float | None
    setting: LineSetting

    def line(self) -> str:
        """One status line, e.g. 'scan 9600 8N1: 37/247 probed, 5 found, ETA 12 s'."""
        eta = "--" if self.eta_s is None else f"{self.eta_s:.0f} s"
        return (f"scan {self.setting.label()}: {self.probed}/{self.total} probed, "
                f"{self.found} found, ETA {eta}")


def parse_units(text: str) -> list[int]:
    """'1-247', '1,5,10-20' -> sorted unit ids; ValueError for anything outside 1..247."""
    units: set[int] = set()
    for part in text.split(","):
        lo, _, hi = part.strip().partition("-")
        try:
            first, last = int(lo), int(hi or lo)
        except ValueError:
            raise ValueError(f"{part.strip()!r} is not a unit id or range like 1-247") from None
        if not 1 <= first <= last <= 247:
            raise ValueError(f"{part.strip()!r}: unit ids are 1..247, low to high")
        units.update(range(first, last + 1))
    return sorted(units)


def sweep_settings(baudrate: int, parity: str, baud_sweep: bool,
                   parity_sweep: bool, stopbits: int = 1) -> list[LineSetting]:
    """Line settings to try, the configured one first."""
    bauds = [baudrate] + [b for b in SWEEP_BAUDS if b != baudrate] if baud_sweep else [baudrate]
    parities = ([parity] + [p for p in SWEEP_PARITIES if p != parity] if parity_sweep
                else [parity])
    return [LineSetting(b, p, stopbits) for b in bauds for p in parities]


def probe_timeout_s(setting: LineSetting) -> float:
    """A short per-probe timeout: twice the line time of a probe exchange, plus margin."""
    if setting.baudrate is None:
        return 0.3
    char_s = (10 if setting.parity == "N" else 11) / setting.baudrate
    exchange = (8 + 5 + 2 * 16) * char_s + 2 * rtu_gap_s(setting.baudrate, setting.parity)
    return max(0.1, 2 * exchange + 0.05)


def probe_profiles(names: list[str] | None = None) -> list[Profile]:
    """Shipped profiles that have probe points (street lights first: the usual case)."""
    profiles = [load_profile(n) for n in (names or available_profiles())]
    profiles = [p for p in profiles if p.probe]
    return sorted(profiles, key=lambda p: (p.kind != "streetlight", p.model))


async def read_probe(bus, unit: int, profile: Profile) -> dict:
    """Read a profile's probe points from a unit; DeviceError as the bus raises it."""
    points = [profile.point(n) for n in profile.probe]
    registers = {}
    for block in plan_reads(points):
        words = await bus.read(f"unit {unit}", unit, block.table, block.address, block.count)
        for offset, word in enumerate(words):
            registers[(block.table, block.address + offset)] = word
    return {p.name: decode([registers[(p.table, a)] for a in range(p.address,
                                                                   p.address + p.count)],
                           p.type, p.word_order, p.scale) for p in points}


def plausible(profile: Profile, values: dict) -> bool:
    """Every probe value finite and inside its point's min/max."""
    for name, value in values.items():
        point = profile.point(name)
        if not math.isfinite(value):
            return False
        if (point.min is not None and value < point.min) or (
                point.max is not None and value > point.max):
            return False
    return True


async def probe_unit(bus, unit: int, setting: LineSetting,
                     profiles: list[Profile]) -> ScanHit | None:
    """Probe one unit with every profile; None when it does not answer at all."""
    answered = False
    matches: list[tuple[Profile, dict]] = []
    for profile in profiles:
        try:
            values = await read_probe(bus, unit, profile)
        except NoReply:
            if not answered:
                return None            # silent to the first probe: nobody there
            continue
        except DeviceError:            # a Modbus exception: someone is there
            answered = True
            continue
        answered = True
        if plausible(profile, values):
            matches.append((profile, values))
    matches.sort(key=lambda m: -len(m[0].probe))
    if not matches:
        return ScanHit(unit, setting, None, (), {})
    return ScanHit(unit, setting, matches[0][0].model, tuple(p.model for p, _ in matches),
                   matches[0][1])


async def scan(open_bus: Callable[[LineSetting], object], units: list[int],
               settings: list[LineSetting], on_progress=None,
               profiles: list[Profile] | None = None, clock=time.monotonic) -> list[ScanHit]:
    """Probe every unit under every line setting; on_progress(Progress) after each probe."""
    profiles = profiles if profiles is not None else probe_profiles()
    total = len(units) * len(settings)
    hits: list[ScanHit] = []
    found: set[int] = set()
    probed = 0
    started = clock()
    for setting in settings:
        bus = open_bus(setting)
        try:
            if not await bus.connect():
                why = getattr(bus, "unreachable", "") or f"cannot open {bus.endpoint}"
                raise DeviceError(bus.name, "scan", why)
            for unit in units:
                # a device has one line setting: once found, later settings skip it
                if unit not in found:
                    hit = await probe_unit(bus, unit, setting, profiles)
                    if hit is not None:
                        hits.append(hit)
                        found.add(unit)
                probed += 1
                if on_progress is not None:
                    rate = (clock() - started) / probed
                    on_progress(Progress(probed, total, len(hits), rate * (total - probed),
                                         setting))
        finally:
            bus.close()
    return hits


def devices_yaml(hits: list[ScanHit], bus_name: str, configured: LineSetting,
                 poll: str = "10s") -> str:
    """`devices:` entries for the hits that matched a profile, as gateway.yaml text."""
    lines = [f"# found by `lentera scan --bus {bus_name}`; check ids and poll periods",
             "devices:"]
    for hit in sorted(hits, key=lambda h: (h.unit, h.setting)):
        if hit.profile is None:
            lines.append(f"  # unit {hit.unit} answers ({hit.setting.label()}) but matches "
                         "no shipped profile")
            continue
        if hit.setting != configured:
            lines.append(f"  # unit {hit.unit} answered at {hit.setting.label()}, not the "
                         f"bus's {configured.label()}: change the device or the bus setting")
        kind = load_profile(hit.profile).kind
        device_id = f"{ID_PREFIX.get(kind, 'D')}-{hit.unit:03d}"
        lines.append(f"  - {{id: {device_id}, bus: {bus_name}, unit: {hit.unit}, "
                     f"profile: {hit.profile}, poll: {poll}}}")
    return "\n".join(lines) + "\n"
