"""Generic detector: update_many == repeated update, state round-trip, level shift, seasonality."""

import numpy as np
from hypothesis import given, settings, strategies as st

from agent.anomaly import AnomalyDetector
from bench.anomaly_data import DAY, generate

FAST = {"period": 600.0, "n_bins": 4, "warmup": 120.0}   # short period so warm-up is reachable


@st.composite
def blocks(draw):
    """Random (T, n) blocks with NaNs, repeats (flat runs) and outliers."""
    t, n = draw(st.integers(1, 40)), draw(st.integers(1, 12))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    x = rng.normal(draw(st.floats(-1e3, 1e3)), draw(st.floats(0.01, 50)), (t, n))
    x[rng.random((t, n)) < draw(st.floats(0, 0.5))] = np.nan
    x[rng.random((t, n)) < 0.2] = 7.0                      # flat stretches
    x[rng.random((t, n)) < 0.05] *= 100                    # outliers
    start = draw(st.floats(0, 1e6))
    step = draw(st.sampled_from([1.0, 30.0, 60.0, 170.0]))
    split = draw(st.integers(0, t))
    return x, start, step, split


@settings(max_examples=60, deadline=None)
@given(blocks())
def test_update_many_equals_repeated_update(case):
    x, start, step, split = case
    a = AnomalyDetector(x.shape[1], **FAST)
    b = AnomalyDetector(x.shape[1], **FAST)
    ts = start + step * np.arange(x.shape[0])
    many = np.vstack([a.update_many(x[:split], ts[:split], chunk=5),
                      a.update_many(x[split:], ts[split:])])
    one = np.array([b.update(row, t) for row, t in zip(x, ts)]).reshape(x.shape)
    assert np.array_equal(many, one)
    assert all(np.array_equal(a.state[k], b.state[k], equal_nan=True) for k in a.state)
    assert np.all((one >= 0) & (one <= 1))
    assert np.all(one[np.isnan(x)] == 0)


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


def test_recovers_from_level_shift():
    ds = generate(n_lights=40, days=4, poll_s=60, seed=11, faults_per_kind=0, level_shift=False)
    x = ds.points["voltage"].copy()
    i = int(np.searchsorted(ds.ts, ds.ts[0] + 2.5 * DAY))
    x[i:] += 15.0                                         # a new normal, ~20 noise sigmas
    s = AnomalyDetector(x.shape[1]).update_many(x, ds.ts)
    assert np.nanmedian(s[i:i + 3]) > 0.9                 # high right after
    assert np.nanmedian(s[i + 60:i + 180]) < 0.1          # low again within the hour
    assert np.mean(s[i + 60:] > 0.8) < 1e-3


def test_day_night_switching_is_not_anomalous():
    ds = generate(n_lights=40, days=5, poll_s=60, seed=12, faults_per_kind=0, level_shift=False)
    warm = ds.ts >= ds.ts[0] + 2 * DAY
    for name in ("power", "switch", "dim", "lamp_state", "driver_temp"):
        s = AnomalyDetector(40).update_many(ds.points[name], ds.ts)
        assert np.mean(s[warm] > 0.8) < 1e-3, name


def test_spike_and_flat_line_score_high_and_rank():
    ds = generate(n_lights=20, days=3, poll_s=60, seed=13, faults_per_kind=0, level_shift=False)
    x = ds.points["voltage"].copy()
    i = int(np.searchsorted(ds.ts, ds.ts[0] + 2.2 * DAY))
    x[i, 0] += 40.0
    x[i, 1] += 20.0
    x[i:i + 60, 2] = x[i, 2]                              # stuck for an hour
    s = AnomalyDetector(20).update_many(x, ds.ts)
    assert s[i, 0] > s[i, 1] > 0.8 > np.max(s[i, 3:])     # continuous: bigger spike ranks higher
    assert s[i + 59, 2] > 0.8 and s[i + 59, 2] < 1.0
