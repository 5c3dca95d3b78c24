"""Throughput of AnomalyDetector on one core, by channel count and rows per call.

"chunk" = rows (time steps) handed to one call: 1 is `update_many` of one poll (the live
agent's case, like `update`), 64 a backlog or replay. With --legacy REV the detector of that
git revision runs in the same process on the same data, so the ratio holds under load.
"""

import os

# One core: pin BLAS/OpenMP pools before numpy is imported.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import functools  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.anomaly_eval import load_detector_class  # noqa: E402


def make_block(t_count, n, seed=0):
    """Noisy channels with day/night steps, flat runs and 1 % missing samples."""
    rng = np.random.default_rng(seed)
    times = 60.0 * np.arange(t_count)
    night = ((times % 86400) < 6 * 3600)[:, None]
    x = 220 + rng.normal(0, 1, (t_count, n)) + 50 * night * (rng.random(n) < 0.5)
    x = np.round(x, 1)
    x[rng.random(x.shape) < 0.01] = np.nan
    return x, times


def warmed_state(cls, x, times, warm_rows):
    """State after `warm_rows` rows (the block fed again and again, times running on), so the
    timed runs see the steady state: every warm-up over, every counter full."""
    det = cls(x.shape[1], warmup=3600.0)   # warm after an hour: clipping and scores exercised
    step = times[1] - times[0]
    fed = 0
    while fed < warm_rows:
        k = min(len(x), warm_rows - fed)
        det.update_many(x[:k], times[0] + step * (fed + np.arange(k)))
        fed += k
    return det.state_dict(), times[0] + step * fed


def rate(cls, x, times, chunk, repeat, warm_rows):
    """Best and median channel-samples/s of `repeat` runs feeding `chunk` rows per call."""
    n = x.shape[1]
    sd, t_start = warmed_state(cls, x, times, warm_rows)
    times = t_start + (times - times[0])
    runs = []
    for _ in range(repeat):          # best-of-N: other processes share the core
        det = cls(n, warmup=3600.0)
        det.load_state_dict(sd)
        t = time.perf_counter()
        for r0 in range(0, len(x), chunk):
            det.update_many(x[r0:r0 + chunk], times[r0:r0 + chunk])
        runs.append(time.perf_counter() - t)
    samples = n * len(x)
    return samples / min(runs), samples / float(np.median(runs)), det


def main(argv=None):
    """Print a markdown table: channels x chunk -> M channel-samples/s, bytes/channel."""
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--channels", type=int, nargs="+", default=[1, 58, 1024, 10_000])
    ap.add_argument("--chunks", type=int, nargs="+", default=[1, 64])
    ap.add_argument("--samples", type=float, default=3e6, help="channel-samples per run (approx)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--legacy", help="also time AnomalyDetector of this git revision")
    ap.add_argument("--warm-rows", type=int, default=4200,
                    help="rows fed before timing (past warm-up and calibration counts)")
    ap.add_argument("--set", nargs="*", default=[], metavar="PARAM=VALUE",
                    help="also time this tree's detector with these params (e.g. tail_levels=4)")
    a = ap.parse_args(argv)
    classes = {"this tree": load_detector_class(None)}
    if a.set:
        params = {k: float(v) for k, v in (kv.split("=") for kv in a.set)}
        classes["this tree, " + " ".join(a.set)] = functools.partial(classes["this tree"], **params)
    if a.legacy:
        classes[f"@{a.legacy}"] = load_detector_class(a.legacy)
    print("| detector | channels | chunk | best M ch-samples/s | median | state bytes/channel |")
    print("|---|---|---|---|---|---|")
    for n in a.channels:
        steps = int(min(max(a.samples / n, 256), 20_000))
        x, times = make_block(steps, n)
        for chunk in a.chunks:
            for name, cls in classes.items():
                best, med, det = rate(cls, x, times, chunk, a.repeat, a.warm_rows)
                print(f"| {name} | {n} | {chunk} | {best / 1e6:.3g} | {med / 1e6:.3g} | "
                      f"{det.state_bytes_per_channel():.0f} |", flush=True)


if __name__ == "__main__":
    main()
