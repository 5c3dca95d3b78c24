"""The NAB v1.1 corpus (data/ and labels/combined_windows.json) and its windowed-Gaussian baseline.

The corpus is read from a directory given on the command line (a checkout of numenta/NAB or a
copy of its data/ and labels/); without one, `fetch` clones the public repository shallowly into
the cache directory, where the machine allows it.
"""

from __future__ import annotations

import json
import math
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

NAB_GIT = "https://github.com/numenta/NAB.git"
CACHE = Path.home() / ".cache" / "lentera" / "NAB"


@dataclass
class DataFile:
    name: str               # e.g. "realTraffic/speed_6005.csv"
    ts: np.ndarray          # float64 seconds since the epoch (UTC, as written in the file)
    x: np.ndarray           # float64 values
    windows: list           # [(first row, last row)] of each labelled anomaly window

    @property
    def category(self) -> str:
        return self.name.split("/")[0]


def fetch(dest: Path = CACHE) -> Path:
    """A shallow clone of numenta/NAB (once); raises with what to do when there is no network."""
    if (dest / "labels" / "combined_windows.json").exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(["git", "clone", "--depth", "1", NAB_GIT, str(dest)], check=True,
                       timeout=600)
    except (OSError, subprocess.SubprocessError) as exc:
        raise SystemExit(f"cannot fetch NAB from {NAB_GIT} ({exc}): pass --nab DIR with a copy "
                         "of its data/ and labels/") from exc
    return dest


def _seconds(stamps) -> np.ndarray:
    t = np.array([s.strip().replace(" ", "T") for s in stamps], dtype="datetime64[us]")
    return t.astype(np.int64) / 1e6


def load(root: Path) -> list:
    """Every labelled data file of the corpus, sorted by name, with row-index windows."""
    root = Path(root)
    labels = json.loads((root / "labels" / "combined_windows.json").read_text())
    files = []
    for name in sorted(labels):
        lines = (root / "data" / name).read_text().strip().splitlines()[1:]
        stamps, values = zip(*(ln.split(",") for ln in lines))
        ts = _seconds(stamps)
        windows = []
        for a, b in labels[name]:
            ia, ib = (int(np.searchsorted(ts, t)) for t in _seconds([a, b]))
            if ts[ia] != _seconds([a])[0] or ts[ib] != _seconds([b])[0]:
                raise ValueError(f"{name}: window {a} .. {b} does not start/end on a row")
            windows.append((ia, ib))
        files.append(DataFile(name, ts, np.array(values, dtype=float), windows))
    return files


def windowed_gaussian(x: np.ndarray, size: int = 6400, step: int = 100) -> np.ndarray:
    """NAB v1.1 windowedGaussian_detector, row for row: score = 1 - Q(|x - mean| / std) under the
    mean and std of the window before the row; the window grows one row at a time to `size`,
    then slides `step` rows once `step` new rows have come (std 0 -> 1e-6)."""
    n = len(x)
    out = np.zeros(n)
    mean, m2 = 0.0, 0.0
    stats = []
    for i in range(min(n, size)):          # growing window: Welford, stats after row i
        d = x[i] - mean
        mean += d / (i + 1)
        m2 += d * (x[i] - mean)
        stats.append((mean, math.sqrt(max(m2, 0.0) / (i + 1))))
    mu, sd = np.zeros(n), np.ones(n)
    for i in range(1, min(n, size + 1)):
        mu[i], sd[i] = stats[i - 1]
    for lo in range(size, n, step):        # rows lo .. lo+step-1 see x[lo-size : lo]
        w = x[lo - size:lo]
        mu[lo:lo + step], sd[lo:lo + step] = w.mean(), w.std()
    sd[sd == 0.0] = 1e-6
    z = np.abs(x - mu) / sd
    erfc = np.vectorize(math.erfc)
    out[1:] = 1.0 - 0.5 * erfc(z[1:] / math.sqrt(2.0))
    return out
