"""Raise/clear hysteresis over many lights at once, so each fault is raised once and cleared once."""

from __future__ import annotations

import numpy as np


class Hysteresis:
    """Per-light latch: raise after `raise_after` consecutive bad polls, clear after `clear_after` good.

    A poll that is neither bad nor good (condition unknown, e.g. the lamp is switched off for a
    lamp-failure check) leaves the runs as they are.
    """

    def __init__(self, n: int, raise_after: int, clear_after: int) -> None:
        self.raise_after, self.clear_after = int(raise_after), int(clear_after)
        self.active = np.zeros(n, dtype=bool)
        self.bad_run = np.zeros(n, dtype=np.int64)
        self.good_run = np.zeros(n, dtype=np.int64)
        self.run_start = np.full(n, np.nan)   # ts of the first poll of the current bad run
        self.first_seen = np.full(n, np.nan)  # ts of the first bad poll of the active event

    def step(self, bad: np.ndarray, good: np.ndarray, ts: float) -> tuple:
        """Advance one poll; return (indices raised, indices cleared) by this poll."""
        bad = bad & ~good
        self.bad_run = np.where(bad, self.bad_run + 1, np.where(good, 0, self.bad_run))
        self.good_run = np.where(good, self.good_run + 1, np.where(bad, 0, self.good_run))
        self.run_start[bad & (self.bad_run == 1)] = ts
        raised = ~self.active & (self.bad_run >= self.raise_after)
        cleared = self.active & (self.good_run >= self.clear_after)
        self.first_seen[raised] = self.run_start[raised]
        self.active |= raised
        self.active &= ~cleared
        return np.flatnonzero(raised), np.flatnonzero(cleared)

    def state_dict(self) -> dict:
        """Return the latch state as a dict of arrays."""
        return {k: getattr(self, k).copy()
                for k in ("active", "bad_run", "good_run", "run_start", "first_seen")}

    def load_state_dict(self, sd: dict) -> None:
        """Restore state saved by `state_dict`."""
        for k, v in sd.items():
            setattr(self, k, np.asarray(v, dtype=getattr(self, k).dtype).copy())
