"""Labelled streaming-anomaly evaluation set, generated (fixed seed, no downloads).

8 base behaviours x (7 anomaly kinds + 1 clean) = 64 series of very different scales, noise
and sampling. Each series: timestamps, values (NaN = missing), label indices (the first sample
of each injected anomaly), its base and its anomaly kind. Used by bench/anomaly_eval.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DAY, WEEK = 86400.0, 7 * 86400.0
BASES = ("sine", "counts", "quantized", "walk", "daily", "weekly", "irregular", "nearconst")
KINDS = ("spike", "dip", "level_shift", "variance", "season_break", "drift", "pattern_break")
T_LEN = 4000
START = 1774051200.0


@dataclass
class Series:
    """One labelled series; `labels` are sample indices where an anomaly starts."""

    name: str
    base: str
    kind: str            # one of KINDS, or "clean"
    ts: np.ndarray
    x: np.ndarray
    labels: list


def _sampling(base: str, rng) -> tuple:
    """(timestamps, period in s) of a base: steps from 1 min to 1 h, or irregular."""
    step = {"sine": 300.0, "counts": 60.0, "quantized": 600.0, "walk": 60.0, "daily": 300.0,
            "weekly": 3600.0, "irregular": 300.0, "nearconst": 900.0}[base]
    if base == "irregular":   # exponential gaps around 5 min, and two long outages
        gaps = rng.exponential(step, T_LEN)
        gaps[rng.integers(0, T_LEN, 2)] += 6 * 3600.0
        ts = START + np.cumsum(gaps)
    else:
        ts = START + step * np.arange(T_LEN)
    return ts, (WEEK if base == "weekly" else DAY)


def _clean(base: str, ts: np.ndarray, period: float, rng) -> tuple:
    """(deterministic part, noise part) of a healthy series, before scaling."""
    n = len(ts)
    ph = 2 * np.pi * ((ts - START) % DAY) / DAY
    if base in ("sine", "irregular"):
        return np.sin(ph) + 0.3 * np.sin(2 * ph + 1.0), rng.normal(0, 0.05, n)
    if base == "counts":     # bursty Poisson counts with a daily rate
        rate = 3.0 * (1.3 + np.sin(ph)) * rng.gamma(0.7, 1 / 0.7, n)
        cnt = rng.poisson(rate).astype(float)
        return np.zeros(n), cnt
    if base == "quantized":  # a small integer counter that drifts around a daily mean
        d = 4.0 + 1.5 * np.sin(ph)
        return d, rng.normal(0, 0.6, n)
    if base == "walk":
        return np.cumsum(rng.normal(0, 1.0, n)), np.zeros(n)
    if base == "daily":      # traffic: morning and evening peaks, multiplicative noise
        prof = np.exp(-((ph - 2.1) ** 2) / 0.2) + 0.8 * np.exp(-((ph - 4.6) ** 2) / 0.3) + 0.1
        return prof, prof * rng.normal(0, 0.08, n)
    if base == "weekly":     # day profile, weekends at 40 %
        dow = ((ts - START) // DAY) % 7
        prof = (0.2 + np.clip(np.sin(ph - 1.6), 0, None)) * np.where(dow >= 5, 0.4, 1.0)
        return prof, rng.normal(0, 0.04, n)
    # nearconst: a setpoint that rarely moves by one quantum
    return np.full(n, 20.0), np.zeros(n)


def _inject(kind: str, base: str, d: np.ndarray, e: np.ndarray, ts: np.ndarray,
            period: float, rng) -> tuple:
    """Return (values, label indices) with `kind` injected into deterministic d + noise e."""
    n = len(d)
    x = d + e
    sd = float(np.std(x[: n // 4])) or 1.0
    w = n // 20                                       # length of sustained anomalies
    starts = sorted(rng.choice(np.arange(int(0.3 * n), int(0.85 * n)), 2, replace=False))
    if kind in ("spike", "dip"):
        sign = 1.0 if kind == "spike" else -1.0
        if base == "counts" and kind == "dip":        # counts cannot go below 0: an outage
            for i in starts:
                x[i:i + 12] = 0.0
        else:
            for i in starts:
                x[i] += sign * rng.uniform(3.0, 5.0) * sd
        return x, list(starts)
    i = int(starts[0])
    if kind == "level_shift":
        x[i:] += rng.choice([-1, 1]) * 1.5 * sd
    elif kind == "variance":
        x[i:i + 3 * w] += rng.normal(0, 1.0, 3 * w) * max(3 * float(np.std(e)), 0.3 * sd)
    elif kind == "season_break":
        seg = (ts >= ts[i]) & (ts < ts[i] + (DAY if period == DAY else 2 * DAY))
        if base == "walk":                            # no season to break: one appears
            x[seg] += 2 * sd * np.sin(2 * np.pi * np.arange(seg.sum()) / 30)
        else:                                         # a holiday: the cycle stays flat
            x[seg] = float(np.mean(d)) + e[seg]
    elif kind == "drift":
        ramp = np.clip((np.arange(n) - i) / (3 * w), 0, 1)
        x += ramp * 2.0 * sd
    elif kind == "pattern_break":                     # normal values, abnormal sequence
        seg = slice(i, i + 2 * w)
        x[seg] = rng.permutation(x[seg])
    return x, [i]


def make_series(seed: int = 7) -> list:
    """The 64 labelled series, scaled and offset by random magnitudes (1e-3 .. 1e5)."""
    rng = np.random.default_rng(seed)
    out = []
    for base in BASES:
        ts, period = _sampling(base, rng)
        for kind in KINDS + ("clean",):
            d, e = _clean(base, ts, period, rng)
            if kind == "clean":
                x, labels = d + e, []
            else:
                x, labels = _inject(kind, base, d.copy(), e, ts, period, rng)
            if base == "nearconst":                   # the setpoint moves by one quantum
                x = x + np.cumsum(rng.random(len(x)) < 0.002) * 0.5 * (rng.random() < 0.5)
            if base in ("quantized", "nearconst"):
                x = np.round(x * 2) / 2 if base == "nearconst" else np.round(x)
            scale = 10.0 ** rng.uniform(-3, 5)
            offset = 10.0 ** rng.uniform(-1, 4) * (base not in ("counts", "quantized"))
            x = x * scale + offset * scale
            lost = rng.random(len(x)) < 0.005          # lost readings, never a label
            lost[labels] = False
            x[lost] = np.nan
            out.append(Series(f"{base}-{kind}", base, kind, ts.copy(), x, labels))
    return out
