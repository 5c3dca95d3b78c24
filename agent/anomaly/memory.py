"""Sequence memory of AnomalyDetector's kernel: a weekly profile and known burst shapes.

Both are per-channel float32 rows of fixed size, updated with in-place IEEE-exact ufuncs like
the rest of the kernel (kernel.py), so any split of the work into blocks gives
bit-identical results.

* Weekly context: `week` holds one offset per (day of week, part of the day) bin, learnt
  from the innovation that the level and the daily season leave, and added to the
  prediction. A Monday morning is then predicted from Monday mornings; a holiday that looks
  like a Sunday on a Thursday is a residual.
* Bursts as known context (CAD OSE's idea): the shape of the last `burst_k` residuals,
  each cut into `burst_levels` levels of sqrt(z), is a signature; `burst_seen` holds, per
  signature, the sample count at which this channel last showed it. A shape seen within
  `burst_horizon` samples is known and its residual evidence is discounted by up to
  `w_burst`; a shape never seen (a new kind or size of burst) keeps all of it.
"""

from __future__ import annotations

import numpy as np

F = np.float32
NEVER = -1e30      # burst_seen's start: no shape has been seen


class Memory:
    """The weekly profile and burst table of channels [lo, hi) (views into the state)."""

    def __init__(self, s: dict, p: dict, lo: int, hi: int, seen: np.ndarray) -> None:
        self.s, self.p = s, p
        m = hi - lo
        self.t = [np.empty(m, F) for _ in range(3)]
        self.x0w, self.pred = np.empty(m, F), np.empty(m, F)
        self.n_all = seen.shape[1]
        self.seen = seen.reshape(-1)              # (signatures, channels), rows of channels
        self.seen_2d = seen[:, lo:hi]
        self.offsets = np.arange(lo, hi, dtype=np.float64)
        self.idx64, self.idx = np.empty(m), np.empty(m, dtype=np.intp)
        self.z_levels = float(p["burst_levels"])
        self.n_sig = float(int(p["burst_levels"]) ** int(p["burst_k"]))
        self.w_per_age = p["w_burst"] / p["burst_horizon"]
        self.floor, self.scale = 1.0 - p["w_burst"], p["burst_scale"]
        self.on_week = p["alpha_week"] > 0.0
        self.on_burst = p["w_burst"] > 0.0

    def week_input(self, b: int, wb: int, row: dict) -> dict:
        """The row with the weekly offset taken off the value the residual model sees."""
        if not self.on_week:
            return row
        np.add(self.s["level"], self.s["season"][b], out=self.pred)
        np.subtract(row["x0"], self.s["week"][wb], out=self.x0w)
        return {**row, "x0": self.x0w}

    def week_learn(self, wb: int, row: dict) -> None:
        """week[wb] += alpha_week x the innovation (x - level - season - week), clipped at
        huber_c global scales so one outlier does not teach the week."""
        if not self.on_week:
            return
        s, p = self.s, self.p
        e, lim = self.t[0], self.t[1]
        np.subtract(self.x0w, self.pred, out=e)
        np.multiply(s["gscale"], p["huber_c"], out=lim)
        np.minimum(e, lim, out=e)
        np.negative(lim, out=lim)
        np.maximum(e, lim, out=e)
        np.multiply(e, row["vf"], out=e)          # missing: 0, the week stays
        np.multiply(e, p["alpha_week"], out=e)
        np.add(s["week"][wb], e, out=s["week"][wb])

    def burst(self, z: np.ndarray, vf: np.ndarray) -> None:
        """Discount z of a residual shape this channel showed within burst_horizon samples."""
        if not self.on_burst:
            return
        s, p = self.s, self.p
        sig, new, known = s["burst_ctx"], self.t[0], self.t[1]
        np.sqrt(z, out=new)                      # the level of this residual ...
        if self.scale != 1.0:
            np.multiply(new, self.scale, out=new)
        np.floor(new, out=new)
        np.fmin(new, self.z_levels - 1.0, out=new)   # inf, NaN -> top level; z >= 0
        # ... appended to the last k-1: v = sig L + level, v - floor(v / L^k) L^k (exact for
        # small integers; np.fmod gives the same but is ~30x slower)
        np.multiply(sig, self.z_levels, out=known)
        np.add(known, new, out=known)
        np.divide(known, self.n_sig, out=self.t[2])
        np.floor(self.t[2], out=self.t[2])
        np.multiply(self.t[2], self.n_sig, out=self.t[2])
        np.subtract(known, self.t[2], out=known)
        np.subtract(known, sig, out=known)
        np.multiply(known, vf, out=known)        # missing: the signature stays
        np.add(sig, known, out=sig)
        np.multiply(sig, float(self.n_all), out=self.idx64)
        np.add(self.idx64, self.offsets, out=self.idx, casting="unsafe")
        np.take(self.seen, self.idx, out=known)
        np.subtract(s["ns"], known, out=known)   # samples since this shape was last seen
        np.put(self.seen, self.idx, s["ns"])
        # factor 1 - w (1 - age/h) for age < h, else 1 = min((1 - w) + (w/h) age, 1)
        np.multiply(known, self.w_per_age, out=known)
        np.add(known, self.floor, out=known)
        np.minimum(known, 1.0, out=known)
        np.multiply(z, known, out=z)

    def shift(self, late: np.ndarray, shift: float) -> None:
        """The sample counter of channels `late` moved back by `shift`: so do their times."""
        if self.on_burst:
            cols = self.seen_2d[:, late]
            self.seen_2d[:, late] = np.maximum(cols - shift, -shift)
