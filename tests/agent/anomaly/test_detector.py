"""Generic detector: exact block equality, state round-trip, calibration across channels,
no saturation, time-aware bins, level shifts, seasonality, context novelty."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from agent.anomaly import AnomalyDetector
from bench.anomaly_data import DAY, generate

# short period and warm-ups so that scores are reached inside small hypothesis blocks
FAST = {"period": 600.0, "n_bins": 4, "warmup": 120.0, "calib_warmup": 3}


@st.composite
def blocks(draw):
    """Random (T, n) blocks with NaNs, infs, repeats (flat runs), outliers and odd times."""
    t, n = draw(st.integers(1, 40)), draw(st.integers(1, 12))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    x = rng.normal(draw(st.floats(-1e6, 1e6)), draw(st.floats(1e-3, 50)), (t, n))
    x[rng.random((t, n)) < draw(st.floats(0, 0.5))] = np.nan
    x[rng.random((t, n)) < 0.02] = np.inf
    x[rng.random((t, n)) < 0.01] = -1e300                 # finite, but not as float32
    x[0, rng.random(n) < 0.3] = 1e300                      # ... even as a first sample
    x[rng.random((t, n)) < 0.2] = 7.0                      # flat stretches
    x[rng.random((t, n)) < 0.05] *= 100                    # outliers
    start = draw(st.floats(0, 1e9))
    gaps = rng.choice([1.0, 30.0, 60.0, 170.0, 3000.0], t) if draw(st.booleans()) else \
        np.full(t, draw(st.sampled_from([1.0, 30.0, 60.0, 170.0])))
    ts = start + np.cumsum(gaps)                           # regular or irregular sampling
    split = draw(st.integers(0, t))
    return x, ts, split, draw(st.integers(1, 7)), draw(st.integers(1, 9))


@settings(max_examples=60, deadline=None)
@given(blocks())
def test_update_many_equals_repeated_update(case):
    x, ts, split, chunk, rows = case
    a = AnomalyDetector(x.shape[1], **FAST)
    b = AnomalyDetector(x.shape[1], **FAST)
    many = np.vstack([a.update_many(x[:split], ts[:split], chunk=chunk, rows=rows),
                      a.update_many(x[split:], ts[split:])])
    one = np.array([b.update(row, t) for row, t in zip(x, ts)]).reshape(x.shape)
    assert np.array_equal(many, one)
    assert all(np.array_equal(a.state[k], b.state[k], equal_nan=True) for k in a.state)
    assert np.all((one >= 0) & (one < 1))
    assert np.all(one[~np.isfinite(x) | (np.abs(x) > 1e299)] == 0)
    seen = np.isfinite(x) & (np.abs(x) < 1e299)
    assert np.array_equal(np.isfinite(a.state["ref"]), seen.any(axis=0))


def test_scalar_ts_with_step_equals_array_ts():
    x = np.random.default_rng(0).normal(size=(50, 3))
    a, b = AnomalyDetector(3, **FAST), AnomalyDetector(3, **FAST)
    assert np.array_equal(a.update_many(x, 100.0, step=30.0),
                          b.update_many(x, 100.0 + 30.0 * np.arange(50)))


def test_state_dict_round_trip_continues_identically():
    rng = np.random.default_rng(1)
    x = rng.normal(10, 1, (400, 6))
    x[rng.random(x.shape) < 0.1] = np.nan
    a = AnomalyDetector(6, **FAST)
    a.update_many(x[:200], 0.0, step=10.0)
    b = AnomalyDetector(6)
    b.load_state_dict(a.state_dict())
    assert b.params == a.params
    assert np.array_equal(a.update_many(x[200:], 2000.0, step=10.0),
                          b.update_many(x[200:], 2000.0, step=10.0))


def test_state_of_the_old_detector_is_relearnt_with_a_warning(caplog):
    # what watch.py hands over after an upgrade from the detector before c3be23d: its keys
    det = AnomalyDetector(2)
    det.update_many(np.ones((5, 2)), 0.0, step=60.0)
    old = {"params": det.params, "n_channels": 2, "level": np.full(2, 230.0),
           "flat": np.zeros(2), "pchange": np.zeros((24, 2)), "last_bin": np.array([-1.0])}
    det.load_state_dict(old)
    assert "from scratch" in caplog.text
    fresh = AnomalyDetector(2)
    assert all(np.array_equal(v, fresh.state[k], equal_nan=True) for k, v in det.state.items())
    with pytest.raises(ValueError, match="channels"):
        det.load_state_dict({**old, "n_channels": 3})


@pytest.mark.parametrize("rev", ["df032cc", "56baa6d"])
def test_state_of_an_older_version_is_kept_and_upgraded(rev, caplog):
    """Review finding 6: a state file written by an older version (here: before the
    short-term likelihood, and before the one-alarm rule and known bursts) was relearnt from
    scratch, a day without scores. The files in data/ were written by those revisions'
    detectors after 6 days of the clean channels below."""
    x = _clean_channels(8 * 1440, np.random.default_rng(5))
    n, rest, ts0 = x.shape[1], x[6 * 1440:], 6 * 1440 * 60.0
    with np.load(Path(__file__).parent / "data" / f"state_{rev}.npz") as f:
        arrays = {k: f[k] for k in f.files}
    assert "lik_mean" not in arrays
    det = AnomalyDetector(n)
    det.load_state_dict({"params": det.params, "n_channels": n, **arrays})
    assert "from scratch" not in caplog.text and "filled" in caplog.text
    for k, v in arrays.items():                  # what the file has is kept, bit for bit
        assert np.array_equal(det.state[k], v, equal_nan=True), k
    # the filled likelihood is neutral: on clean data the upgraded detector alarms about as
    # rarely as one that had the likelihood all along (zeros there would mean "every
    # ordinary window is many sds above its usual level": 4-7 alarms >= 0.9 here)
    ref = AnomalyDetector(n)
    ref.update_many(x[:6 * 1440], 0.0, step=60.0)
    alarms = int(np.sum(det.update_many(rest, ts0, step=60.0) >= 0.9))
    assert alarms <= int(np.sum(ref.update_many(rest, ts0, step=60.0) >= 0.9)) + 2, alarms
    assert float(det.state["ns"].min()) == float(arrays["ns"].min()) + len(rest)


def _clean_channels(t_n, rng):
    """Healthy channels of wildly different scale, noise and sampling type."""
    t = np.arange(t_n)
    return np.stack([
        1e6 + rng.normal(0, 1e-3, t_n),                           # tiny noise, huge offset
        rng.poisson(3 * rng.gamma(0.7, 1 / 0.7, t_n)).astype(float),   # bursty counts
        np.round(4 + 1.5 * np.sin(2 * np.pi * t / 1440) + rng.normal(0, 0.6, t_n)),  # integers
        np.cumsum(rng.normal(0, 1, t_n)),                         # random walk
        50 + 10 * np.sin(2 * np.pi * t / 1440) + rng.normal(0, 0.5, t_n),  # smooth daily
    ], axis=1)


def test_one_threshold_means_the_same_rarity_on_every_channel():
    rng = np.random.default_rng(5)
    x = _clean_channels(6 * 1440, rng)
    # refractory=0: this is a property of the calibrated score, before the one-alarm rule
    s = AnomalyDetector(x.shape[1], refractory=0).update_many(x, 0.0, step=60.0)[3 * 1440:]
    rate = np.mean(s > 0.9, axis=0)              # false alarms per sample, by channel
    assert np.all(rate < 0.01), rate
    # a spike of 10 of its own sds outranks the noise of every channel, whatever its scale
    # (the old scores: a counter's noise 0.99, a smooth series' true anomalies 0.6-0.96);
    # that is a property of each sample's own evidence (w_lik=0): the short-term likelihood
    # adds runs of moderately rare samples, which on pure noise reach ~0.9 once in 1,000
    one = {"refractory": 0, "w_lik": 0.0}
    s = AnomalyDetector(x.shape[1], **one).update_many(x, 0.0, step=60.0)[3 * 1440:]
    y = x.copy()
    y[5 * 1440] += 10 * np.nanstd(x[:1440], axis=0)
    hit = AnomalyDetector(x.shape[1], **one).update_many(y, 0.0, step=60.0)[5 * 1440]
    assert np.min(hit) > np.max(np.quantile(s, 0.999, axis=0)), hit


def test_near_constant_channel_does_not_saturate_and_ranks_changes():
    x = np.full((4000, 3), 20.0)
    x[2000:, 1] += 1.0                          # a step of one quantum ...
    x[2000:, 2] += 5.0                          # ... and one five times bigger
    s = AnomalyDetector(3).update_many(x, 0.0, step=60.0)
    assert np.all(s < 1.0)
    assert s[2000, 2] > s[2000, 1] > 0.9 > s[2000, 0]
    assert np.all(s[1500:, 0] == 0.0)            # constant: nothing to report


def test_quantized_counter_with_long_flat_runs_is_not_anomalous():
    rng = np.random.default_rng(3)
    steps = (rng.random((8 * 1440, 4)) < 0.01).astype(float)   # a disk counter: rare ticks
    x = np.cumsum(steps, axis=0)
    s = AnomalyDetector(4).update_many(x, 0.0, step=60.0)
    assert np.mean(s[2 * 1440:] > 0.9) < 2e-3


def test_recovers_from_level_shift():
    ds = generate(n_lights=40, days=4, poll_s=60, seed=11, faults_per_kind=0, level_shift=False)
    x = ds.points["voltage"].copy()
    i = int(np.searchsorted(ds.ts, ds.ts[0] + 2.5 * DAY))
    x[i:] += 15.0                                         # a new normal, ~20 noise sigmas
    s = AnomalyDetector(x.shape[1], refractory=0).update_many(x, ds.ts)
    assert np.nanmedian(s[i]) > 0.9                       # high right after
    assert np.all(np.nanmax(s[i - 600:i], axis=0) < s[i])
    assert np.nanmedian(s[i + 60:i + 180]) < 0.1          # low again within the hour
    # 2e-3 before the short-term likelihood, which adds runs of moderately rare noise
    assert np.mean(s[i + 60:] > 0.9) < 5e-3


def test_day_night_switching_is_not_anomalous():
    ds = generate(n_lights=40, days=5, poll_s=60, seed=12, faults_per_kind=0, level_shift=False)
    warm = ds.ts >= ds.ts[0] + 2 * DAY
    for name in ("power", "switch", "dim", "lamp_state", "driver_temp"):
        s = AnomalyDetector(40).update_many(ds.points[name], ds.ts)
        assert np.mean(s[warm] > 0.9) < 1e-3, name


def test_spike_scores_high_and_bigger_ranks_higher():
    ds = generate(n_lights=20, days=3, poll_s=60, seed=13, faults_per_kind=0, level_shift=False)
    x = ds.points["voltage"].copy()
    i = int(np.searchsorted(ds.ts, ds.ts[0] + 2.2 * DAY))
    x[i, 0] += 40.0
    x[i, 1] += 20.0
    s = AnomalyDetector(20).update_many(x, ds.ts)
    assert s[i, 0] > s[i, 1] > 0.9 > np.max(s[i, 2:])     # continuous: bigger spike ranks higher


def test_a_stuck_reading_is_not_a_generic_anomaly():
    # stuck sensors are a street-light fault (sensorStuck), not a generic anomaly
    ds = generate(n_lights=20, days=3, poll_s=60, seed=13, faults_per_kind=0, level_shift=False)
    x = ds.points["voltage"].copy()
    i = int(np.searchsorted(ds.ts, ds.ts[0] + 2.2 * DAY))
    x[i:i + 60, 2] = x[i, 2]
    s = AnomalyDetector(20).update_many(x, ds.ts)
    assert np.max(s[i:i + 60, 2]) < 0.5                   # the old flat-line term: 0.87


def _daily(ts, rng):
    ph = 2 * np.pi * (ts % DAY) / DAY
    return 10 + 5 * np.sin(ph) + rng.normal(0, 0.2, len(ts))


def test_seasonal_bins_follow_the_timestamps_of_irregular_samples():
    rng = np.random.default_rng(8)
    ts = np.cumsum(rng.exponential(300.0, 6000))           # ~ 21 days, irregular
    ts[3000:] += 5 * 3600                                  # and a 5 h outage
    x = _daily(ts, rng)[:, None]
    j = int(np.searchsorted(ts, ts[0] + 15 * DAY + 0.25 * DAY))   # a holiday: flat at noon
    hol = (ts >= ts[j]) & (ts < ts[j] + 0.25 * DAY)
    y = x.copy()
    y[hol] = 10 + rng.normal(0, 0.2, (hol.sum(), 1))
    s_clean = AnomalyDetector(1).update_many(x, ts)[:, 0]
    s_hol = AnomalyDetector(1).update_many(y, ts)[:, 0]
    late = ts >= ts[0] + 3 * DAY
    assert np.mean(s_clean[late] > 0.9) < 5e-3
    assert np.max(s_hol[hol]) > 0.9


def test_one_seasonal_bin_still_commits_its_envelope():
    x = np.random.default_rng(2).normal(0, 1, (3 * 288, 1))
    det = AnomalyDetector(1, n_bins=1)
    det.update_many(x, 0.0, step=300.0)
    assert det.state["envelope"][0, 0] > 0                # committed once per period


def test_pattern_break_with_normal_values_is_found_by_context_novelty():
    rng = np.random.default_rng(4)
    t = np.arange(8000)
    x = (np.sin(2 * np.pi * t / 100) + rng.normal(0, 0.02, len(t)))[:, None]
    y = x.copy()
    y[6000:6200] = rng.permutation(y[6000:6200])           # same values, scrambled order
    s_x = AnomalyDetector(1, period=6000.0).update_many(x, 0.0, step=60.0)[:, 0]
    s_y = AnomalyDetector(1, period=6000.0).update_many(y, 0.0, step=60.0)[:, 0]
    assert np.max(s_y[6000:6200]) > 0.9 > np.max(s_x[3000:])


def test_float32_sample_counter_moves_back_without_changing_scores():
    from agent.anomaly.kernel import LIMIT
    rng = np.random.default_rng(6)
    x = rng.normal(0, 1, (900, 3))
    x[rng.random(x.shape) < 0.05] = np.nan
    young, old = AnomalyDetector(3, **FAST), AnomalyDetector(3, **FAST)
    young.update_many(x[:300], 0.0, step=30.0)
    sd = young.state_dict()
    sd["ns"] = sd["ns"] + (LIMIT - 100)                 # as if it had run for months
    sd["context_seen"] = sd["context_seen"] + (LIMIT - 100)
    seen = sd["burst_seen"]                             # known burst shapes: same clock
    sd["burst_seen"] = np.where(seen > -1e29, seen + (LIMIT - 100), seen)
    old.load_state_dict(sd)
    a = young.update_many(x[300:], 9000.0, step=30.0)
    b = old.update_many(x[300:], 9000.0, step=30.0)
    assert np.array_equal(a, b)
    assert np.all(old.state["ns"] < LIMIT)              # it did move back


def test_one_alarm_per_episode_then_quiet_for_the_refractory_period():
    rng = np.random.default_rng(21)
    x = 50 + rng.normal(0, 1.0, (4 * 1440, 2))
    i = int(2.5 * 1440)
    x[i:i + 30, :] += 20.0                                # a 30-minute excursion
    free = AnomalyDetector(2, refractory=0).update_many(x, 0.0, step=60.0)
    s = AnomalyDetector(2).update_many(x, 0.0, step=60.0)
    fired = np.flatnonzero(s[:, 0] >= 0.7)
    assert fired.size and fired[-1] >= i                  # the excursion is reported ...
    first = fired[fired >= i][0]
    assert np.all(s[first + 1:first + 1440 + 1] == 0.0)   # ... once, then 24 h of quiet
    assert np.sum(free[i:i + 120, 0] >= 0.7) >= 2         # without the rule: several alarms
    assert np.sum(s[i:i + 120, 0] >= 0.7) == 1
    later = np.arange(len(s)) > first + 1440
    np.testing.assert_array_equal(s[later & (free[:, 0] < 0.7)][:, 0] >= 0.7, False)


def _one_alarm_rule(free, ts, fire=0.7, refractory=86400.0, escalate=0.1):
    """Row-by-row rendering of the rule, for one channel."""
    out, last, top = free.copy(), -np.inf, 0.0
    for i, v in enumerate(free):
        if not (ts[i] - last > refractory or v > top + escalate):
            out[i] = 0.0
        elif v >= fire:
            last, top = ts[i], v
    return out


def test_one_alarm_rule_lets_a_clearly_stronger_alarm_through():
    rng = np.random.default_rng(22)
    x = 50 + rng.normal(0, 1.0, (5 * 1440, 3))
    for k, size in enumerate((4.0, 6.0, 9.0, 30.0)):      # growing spikes, 2 h apart
        x[int(2.5 * 1440) + 120 * k, :] += size
    ts = 60.0 * np.arange(len(x))
    free = AnomalyDetector(3, refractory=0).update_many(x, ts)
    s = AnomalyDetector(3).update_many(x, ts)
    for c in range(3):
        np.testing.assert_array_equal(s[:, c], _one_alarm_rule(free[:, c], ts))
    assert np.sum((s >= 0.7) & (free >= 0.7)) < np.sum(free >= 0.7)
    fires = [ts[s[:, c] >= 0.7] for c in range(3)]
    assert any(len(f) > 1 and f[1] - f[0] <= 86400.0 for f in fires)   # an escalation


def test_a_run_of_moderately_rare_samples_scores_higher_with_the_short_term_likelihood():
    rng = np.random.default_rng(40)
    x = rng.normal(100.0, 1.0, (4 * 1440, 1))
    i = 3 * 1440
    x[i:i + 30] += 2.5                       # 2.5 sds for half an hour: no one sample is rare
    run = lambda **kw: AnomalyDetector(1, refractory=0, **kw).update_many(  # noqa: E731
        x, 0.0, step=60.0)[:, 0]
    on, off = run(), run(w_lik=0)
    assert np.all(on >= off)                 # it only adds evidence ...
    assert on[i:i + 30].max() > off[i:i + 30].max() + 0.1   # ... most to a run (0.42 -> 0.59)
    # (on Gaussian noise it also lifts the day's noise maximum, 0.48 -> 0.75: docs/anomaly.md)
