"""NAB v1.1's scoring, re-implemented in numpy: sweep scores, one corpus threshold, normalisation.

Follows numenta/NAB `nab/sweeper.py` (Sweeper.calcSweepScore / calcScoreByThreshold),
`nab/optimizer.py` (one threshold for the whole corpus, the best total) and `nab/runner.py`
(normalize) rule for rule:
- probation: the first min(floor(0.15 n), 0.15 x 5000) rows of a file are not scored;
- a row inside window [a, b] (width w = b - a + 1) has sweep score
  tpWeight x sS(-(b - i + 1) / w) / sS(-1), sS(y) = 2 / (1 + exp(5y)) - 1 (-1 for y >= 3);
  a window's score is the best sweep score of its detected rows (its earliest detection),
  or -fnWeight when none;
- a row outside every window costs fpWeight x sS(|i - b_prev| / (w_prev - 1)), where b_prev and
  w_prev are the preceding window's right edge and width; -fpWeight before the first window;
- a row is detected when its anomaly score >= the threshold; the threshold is the one of the
  distinct scores (or 1.1, no detection) that maximises the corpus total; ties: the higher one;
- normalised: 100 x (raw - null) / (perfect - null), null = the null detector's optimised score
  (= -fnWeight x windows), perfect = tpWeight x windows.
The sweep over every distinct threshold is exact and vectorised (prefix maxima per window).
"""

from __future__ import annotations

import math

import numpy as np

# NAB v1.1 config/profiles.json
PROFILES = {
    "standard": {"tpWeight": 1.0, "fpWeight": 0.11, "fnWeight": 1.0},
    "reward_low_FP_rate": {"tpWeight": 1.0, "fpWeight": 0.22, "fnWeight": 1.0},
    "reward_low_FN_rate": {"tpWeight": 1.0, "fpWeight": 0.11, "fnWeight": 2.0},
}
START = 1.1   # NAB's first threshold: nothing detected


def scaled_sigmoid(y) -> np.ndarray:
    """NAB's scaledSigmoid: 2 / (1 + exp(5y)) - 1, and -1 from y >= 3 on."""
    y = np.asarray(y, dtype=float)
    return np.where(y >= 3.0, -1.0, 2.0 / (1.0 + np.exp(5.0 * np.minimum(y, 3.0))) - 1.0)


def probation_length(n: int, percent: float = 0.15) -> int:
    return int(min(math.floor(percent * n), percent * 5000))


class FileSweep:
    """One data file: its scorable rows and their unweighted sweep positions, so that the
    score at any threshold is a few searchsorted calls."""

    def __init__(self, scores, windows: list, name: str = "") -> None:
        s = np.asarray(scores, dtype=float)
        n = len(s)
        self.name, self.n_windows = name, len(windows)
        prob = probation_length(n)
        inside = np.zeros(n, dtype=bool)
        fp_sig = np.full(n, -1.0)                 # sS of the distance after the last window
        self.win_max, self.win_tp = [], []
        for k, (a, b) in enumerate(windows):
            if a < prob:
                raise ValueError(f"{name}: window {k} starts in the probation period")
            width = float(b - a + 1)
            inside[a:b + 1] = True
            i = np.arange(a, b + 1)
            self.win_max.append(np.maximum.accumulate(s[a:b + 1]))
            self.win_tp.append(scaled_sigmoid(-(b - i + 1) / width) / scaled_sigmoid(-1.0))
            end = windows[k + 1][0] if k + 1 < len(windows) else n
            after = np.arange(b + 1, end)
            fp_sig[b + 1:end] = scaled_sigmoid(np.abs(b - after) / (width - 1.0))
        out = ~inside
        out[:prob] = False
        order = np.argsort(-s[out], kind="stable")
        self.fp_scores = s[out][order]                               # descending
        self.fp_cum = np.concatenate([[0.0], np.cumsum(fp_sig[out][order])])   # <= 0
        scorable = np.ones(n, dtype=bool)
        scorable[:prob] = False
        self.scorable = s[scorable]

    def parts(self, th: np.ndarray) -> tuple:
        """(sum of window TP credits, windows missed, summed FP sigmoids) at thresholds th."""
        th = np.asarray(th, dtype=float)
        tp, missed = np.zeros(len(th)), np.zeros(len(th))
        for cm, credit in zip(self.win_max, self.win_tp):
            first = np.searchsorted(cm, th, side="left")     # first row with prefix max >= th
            hit = first < len(cm)
            tp += np.where(hit, credit[np.minimum(first, len(cm) - 1)], 0.0)
            missed += ~hit
        n_fp = np.searchsorted(-self.fp_scores, -th, side="right")   # rows with score >= th
        return tp, missed, self.fp_cum[n_fp]

    def raw(self, th, profile: dict) -> np.ndarray:
        tp, missed, fp = self.parts(th)
        return profile["tpWeight"] * tp - profile["fnWeight"] * missed + profile["fpWeight"] * fp

    def counts(self, th: float) -> dict:
        tp, missed, _ = self.parts([th])
        return {"windows": self.n_windows, "hit": int(self.n_windows - missed[0]),
                "fp_rows": int(np.sum(self.fp_scores >= th)),
                "fp_cost_unit": float(-self.parts([th])[2][0])}


def thresholds_of(sweeps: list) -> np.ndarray:
    """NAB's candidate thresholds: 1.1, then every distinct scorable score, descending."""
    s = np.unique(np.concatenate([f.scorable for f in sweeps] + [np.array([])]))
    return np.concatenate([[START], s[::-1][s[::-1] != START]])


def optimise(sweeps: list, profile: dict) -> tuple:
    """(threshold, raw corpus score) of the best single threshold; ties -> the higher one."""
    ths = thresholds_of(sweeps)
    total = np.zeros(len(ths))
    for f in sweeps:
        total += f.raw(ths, profile)
    best = int(np.argmax(total))
    return float(ths[best]), float(total[best])


def normalise(raw: float, n_windows: int, profile: dict) -> float:
    null = -profile["fnWeight"] * n_windows
    perfect = profile["tpWeight"] * n_windows
    return 100.0 * (raw - null) / (perfect - null) if perfect != null else float("nan")


def score_corpus(sweeps: list) -> dict:
    """Per profile: optimised threshold, raw and normalised score, and per-file raw scores."""
    n_windows = sum(f.n_windows for f in sweeps)
    out = {}
    for name, profile in PROFILES.items():
        th, raw = optimise(sweeps, profile)
        per_file = {f.name: float(f.raw([th], profile)[0]) for f in sweeps}
        out[name] = {"threshold": th, "raw": raw, "score": normalise(raw, n_windows, profile),
                     "per_file": per_file}
    return out
