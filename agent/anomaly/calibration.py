"""Per-channel empirical tail of AnomalyDetector's calibrated evidence (issue 23).

The score `1 - q`, q = k^2 / (u^2 + k^2), treats every channel's evidence u (sds above its usual
raw score, after the short-term likelihood) as if it had the same tail, which a mean and sd do
not make so (a bursty counter and a smooth series differ above them). So each channel keeps, for
`tail_levels` levels c_l = tail_step x l (2, 4, 6, 8), an exponential mean of 1[u > c_l] /
q(c_l): the ratio rho_l of its own exceedance rate to the prior's (1 = the prior was right).
While the channel has seen few samples it is mixed with the prior, m_l = 1 + w (rho_l - 1), w =
n / (n + tail_n0) (n = the calibration's sample count); between levels sqrt(m) is interpolated
linearly in u (1 at u = 0, constant above the top level), and the score is 1 - q sqrt(m(u)): the
geometric mean of the prior's tail mass and the channel's own. Measured
(tests/agent/anomaly/test_calibration.py, docs/anomaly.md): the calibrated evidence of smooth,
bursty and t-distributed channels alike exceeds 2-8 sds less often than the prior says, so the
ratios are < 1 and upper scores rise -- on NAB v1.1 that lowers the false-positive cost at the
corpus threshold (+1.9 standard with fire 0.85, escalate 0.05); on clean noise it fires more
often and can hide a real excursion the same day. Off by default (`tail_levels` 0). The full
empirical tail alone, 1 - r, scored 39-54 on NAB.

Fixed memory (tail_levels float32 per channel), learnt from warm samples at the calibration's
weight, in-place IEEE-exact ufuncs over (levels, channels) blocks: any split gives the same bits.
"""

from __future__ import annotations

import numpy as np

F = np.float32


def prior_tail(levels: np.ndarray, k: float) -> np.ndarray:
    """The score's own tail mass q(c) = k^2 / (c^2 + k^2) at the levels."""
    return (k * k) / (levels * levels + k * k)


class Tail:
    """Exceedance ratios of channels [lo, hi) (a view into the state) and their scratch."""

    def __init__(self, s: dict, p: dict, m: int) -> None:
        self.s, self.p = s, p
        k = int(p["tail_levels"])
        self.on = k > 0
        if not self.on:
            return
        levels = p["tail_step"] * np.arange(1, k + 1, dtype=np.float64)
        self.levels = levels.astype(F)[:, None]
        self.inv_prior = (1.0 / prior_tail(levels, p["k_score"])).astype(F)[:, None]
        self.knots = np.arange(k, dtype=F)[:, None]       # segment l spans u/step in [l, l+1]
        self.inv_step = F(1.0 / p["tail_step"])
        self.n0 = float(p["tail_n0"])
        self.sig = np.ones((k + 1, m), F)                 # row 0: sqrt(m) = 1 at u = 0
        self.t2 = np.empty((k, m), F)
        self.ind = np.empty((k, m), bool)
        self.pos, self.w = np.empty(m, F), np.empty(m, F)
        n = F(p["n_calib"])
        self.w_full = n / (n + F(self.n0))                # float32, as the array path gives it

    def __call__(self, c: np.ndarray, g: dict, full: bool) -> np.ndarray | None:
        """sqrt(m(c)) per channel (None when off), then learn from c (warm samples only).

        `full`: every calibration count of the chunk is full, so w is one constant."""
        if not self.on:
            return None
        rho, sig, t2, pos = self.s["tail_rate"], self.sig, self.t2, self.pos
        top = sig[1:]
        # sqrt(m_l) = sqrt(1 + w (rho_l - 1)) of the rates before this sample
        # (a full count gives the same float32 w as the array would: the same bits either way;
        # a channel with no sample in the block has no score and learns nothing)
        np.subtract(rho, 1.0, out=top)
        if full:
            np.multiply(top, self.w_full, out=top)
        else:
            np.add(self.s["cal_count"], self.n0, out=self.w)
            np.divide(self.s["cal_count"], self.w, out=self.w)
            np.multiply(top, self.w, out=top)
        np.add(top, 1.0, out=top)
        np.sqrt(top, out=top)
        # piecewise linear in u: 1 + sum_l (sig_l+1 - sig_l) clip(u / step - l, 0, 1)
        np.multiply(c, self.inv_step, out=pos)
        np.subtract(pos, self.knots, out=t2)
        np.maximum(t2, 0.0, out=t2)
        np.minimum(t2, 1.0, out=t2)
        np.subtract(top, sig[:-1], out=top)               # row l+1 - row l (top is rewritten)
        np.multiply(top, t2, out=t2)
        out = pos
        np.add(t2[0], 1.0, out=out)
        for row in t2[1:]:
            np.add(out, row, out=out)
        # learn: rho_l += a (1[c > c_l] / q(c_l) - rho_l)
        np.greater(c, self.levels, out=self.ind)
        np.multiply(self.ind, self.inv_prior, out=t2)
        np.subtract(t2, rho, out=t2)
        np.multiply(t2, g["a_calib"], out=t2)
        np.add(rho, t2, out=rho)
        return out

