"""Labelled multi-day street-light data sets with injected faults (fixed seed); CLI writes .npz."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

import numpy as np

FAULT_KINDS = ("lampFailure", "dayBurning", "cycling", "activePowerTooHigh",
               "lampVoltageTooLow", "lampVoltageTooHigh", "sensorStuck", "energyCounterDecrease")
POINTS = ("switch", "dim", "lamp_state", "voltage", "current", "power", "power_factor",
          "energy", "driver_temp", "burn_hours", "faults", "rated_power")
DAY = 86400.0
START_TS = 1774051200.0        # 2026-03-21 00:00 UTC: near the equinox, day ~ night
SUN_MARGIN = 1200.0            # sun_up starts/ends this long after sunrise/before sunset
NOMINAL_V = 220.0


@dataclass(frozen=True)
class Label:
    """Ground truth: `kind` fault on light `light` during [start, end] (epoch seconds)."""

    light: int
    kind: str
    start: float
    end: float


@dataclass
class Dataset:
    """Polls of N lights every `poll_s` seconds: points are (T, N) arrays, lux and sun_up (T,)."""

    ts: np.ndarray
    poll_s: float
    points: dict
    lux: np.ndarray
    sun_up: np.ndarray
    last_command_ts: np.ndarray
    labels: list = field(default_factory=list)
    level_shift_ts: float = float("nan")

    @property
    def device_ids(self) -> list:
        """Device ids of the lights, by column."""
        return [f"light-{i:04d}" for i in range(self.points["power"].shape[1])]


def sun_times(day: np.ndarray) -> tuple:
    """Sunrise and sunset (seconds of day) for day index `day`: drifts ~2 min a day."""
    return 6.0 * 3600 - 110.0 * day, 18.2 * 3600 + 110.0 * day


def _schedule(ts: np.ndarray, n: int, rng) -> dict:
    """Commanded state of a healthy site: on at sunset, 50 % dim 23:00-05:00, off at sunrise."""
    day = np.floor((ts - START_TS) / DAY)
    tod = (ts - START_TS) - day * DAY
    rise, sset = sun_times(day)
    night = (tod >= sset) | (tod < rise)
    dimmed = (tod >= 23 * 3600) | (tod < 5 * 3600)
    # Latest command: whichever of sunset / 23:00 / 05:00 / sunrise was last passed.
    marks = np.stack([rise, 5 * 3600 + 0 * day, 23 * 3600 + 0 * day, sset])
    passed = np.where(marks <= tod, marks, -np.inf).max(axis=0)
    passed = np.where(np.isfinite(passed), passed, sset - DAY)
    last_cmd = START_TS + day * DAY + passed
    sun_up = (tod > rise + SUN_MARGIN) & (tod < sset - SUN_MARGIN)
    jitter = rng.uniform(0, 5, n)  # commands reach each light a few seconds apart
    return {"night": night, "dimmed": dimmed, "sun_up": sun_up, "tod": tod, "day": day,
            "last_cmd": last_cmd[:, None] + jitter[None, :]}


def _lux(sch: dict, rng) -> np.ndarray:
    rise, sset = sun_times(sch["day"])
    tod = sch["tod"]
    elev = np.clip(np.sin(np.pi * (tod - rise) / (sset - rise)), 0, None)
    clouds = np.clip(1 - 0.5 * rng.random(len(tod)), 0.3, 1)
    return np.round(40000 * elev * clouds + rng.normal(0, 0.5, len(tod)).clip(0), 1)


def _pick_times(rng, sch, ts, want_night: bool, min_day: float = 1.5) -> float:
    """A random poll time after warm-up, at night or by day, away from the switching edges."""
    ok = (sch["night"] == want_night) & (ts > START_TS + min_day * DAY) & (ts < ts[-1] - 0.6 * DAY)
    ok &= ~((sch["tod"] > 22.5 * 3600) & (sch["tod"] < 23.5 * 3600))
    ok &= ~((sch["tod"] > 4.5 * 3600) & (sch["tod"] < 5.5 * 3600))
    return float(rng.choice(ts[ok]))


def generate(n_lights: int = 200, days: float = 5.0, poll_s: float = 60.0, seed: int = 1,
             faults_per_kind: int = 10, level_shift: bool = True,
             missing: float = 0.005) -> Dataset:
    """Generate a labelled data set; `faults_per_kind=0` gives a clean one.

    `missing` is the fraction of (poll, light) pairs whose whole reading is lost (NaN).
    """
    rng = np.random.default_rng(seed)
    ts = START_TS + np.arange(int(days * DAY / poll_s)) * poll_s
    t_n, n = len(ts), n_lights
    sch = _schedule(ts, n, rng)
    rated = rng.choice([30.0, 50.0, 70.0, 100.0], n)
    on = np.repeat(sch["night"][:, None], n, axis=1)
    switch = on.astype(float)
    dim = np.where(sch["dimmed"][:, None], 50.0, 100.0) * on
    lamp = on.copy()                       # the lamp actually lights
    p_mult = np.ones((t_n, n))             # tampering multiplies the measured power
    v_mult = np.ones((t_n, n))
    wave = 2.0 * np.sin(2 * np.pi * (sch["tod"] - 4 * 3600) / DAY)
    shift = np.zeros(t_n)
    level_ts = float("nan")
    if level_shift:                        # transformer tap change: a new normal, not a fault
        level_ts = float(rng.choice(ts[(ts > ts[0] + 2 * DAY) & (ts < ts[-1] - DAY)]))
        shift[ts >= level_ts] = 6.0
    voltage = (NOMINAL_V + rng.normal(0, 2, n)[None, :] + (wave + shift)[:, None]
               + rng.normal(0, 0.7, (t_n, n)))
    labels, fault_state, stuck, rollback = [], np.zeros((t_n, n)), [], []
    lights = iter(rng.permutation(n))
    for kind in FAULT_KINDS:
        for _ in range(faults_per_kind):
            j = int(next(lights))
            lab = _inject(kind, j, rng, sch, ts, poll_s, switch, dim, lamp, on, p_mult,
                          v_mult, fault_state, stuck, rollback)
            labels.append(lab)
    expected = rated[None, :] * dim / 100.0
    power = np.where(lamp, expected, 0.0) * (1 + rng.normal(0, 0.01, (t_n, n))) * p_mult
    power = np.round(np.where(lamp, power, 0.4 * p_mult), 1)
    voltage = voltage * v_mult
    for j, i0, i1 in stuck:                # a hung metering chip repeats its last voltage
        voltage[i0:i1, j] = voltage[i0, j]
    voltage = np.round(voltage, 1)
    pf = np.where(lamp, 0.95, 0.5)
    energy = rng.uniform(1e4, 1e5, n)[None, :] + np.cumsum(power * poll_s / 3600.0, axis=0)
    for j, i0, drop in rollback:
        energy[i0:, j] -= drop
    hours = rng.uniform(1000, 20000, n)[None, :] + np.cumsum(lamp * poll_s / 3600.0, axis=0)
    points = {
        "switch": switch, "dim": dim,
        "lamp_state": np.where(fault_state == 2, 2.0, lamp.astype(float)),
        "voltage": voltage, "current": np.round(power / (voltage * pf), 3), "power": power,
        "power_factor": pf, "energy": np.round(energy, 1),
        "driver_temp": np.round(12 + 25 * lamp * dim / 100 + rng.normal(0, 0.3, (t_n, n)), 1),
        "burn_hours": np.floor(hours), "faults": (fault_state == 2).astype(float),
        "rated_power": np.repeat(rated[None, :], t_n, axis=0),
    }
    lost = rng.random((t_n, n)) < missing
    for v in points.values():
        v[lost] = np.nan
    return Dataset(ts=ts, poll_s=poll_s, points=points, lux=_lux(sch, rng), sun_up=sch["sun_up"],
                   last_command_ts=sch["last_cmd"], labels=labels, level_shift_ts=level_ts)


def _inject(kind, j, rng, sch, ts, poll_s, switch, dim, lamp, on, p_mult, v_mult,
            fault_state, stuck, rollback) -> Label:
    """Write fault `kind` into light j's arrays; return its label."""
    idx = lambda t: int(np.searchsorted(ts, t))  # noqa: E731 - local shorthand
    if kind == "lampFailure":                 # lamp dead from a night until repaired
        t0 = _pick_times(rng, sch, ts, True)
        t1 = t0 + rng.uniform(0.5, 1.5) * DAY
        sl = slice(idx(t0), idx(t1))
        lamp[sl, j] = False
        if rng.random() < 0.5:               # half the drivers report it, half stay silent
            fault_state[sl, j] = np.where(on[sl, j], 2, 0)
    elif kind == "dayBurning":                # relay stuck on after the sunrise command
        day = float(rng.integers(2, int(sch["day"][-1])))
        rise, _ = sun_times(np.array(day))
        t0 = START_TS + day * DAY + float(rise)
        t1 = t0 + rng.uniform(2, 6) * 3600
        sl = slice(idx(t0), idx(t1))
        switch[sl, j], dim[sl, j], lamp[sl, j] = 1.0, 100.0, True
    elif kind == "cycling":                   # end-of-life lamp: drops out and restrikes
        t0 = _pick_times(rng, sch, ts, True)
        t1 = t0 + rng.uniform(1, 3) * 3600
        i0, i1 = idx(t0), idx(t1)
        period = max(2, int(round(rng.uniform(360, 720) / poll_s)))
        phase = (np.arange(i1 - i0) % period) < period // 3
        lamp[i0:i1, j] &= ~phase
        t1 = min(t1, float(ts[i1 - 1]))
    elif kind == "activePowerTooHigh":        # an illegal tap behind the meter
        t0 = _pick_times(rng, sch, ts, True)
        t1 = t0 + rng.uniform(2, 6) * 3600
        p_mult[idx(t0):idx(t1), j] = rng.uniform(1.6, 2.2)
    elif kind in ("lampVoltageTooLow", "lampVoltageTooHigh"):
        t0 = _pick_times(rng, sch, ts, bool(rng.random() < 0.5))
        t1 = t0 + rng.uniform(0.5, 2) * 3600
        low = kind == "lampVoltageTooLow"
        v_mult[idx(t0):idx(t1), j] = rng.uniform(0.78, 0.85) if low else rng.uniform(1.14, 1.2)
    elif kind == "sensorStuck":
        t0 = _pick_times(rng, sch, ts, bool(rng.random() < 0.5))
        t1 = t0 + rng.uniform(2, 6) * 3600
        stuck.append((j, idx(t0), idx(t1)))
    elif kind == "energyCounterDecrease":     # meter replaced or rolled back
        t0 = _pick_times(rng, sch, ts, bool(rng.random() < 0.5))
        rollback.append((j, idx(t0), rng.uniform(50, 500)))
        t1 = t0 + poll_s
    else:
        raise ValueError(f"unknown fault kind {kind!r}")
    return Label(j, kind, float(t0), float(t1))


def save_npz(ds: Dataset, path: str) -> None:
    """Write a data set to .npz: points, ts, lux, sun_up, last_command_ts and label columns."""
    lab = ds.labels
    np.savez_compressed(
        path, ts=ds.ts, poll_s=ds.poll_s, lux=ds.lux, sun_up=ds.sun_up,
        last_command_ts=ds.last_command_ts, level_shift_ts=ds.level_shift_ts,
        label_light=np.array([x.light for x in lab], dtype=int),
        label_kind=np.array([x.kind for x in lab], dtype="U32"),
        label_start=np.array([x.start for x in lab]), label_end=np.array([x.end for x in lab]),
        **{f"point_{k}": v for k, v in ds.points.items()})


def main(argv=None) -> None:
    """CLI: python bench/anomaly_data.py --lights 200 --days 7 --out data.npz."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--lights", type=int, default=200)
    ap.add_argument("--days", type=float, default=7.0)
    ap.add_argument("--poll", type=float, default=60.0, help="seconds between polls")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--faults-per-kind", type=int, default=10)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    ds = generate(a.lights, a.days, a.poll, a.seed, a.faults_per_kind)
    save_npz(ds, a.out)
    print(f"{a.out}: {len(ds.ts)} polls x {a.lights} lights, {len(ds.labels)} labelled faults")


if __name__ == "__main__":
    main()
