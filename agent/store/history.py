"""A small bounded history of the lights, kept on the gateway for the crew's plots.

Independent of the outbox (which deletes what the city received): per light a ring of
`window_s / bucket_s` buckets (power mean and dim), and per night the energy (Wh, power
integrated over time) and burn hours (time lit) for the last `nights` nights. Memory is
fixed: 11 bytes a bucket, ~10 kB a light at the defaults (60 s buckets, 16 h).

Saved with write_atomic (periodically and at shutdown); a corrupt file is moved aside and
the history starts empty, saying so.
"""

import base64
import json
import logging
import time
from array import array
from pathlib import Path

from agent.store.statefile import write_atomic

log = logging.getLogger(__name__)

WINDOW_S = 16 * 3600          # the last night, whatever the hour of the plot
NIGHTS = 14
MAX_GAP_S = 600.0             # a longer silence is not integrated into energy or burn time
VERSION = 1


class _Ring:
    """One light's buckets: stamp (bucket number), mean power, samples, dim."""

    def __init__(self, slots: int):
        self.stamp = array("I", bytes(4 * slots))
        self.power = array("f", bytes(4 * slots))
        self.count = array("H", bytes(2 * slots))
        self.dim = array("b", bytes(slots))


class History:
    """Last-night buckets and per-night energy/burn hours for every light it is fed."""

    def __init__(self, bucket_s: float = 60.0, window_s: float = WINDOW_S, nights: int = NIGHTS,
                 utcoffset=lambda ts: 0):
        self.bucket_s = float(bucket_s)
        self.slots = max(2, min(86400, int(window_s // self.bucket_s)))
        self.nights_kept = nights
        self.utcoffset = utcoffset        # epoch s -> seconds east of UTC (the gateway's zone)
        self.latest: dict[str, dict] = {}  # device -> its last reading, whatever its quality
        self.rings: dict[str, _Ring] = {}
        self.nightly: dict[str, dict[str, list]] = {}   # device -> {night: [Wh, lit s]}
        self._last: dict[str, tuple] = {}  # device -> (ts, power, lit) of its last good reading

    def night_of(self, ts: float) -> str:
        """The night a moment belongs to, named by its evening's local date (noon to noon)."""
        local = ts + self.utcoffset(ts) - 12 * 3600
        return time.strftime("%Y-%m-%d", time.gmtime(local))

    def observe(self, reading: dict) -> None:
        """A poll result (hot path: a few array writes)."""
        device = reading["device"]
        self.latest[device] = reading
        values = reading.get("values") or {}
        if reading.get("quality") != "good" or "power" not in values:
            self._last.pop(device, None)
            return
        ts = reading["ts"] / 1000.0
        power = float(values["power"])
        ring = self.rings.get(device)
        if ring is None:
            ring = self.rings[device] = _Ring(self.slots)
        bucket = int(ts // self.bucket_s)
        slot = bucket % self.slots
        if ring.stamp[slot] != bucket:
            ring.stamp[slot], ring.power[slot], ring.count[slot] = bucket, power, 1
        elif ring.count[slot] < 65535:
            ring.count[slot] += 1
            ring.power[slot] += (power - ring.power[slot]) / ring.count[slot]
        ring.dim[slot] = int(values.get("dim", 0)) if values.get("switch", 1) else 0
        lit = values.get("lamp_state") == 1 if "lamp_state" in values else power > 1.0
        self._integrate(device, ts, power, lit)

    def _integrate(self, device: str, ts: float, power: float, lit: bool) -> None:
        last = self._last.get(device)
        self._last[device] = (ts, power, lit)
        if last is None or not 0 < ts - last[0] <= MAX_GAP_S:
            return
        dt = ts - last[0]
        nights = self.nightly.setdefault(device, {})
        night = nights.setdefault(self.night_of(ts), [0.0, 0.0])
        night[0] += (power + last[1]) / 2 * dt / 3600.0
        if lit and last[2]:
            night[1] += dt
        if len(nights) > self.nights_kept:
            for old in sorted(nights)[:len(nights) - self.nights_kept]:
                del nights[old]

    def series(self, device: str, since_s: float, until_s: float) -> list[tuple]:
        """[(bucket start s, mean power W, dim %)] of one light between two moments, in order."""
        ring = self.rings.get(device)
        if ring is None:
            return []
        first, last = int(since_s // self.bucket_s), int(until_s // self.bucket_s)
        out = [(b * self.bucket_s, ring.power[s], ring.dim[s])
               for s, b in enumerate(ring.stamp) if b and first <= b <= last]
        return sorted(out)

    def nights(self, device: str) -> list[tuple]:
        """[(night, Wh, burn hours)] oldest first, at most `nights` of them."""
        return [(n, round(wh, 1), round(lit / 3600.0, 2))
                for n, (wh, lit) in sorted(self.nightly.get(device, {}).items())]

    def to_bytes(self) -> bytes:
        """The whole history as one JSON document (arrays base64)."""
        def b64(arr):
            return base64.b64encode(arr.tobytes()).decode()
        return json.dumps({"version": VERSION, "bucket_s": self.bucket_s, "slots": self.slots,
                           "rings": {d: [b64(r.stamp), b64(r.power), b64(r.count), b64(r.dim)]
                                     for d, r in self.rings.items()},
                           "nightly": self.nightly}).encode()

    def save(self, path: str | Path) -> None:
        """Write atomically; OSError (disk full, read-only) to the caller."""
        write_atomic(path, self.to_bytes())

    def load(self, path: str | Path) -> bool:
        """Restore a saved history; a corrupt or mismatched file is moved aside. True if loaded."""
        path = Path(path)
        if not path.exists():
            return False
        try:
            doc = json.loads(path.read_bytes())
            if doc.get("version") != VERSION or doc.get("bucket_s") != self.bucket_s \
                    or doc.get("slots") != self.slots:
                raise ValueError("saved with another bucket size or version")
            rings = {}
            for device, parts in doc["rings"].items():
                ring = rings[device] = _Ring(self.slots)
                for arr, text in zip((ring.stamp, ring.power, ring.count, ring.dim), parts):
                    raw = base64.b64decode(text)
                    if len(raw) != len(arr) * arr.itemsize:
                        raise ValueError(f"{device}: wrong ring length")
                    arr[:] = array(arr.typecode, raw)
            nightly = {d: {str(n): [float(v[0]), float(v[1])] for n, v in nights.items()}
                       for d, nights in doc["nightly"].items()}
        except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
            aside = path.with_name(path.name + ".corrupt")
            path.replace(aside)
            log.warning("history %s unreadable (%s): moved to %s; the plots start empty",
                        path, exc, aside)
            return False
        self.rings, self.nightly = rings, nightly
        return True
