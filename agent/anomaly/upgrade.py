"""Upgrading a saved AnomalyDetector state that an older version wrote (review finding 6).

Every version since the calibrated detector (c3be23d) saves the same core arrays (the level and
seasonal model, scales, range, contexts and the calibration); later versions only added arrays
(the last alarm, the weekly profile, known bursts, the short-term likelihood, the own tail). A state that has
the core is kept, and each missing array is filled with a value under which the channel goes on
as if the newer part had always been there -- not zeros where zeros would mean something:

* `lik_*` (short-term likelihood): a zero running mean and variance would make the first
  windows' ordinary evidence look like many sds of excess (false alarms until they are learnt,
  at the calibration's slow weight). They start at what the calibration implies instead: the
  evidence c = max(0, (raw - mean) / (sd + floor)) of an ordinary sample has mean ~0.4 r and
  variance ~0.34 r^2, r = sd / (sd + floor); its 10-row mean has a variance between that / 10
  (independent rows) and that (identical rows): 0.11 r^2 is taken, between the two.
* `tail_rate` (the channel's own tail, agent/anomaly/calibration.py): 1, the prior's tail,
  so the upgraded channel scores as the older version did until its own tail is learnt.
* everything else starts as in a fresh detector: no alarm yet (`last_fire` = -inf), no
  weekly offset, no burst shape known (its evidence is not discounted until seen).

A state without the core (the detector before c3be23d, other keys entirely) is not upgraded:
the caller relearns from scratch.
"""

from __future__ import annotations

import numpy as np

CORE = ("level", "gscale", "count", "season", "bscale", "bcount", "envelope", "env_today",
        "lo", "hi", "ctx", "ns", "context_seen", "cal_count", "cal_mean", "cal_var", "ref",
        "t0", "bin_period")
MEAN_C, VAR_C = 0.4, 0.11       # of r^2 (see above)


def missing_core(saved: set) -> list:
    """Core arrays the saved state lacks (non-empty: not upgradable, relearn)."""
    return [k for k in CORE if k not in saved]


def fill_missing(state: dict, missing: list, params: dict) -> None:
    """Fill `missing` keys of `state` (fresh values already in place) from the kept core."""
    if any(k.startswith("lik_") for k in missing):
        sd = np.sqrt(np.maximum(state["cal_var"].astype(np.float64), 0.0))
        r = sd / (sd + params["calib_floor"])
        mean, var = MEAN_C * r, VAR_C * r * r
        # the ring, its sum and the statistics belong together: refill all of them
        state["lik_ring"][:] = mean
        state["lik_sum"][:] = params["lik_window"] * mean
        state["lik_mean"][:] = mean
        state["lik_var"][:] = var
        state["lik_pos"][:] = 0.0
    if "tail_rate" in missing:
        # the channel's own tail not learnt yet: the prior's (ratio 1), i.e. the old score,
        # moving toward the channel's own at the calibration's weight
        state["tail_rate"][:] = 1.0
