"""Stuck-sensor (flat-line) fault detector, vectorized over channels.

A sensor fault, not a generic anomaly: it moved here from the generic detector, where it
fired on every quantized series (disk counters, integers) whose value legitimately repeats.
The street-light `sensorStuck` rule (voltage bit-identical for N polls) stays as it is;
this learnt version is for sensor channels whose repeat rate is not known in advance.

Evidence = the sum of the channel's learnt per-sample change probability over the current
run of bit-identical values, i.e. how many changes we expected and did not see (about the
-log-probability of the run): a noisy reading stuck for 10 polls scores high, a reading
that sits at 0 for hours, or an integer counter that ticks hourly, does not.
"""

from __future__ import annotations

import numpy as np


class StuckSensor:
    """Per-channel flat-line evidence; state is three arrays over channels."""

    def __init__(self, n_channels: int, alpha: float = 0.01, k: float = 10.0) -> None:
        self.n = int(n_channels)
        self.alpha, self.k = float(alpha), float(k)
        self.state = {"prev": np.full(self.n, np.nan), "p_change": np.zeros(self.n),
                      "missed": np.zeros(self.n), "count": np.zeros(self.n)}

    def update(self, values: np.ndarray) -> np.ndarray:
        """Feed one sample per channel (NaN = none); return stuck scores in [0, 1)."""
        x = np.asarray(values, dtype=np.float64)
        if x.shape != (self.n,):
            raise ValueError(f"values must have shape ({self.n},), got {x.shape}")
        s = self.state
        valid = np.isfinite(x)
        seen = valid & np.isfinite(s["prev"])
        changed = seen & (x != s["prev"])
        same = seen & ~changed
        s["missed"] = np.where(same, s["missed"] + s["p_change"],
                               np.where(valid, 0.0, s["missed"]))
        # EW change rate, an exact mean while young (weight max(alpha, 1/count))
        s["count"] = s["count"] + seen
        w = np.where(seen, np.maximum(self.alpha, 1.0 / np.maximum(s["count"], 1.0)), 0.0)
        s["p_change"] = s["p_change"] + w * (changed - s["p_change"])
        s["prev"] = np.where(valid, x, s["prev"])
        u = s["missed"] / self.k
        return np.where(valid, u * u / (u * u + 1.0), 0.0)

    def state_dict(self) -> dict:
        """Learnt state as a plain dict of arrays."""
        return {k: v.copy() for k, v in self.state.items()}

    def load_state_dict(self, sd: dict) -> None:
        """Restore state saved by `state_dict` (the channel count must match)."""
        state = {k: np.array(sd[k], dtype=np.float64) for k in self.state}
        if any(v.shape != (self.n,) for v in state.values()):
            raise ValueError(f"stuck-sensor state is not for {self.n} channels")
        self.state = state
