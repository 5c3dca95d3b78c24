"""The per-step numpy kernel of AnomalyDetector: residual, range, context novelty, calibration.

Every operation is an in-place ufunc on preallocated arrays over a chunk of channels and is
IEEE-exact (+ - x / min max abs sqrt floor), so any split of the work into blocks gives
bit-identical results. Learnt state is float32 (values are taken relative to each channel's
first sample, `ref`, in float64 first), which halves the memory traffic; times stay float64.
"""

from __future__ import annotations

import numpy as np

from agent.anomaly.calibration import Tail
from agent.anomaly.likelihood import Likelihood, score
from agent.anomaly.memory import Memory

F = np.float32
TINY = 1e-30    # keeps a constant channel's divisions finite; relative floors do the real work
BIG = 1e38      # added to a clip limit while warming up: nothing is clipped
SHIFT = 2.0 ** 22  # the float32 sample counter and context times move back by this ...
LIMIT = 2.0 ** 23  # ... when the counter reaches this: integers stay exact in float32
GLOBAL = ("bin_period", "context_seen", "burst_seen", "ref", "t0", "lik_pos")


class Step:
    """One time step over channels [lo, hi): views of the state plus scratch arrays."""

    def __init__(self, state: dict, p: dict, lo: int, hi: int) -> None:
        self.s = {k: (v[lo:hi] if v.ndim == 1 else v[:, lo:hi])
                  for k, v in state.items() if k not in GLOBAL}
        self.t0 = state["t0"][lo:hi]
        # (contexts, channels): channels in a row, so a step's look-ups run along a few rows
        self.seen = state["context_seen"].reshape(-1)
        self.seen_2d = state["context_seen"][:, lo:hi]
        self.n_all = state["context_seen"].shape[1]
        m = hi - lo
        self.t = [np.empty(m, F) for _ in range(9)]
        self.g = {k: np.empty(m, F) for k in ("a_level", "a_bin", "a_calib", "warm",
                                                "not_warm", "gate")}
        self.idx = np.empty(m, dtype=np.intp)
        self.mag = np.full(m, TINY, F)     # max(mag_floor x |first sample|, TINY)
        self.t0_latest = -np.inf
        self.all_full = False
        self.full_level = self.full_cal = True
        n_ctx = int(p["levels"]) ** int(p["context"])
        self.offsets = np.arange(lo, hi, dtype=np.float64)
        self.idx64 = np.empty(m)
        self.dt, self.quiet, self.fired = np.empty(m), np.empty(m, bool), np.empty(m, bool)
        self.p = p
        self.n_level, self.n_bin = 1.0 / p["alpha_level"], 1.0 / p["alpha_bin"]
        self.n_ctx_keep = n_ctx // int(p["levels"])    # contexts of the k-1 newest levels
        self.levels = float(p["levels"])
        self.top = float(p["levels"]) - 1.0
        self.inv_env_c = 1.0 / p["env_c"]
        self.w_context = p["w_context"] / p["age_horizon"]
        self.mem = Memory(self.s, p, lo, hi, state["burst_seen"])
        self.lik = Likelihood(self.s, p, m)
        self.tail = Tail(self.s, p, m)

    def shift_counter(self) -> None:
        """Move the sample counter and context times of channels near LIMIT back by SHIFT."""
        late = np.flatnonzero(self.s["ns"] >= LIMIT)
        if late.size:
            self.s["ns"][late] -= SHIFT
            cols = self.seen_2d[:, late]
            self.seen_2d[:, late] = np.maximum(cols - SHIFT, -SHIFT)
            self.mem.shift(late, SHIFT)

    def commit_envelope(self, b: int) -> None:
        """First visit of bin b in a new period: yesterday's deviations become normal."""
        env, today = self.s["envelope"][b], self.s["env_today"][b]
        np.multiply(env, self.p["env_decay"], out=env)
        np.multiply(today, self.inv_env_c, out=today)  # kept divided by env_c: a scale
        np.maximum(env, today, out=env)
        today.fill(0.0)

    def __call__(self, b: int, ts: float, row: dict, out: np.ndarray, wb: int = 0,
                 slot: int = 0) -> None:
        """Advance every channel by one sample (`row`: this step's slices of the block)."""
        g = self.weights(b, ts, row)
        span, den = self.t[0], self.t[1]
        np.subtract(self.s["hi"], self.s["lo"], out=span)     # [0, 0] before the 1st sample
        np.add(span, self.mag, out=den)                       # mag >= TINY
        z = self.residual(b, self.mem.week_input(b, wb, row), g, den)
        self.mem.week_learn(wb, row)
        exc, q = self.range_levels(row, g, span, den)
        age = self.context_age(row, q)
        self.mem.burst(z, row["vf"])
        self.calibrate(g, z, exc, age, out, slot)
        self.refract(ts, out)

    def refract(self, ts: float, out: np.ndarray) -> None:
        """One alarm per episode: for `refractory` s after a score reached `fire`, scores are 0
        unless they beat that alarm's score by `escalate` (a new, clearly stronger alarm):
        NAB credits a window's first detection, and an operator wants one alert, not many."""
        last, top, quiet, fired = self.s["last_fire"], self.s["fire_top"], self.quiet, self.fired
        np.subtract(ts, last, out=self.dt)                   # last = -inf: never fired
        np.greater(self.dt, self.p["refractory"], out=quiet)
        np.add(top, self.p["escalate"], out=self.dt)
        np.greater(out, self.dt, out=fired)
        np.logical_or(quiet, fired, out=quiet)
        np.multiply(out, quiet, out=out)
        np.greater_equal(out, self.p["fire"], out=fired)
        np.copyto(last, ts, where=fired)
        np.copyto(top, out, where=fired)

    def new_origins(self, ref: np.ndarray, mag_floor: float) -> None:
        """Channels got their first sample: refresh the magnitude floor and latest start."""
        np.multiply(np.abs(ref), mag_floor, out=self.mag)
        np.fmax(self.mag, TINY, out=self.mag)         # fmax: a NaN ref (no sample yet) -> TINY
        finite = self.t0[np.isfinite(self.t0)]
        self.t0_latest = float(finite.max()) if finite.size else -np.inf

    def begin_block(self, valid: np.ndarray) -> None:
        """Note which counters can move in this block: once a channel's counter is full (or
        it has no sample in the block) its weight is the constant alpha x valid, so the
        counting ops are skipped -- with bit-identical results. Counters never decrease, so
        once every counter of the chunk is full that holds for good."""
        s, p = self.s, self.p
        self.full_bin = {}
        if self.all_full:
            return
        self.live = valid.any(axis=0)
        self.full_level = not np.any(self.live & (s["count"] < self.n_level))
        self.full_cal = not np.any(self.live & (s["cal_count"] < p["n_calib"]))
        self.all_full = bool(s["count"].min(initial=np.inf) >= self.n_level
                             and s["cal_count"].min(initial=np.inf) >= p["n_calib"]
                             and s["bcount"].min(initial=np.inf) >= self.n_bin)

    def _ew(self, count: np.ndarray, cap: float, full: bool, vf: np.ndarray,
            a: np.ndarray) -> None:
        if full:
            np.multiply(vf, F(1.0) / F(cap), out=a)
            return
        np.add(count, vf, out=count)
        np.minimum(count, cap, out=count)
        np.maximum(count, 1.0, out=a)
        np.divide(vf, a, out=a)

    def weights(self, b: int, ts: float, row: dict) -> dict:
        """EW weights max(alpha, 1/count) (an exact mean while young, then exponential; 0 when
        missing, which leaves the state unchanged), warm-up gates and the score gate."""
        s, p, g, vf = self.s, self.p, self.g, row["vf"]
        self._ew(s["count"], self.n_level, self.full_level, vf, g["a_level"])
        if b not in self.full_bin:
            self.full_bin[b] = self.all_full or not np.any(self.live
                                                           & (s["bcount"][b] < self.n_bin))
        self._ew(s["bcount"][b], self.n_bin, self.full_bin[b], vf, g["a_bin"])
        np.add(s["ns"], vf, out=s["ns"])
        self.all_warm = self.t0_latest <= ts - p["warmup"]
        warm = vf if self.all_warm else g["warm"]
        if not self.all_warm:
            np.less_equal(self.t0, ts - p["warmup"], out=warm)
            np.multiply(warm, vf, out=warm)
            np.multiply(warm, -BIG, out=g["not_warm"])
            np.add(g["not_warm"], BIG, out=g["not_warm"])
        g["w"] = warm
        # the calibration learns from warm samples only: raw scores of a young model are noise
        self._ew(s["cal_count"], float(p["n_calib"]), self.full_cal, warm, g["a_calib"])
        if self.full_cal:
            g["s_gate"] = warm
        else:
            np.greater(s["cal_count"], float(p["calib_warmup"]), out=g["gate"])
            np.multiply(g["gate"], warm, out=g["gate"])
            g["s_gate"] = g["gate"]
        return g

    def residual(self, b: int, row: dict, g: dict, den: np.ndarray) -> np.ndarray:
        """Robust seasonal level model; returns z = |innovation| / scale (scratch t[2])."""
        s, p = self.s, self.p
        level, gscale = s["level"], s["gscale"]
        season, bscale, env, today = (s["season"][b], s["bscale"][b], s["envelope"][b],
                                      s["env_today"][b])
        vf, a_l, a_b = row["vf"], g["a_level"], g["a_bin"]
        z, e, sc, lim, neg, t = self.t[2], self.t[3], self.t[4], self.t[5], self.t[6], self.t[7]
        np.add(level, season, out=t)                  # prediction
        np.subtract(row["x0"], t, out=e)
        np.multiply(e, vf, out=e)                     # innovation, 0 when missing
        # Scale: the widest of bin, global and envelope, floored relative to the channel's
        # own running range and magnitude, so a near-constant channel cannot divide by ~0
        # and saturate.
        np.maximum(bscale, gscale, out=sc)
        np.maximum(sc, env, out=sc)
        np.multiply(den, p["rel_floor"], out=t)
        np.add(t, self.mag, out=t)
        np.maximum(sc, t, out=sc)                     # > 0: mag >= TINY
        np.abs(e, out=t)
        np.maximum(today, t, out=today)
        np.divide(t, sc, out=z)                       # may be inf: capped in calibrate
        # Huber clip at huber_c scales; unclipped while warming up (lim + 1e300).
        np.multiply(sc, p["huber_c"], out=lim)
        if not self.all_warm:
            np.add(lim, g["not_warm"], out=lim)
        np.negative(lim, out=neg)
        np.maximum(e, neg, out=t)
        np.minimum(t, lim, out=t)
        np.multiply(t, a_l, out=t)
        np.add(level, t, out=level)
        np.subtract(e, t, out=e)                      # residual after the level update
        # Seasonal offset learns what the new level does not explain (Holt-Winters order).
        np.maximum(e, neg, out=t)
        np.minimum(t, lim, out=t)
        np.multiply(t, a_b, out=t)
        np.add(season, t, out=season)
        np.subtract(e, t, out=e)
        np.abs(e, out=e)
        np.minimum(e, lim, out=e)                     # Huber-clipped |residual|
        np.subtract(e, bscale, out=t)
        np.multiply(t, a_b, out=t)
        np.add(bscale, t, out=bscale)
        np.subtract(e, gscale, out=t)
        np.multiply(t, a_l, out=e)
        np.add(gscale, e, out=gscale)
        # ... and rises faster than it falls, so a level shift is accepted in tens of samples
        np.maximum(t, 0.0, out=t)                     # 0 when missing: e = 0 <= gscale
        np.multiply(t, p["alpha_up"], out=t)
        np.add(gscale, t, out=gscale)
        return z

    def range_levels(self, row: dict, g: dict, span: np.ndarray, den: np.ndarray) -> tuple:
        """Excess over the running range (in spans) and the sample's level in it, then update."""
        s = self.s
        lo, hi, x = s["lo"], s["hi"], row["xn"]
        exc, q, t = self.t[3], self.t[4], self.t[5]
        np.subtract(x, hi, out=exc)
        np.subtract(lo, x, out=t)
        np.fmax(exc, t, out=exc)
        np.divide(exc, den, out=exc)
        np.fmax(exc, 0.0, out=exc)                    # NaN (missing) -> 0
        # level = floor(L (x - lo) / span) in [0, L-1]; t holds lo - x
        np.divide(-self.levels, den, out=q)
        np.multiply(q, t, out=q)
        np.floor(q, out=q)
        np.fmax(q, 0.0, out=q)                        # NaN -> 0
        np.minimum(q, self.top, out=q)
        # the range decays toward its centre by range_decay of its span per valid sample
        np.multiply(span, row["decay"], out=t)
        np.subtract(hi, t, out=hi)
        np.fmax(hi, x, out=hi)
        np.add(lo, t, out=lo)
        np.fmin(lo, x, out=lo)
        return exc, q

    def context_age(self, row: dict, q: np.ndarray) -> np.ndarray:
        """Samples since the context (last k levels) was last seen, capped at age_horizon."""
        s = self.s
        ctx, ns = s["ctx"], s["ns"]
        new, age = self.t[6], self.t[7]
        # new = (ctx mod L^(k-1)) * L + q; floor of a quotient of small integers is exact
        np.divide(ctx, self.n_ctx_keep, out=new)
        np.floor(new, out=new)
        np.multiply(new, -self.n_ctx_keep, out=new)
        np.add(new, ctx, out=new)
        np.multiply(new, self.levels, out=new)
        np.add(new, q, out=new)
        np.subtract(new, ctx, out=new)
        np.multiply(new, row["vf"], out=new)          # missing: the context stays
        np.add(ctx, new, out=ctx)
        np.multiply(ctx, float(self.n_all), out=self.idx64)   # float64: exact to 2^53
        np.add(self.idx64, self.offsets, out=self.idx, casting="unsafe")
        np.take(self.seen, self.idx, out=age)
        np.subtract(ns, age, out=age)
        np.minimum(age, self.p["age_horizon"], out=age)
        np.put(self.seen, self.idx, ns)               # a missing sample rewrites the same value
        return age

    def calibrate(self, g: dict, z: np.ndarray, exc: np.ndarray, age: np.ndarray,
                  out: np.ndarray, slot: int) -> None:
        """Fuse the raw evidence and score its rarity against this channel's own history."""
        s, p = self.s, self.p
        mu, var = s["cal_mean"], s["cal_var"]
        raw, d, sd, c = self.t[8], self.t[2], self.t[5], self.t[6]
        np.sqrt(z, out=raw)
        np.sqrt(exc, out=exc)                         # compressed like z: no saturation
        if p["w_range"] != 1.0:
            np.multiply(exc, p["w_range"], out=exc)
        np.add(raw, exc, out=raw)
        np.multiply(age, self.w_context, out=age)
        np.add(raw, age, out=raw)
        np.minimum(raw, 1e15, out=raw)                # d * d below stays finite
        np.subtract(raw, mu, out=d)
        np.sqrt(var, out=sd)
        np.add(sd, p["calib_floor"], out=sd)
        np.divide(d, sd, out=c)                       # how many sds above its usual level
        # running mean and variance of the raw score, an excess clipped at calib_clip sds
        np.multiply(sd, p["calib_clip"], out=sd)
        np.minimum(d, sd, out=d)
        np.multiply(d, g["a_calib"], out=raw)
        np.add(mu, raw, out=mu)
        np.multiply(d, d, out=d)
        np.subtract(d, var, out=d)
        np.multiply(d, g["a_calib"], out=d)
        np.add(var, d, out=var)
        np.maximum(c, 0.0, out=c)
        np.minimum(c, 1e6, out=c)
        self.lik(c, g, slot)
        score(c, p["k_score"], g["s_gate"], out, self.tail(c, g, self.full_cal))
