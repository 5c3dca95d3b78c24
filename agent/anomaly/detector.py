"""Streaming anomaly detector vectorized across channels (robust seasonal EWMA + flat-line)."""

from __future__ import annotations

import numpy as np

# Defaults tuned on bench/anomaly_data.py; see docs/anomaly.md for the reasoning.
DEFAULTS = {
    "period": 86400.0,      # seasonal period (s): day/night
    "n_bins": 24,           # seasonal bins per period
    "alpha_level": 0.02,    # level and global scale, per valid sample
    "alpha_bin": 0.05,      # seasonal offset, bin scale, change rate, per visit of the bin
    "huber_c": 3.0,         # residuals clipped at c * scale before they move the statistics
    "min_scale": 1e-6,      # floor so a constant channel does not divide by zero
    "warmup": 86400.0,      # s of data per channel before scores are reported
    "k_level": 6.0,         # z at which the level score is 0.5
    "k_flat": 10.0,         # missed expected changes at which the flat-line score is 0.5
    "env_decay": 0.7,       # per period: the bin's |innovation| envelope fades over days
    "env_c": 3.0,           # a repeat of the envelope's deviation scores z = env_c
}

_STATE_1D = ("level", "gscale", "count", "t0", "prev", "flat")
_GLOBAL = ("last_bin",)
_STATE_2D = ("season", "bscale", "bcount", "pchange", "envelope", "env_today")


class AnomalyDetector:
    """Per-channel robust seasonal EWMA and flat-line detector; state is arrays over channels."""

    def __init__(self, n_channels: int, **params: float) -> None:
        unknown = set(params) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"unknown AnomalyDetector params: {sorted(unknown)}")
        self.n = int(n_channels)
        self.params = {**DEFAULTS, **{k: float(v) for k, v in params.items()}}
        self.params["n_bins"] = int(self.params["n_bins"])
        nb = self.params["n_bins"]
        self.state = {name: np.zeros(self.n) for name in _STATE_1D}
        self.state["t0"][:] = np.nan
        self.state["prev"][:] = np.nan
        # (bins, channels): the row of the current bin is contiguous.
        self.state.update({name: np.zeros((nb, self.n)) for name in _STATE_2D})
        self.state["last_bin"] = np.array([-1.0])   # shared by all channels: ts is shared

    def _bin(self, ts: float) -> int:
        p = self.params
        return int((ts % p["period"]) // (p["period"] / p["n_bins"]))

    def update(self, values: np.ndarray, ts: float) -> np.ndarray:
        """Feed one sample per channel (NaN = none) taken at `ts`; return scores in [0, 1]."""
        x = np.asarray(values, dtype=np.float64)
        if x.shape != (self.n,):
            raise ValueError(f"values must have shape ({self.n},), got {x.shape}")
        out = np.empty(self.n)
        b = self._bin(ts)
        enter = b != int(self.state["last_bin"][0])
        step = _Step(self.state, self.params, 0, self.n)
        with np.errstate(divide="ignore", invalid="ignore"):
            step(x, float(ts), b, enter, out)
        self.state["last_bin"][0] = b
        return out

    def update_many(self, block: np.ndarray, ts, step: float | None = None,
                    chunk: int = 16384) -> np.ndarray:
        """Feed a (T, n) block; `ts` is T timestamps, or a start time with `step` seconds between rows.

        Returns (T, n) scores equal to T calls of `update`.
        """
        x = np.asarray(block, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n:
            raise ValueError(f"block must have shape (T, {self.n}), got {x.shape}")
        t_count = x.shape[0]
        if np.ndim(ts) == 0:
            if step is None:
                raise ValueError("a scalar ts needs step= (seconds between rows)")
            times = [float(ts) + i * float(step) for i in range(t_count)]
        else:
            times = [float(t) for t in np.asarray(ts, dtype=np.float64)]
            if len(times) != t_count:
                raise ValueError(f"ts has {len(times)} entries for {t_count} rows")
        bins = [self._bin(t) for t in times]
        enter = [b != p for b, p in zip(bins, [int(self.state["last_bin"][0])] + bins[:-1])]
        out = np.empty((t_count, self.n))
        # Channels are independent, so running all T steps on one chunk of channels before
        # the next keeps that chunk's state in cache; results equal the row-by-row order.
        with np.errstate(divide="ignore", invalid="ignore"):
            for lo in range(0, self.n, chunk):
                hi = min(lo + chunk, self.n)
                run = _Step(self.state, self.params, lo, hi)
                for i in range(t_count):
                    run(x[i, lo:hi], times[i], bins[i], enter[i], out[i, lo:hi])
        if t_count:
            self.state["last_bin"][0] = bins[-1]
        return out

    def state_dict(self) -> dict:
        """Return learnt state and params as a plain dict of numpy arrays and numbers."""
        return {"params": dict(self.params), "n_channels": self.n,
                **{k: v.copy() for k, v in self.state.items()}}

    def load_state_dict(self, sd: dict) -> None:
        """Restore state and params saved by `state_dict` (the channel count must match)."""
        if int(sd["n_channels"]) != self.n:
            raise ValueError(f"state has {sd['n_channels']} channels, detector has {self.n}")
        self.params = {**DEFAULTS, **sd["params"]}
        self.params["n_bins"] = int(self.params["n_bins"])
        nb = self.params["n_bins"]
        shapes = {**{k: (self.n,) for k in _STATE_1D}, **{k: (nb, self.n) for k in _STATE_2D},
                  "last_bin": (1,)}
        state = {}
        for k, shape in shapes.items():
            arr = np.array(sd[k], dtype=np.float64)   # a copy: the caller keeps its dict
            if arr.shape != shape:
                raise ValueError(f"state[{k!r}] has shape {arr.shape}, expected {shape}")
            state[k] = arr
        self.state = state

    def state_bytes_per_channel(self) -> float:
        """Bytes of learnt state per channel."""
        return sum(v.nbytes for v in self.state.values()) / self.n


class _Step:
    """One time step over channels [lo, hi): views of state plus preallocated scratch."""

    def __init__(self, state: dict, p: dict, lo: int, hi: int) -> None:
        self.s = {k: (v[lo:hi] if v.ndim == 1 else v[:, lo:hi])
                  for k, v in state.items() if k not in _GLOBAL}
        m = hi - lo
        self.t = [np.empty(m) for _ in range(8)]
        self.valid = np.empty(m, dtype=bool)
        self.vf = np.empty(m)
        self.bmask = np.empty(m, dtype=bool)
        self.nmask = np.empty(m, dtype=bool)
        self.changed = np.empty(m, dtype=bool)
        self.cf = np.empty(m)
        self.p = p
        self.n_level = 1.0 / p["alpha_level"]   # counts saturate here: EW weight = 1/count
        self.n_bin = 1.0 / p["alpha_bin"]
        self.inv_kl = 1.0 / p["k_level"]
        self.inv_kf = 1.0 / p["k_flat"]
        self.inv_env_c = 1.0 / p["env_c"]

    def __call__(self, x: np.ndarray, ts: float, b: int, enter: bool, out: np.ndarray) -> None:
        s, p = self.s, self.p
        if enter:
            # Yesterday's deviations in this bin become normal today; today's count from
            # tomorrow, so a fresh level shift is not excused by itself.
            env, today = s["envelope"][b], s["env_today"][b]
            np.multiply(env, p["env_decay"], out=env)
            np.maximum(env, today, out=env)
            today.fill(0.0)
        level, gscale, count, t0 = s["level"], s["gscale"], s["count"], s["t0"]
        prev, flat = s["prev"], s["flat"]
        season, bscale = s["season"][b], s["bscale"][b]
        bcount, pch, env = s["bcount"][b], s["pchange"][b], s["envelope"][b]
        today = s["env_today"][b]
        valid, vf, bm = self.valid, self.vf, self.bmask
        t1, t2, t3, t4, t5, t6, aL, aB = self.t

        np.isfinite(x, out=valid)
        np.copyto(vf, valid)
        # EW weight max(alpha, 1/n): an exact running mean while young, then exponential;
        # zero for channels without a sample, so their state stays bit-for-bit unchanged.
        np.add(count, vf, out=count)
        np.minimum(count, self.n_level, out=count)
        np.maximum(count, 1.0, out=aL)
        np.divide(vf, aL, out=aL)
        np.add(bcount, vf, out=bcount)
        np.minimum(bcount, self.n_bin, out=bcount)
        np.maximum(bcount, 1.0, out=aB)
        np.divide(vf, aB, out=aB)
        np.isnan(t0, out=bm)
        np.logical_and(bm, valid, out=bm)
        np.copyto(t0, ts, where=bm)

        np.add(level, season, out=t1)              # prediction
        np.copyto(t2, t1)
        np.copyto(t2, x, where=valid)              # x, or the prediction when missing
        np.subtract(t2, t1, out=t3)                # innovation e
        # Scale: the widest of bin, global and envelope. The global scale inflates at once
        # after a level shift, covering bins not yet visited; the envelope remembers the
        # once-a-day jumps of this bin (lights switching at a sunset that drifts daily),
        # which the Huber-clipped bin scale deliberately ignores.
        np.maximum(bscale, gscale, out=t4)
        np.multiply(env, self.inv_env_c, out=t6)
        np.maximum(t4, t6, out=t4)
        np.maximum(t4, p["min_scale"], out=t4)
        np.abs(t3, out=t5)
        np.maximum(today, t5, out=today)
        np.divide(t5, t4, out=t5)                  # z = |e| / scale
        # Until warm, clip nothing: the statistics are still being learnt.
        np.subtract(ts, t0, out=t6)
        np.greater_equal(t6, p["warmup"], out=bm)  # NaN t0 compares False
        np.multiply(t4, p["huber_c"], out=t4)
        np.logical_not(bm, out=self.nmask)
        np.copyto(t4, np.inf, where=self.nmask)    # t4 = clip limit
        np.logical_and(bm, valid, out=bm)          # bm = report a score

        np.minimum(t3, t4, out=t3)
        np.negative(t4, out=t6)
        np.maximum(t3, t6, out=t3)
        np.multiply(t3, aL, out=t3)
        np.add(level, t3, out=level)
        # Seasonal offset learns what the new level does not explain (Holt-Winters order).
        np.subtract(t2, level, out=t3)
        np.subtract(t3, season, out=t3)
        np.minimum(t3, t4, out=t1)
        np.maximum(t1, t6, out=t1)
        np.multiply(t1, aB, out=t1)
        np.add(season, t1, out=season)
        np.subtract(t3, t1, out=t3)                # residual after the update
        np.abs(t3, out=t3)
        np.minimum(t3, t4, out=t3)                 # Huber-clipped |residual|
        np.subtract(t3, bscale, out=t1)
        np.multiply(t1, aB, out=t1)
        np.add(bscale, t1, out=bscale)
        np.subtract(t3, gscale, out=t1)
        np.multiply(t1, aL, out=t1)
        np.add(gscale, t1, out=gscale)

        # Flat line: sum of the learnt change probability over the unchanged run, i.e.
        # how many changes we expected to see and did not.
        ch, cf = self.changed, self.cf
        np.not_equal(t2, prev, out=ch)
        np.add(flat, pch, out=t3)
        np.copyto(t3, 0.0, where=ch)
        np.copyto(flat, t3, where=valid)
        np.copyto(cf, ch)
        np.subtract(cf, pch, out=t1)
        np.multiply(t1, aB, out=t1)
        np.add(pch, t1, out=pch)
        np.copyto(prev, x, where=valid)

        # Score u^2/(u^2+1), u = the larger evidence in units of its half-score point:
        # monotone and unsaturated, so scores rank.
        np.multiply(t5, self.inv_kl, out=t5)
        np.multiply(flat, self.inv_kf, out=t1)
        np.maximum(t5, t1, out=t5)
        np.multiply(t5, t5, out=t5)
        np.add(t5, 1.0, out=t1)
        np.divide(t5, t1, out=out)
        np.logical_not(bm, out=self.nmask)
        np.copyto(out, 0.0, where=self.nmask)
