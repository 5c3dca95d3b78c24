"""Streaming anomaly detector vectorized across channels, with scores calibrated per channel.

Three detectors per channel -- a robust seasonal residual, a running-range excess and a
context novelty -- are fused into one raw score, which is then scored against that channel's
own history of raw scores (anomaly-likelihood style), so one threshold means the same rarity
on every channel. See docs/anomaly.md.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np

from agent.anomaly.kernel import LIMIT, F, Step
from agent.anomaly.memory import NEVER
from agent.anomaly.npz import check_fits, copy_into
from agent.anomaly.upgrade import fill_missing, missing_core

# Defaults tuned on bench/anomaly_eval.py and bench/anomaly_data.py (fire, refractory, escalate:
# on NAB v1.1, docs/benchmarks.md says how); docs/anomaly.md says why.
DEFAULTS = {
    "period": 86400.0,      # seasonal period (s) of the reading's timestamp: day/night
    "n_bins": 24,           # seasonal bins per period
    "alpha_level": 0.02,    # level and global scale, per valid sample
    "alpha_bin": 0.05,      # seasonal offset and bin scale, per valid sample in the bin
    "alpha_up": 0.1,        # extra weight of a rising global scale (level shifts)
    "huber_c": 5.0,         # residuals clipped at c * scale before they move the statistics
    "rel_floor": 1e-4,      # scale floor, relative to the channel's running range ...
    "mag_floor": 1e-9,      # ... plus this share of its magnitude (|first sample|)
    "warmup": 86400.0,      # s of data per channel before the calibration starts
    "env_decay": 0.7,       # per period: the bin's |innovation| envelope fades over days
    "env_c": 3.0,           # a repeat of the envelope's deviation scores z = env_c
    "range_decay": 1e-3,    # running range shrinks by this share of its span per sample
    "levels": 5,            # context: the running range is cut into this many levels ...
    "context": 2,           # ... and the last this many levels form the context
    "age_horizon": 2000.0,  # samples: a context unseen for this long is fully novel
    "w_range": 1.0,         # raw score weight of a range excess of one span
    "w_context": 2.0,       # raw score weight of a fully novel context
    "n_calib": 4000,        # samples of history a channel's raw score is calibrated on
    "calib_warmup": 100,     # then this many samples calibrated (unclipped) before scores
    "calib_floor": 0.5,     # absolute sd floor of the calibration (raw scores are unitless)
    "calib_clip": 8.0,      # raw excess clipped at this many sds before it moves the history
    "k_score": 1.6,         # calibrated sds at which the score is 0.5 (NAB-optimal on the yardstick)
    "fire": 0.7,            # a score this high is an alarm ...
    "refractory": 86400.0,  # ... and the channel's scores are 0 for this many s after it ...
    "escalate": 0.1,        # ... unless they beat that alarm's score by this much
    "week_bins": 7,         # weekly context: offsets per day of week ...
    "alpha_week": 0.0,      # ... learnt at this weight per valid sample (0: off; docs say why)
    "burst_levels": 4,      # known bursts: sqrt(z) cut into this many levels ...
    "burst_scale": 1.0,     # ... (level = floor(burst_scale x sqrt(z))) ...
    "burst_k": 3,           # ... the last this many form a residual shape ...
    "burst_horizon": 4000.0,  # ... known if seen within this many samples ...
    "w_burst": 0.5,         # ... and then z is discounted by up to this share (0: off)
    "lik_window": 10,       # short-term likelihood: the mean of the last this many rows' ...
    "lik_floor": 0.1,       # ... calibrated evidence, in its own sds (+ this floor) ...
    "w_lik": 2.0,           # ... times this, competes with each sample's own (0: off)
    # own tail (off: NAB +1.9, but clean noise then fires and hides a real excursion; docs):
    "tail_levels": 0,       # ... this many levels (4 on NAB) ...
    "tail_step": 2.0,       # ... this many sds apart (2, 4, 6, 8) ...
    "tail_n0": 100.0,       # ... mixed with the prior as if it had been seen this many samples
}
log = logging.getLogger(__name__)
_INT_PARAMS = ("n_bins", "levels", "context", "n_calib", "calib_warmup", "week_bins",
               "burst_levels", "burst_k", "lik_window", "tail_levels")

_STATE_1D = ("level", "gscale", "count", "lo", "hi", "ctx", "ns", "cal_count",
             "cal_mean", "cal_var", "last_fire", "fire_top", "burst_ctx", "lik_sum",
             "lik_mean", "lik_var")
_STATE_2D = ("season", "bscale", "bcount", "envelope", "env_today")
# lo = hi = 0: values are relative to the first sample, so the range starts right there
_INIT = {"t0": np.inf, "ref": np.nan, "bin_period": np.nan, "last_fire": -np.inf,
         "burst_seen": NEVER}
# times and the per-channel origin of the values
_FLOAT64 = ("t0", "ref", "bin_period", "last_fire", "fire_top", "lik_pos")


def _dtype(key: str) -> type:
    return np.float64 if key in _FLOAT64 else F


def _params(params: dict) -> dict:
    unknown = set(params) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown AnomalyDetector params: {sorted(unknown)} "
                         f"(known: {sorted(DEFAULTS)})")
    p = {**DEFAULTS, **{k: float(v) for k, v in params.items()}}
    for k in _INT_PARAMS:
        p[k] = int(p[k])
    return p


class AnomalyDetector:
    """Per-channel calibrated streaming anomaly scores; all state is arrays over channels."""

    def __init__(self, n_channels: int, **params: float) -> None:
        self.n = int(n_channels)
        self.params = _params(params)
        self.state = self._fresh_state()
        self._steps: dict = {}

    def _shapes(self) -> dict:
        nb, p = self.params["n_bins"], self.params
        return {**{k: (self.n,) for k in _STATE_1D + ("t0", "ref")},
                **{k: (nb, self.n) for k in _STATE_2D},
                "context_seen": (p["levels"] ** p["context"], self.n), "bin_period": (nb,),
                "week": (p["week_bins"], self.n),
                "burst_seen": (p["burst_levels"] ** p["burst_k"], self.n),
                "lik_ring": (p["lik_window"], self.n), "lik_pos": (1,),
                "tail_rate": (p["tail_levels"], self.n)}

    def _fresh_state(self) -> dict:
        return {k: np.full(shape, _INIT.get(k, 0.0), dtype=_dtype(k))
                for k, shape in self._shapes().items()}

    def _bin(self, ts: np.ndarray, week: bool = False) -> np.ndarray:
        p = self.params
        period, n = (7 * p["period"], p["week_bins"]) if week else (p["period"], p["n_bins"])
        return np.floor_divide(np.remainder(ts, period), period / n).astype(np.intp)

    def update(self, values: np.ndarray, ts: float) -> np.ndarray:
        """Feed one sample per channel (NaN = none) taken at `ts`; return scores in [0, 1]."""
        x = np.asarray(values, dtype=np.float64)
        if x.shape != (self.n,):
            raise ValueError(f"values must have shape ({self.n},), got {x.shape}")
        return self.update_many(x[None, :], [float(ts)])[0]

    def update_many(self, block: np.ndarray, ts, step: float | None = None,
                    chunk: int = 16384, rows: int | None = None) -> np.ndarray:
        """Feed a (T, n) block; `ts` is T timestamps, or a start time with `step` seconds between rows.

        Returns (T, n) scores equal to T calls of `update`. `chunk` channels and `rows`
        samples are prepared and run together (speed knobs only: results do not change);
        by default a prepared block holds ~64 k values, so it stays in the cache.
        """
        x = np.asarray(block, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n:
            raise ValueError(f"block must have shape (T, {self.n}), got {x.shape}")
        times = self._times(ts, step, x.shape[0])
        out = np.empty(x.shape)
        bins, wbins = self._bin(times), self._bin(times, week=True)
        chunk = max(1, int(chunk))
        rows = max(1, int(rows) if rows else 65536 // min(chunk, max(self.n, 1)))
        for r0 in range(0, x.shape[0], rows):
            r1 = min(r0 + rows, x.shape[0])
            commits = self._commits(times[r0:r1], bins[r0:r1])
            slots = self._slots(r1 - r0)
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                for lo in range(0, self.n, chunk):
                    hi = min(lo + chunk, self.n)
                    self._run(x[r0:r1, lo:hi], times[r0:r1], (bins[r0:r1], wbins[r0:r1]),
                              commits, lo, hi, out[r0:r1, lo:hi], slots)
        return out

    def _times(self, ts, step, t_count: int) -> np.ndarray:
        if np.ndim(ts) == 0:
            if step is None:
                raise ValueError("a scalar ts needs step= (seconds between rows)")
            return float(ts) + float(step) * np.arange(t_count, dtype=np.float64)
        times = np.asarray(ts, dtype=np.float64).reshape(-1)
        if len(times) != t_count:
            raise ValueError(f"ts has {len(times)} entries for {t_count} rows")
        return times

    def _commits(self, times: np.ndarray, bins: np.ndarray) -> list:
        """Per row: commit its bin's envelope first (the bin's first visit in a new period)."""
        period_of = np.floor_divide(times, self.params["period"])
        seen = self.state["bin_period"]
        commits = []
        for b, k in zip(bins.tolist(), period_of.tolist()):
            commits.append(seen[b] != k)                  # NaN (never) compares unequal
            seen[b] = k
        return commits

    def _slots(self, t_count: int) -> list:
        """Per row: its slot in the likelihood ring (one per row, shared by every channel)."""
        w, pos = self.params["lik_window"], self.state["lik_pos"]
        first = int(pos[0])
        pos[0] = (first + t_count) % w
        return [(first + i) % w for i in range(t_count)]

    def _run(self, x, times, bins_w, commits, lo: int, hi: int, out, slots) -> None:
        """Prepare a block of rows for channels [lo, hi), then step through it."""
        key = (lo, hi)
        fresh = key not in self._steps
        if fresh:                         # views of the state and scratch, kept between calls
            self._steps[key] = (Step(self.state, self.params, lo, hi), {})
        step, buffers = self._steps[key]
        block = prepare_block(self.state, self.params, lo, hi, x, times, buffers)
        if fresh or buffers["new_origins"]:
            step.new_origins(self.state["ref"][lo:hi], self.params["mag_floor"])
        step.begin_block(buffers["valid"])
        bins, wbins = bins_w[0], bins_w[1].tolist()
        near_limit = float(step.s["ns"].max(initial=0.0)) + len(bins) >= LIMIT
        for i, b in enumerate(bins.tolist()):
            if near_limit:
                step.shift_counter()
            if commits[i]:
                step.commit_envelope(b)
            step(b, times[i], {k: v[i] for k, v in block.items()}, out[i], wbins[i], slots[i])

    def state_dict(self) -> dict:
        """Return learnt state and params as a plain dict of numpy arrays and numbers."""
        return {"params": dict(self.params), "n_channels": self.n,
                **{k: v.copy() for k, v in self.state.items()}}

    def load_state_dict(self, sd: Mapping) -> None:
        """Restore state and params saved by `state_dict` (the channel count must match)."""
        if int(sd["n_channels"]) != self.n:
            raise ValueError(f"state has {sd['n_channels']} channels, detector has {self.n}")
        params = _params({k: v for k, v in dict(sd["params"]).items() if k in DEFAULTS})
        self.restore({k: v for k, v in sd.items() if k not in ("params", "n_channels")}, params)

    def restore(self, arrays: Mapping, params: dict | None = None) -> None:
        """Restore the learnt arrays (name -> array; an NpzArrays reads each only now, from
        its file into the detector's own array) under `params` (default: today's).

        Every shape and dtype is checked first: a misfit is a ValueError naming the array (and
        file) and changes nothing; a read that fails half-way leaves a fresh state. A state an
        older version saved (the core, without newer arrays) is kept and upgraded
        (agent/anomaly/upgrade.py); one without the core is relearnt; a warning each."""
        params = self.params if params is None else params
        keep, self.params = self.params, params
        shapes = self._shapes()
        self.params = keep
        saved = set(arrays)
        if missing_core(saved):
            # the detector before the calibrated one: relearn it, and let the caller go on
            # restoring the rest (the street-light latches), instead of failing the load
            log.warning("anomaly detector state is from an older detector (unknown %s, "
                        "missing %s): relearning the generic detector from scratch",
                        sorted(saved - set(shapes)), missing_core(saved))
            self._install(params, set(shapes))
            return
        missing = sorted(set(shapes) - saved)
        if missing or saved - set(shapes):
            log.warning("anomaly detector state is from another version: kept what it has, "
                        "filled %s as an upgrade, ignored %s", missing, sorted(saved - set(shapes)))
        check_fits(arrays, {k: (v, _dtype(k)) for k, v in shapes.items() if k in saved})
        self._install(params, set(missing))
        try:
            for k in shapes:
                if k in saved:
                    copy_into(arrays, k, self.state[k])
        except BaseException:
            self._install(params, set(shapes))     # nothing half-restored: fresh, then raise
            raise
        fill_missing(self.state, missing, params)

    def _install(self, params: dict, fresh: set) -> None:
        """Take `params`; the arrays named in `fresh` start as in a fresh detector.

        With unchanged params the detector's own arrays are kept (the restore fills them in
        place: one copy of the state, not two); other params mean other shapes, new arrays."""
        if params != self.params:
            self.params = params
            self.state, fresh = self._fresh_state(), set()
        for k in fresh:
            self.state[k][...] = _INIT.get(k, 0.0)
        self._steps = {}

    def state_bytes_per_channel(self) -> float:
        """Bytes of learnt state per channel."""
        return sum(v.nbytes for v in self.state.values()) / self.n


def prepare_block(state: dict, p: dict, lo: int, hi: int, x: np.ndarray, times: np.ndarray,
                  buffers: dict) -> dict:
    """What a (T, m) block of channels [lo, hi) gives the kernel, as float32 arrays: validity,
    values relative to each channel's first sample `ref`, and per-sample constant weights.

    `ref` and `t0` (the first sample's value and time) are set here: the warm-up test
    t0 <= ts - warmup is false for every earlier row anyway, so this equals setting them
    in the step of that sample. `buffers` are reused between calls (no page faults).
    """
    if buffers.get("shape") != x.shape:
        buffers.clear()
        buffers.update({k: np.empty(x.shape, F) for k in ("vf", "x0", "xn", "decay")},
                       valid=np.empty(x.shape, bool), shape=x.shape)
    valid, vf, x0, xn = buffers["valid"], buffers["vf"], buffers["x0"], buffers["xn"]
    np.isfinite(x, out=valid)
    ref, t0 = state["ref"][lo:hi], state["t0"][lo:hi]
    # every channel has its origin: nothing to look for (origins are never unset)
    cols = np.empty(0, np.intp) if buffers.get("all_ref") else np.flatnonzero(np.isnan(ref))
    if cols.size:       # an origin: the first sample within float32 range (|x| < 1e37)
        ok = valid[:, cols] & (np.abs(x[:, cols]) < 1e37)
        has = ok.any(axis=0)
        cols, first = cols[has], np.argmax(ok[:, has], axis=0)
        ref[cols], t0[cols] = x[first, cols], times[first]
    buffers["new_origins"] = bool(cols.size)
    buffers["all_ref"] = buffers.get("all_ref") or not np.isnan(ref).any()
    np.subtract(x, ref, out=xn)                           # in float64, then rounded
    np.logical_and(valid, np.isfinite(xn), out=valid)     # beyond float32 range: missing
    np.copyto(vf, valid)
    x0.fill(0.0)
    np.copyto(x0, xn, where=valid)
    np.divide(x0, vf, out=xn)                             # NaN where missing (+-inf too)
    np.multiply(vf, p["range_decay"], out=buffers["decay"])
    return {k: buffers[k] for k in ("vf", "x0", "xn", "decay")}
