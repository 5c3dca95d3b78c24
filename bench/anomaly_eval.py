"""Windowed streaming-anomaly scoring (NAB rules) of detectors over bench/anomaly_eval_data.py.

Rules, as published for the Numenta Anomaly Benchmark (standard profile):
- each label gets an anomaly window of 10 % of the series length / number of labels, centred
  on it; the first 15 % of a series (at most 750 samples) is probationary and not scored;
- a window's first detection earns A_TP x sigma(y), y = relative position in the window
  (-1 at its start, 0 at its end), sigma(y) = 2 / (1 + exp(5y)) - 1: early is worth more;
  later detections in the same window count nothing; a window without one costs A_FN = 1;
- every detection outside a window costs A_FP = 0.11, weighted by -sigma(y) of its distance
  after the preceding window (full cost when there is none);
- ONE threshold over all series, the one that maximises the total;
- normalised: 100 x (raw - null) / (perfect - null), null = no detections, perfect = every
  window hit at its first sample and nothing else.

Usage: python bench/anomaly_eval.py [--legacy GIT_REV] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import types
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.anomaly_eval_data import KINDS, make_series  # noqa: E402

A_TP, A_FP, A_FN = 1.0, 0.11, 1.0


def sigma(y):
    """NAB's scaled sigmoid: ~1 at y=-1 (window start), 0 at y=0 (end), -> -1 far after."""
    return 2.0 / (1.0 + np.exp(5.0 * np.asarray(y, dtype=float))) - 1.0


def windows_of(n: int, labels: list) -> list:
    """Anomaly windows [a, b] (inclusive), 10 % of the length shared by the labels, merged."""
    if not labels:
        return []
    half = int(0.1 * n / len(labels)) // 2
    out = []
    for i in sorted(labels):
        a, b = max(0, i - half), min(n - 1, i + half)
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


class SeriesScorer:
    """Precomputed per-series structures so that a threshold sweep is vectorized."""

    def __init__(self, scores: np.ndarray, labels: list) -> None:
        s = np.nan_to_num(np.asarray(scores, dtype=float), nan=0.0)
        n = len(s)
        self.windows = windows_of(n, labels)
        prob = min(int(0.15 * n), 750)
        inside = np.zeros(n, dtype=bool)
        weight = np.ones(n)                      # FP cost weight per point
        self.cummax, self.credit = [], []
        for a, b in self.windows:
            inside[a:b + 1] = True
            length = b - a + 1
            seg = s[a:b + 1]
            self.cummax.append(np.maximum.accumulate(seg))
            self.credit.append(sigma(-(b - np.arange(a, b + 1) + 1) / length))
            after = np.arange(b + 1, n)
            weight[b + 1:] = -sigma((after - b) / length)
        fp = ~inside
        fp[:prob] = False
        order = np.argsort(-s[fp], kind="stable")
        self.fp_scores = s[fp][order]            # descending
        self.fp_cost = np.concatenate([[0.0], np.cumsum(weight[fp][order])])
        self.perfect = A_TP * float(sum(c[0] for c in self.credit))
        self.null = -A_FN * len(self.windows)

    def raw(self, thresholds: np.ndarray) -> np.ndarray:
        """Raw NAB score at each threshold."""
        total = np.zeros(len(thresholds))
        for cm, credit in zip(self.cummax, self.credit):
            first = np.searchsorted(cm, thresholds, side="left")   # first index with cm >= th
            hit = first < len(cm)
            total += np.where(hit, A_TP * credit[np.minimum(first, len(cm) - 1)], -A_FN)
        n_fp = np.searchsorted(-self.fp_scores, -thresholds, side="right")  # scores >= th
        return total - A_FP * self.fp_cost[n_fp]

    def fp_points(self, th: float) -> int:
        """Detections outside windows (after probation) at threshold th."""
        return int(np.sum(self.fp_scores >= th))


def normalised(scorers: list, thresholds: np.ndarray) -> np.ndarray:
    """100 x (raw - null) / (perfect - null) summed over `scorers`, per threshold."""
    raw = sum(sc.raw(thresholds) for sc in scorers)
    null = sum(sc.null for sc in scorers)
    perfect = sum(sc.perfect for sc in scorers)
    return 100.0 * (raw - null) / (perfect - null)


def candidate_thresholds(all_scores: np.ndarray) -> np.ndarray:
    """Distinct quantiles of the scores, plus one above the maximum (the null detector)."""
    s = all_scores[np.isfinite(all_scores)]
    q = np.quantile(s, np.concatenate([np.linspace(0, 0.99, 100), 1 - np.logspace(-2, -6, 300)]))
    top = np.sort(s)[-2000:]
    return np.unique(np.concatenate([q, top, [s.max() + 1.0]]))


def evaluate(series: list, scores: list) -> dict:
    """Best single threshold over all series; overall, per-kind and per-base scores at it."""
    scorers = [SeriesScorer(sc, se.labels) for se, sc in zip(series, scores)]
    ths = candidate_thresholds(np.concatenate(scores))
    total = normalised(scorers, ths)
    best = int(np.argmax(total))
    th = ths[best:best + 1]
    by = lambda key: {k: float(normalised([sc for sc, se in zip(scorers, series)  # noqa: E731
                                            if getattr(se, key) == k and se.labels], th)[0])
                      for k in dict.fromkeys(getattr(se, key) for se in series)
                      if any(getattr(se, key) == k and se.labels for se in series)}
    clean_fp = sum(sc.fp_points(float(th[0])) for sc, se in zip(scorers, series)
                   if se.kind == "clean")
    return {"score": float(total[best]), "threshold": float(th[0]), "per_kind": by("kind"),
            "per_base": by("base"), "clean_fp_points": clean_fp,
            "fp_points": sum(sc.fp_points(float(th[0])) for sc in scorers)}


# --- detectors -------------------------------------------------------------------------------

def windowed_gaussian(x: np.ndarray, window: int = 6400, step: int = 100) -> np.ndarray:
    """NAB's windowedGaussian: tail probability of x under a Gaussian of the last `window`
    values, mean and std refreshed every `step` samples (causal)."""
    n = len(x)
    out = np.zeros(n)
    mean, std = math.nan, math.nan
    erfc = np.frompyfunc(math.erfc, 1, 1)
    for lo in range(0, n, step):
        hi = min(lo + step, n)
        if np.isfinite(mean) and std > 0:
            z = np.abs(x[lo:hi] - mean) / std
            z = np.nan_to_num(z, nan=0.0)
            out[lo:hi] = 1.0 - 0.5 * erfc(z / math.sqrt(2)).astype(float)
        hist = x[max(0, hi - window):hi]
        hist = hist[np.isfinite(hist)]
        if len(hist) > 1:
            mean, std = float(hist.mean()), float(hist.std())
    return out


def load_detector_class(rev: str | None):
    """AnomalyDetector of the working tree, or of git revision `rev` (for 'before' figures)."""
    if rev is None:
        from agent.anomaly import AnomalyDetector
        return AnomalyDetector
    def show(path: str) -> str | None:
        r = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:{path}"],
                           capture_output=True, text=True)
        return r.stdout if r.returncode == 0 else None

    src = show("agent/anomaly/detector.py")
    if src is None:
        raise SystemExit(f"{rev} has no agent/anomaly/detector.py")
    kernel = show("agent/anomaly/kernel.py")
    memory = show("agent/anomaly/memory.py")
    if memory is not None:        # ... and its own sequence memory
        mmod = types.ModuleType("legacy_memory")
        sys.modules[mmod.__name__] = mmod
        exec(compile(memory, f"{rev}:memory.py", "exec"), mmod.__dict__)
        src = src.replace("from agent.anomaly.memory import", "from legacy_memory import")
        kernel = kernel.replace("from agent.anomaly.memory import", "from legacy_memory import")
    if kernel is not None:        # the revision's own kernel, not today's (other state keys)
        kmod = types.ModuleType("legacy_kernel")
        sys.modules[kmod.__name__] = kmod
        exec(compile(kernel, f"{rev}:kernel.py", "exec"), kmod.__dict__)
        src = src.replace("from agent.anomaly.kernel import", "from legacy_kernel import")
    mod = types.ModuleType("legacy_detector")
    sys.modules[mod.__name__] = mod
    exec(compile(src, f"{rev}:detector.py", "exec"), mod.__dict__)
    return mod.AnomalyDetector


def run_detector(cls, series: list, **params) -> list:
    """Scores of `cls` over every series; series sharing timestamps run as channels of one."""
    out = [None] * len(series)
    groups: dict = {}
    for i, se in enumerate(series):
        groups.setdefault(se.ts.tobytes(), []).append(i)
    for idx in groups.values():
        block = np.stack([series[i].x for i in idx], axis=1)
        scores = cls(len(idx), **params).update_many(block, series[idx[0]].ts)
        for col, i in enumerate(idx):
            out[i] = scores[:, col]
    return out


def table(results: dict) -> str:
    """Markdown table: overall, then one column per kind."""
    names = list(results)
    kinds = list(KINDS)
    lines = ["| detector | score | threshold | FP points (clean) | " + " | ".join(kinds) + " |",
             "|---|---|---|---|" + "---|" * len(kinds)]
    for n in names:
        r = results[n]
        lines.append(f"| {n} | **{r['score']:.1f}** | {r['threshold']:.6g} | "
                     f"{r['fp_points']} ({r['clean_fp_points']}) | "
                     + " | ".join(f"{r['per_kind'].get(k, float('nan')):.1f}" for k in kinds)
                     + " |")
    bases = list(next(iter(results.values()))["per_base"])
    lines += ["", "| detector | " + " | ".join(bases) + " |", "|---|" + "---|" * len(bases)]
    for n in names:
        lines.append(f"| {n} | " + " | ".join(f"{results[n]['per_base'][b]:.1f}"
                                             for b in bases) + " |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--legacy", help="also score AnomalyDetector of this git revision")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args(argv)
    series = make_series(a.seed)
    print(f"{len(series)} series, {sum(len(s.labels) for s in series)} labels, "
          f"{sum(len(s.x) for s in series)} samples")
    results = {}
    null = [np.zeros(len(s.x)) for s in series]
    results["null (never alarms)"] = evaluate(series, null)
    results["windowed Gaussian (NAB baseline)"] = evaluate(
        series, [windowed_gaussian(s.x) for s in series])
    if a.legacy:
        results[f"AnomalyDetector @ {a.legacy}"] = evaluate(
            series, run_detector(load_detector_class(a.legacy), series))
    results["AnomalyDetector (this tree)"] = evaluate(
        series, run_detector(load_detector_class(None), series))
    print(table(results))
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
