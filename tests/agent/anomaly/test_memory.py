"""Sequence memory of the generic detector: known burst shapes, the weekly profile, state size."""

import numpy as np
import pytest

from agent.anomaly import AnomalyDetector
from agent.anomaly.kernel import LIMIT
from agent.anomaly.memory import NEVER

MIN = 60.0
DAY = 1440                      # rows of one-minute samples


def _bursty(rng, days=12, size=12.0, every=60):
    """Poisson counts with the same 3-sample burst every `every` minutes."""
    x = rng.poisson(20.0, days * DAY).astype(float)
    starts = np.arange(2 * DAY, len(x) - 10, every)
    for s in starts:
        x[s:s + 3] += size * np.array([1.0, 2.0, 1.0]) * np.sqrt(20.0)
    return x, starts


def test_a_burst_shape_seen_before_raises_less_than_its_first_showing():
    rng = np.random.default_rng(30)
    x, starts = _bursty(rng)
    # w_lik=0: the memory's own effect (the short-term likelihood sees the burst's run anyway)
    known = AnomalyDetector(1, refractory=0, w_lik=0).update_many(x[:, None], 0.0,
                                                                  step=MIN)[:, 0]
    off = AnomalyDetector(1, refractory=0, w_burst=0, w_lik=0).update_many(x[:, None], 0.0,
                                                                          step=MIN)[:, 0]
    peak = lambda s, i: s[i:i + 3].max()            # noqa: E731
    late = starts[len(starts) // 2:]
    # the same shape, many times: with the memory it is a known context and scores lower
    assert np.mean([peak(known, i) for i in late]) < np.mean([peak(off, i) for i in late]) - 0.05
    assert peak(known, starts[0]) >= peak(off, starts[0]) - 0.02     # the first: not hidden


def test_a_new_shape_is_not_hidden_by_known_bursts():
    rng = np.random.default_rng(31)
    x, starts = _bursty(rng)
    i = starts[-30] + 20
    x[i:i + 12] += 10.0 * np.sqrt(20.0)                  # longer than any burst so far
    run = lambda **kw: AnomalyDetector(1, refractory=0, **kw).update_many(  # noqa: E731
        x[:, None], 0.0, step=MIN)[:, 0]
    on, off = run(), run(w_burst=0)
    usual = np.mean([on[j:j + 3].max() for j in starts[len(starts) // 2:]])
    assert on[i:i + 12].max() > usual + 0.2               # it stands out of the known bursts
    assert on[i:i + 12].max() >= off[i:i + 12].max() - 0.01   # and the memory did not lower it


def test_weekly_profile_learns_a_weekend_and_predicts_its_start_and_end():
    rng = np.random.default_rng(32)
    ts = 3600.0 * np.arange(24 * 7 * 8)                  # hourly, eight weeks
    day = np.floor(ts / 86400.0) % 7
    x = 100.0 + 30.0 * (day >= 5) + rng.normal(0, 1.0, len(ts))   # two busy days a week
    on = AnomalyDetector(1, alpha_week=0.05, refractory=0, w_lik=0)   # the profile's own effect
    off = AnomalyDetector(1, refractory=0, w_lik=0)
    s_on = on.update_many(x[:, None], ts)[:, 0]
    s_off = off.update_many(x[:, None], ts)[:, 0]
    week = on.state["week"][:, 0]
    busy = np.isin(np.arange(7), [5, 6])
    assert week[busy].min() > week[~busy].max() + 10.0     # the weekend's offset is learnt
    turns = np.flatnonzero((np.diff(day, prepend=day[0]) != 0) & ((day == 5) | (day == 0)))
    peak = lambda s: max(s[j:j + 3].max() for j in turns[-8:])   # noqa: E731
    assert peak(s_on) < peak(s_off) - 0.1                 # its start and end are expected
    assert np.all(off.state["week"] == 0.0)                # alpha_week = 0: off


@pytest.mark.parametrize("params", [{"alpha_week": 0.05}, {"alpha_week": 0.05, "burst_k": 2}])
def test_block_splits_are_bit_identical_with_the_memory_on(params):
    rng = np.random.default_rng(33)
    x = rng.poisson(5.0, (700, 4)).astype(float)
    x[rng.random(x.shape) < 0.1] = np.nan
    x[rng.random(x.shape) < 0.03] *= 20
    ts = 37.0 * np.arange(len(x)) + 3e5
    fast = {"period": 600.0, "n_bins": 4, "warmup": 120.0, "calib_warmup": 3, **params}
    a, b = AnomalyDetector(4, **fast), AnomalyDetector(4, **fast)
    many = np.vstack([a.update_many(x[:333], ts[:333], chunk=3, rows=7),
                      a.update_many(x[333:], ts[333:])])
    one = np.array([b.update(r, t) for r, t in zip(x, ts)])
    assert np.array_equal(many, one)
    assert all(np.array_equal(a.state[k], b.state[k], equal_nan=True) for k in a.state)


def test_counter_shift_keeps_the_burst_table_in_step():
    rng = np.random.default_rng(34)
    x, _ = _bursty(rng, days=3)
    young, old = AnomalyDetector(1), AnomalyDetector(1)
    young.update_many(x[:2 * DAY, None], 0.0, step=MIN)
    sd = young.state_dict()
    for k in ("ns", "context_seen"):
        sd[k] = sd[k] + (LIMIT - 100)
    seen = sd["burst_seen"]
    sd["burst_seen"] = np.where(seen > NEVER, seen + (LIMIT - 100), NEVER)
    old.load_state_dict(sd)
    rest = x[2 * DAY:, None]
    assert np.array_equal(young.update_many(rest, 2 * DAY * MIN, step=MIN),
                          old.update_many(rest, 2 * DAY * MIN, step=MIN))
    assert np.all(old.state["ns"] < LIMIT)


def test_state_stays_within_one_kilobyte_per_channel():
    assert AnomalyDetector(1000).state_bytes_per_channel() <= 1000
