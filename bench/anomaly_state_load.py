"""What loading the learnt anomaly state costs at start-up: peak allocation and peak RSS growth.

A FaultWatch of N lights with 4 analog channels each (5,000 channels by default) learns for a
few steps and saves its state (anomaly.npz, written once by this checkout; the format is the
same in every version since the calibrated detector). Then, per checkout and round, fresh
interpreters build the same watch and call `watch.load()`:

* tracemalloc's peak during the load (what Python and numpy allocate on top of the watch);
* VmHWM growth: the peak RSS is reset just before the load (`5` to /proc/self/clear_refs),
  so the figure is the load's own high-water mark above the RSS it started from. Measured in
  a process of its own, without tracemalloc (which costs RSS itself).

`--old CHECKOUT` measures another checkout in the same run (e.g. an export of main:
`git archive HEAD | tar -x -C /tmp/old`), alternating with this one.

Run: .venv/bin/python bench/anomaly_state_load.py [--lights 1250] [--old /tmp/old] [--rounds 3]
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SETUP = r"""
import gc, json, re, sys, time, tracemalloc
from pathlib import Path
import numpy as np
from agent.services.watch import FaultWatch

def status(field):
    return int(re.search(field + r':\s+(\d+)', open('/proc/self/status').read()).group(1)) / 1024

lights = [f"L-{u:04d}" for u in range(N)]
channels = [(d, p) for d in lights for p in ("voltage", "power", "current", "driver_temp")]
watch = FaultWatch(lights, channels, -6.178, 106.632, lambda *a, **k: None, state_file=STATE)
if not Path(STATE).exists():
    rng = np.random.default_rng(0)
    for k in range(20):        # a few steps, so the arrays hold learnt values, not fills
        watch.generic.update(rng.normal(230, 2, len(channels)), 1795878000.0 + 60 * k)
    watch.save()
    print(json.dumps({"written": True}))
    sys.exit(0)
state_mb = sum(v.nbytes for v in watch.generic.state.values()) / 2**20
gc.collect()
"""

MEASURE = {
    "tracemalloc": SETUP + r"""
tracemalloc.start()
t = time.perf_counter()
assert watch.load(), "the state file did not load"
took = time.perf_counter() - t
peak = tracemalloc.get_traced_memory()[1] / 2**20
tracemalloc.stop()
print(json.dumps({"peak": peak, "state": state_mb, "s": took}))
""",
    "hwm": SETUP + r"""
open('/proc/self/clear_refs', 'w').write('5')     # reset VmHWM to the current RSS
before = status('VmRSS')
assert watch.load(), "the state file did not load"
print(json.dumps({"hwm_growth": status('VmHWM') - before, "rss_growth": status('VmRSS') - before,
                  "rss_before": before}))
""",
}


def run(root: str, kind: str, lights: int, state: str) -> dict:
    code = f"N = {lights}\nSTATE = {state!r}\n" + MEASURE[kind]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lights", type=int, default=1250)
    parser.add_argument("--old", help="another checkout to measure in the same run")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    state = str(Path(tempfile.mkdtemp(prefix="lentera-bench-state-")) / "anomaly.npz")
    run(str(REPO), "tracemalloc", args.lights, state)         # writes the state file
    size = Path(state).stat().st_size / 2**20
    print(f"{args.lights} lights, {4 * args.lights} channels; state file {size:.2f} MB "
          f"(written by {REPO})", flush=True)
    roots = [("this", str(REPO))] + ([("old", args.old)] if args.old else [])
    figures = {label: [] for label, _ in roots}
    for r in range(args.rounds):
        for label, root in roots:
            f = {**run(root, "tracemalloc", args.lights, state),
                 **run(root, "hwm", args.lights, state)}
            figures[label].append(f)
            print(f"round {r + 1} {label:4}: load peak (tracemalloc) {f['peak']:5.2f} MB for "
                  f"{f['state']:.2f} MB of detector state, {f['s'] * 1000:.0f} ms; VmHWM "
                  f"+{f['hwm_growth']:.1f} MB, VmRSS +{f['rss_growth']:.1f} MB "
                  f"(from {f['rss_before']:.1f} MB)", flush=True)
    for label, root in roots:
        rows = figures[label]
        print(f"median {label} ({root}): load peak "
              f"{statistics.median(f['peak'] for f in rows):.2f} MB, VmHWM "
              f"+{statistics.median(f['hwm_growth'] for f in rows):.1f} MB, VmRSS "
              f"+{statistics.median(f['rss_growth'] for f in rows):.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
