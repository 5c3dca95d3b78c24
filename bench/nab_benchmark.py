"""AnomalyDetector on the Numenta Anomaly Benchmark v1.1, beside NAB's own baselines.

One detector per data file (one channel, documented defaults, the file's real timestamps, fed
in order: `update_many` equals sample-by-sample `update` bit for bit), scored with NAB's rules
(bench/nab_scorer.py): the three profiles, per category, windows hit, false-positive cost, and
per file (--per-file). The null detector (0 by definition), a perfect one (100) and NAB's
windowed Gaussian run in the same process and are scored the same way.

Usage: python bench/nab_benchmark.py [--nab DIR] [--legacy GIT_REV] [--per-file] [--json F]
(without --nab the corpus is cloned from github.com/numenta/NAB into ~/.cache/lentera/NAB)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.anomaly_eval import load_detector_class  # noqa: E402
from bench.nab_corpus import fetch, load, windowed_gaussian  # noqa: E402
from bench.nab_scorer import PROFILES, FileSweep, normalise, score_corpus  # noqa: E402


def run_ours(cls, files: list, **params) -> list:
    """Scores of a fresh one-channel detector per file."""
    return [cls(1, **params).update_many(f.x[:, None], f.ts)[:, 0] for f in files]


def perfect(files: list) -> list:
    out = []
    for f in files:
        s = np.zeros(len(f.x))
        s[[a for a, _ in f.windows]] = 1.0
        out.append(s)
    return out


def evaluate(files: list, scores: list) -> dict:
    sweeps = [FileSweep(s, f.windows, f.name) for f, s in zip(files, scores)]
    res = score_corpus(sweeps)
    th = res["standard"]["threshold"]
    counts = {f.name: sw.counts(th) for f, sw in zip(files, sweeps)}
    cats = {}
    for f in files:
        cats.setdefault(f.category, []).append(f.name)
    std = PROFILES["standard"]
    res["per_category"] = {
        c: normalise(sum(res["standard"]["per_file"][n] for n in names),
                     sum(counts[n]["windows"] for n in names), std)
        for c, names in cats.items()}
    res["category_fp_cost"] = {c: sum(std["fpWeight"] * counts[n]["fp_cost_unit"]
                                      for n in names) for c, names in cats.items()}
    res["counts"] = counts
    res["hit"] = sum(c["hit"] for c in counts.values())
    res["windows"] = sum(c["windows"] for c in counts.values())
    res["fp_cost"] = sum(res["category_fp_cost"].values())
    return res


def summary(results: dict, files: list) -> str:
    cats = list(dict.fromkeys(f.category for f in files))
    short = {c: c.replace("artificial", "art").replace("real", "") for c in cats}
    lines = ["| detector | standard | low FP | low FN | windows hit | FP cost (std) | "
             + " | ".join(short[c] for c in cats) + " |",
             "|---|---|---|---|---|---|" + "---|" * len(cats)]
    for name, r in results.items():
        cells = []
        for c in cats:
            v = r["per_category"][c]
            cells.append(f"{v:.1f}" if np.isfinite(v) else f"FP {r['category_fp_cost'][c]:.2f}")
        lines.append(f"| {name} | **{r['standard']['score']:.1f}** | "
                     f"{r['reward_low_FP_rate']['score']:.1f} | "
                     f"{r['reward_low_FN_rate']['score']:.1f} | {r['hit']}/{r['windows']} | "
                     f"{r['fp_cost']:.2f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def per_file(results: dict, files: list) -> str:
    names = list(results)
    lines = ["| file | windows | " + " | ".join(f"{n}: raw (hit, FP rows)" for n in names) + " |",
             "|---|---|" + "---|" * len(names)]
    for f in files:
        cells = [f"{r['standard']['per_file'][f.name]:.2f} ({r['counts'][f.name]['hit']}, "
                 f"{r['counts'][f.name]['fp_rows']})" for r in results.values()]
        lines.append(f"| {f.name} | {len(f.windows)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nab", type=Path, help="NAB checkout (data/, labels/); default: fetch")
    ap.add_argument("--legacy", help="also score AnomalyDetector of this git revision")
    ap.add_argument("--per-file", action="store_true", help="print the per-file table")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--set", nargs="*", default=[], metavar="PARAM=VALUE",
                    help="detector params (exploration only; defaults are what is reported)")
    a = ap.parse_args(argv)
    files = load(a.nab or fetch())
    print(f"{len(files)} files, {sum(len(f.windows) for f in files)} windows, "
          f"{sum(len(f.x) for f in files)} rows")
    params = {k: float(v) for k, v in (s.split("=") for s in a.set)}
    results = {"null": evaluate(files, [np.full(len(f.x), 0.5) for f in files]),
               "perfect": evaluate(files, perfect(files)),
               "windowed Gaussian": evaluate(files, [windowed_gaussian(f.x) for f in files])}
    if a.legacy:
        results[f"AnomalyDetector @ {a.legacy}"] = evaluate(
            files, run_ours(load_detector_class(a.legacy), files))
    t0 = time.perf_counter()
    results["AnomalyDetector"] = evaluate(
        files, run_ours(load_detector_class(None), files, **params))
    print(f"AnomalyDetector: {sum(len(f.x) for f in files) / (time.perf_counter() - t0):,.0f} "
          "rows/s (one channel per file)")
    print(summary(results, files))
    if a.per_file:
        print(per_file(results, files))
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
