"""The own tail (agent/anomaly/calibration.py, opt-in: tail_levels=4)."""

import numpy as np

from agent.anomaly import AnomalyDetector

TAIL = {"tail_levels": 4, "fire": 0.85, "escalate": 0.05}   # the NAB setting (docs/anomaly.md)


def _mixed(rng, t_n=3 * 1440):
    return np.stack([50 + rng.normal(0, 1.0, t_n),                       # light tail
                     rng.poisson(3 * rng.gamma(0.7, 1 / 0.7, t_n)).astype(float),  # heavy
                     100 + rng.standard_t(2, t_n)], axis=1)              # heavy (t, 2 dof)


def test_any_split_of_the_work_gives_the_same_bits_with_the_own_tail():
    rng = np.random.default_rng(50)
    x = _mixed(rng)
    x[rng.random(x.shape) < 0.01] = np.nan
    whole = AnomalyDetector(3, **TAIL).update_many(x, 0.0, step=60.0)
    parts = AnomalyDetector(3, **TAIL)
    got = [parts.update_many(x[a:b], 60.0 * a, step=60.0, chunk=2, rows=7)
           for a, b in ((0, 1), (1, 1500), (1500, 1501), (1501, len(x)))]
    rows = AnomalyDetector(3, **TAIL)
    one = np.array([rows.update(x[i], 60.0 * i) for i in range(len(x))])
    np.testing.assert_array_equal(one, whole)                  # and row by row
    np.testing.assert_array_equal(np.concatenate(got), whole)


def test_the_own_tail_rescales_each_channel_by_its_own_exceedance_rates():
    rng = np.random.default_rng(51)
    x = _mixed(rng)
    det = AnomalyDetector(3, refractory=0, tail_levels=4)
    on = det.update_many(x, 0.0, step=60.0)[1440:]
    off = AnomalyDetector(3, refractory=0).update_many(x, 0.0, step=60.0)[1440:]
    # Measured, not the hoped-for: the calibrated evidence of all three (light and heavy
    # tailed alike) exceeds 2-8 sds less often than the prior k^2 / (c^2 + k^2) says, so the
    # ratios are < 1 and every channel's upper scores rise (the light-tailed one most);
    # this is what makes noise fire more often (docs/anomaly.md).
    rho = det.state["tail_rate"]
    assert np.all(rho < 1.0) and np.all(rho >= 0.0)
    q_off, q_on = np.quantile(off, 0.99, axis=0), np.quantile(on, 0.99, axis=0)
    assert np.all(q_on > q_off), (q_on, q_off)
    assert np.all(on < 1.0)                                    # no saturation


def test_an_upgraded_state_scores_as_before_until_its_own_tail_is_learnt():
    rng = np.random.default_rng(52)
    x = _mixed(rng)
    old = AnomalyDetector(3, refractory=0)
    old.update_many(x[:2 * 1440], 0.0, step=60.0)
    sd = old.state_dict()
    del sd["tail_rate"]                                       # a state saved before the tail
    sd["params"]["tail_levels"] = 4
    new = AnomalyDetector(3, refractory=0, tail_levels=4)
    new.load_state_dict(sd)
    assert np.all(new.state["tail_rate"] == 1.0)               # the prior's tail
    nxt = x[2 * 1440:2 * 1440 + 1]
    np.testing.assert_array_equal(new.update_many(nxt, 2 * 1440 * 60.0, step=60.0),
                                  old.update_many(nxt, 2 * 1440 * 60.0, step=60.0))
