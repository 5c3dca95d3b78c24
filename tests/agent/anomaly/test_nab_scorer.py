"""bench/nab_scorer.py scores as NAB v1.1 does: a row-by-row rendering of the sweeper's rules
agrees on random files at every threshold; null 0, perfect 100; early beats late."""

import math

import numpy as np

from bench.nab_corpus import windowed_gaussian
from bench.nab_scorer import (PROFILES, START, FileSweep, normalise, optimise,
                              probation_length, score_corpus, thresholds_of)


def _sig(y):
    return -1.0 if y >= 3.0 else 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


def rowwise(scores, windows, th, prof):
    """The rules applied one row at a time, the way NAB's Sweeper walks a file."""
    n, prob = len(scores), probation_length(len(scores))
    best = {k: -prof["fnWeight"] for k in range(len(windows))}
    fp, prev = 0.0, None
    for i, s in enumerate(scores):
        k = next((k for k, (a, b) in enumerate(windows) if a <= i <= b), None)
        if k is not None:
            a, b = windows[k]
            sweep = _sig(-(b - i + 1) / (b - a + 1)) / _sig(-1.0) * prof["tpWeight"]
        else:
            done = [w for w in windows if w[1] < i]
            prev = done[-1] if done else None
            pos = 3.0 if prev is None else abs(prev[1] - i) / (prev[1] - prev[0])
            sweep = _sig(pos) * prof["fpWeight"]
        if i < prob or s < th:
            continue
        if k is None:
            fp += sweep
        else:
            best[k] = max(best[k], sweep)
    return sum(best.values()) + fp


def test_vectorised_sweep_equals_rowwise_rules_at_every_threshold():
    rng = np.random.default_rng(3)
    for n, windows in [(900, [(300, 340)]), (1200, [(200, 260), (500, 520), (1100, 1199)]),
                       (6000, [(800, 1200), (3000, 3400)]), (400, [])]:
        s = np.round(rng.random(n) ** 3, 2)            # many ties, like NAB's result files
        f = FileSweep(s, windows)
        ths = thresholds_of([f])
        for prof in PROFILES.values():
            got = f.raw(ths, prof)
            want = [rowwise(s, windows, th, prof) for th in ths[::7]]
            assert np.allclose(got[::7], want, atol=1e-9)


def test_null_is_0_perfect_100_and_early_beats_late():
    windows = [(1000, 1099)]
    n = 3000

    def score(hits, prof="standard"):
        s = np.zeros(n)
        s[hits] = 1.0
        th, raw = optimise([FileSweep(s, windows)], PROFILES[prof])
        return normalise(raw, 1, PROFILES[prof])

    for prof in PROFILES:
        assert score([], prof) == 0.0 and abs(score([1000], prof) - 100.0) < 1e-9
    assert score([1000]) > score([1050]) > score([1099]) > 0.0
    assert score([1000, 2500]) < score([1000])                 # a false positive costs
    assert score([1000, 200]) == score([1000])                 # ... but not in probation
    far = FileSweep(np.r_[np.zeros(1000), np.ones(1), np.zeros(n - 1001)], windows)
    assert far.raw([START], PROFILES["standard"])[0] == -1.0   # 1.1: nothing detected


def test_one_threshold_for_the_corpus_and_the_highest_of_ties():
    a = FileSweep(np.r_[np.zeros(500), [0.7], np.zeros(499)], [(480, 520)], "a")
    b = FileSweep(np.r_[np.zeros(500), [0.9], np.zeros(499)], [(480, 520)], "b")
    res = score_corpus([a, b])
    assert res["standard"]["threshold"] == 0.7                 # catches both windows
    const = FileSweep(np.full(1000, 0.5), [(480, 520)])
    assert optimise([const], PROFILES["standard"])[0] == START  # the null detector


def test_windowed_gaussian_follows_its_growing_then_sliding_window():
    x = np.random.default_rng(0).normal(size=7000)
    s = windowed_gaussian(x)
    assert s[0] == 0.0
    z = abs(x[10] - x[:10].mean()) / x[:10].std()
    assert math.isclose(s[10], 1 - 0.5 * math.erfc(z / math.sqrt(2)), rel_tol=1e-12)
    w = x[100:6500]                                            # slid once at row 6500
    z = abs(x[6550] - w.mean()) / w.std()
    assert math.isclose(s[6550], 1 - 0.5 * math.erfc(z / math.sqrt(2)), rel_tol=1e-12)
