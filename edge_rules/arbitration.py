"""Arbitration: each light's output from the highest-priority source that has something to say.

Priority: maintenance override > city command > rule > schedule > failsafe. Switch and dim are
arbitrated separately, so a rule that only dims (thermal derating) leaves the switch to the schedule.
"""

SOURCES = ("maintenance", "command", "rule", "schedule", "failsafe")
HELD = ("maintenance", "command")  # sources set from outside, held until they expire


def _output(switch: bool, dim) -> dict:
    # an unlit light has no meaningful level: normalising avoids change records for dim while off
    return {"switch": bool(switch), "dim": int(dim) if switch else 0}


class Arbiter:
    """Holds overrides and commands with their expiry and the last output of every light."""

    def __init__(self, lights: list):
        self.lights = list(lights)
        self.held = dict((source, {}) for source in HELD)
        self.outputs = {}
        self.sources = {}

    def hold(self, source: str, light: str, switch, dim, expires_s: int, reason: str) -> None:
        """Set a maintenance override or city command for a light until expires_s (UTC epoch)."""
        if source not in HELD:
            raise ValueError("only %s are held, not %r" % (" and ".join(HELD), source))
        if light not in self.lights:
            raise ValueError("unknown light %r" % (light,))
        if switch is None and dim is None:
            raise ValueError("give switch, dim or both")
        if dim is not None and not 0 <= dim <= 100:
            raise ValueError("dim %r is out of range 0..100" % (dim,))
        self.held[source][light] = (switch, dim, reason, expires_s)

    def release(self, source: str, light: str) -> bool:
        """Drop a held override or command; True if there was one."""
        return self.held[source].pop(light, None) is not None

    def _expire(self, now_s: int) -> dict:
        """Drop expired holds; {light: [sources that expired]}."""
        expired = {}
        for source in HELD:
            table = self.held[source]
            for light in [k for k, v in table.items() if v[3] <= now_s]:
                del table[light]
                expired.setdefault(light, []).append(source)
        return expired

    def _decide(self, light: str, layers: dict) -> tuple:
        """(output, source, reason) for one light from {source: (switch, dim, reason)} plus holds."""
        switch = dim = None
        top = None
        for source in SOURCES:
            decision = self.held[source].get(light) if source in HELD else layers.get(source)
            if decision is None:
                continue
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
            out, source, reason = self._decide(light, layers_by_light.get(light, {}))
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
