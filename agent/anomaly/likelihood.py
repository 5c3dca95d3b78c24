"""Short-term likelihood of AnomalyDetector's kernel (HTM's anomaly-likelihood idea) and the score.

The calibrated evidence `c` (sds above the channel's usual raw score) of one sample is noisy: a
burst of moderately rare samples says more than any one of them. So the mean of the last
`lik_window` rows' `c` (a ring of fixed size per channel, one slot per row, shared by every
channel) is standardised against its own running mean and variance, learnt from warm samples
at the calibration's weight; that excess, times `w_lik`, competes with `c` itself (the larger
wins). Numenta's HTM gets much of its NAB score from this step. All in-place IEEE-exact
ufuncs on float32, like the rest of the kernel: any split of the work gives the same bits.
"""

from __future__ import annotations

import numpy as np

F = np.float32


class Likelihood:
    """The ring, sum and running statistics of channels [lo, hi) (views into the state)."""

    def __init__(self, s: dict, p: dict, m: int) -> None:
        self.s, self.p = s, p
        self.t = [np.empty(m, F) for _ in range(2)]
        self.on = p["w_lik"] > 0.0
        self.inv_w = 1.0 / p["lik_window"]

    def __call__(self, c: np.ndarray, g: dict, slot: int) -> None:
        """c (>= 0, 0 when not scored) -> max(c, w_lik x the window mean's excess), in place."""
        if not self.on:
            return
        s, p = self.s, self.p
        old, t, h = s["lik_ring"][slot], self.t[0], self.t[1]
        # a sample not scored (missing, warming up) leaves the slot as it was: 0 until the
        # channel's first scored sample, then that slot's last scored evidence
        np.subtract(c, old, out=t)
        np.multiply(t, g["s_gate"], out=t)
        np.add(old, t, out=old)
        np.add(s["lik_sum"], t, out=s["lik_sum"])
        mu, var = s["lik_mean"], s["lik_var"]
        np.multiply(s["lik_sum"], self.inv_w, out=t)  # the window's mean
        np.subtract(t, mu, out=t)
        np.sqrt(var, out=h)
        np.add(h, p["lik_floor"], out=h)
        np.divide(t, h, out=h)                        # its excess over its usual level, in sds
        np.multiply(h, p["w_lik"], out=h)
        np.maximum(c, h, out=c)
        np.multiply(t, g["a_calib"], out=h)           # then learn (warm samples only)
        np.add(mu, h, out=mu)
        np.multiply(t, t, out=t)
        np.subtract(t, var, out=t)
        np.multiply(t, g["a_calib"], out=t)
        np.add(var, t, out=var)


def score(c: np.ndarray, k_score: float, gate: np.ndarray, out: np.ndarray,
          tail: np.ndarray | None = None) -> None:
    """out = 1 - q x tail of c = u in [0, ~1e7], q = k^2 / (u^2 + k^2), times gate; c is scratch.

    `tail` (agent/anomaly/calibration.py; None = 1, the prior alone) rescales the tail mass
    by the channel's own. q small and exact in float32, 1 - q in float64: monotone in u for
    a given tail, < 1 for every u below the cap (no saturation)."""
    np.multiply(c, c, out=c)
    k2 = k_score ** 2
    np.add(c, k2, out=c)
    np.divide(k2, c, out=c)
    if tail is not None:
        np.multiply(c, tail, out=c)
    np.copyto(out, c)                             # to float64, then 1 - q there
    np.subtract(1.0, out, out=out)
    np.multiply(out, gate, out=out)               # 0 = not reported
