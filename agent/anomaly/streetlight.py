"""Street-light fault detectors vectorized over all lights of a gateway."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, NamedTuple

import numpy as np

from agent.anomaly.hysteresis import Hysteresis

# TALQ names where TALQ has one; the last two are Lentera's own (docs/anomaly.md).
KINDS = ("lampFailure", "dayBurning", "cycling", "activePowerTooHigh",
         "lampVoltageTooLow", "lampVoltageTooHigh", "sensorStuck", "energyCounterDecrease")

# (raise after K bad polls, clear after M good polls). lampFailure waits 5 polls so the short
# drop-outs of a cycling lamp are reported as cycling, not as a failure.
DEFAULT_HYSTERESIS = {
    "lampFailure": (5, 3), "dayBurning": (3, 3), "cycling": (1, 10),
    "activePowerTooHigh": (3, 3), "lampVoltageTooLow": (2, 3), "lampVoltageTooHigh": (2, 3),
    "sensorStuck": (1, 2), "energyCounterDecrease": (1, 5),
}


@dataclass(frozen=True)
class StreetlightThresholds:
    """Fault thresholds; power ratios are relative to rated_power x dim / 100."""

    nominal_voltage: float = 220.0
    sag: float = 0.9                 # EN 50160 allows +-10 % around nominal
    swell: float = 1.1
    fail_ratio: float = 0.3          # on, yet drawing under 30 % of expected power
    over_ratio: float = 1.3          # drawing over 130 % of expected power ...
    over_margin: float = 0.1         # ... plus 10 % of rated, so a switched-off light is covered
    lit_ratio: float = 0.1           # the lamp burns when power exceeds 10 % of rated
    day_lux: float = 1000.0          # above this the sky is bright whatever sun_up says
    cycle_window_s: float = 1800.0   # time constant of the leaky count of transitions
    cycle_count: float = 3.0         # uncommanded on/off transitions within the window
    command_grace_s: float = 300.0   # a transition this soon after a command was commanded
    stuck_polls: int = 10            # identical voltage readings in a row
    energy_tolerance: float = 0.5    # Wh of counter jitter that is not "going backwards"
    hysteresis: Mapping = field(default_factory=lambda: dict(DEFAULT_HYSTERESIS))


class Transition(NamedTuple):
    """Lights whose `kind` fault was raised or cleared at poll `ts`, with per-light evidence."""

    kind: str
    state: str                 # "raised" | "cleared"
    index: np.ndarray          # light indices
    ts: float
    score: np.ndarray          # severity in [0, 1] at this poll
    first_seen_ts: np.ndarray
    evidence: dict             # point name -> values at these lights


def _ratio_score(x: np.ndarray) -> np.ndarray:
    """Map a non-negative excess to [0, 1) continuously."""
    x = np.clip(np.nan_to_num(x), 0.0, None)
    return x / (x + 1.0)


class StreetlightDetectors:
    """All street-light fault detectors of one gateway; arrays are indexed by light."""

    def __init__(self, n_lights: int, thresholds: StreetlightThresholds | None = None) -> None:
        self.n = int(n_lights)
        self.th = thresholds or StreetlightThresholds()
        self.latch = {k: Hysteresis(self.n, *self.th.hysteresis[k]) for k in KINDS}
        self.mem = {"lit": np.full(self.n, np.nan), "cycles": np.zeros(self.n),
                    "voltage": np.full(self.n, np.nan), "stuck_run": np.zeros(self.n),
                    "energy": np.full(self.n, np.nan), "ts": np.array([np.nan])}

    def update(self, poll: Mapping[str, np.ndarray], ts: float, sun_up,
               lux=None, last_command_ts=None) -> list:
        """Feed one poll of every light (point name -> array, NaN = missing); return Transitions.

        `sun_up` (bool, scalar or per light) comes from the caller's astronomical clock;
        `lux` (scalar or per light) and `last_command_ts` (per light, NaN = never) are optional.
        """
        n = self.n
        get = lambda k: np.broadcast_to(np.asarray(poll.get(k, np.nan), float), (n,))  # noqa: E731
        v = {k: get(k) for k in ("power", "voltage", "energy", "rated_power", "dim", "switch",
                                 "lamp_state")}
        v["lux"] = np.broadcast_to(np.asarray(np.nan if lux is None else lux, float), (n,))
        v["cmd"] = np.broadcast_to(
            np.asarray(np.nan if last_command_ts is None else last_command_ts, float), (n,))
        v["sun_up"] = np.broadcast_to(np.asarray(sun_up, bool), (n,))
        cond, evidence = self._conditions(v, float(ts))
        out = []
        for kind in KINDS:
            bad, good, score = cond[kind]
            latch = self.latch[kind]
            for state_name, idx in zip(("raised", "cleared"), latch.step(bad, good, ts)):
                if idx.size:
                    ev = {k: evidence[k][idx] for k in _EVIDENCE[kind]}
                    out.append(Transition(kind, state_name, idx, float(ts), score[idx],
                                          latch.first_seen[idx].copy(), ev))
        return out

    def _conditions(self, v: dict, ts: float) -> tuple:
        """Per kind (bad, good, score) arrays for this poll, and the evidence arrays."""
        th = self.th
        power, volt, energy, rated = v["power"], v["voltage"], v["energy"], v["rated_power"]
        state, switch = v["lamp_state"], v["switch"]
        expected = np.where(switch == 1, rated * np.nan_to_num(v["dim"]) / 100.0, 0.0)
        have_p = np.isfinite(power) & np.isfinite(expected)
        lit = power > th.lit_ratio * rated
        cond = {}
        cycles = self._cycles(lit, have_p & np.isfinite(rated), ts, v["cmd"])
        commanded_on = (switch == 1) & (expected > 0) & have_p & ~self.latch["cycling"].active
        bad = commanded_on & ((power < th.fail_ratio * expected) | (state == 2))
        cond["lampFailure"] = (bad, commanded_on & ~bad,
                               _ratio_score(4 * (1 - power / np.where(expected > 0, expected, 1))))
        bad = (v["sun_up"] | (v["lux"] >= th.day_lux)) & (lit | (state == 1))
        cond["dayBurning"] = (bad, have_p & ~bad, _ratio_score(4 * power / rated))
        cond["cycling"] = (cycles >= th.cycle_count, cycles < 1.0,
                           _ratio_score(cycles / th.cycle_count))
        bad = have_p & (power > th.over_ratio * expected + th.over_margin * rated)
        cond["activePowerTooHigh"] = (bad, have_p & ~bad,
                                      _ratio_score((power - expected) / (th.over_margin * rated)))
        dev = volt / th.nominal_voltage - 1.0
        have_v = np.isfinite(volt)
        low, high = volt < th.sag * th.nominal_voltage, volt > th.swell * th.nominal_voltage
        cond["lampVoltageTooLow"] = (low, have_v & ~low, _ratio_score(-dev / (1 - th.sag)))
        cond["lampVoltageTooHigh"] = (high, have_v & ~high, _ratio_score(dev / (th.swell - 1)))
        run = self._stuck_run(volt)
        cond["sensorStuck"] = (run >= th.stuck_polls, have_v & (run == 0),
                               _ratio_score(run / th.stuck_polls))
        drop = self._energy_drop(energy)
        cond["energyCounterDecrease"] = (drop > th.energy_tolerance, drop <= th.energy_tolerance,
                                         _ratio_score(drop / 100.0))
        evidence = {**v, "expected_power": expected, "cycles_in_window": cycles,
                    "stuck_polls": run, "energy_drop": drop}
        return cond, evidence

    def _cycles(self, lit, known, ts, cmd) -> np.ndarray:
        """Leaky count of on/off transitions that no command explains."""
        m, th = self.mem, self.th
        prev_ts = m["ts"][0]
        decay = 1.0 if math.isnan(prev_ts) else math.exp(-(ts - prev_ts) / th.cycle_window_s)
        was = m["lit"]
        flip = known & np.isfinite(was) & (lit != (was == 1))
        uncommanded = ~(ts - cmd <= th.command_grace_s)       # NaN command time: never commanded
        m["cycles"] = m["cycles"] * decay + (flip & uncommanded)
        m["lit"] = np.where(known, lit.astype(float), was)
        m["ts"][0] = ts
        return m["cycles"]

    def _stuck_run(self, volt) -> np.ndarray:
        """Polls in a row with bit-identical voltage (noise makes repeats rare when healthy)."""
        m = self.mem
        same = np.isfinite(volt) & (volt == m["voltage"])
        m["stuck_run"] = np.where(same, m["stuck_run"] + 1,
                                  np.where(np.isfinite(volt), 0, m["stuck_run"]))
        m["voltage"] = np.where(np.isfinite(volt), volt, m["voltage"])
        return m["stuck_run"]

    def _energy_drop(self, energy) -> np.ndarray:
        """How far the energy counter fell since the last reading (0 when it rose)."""
        m = self.mem
        drop = np.where(np.isfinite(energy) & np.isfinite(m["energy"]), m["energy"] - energy, 0.0)
        m["energy"] = np.where(np.isfinite(energy), energy, m["energy"])
        return np.clip(drop, 0.0, None)

    def state_dict(self) -> dict:
        """Return detector memory and latches as nested dicts of arrays."""
        return {"mem": {k: v.copy() for k, v in self.mem.items()},
                "latch": {k: v.state_dict() for k, v in self.latch.items()}}

    def load_state_dict(self, sd: dict) -> None:
        """Restore state saved by `state_dict`."""
        self.mem = {k: np.asarray(v, float).copy() for k, v in sd["mem"].items()}
        for k, v in sd["latch"].items():
            self.latch[k].load_state_dict(v)


_EVIDENCE = {
    "lampFailure": ("power", "expected_power", "switch", "dim", "lamp_state"),
    "dayBurning": ("power", "rated_power", "lamp_state", "lux", "sun_up"),
    "cycling": ("cycles_in_window", "power", "lamp_state"),
    "activePowerTooHigh": ("power", "expected_power", "rated_power", "switch", "dim"),
    "lampVoltageTooLow": ("voltage",),
    "lampVoltageTooHigh": ("voltage",),
    "sensorStuck": ("voltage", "stuck_polls"),
    "energyCounterDecrease": ("energy", "energy_drop"),
}
