"""Arbitration: each light's output, per field, from the highest-priority live source that sets it.

Priority: maintenance override > city command > rule > schedule > failsafe. Switch and dim are
arbitrated separately, so a source that sets only dim (thermal derating, a crew's "dim 40") never
changes the switch. Overrides and city commands are entries with an expiry: several may be live for
one light at once (a group override and a device override, two overlapping city commands); within a
source the newest entry that sets a field wins, and when it expires the next live entry, or the next
source, shows through. Nothing remembers a "before" value.
"""

from edge_rules.errors import ArbitrationFull

SOURCES = ("maintenance", "command", "rule", "schedule", "failsafe")
HELD = ("maintenance", "command")  # sources set from outside, held until they expire
MAX_ENTRIES = 256                  # per held source: a flood of commands is refused, not hoarded
# ... on top of one entry per light, so a group of any size can be held light by light


def _output(switch: bool, dim) -> dict:
    # an unlit light has no meaningful level: normalising avoids change records for dim while off
    return {"switch": bool(switch), "dim": int(dim) if switch else 0}


class Entry:
    """One held override or command: what it sets on which lights, until when, and why."""

    def __init__(self, seq: int, source: str, target: tuple, lights: list, switch, dim,
                 expires_s: int, reason: str, user=None):
        self.seq = seq
        self.source = source
        self.target = target          # ("device", "L-001") or ("group", "road"): what was named
        self.lights = list(lights)
        self.switch = switch
        self.dim = dim
        self.expires_s = expires_s
        self.reason = reason
        self.user = user

    def sets(self, field: str) -> bool:
        """Whether this entry says something about 'switch' or 'dim'."""
        return (self.switch if field == "switch" else self.dim) is not None


    def as_dict(self) -> dict:
        """Plain description (for `lentera lights`, status and the console)."""
        return {"source": self.source, self.target[0]: self.target[1], "switch": self.switch,
                "dim": self.dim, "expires_s": self.expires_s, "reason": self.reason,
                "user": self.user}

    def __repr__(self):
        return "Entry(%r, %r, switch=%r, dim=%r, until %r)" % (
            self.source, self.target, self.switch, self.dim, self.expires_s)


def _hidden(entry, newer: list) -> bool:
    """True when newer entries on the same target hide every field of `entry` on every light until it expires.

    Only the same target: a clear removes them together, so `entry` can never show again. A newer
    entry on another target (a group over a device) may be cleared first, and then it shows.
    """
    same = [n for n in newer if n.target == entry.target and n.expires_s >= entry.expires_s]
    for light in entry.lights:
        for field in ("switch", "dim"):
            if entry.sets(field) and not [n for n in same if light in n.lights and n.sets(field)]:
                return False
    return True


class Arbiter:
    """Holds override and command entries with their expiry and the last output of every light."""

    def __init__(self, lights: list):
        self.lights = list(lights)
        self.held = dict((source, []) for source in HELD)   # newest first
        self.outputs = {}
        self.sources = {}
        self._seq = 0

    def hold(self, source: str, target: tuple, lights: list, switch, dim, expires_s: int,
             reason: str, user=None) -> Entry:
        """Add an override ('maintenance') or city command ('command') entry until expires_s (UTC epoch)."""
        if source not in HELD:
            raise ValueError("only %s are held, not %r" % (" and ".join(HELD), source))
        for light in lights:
            if light not in self.lights:
                raise ValueError("unknown light %r" % (light,))
        if not lights:
            raise ValueError("no lights named")
        if switch is None and dim is None:
            raise ValueError("give switch, dim or both")
        if dim is not None and not 0 <= dim <= 100:
            raise ValueError("dim %r is out of range 0..100" % (dim,))
        self._seq += 1
        entry = Entry(self._seq, source, tuple(target), lights, switch, dim, expires_s, reason, user)
        table = [entry]
        for older in self.held[source]:
            if not _hidden(older, table):
                table.append(older)
        table = table[1:]
        if len(table) >= MAX_ENTRIES + len(self.lights):
            raise ArbitrationFull("%d %s entries are live already: clear some or let them expire"
                                  % (len(table), source))
        self.held[source] = [entry] + table
        return entry

    def release(self, source: str, target: tuple) -> list:
        """Drop every held entry of a source that named exactly `target`; the entries dropped."""
        gone = [e for e in self.held[source] if e.target == tuple(target)]
        self.held[source] = [e for e in self.held[source] if e.target != tuple(target)]
        return gone

    def withdraw(self, source: str, kind: str, lights: list) -> int:
        """Take `lights` out of the held entries of `source` whose target is of `kind` (an
        entry left with no light ends); the number of entries changed. TALQ §5.6: a later
        override replaces the former on the lights it names, and leaves it on the others."""
        gone = set(lights)
        kept = []
        changed = 0
        for entry in self.held[source]:
            if entry.target[0] != kind or not gone.intersection(entry.lights):
                kept.append(entry)
                continue
            changed += 1
            left = [light for light in entry.lights if light not in gone]
            if left:          # a copy: saved() lists stay as they were, for restore()
                kept.append(Entry(entry.seq, entry.source, entry.target, left, entry.switch,
                                  entry.dim, entry.expires_s, entry.reason, entry.user))
        self.held[source] = kept
        return changed

    def shift(self, delta_s: int) -> None:
        """Move every held entry's end by delta_s: the wall clock was stepped, and a hold is a
        duration (2 h off stays 2 h off whatever NTP does to the calendar time)."""
        for source in HELD:
            for entry in self.held[source]:
                entry.expires_s += delta_s

    def saved(self, source: str) -> list:
        """The held entries of a source as they are, for restore() (all-or-nothing changes)."""
        return list(self.held[source])

    def restore(self, source: str, entries: list) -> None:
        """Put back what saved() returned: undoes every hold() since."""
        self.held[source] = list(entries)

    def entries(self, source: str) -> list:
        """Live entries of a held source, newest first."""
        return list(self.held[source])

    def expire(self, now_s) -> dict:
        """Drop expired entries now (step() does it too); {light: [sources that had an entry expire]}."""
        return self._expire(now_s)

    def _expire(self, now_s: int) -> dict:
        """Drop expired entries; {light: [sources that had an entry expire]}."""
        expired = {}
        for source in HELD:
            for entry in self.held[source]:
                if entry.expires_s <= now_s:
                    for light in entry.lights:
                        if source not in expired.setdefault(light, []):
                            expired[light].append(source)
            self.held[source] = [e for e in self.held[source] if e.expires_s > now_s]
        return expired

    def _decisions(self, light: str, layers: dict) -> list:
        """[(source, (switch, dim, reason))] in the order they are asked."""
        found = []
        for source in SOURCES:
            if source in HELD:
                for entry in self.held[source]:
                    if light in entry.lights:
                        found.append((source, (entry.switch, entry.dim, entry.reason)))
            elif layers.get(source) is not None:
                found.append((source, layers[source]))
        return found

    def decide(self, light: str, layers: dict) -> tuple:
        """(output, source, reason) for one light from {source: (switch, dim, reason)} plus entries.

        Pure: changes nothing (step() also expires entries and keeps the outputs for records).
        """
        switch = dim = None
        top = None
        for source, decision in self._decisions(light, layers):
            took = False
            if switch is None and decision[0] is not None:
                switch, took = decision[0], True
            if dim is None and decision[1] is not None:
                dim, took = decision[1], True
            if took and top is None:
                top = (source, decision[2])
            if switch is not None and dim is not None:
                break
        if switch is None or top is None:
            # unreachable while the failsafe layer is given; kept so a caller bug cannot go dark
            return _output(True, 100), "failsafe", "no source decided: full on"
        return _output(switch, 100 if dim is None else dim), top[0], top[1]

    def step(self, now_s: int, layers_by_light: dict) -> tuple:
        """({light: output with source}, [change record]) for all lights at now_s."""
        expired = self._expire(now_s)
        outputs = {}
        records = []
        for light in self.lights:
            out, source, reason = self.decide(light, layers_by_light.get(light, {}))
            if light in expired:
                reason = "%s expired; %s" % (" and ".join(expired[light]), reason)
            old = self.outputs.get(light)
            if old != out or self.sources.get(light) != source:
                records.append({"light": light, "old": old, "new": out, "source": source,
                                "reason": reason, "ts": now_s})
            self.outputs[light] = out
            self.sources[light] = source
            outputs[light] = {"switch": out["switch"], "dim": out["dim"], "source": source}
        return outputs, records

    def next_expiry(self):
        """The earliest expires_s of any live entry, or None."""
        times = [e.expires_s for source in HELD for e in self.held[source]]
        return min(times) if times else None
