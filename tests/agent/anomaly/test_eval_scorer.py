"""The yardstick's scorer follows NAB's rules: null 0, perfect 100, early beats late, FPs cost."""

import numpy as np

from bench.anomaly_eval import SeriesScorer, evaluate, normalised, sigma, windows_of
from bench.anomaly_eval_data import BASES, KINDS, make_series


def test_windows_are_a_tenth_of_the_series_shared_by_its_labels():
    assert windows_of(1000, [500]) == [(450, 550)]
    assert windows_of(1000, [300, 700]) == [(275, 325), (675, 725)]
    assert windows_of(1000, [500, 510]) == [(475, 535)]          # overlapping: merged


def test_null_scores_0_perfect_100_and_early_beats_late():
    n, lab = 4000, [2000]
    (a, b), = windows_of(n, lab)
    th = np.array([0.5])

    def score(hits):
        s = np.zeros(n)
        s[hits] = 1.0
        return float(normalised([SeriesScorer(s, lab)], th)[0])

    assert score([]) == 0.0
    assert abs(score([a]) - 100.0) < 1e-9
    assert score([a]) > score([lab[0]]) > score([b]) > 0
    assert score([a, 3000]) < score([a])                            # a false positive costs
    assert score([a, 100]) == score([a])                            # ... not in probation
    assert abs(sigma(-1.0) - 0.9866) < 1e-4 and sigma(0.0) == 0.0


def test_one_threshold_is_chosen_over_all_series():
    series = make_series(7)
    assert len(series) >= 40
    assert {s.base for s in series} == set(BASES) and set(KINDS) <= {s.kind for s in series}
    perfect = []
    for s in series:
        x = np.zeros(len(s.x))
        for a, _ in windows_of(len(x), s.labels):
            x[a] = 1.0
        perfect.append(x)
    r = evaluate(series, perfect)
    assert abs(r["score"] - 100.0) < 1e-9 and r["fp_points"] == 0
    assert all(abs(v - 100.0) < 1e-9 for v in r["per_kind"].values())


def test_legacy_detector_runs_with_its_own_kernel():
    # 7484d58's detector has no last_fire state; against today's kernel it raised KeyError
    from bench.anomaly_eval import load_detector_class
    old = load_detector_class("7484d58")(2)
    s = old.update_many(np.ones((5, 2)), 0.0, step=60.0)
    assert s.shape == (5, 2) and "last_fire" not in old.state
