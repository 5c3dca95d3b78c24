"""CPU per poll, old code against new, alternating in one run.

The box is shared, so absolute CPU figures drift between runs; the ratio of two agents
measured in turn (A B A B ...) under the same load is the figure that holds. Each round
runs bench/tcp_fleet.py's measurement once per agent; the report gives every run, the
medians, and new/old for CPU per poll.

`--sparkplug` compares instead this checkout with the JSON interface alone ("old") against
the same with the Sparkplug B edge node as well ("new"): the node's cost (docs/benchmarks.md).

Run: .venv/bin/python bench/cpu_per_poll.py --old /tmp/lentera-old [--rounds 3]
     [--endpoints 5 --units 100 --poll 1s --seconds 20]
     .venv/bin/python bench/cpu_per_poll.py --sparkplug [--rounds 3]
(make the old checkout with `git archive <commit> | tar -x -C /tmp/lentera-old`)

     .venv/bin/python bench/cpu_per_poll.py --talq-off-on [...]
(this checkout twice per round: "old" without the talq: section, "new" with it)

     .venv/bin/python bench/cpu_per_poll.py --talq-cms [...]
(the same, both with a lighting section, and "new" has a CMS at its cms_uri, bench/talq_cms_load.py: bootstrap, an Event
and a Periodic logger on every device, log reports acknowledged, GET /devices every 5 s;
`--talq-period S --talq-read-every S` set a lighter CMS: give `--seconds` a multiple of the period)
"""

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tcp_fleet import REPO, measure  # noqa: E402  (bench/ is the script's own folder)

KEYS = ("cpu_ms_per_poll", "loop_ms_per_poll", "threads_ms_per_poll", "p50", "p99", "share",
        "polls_per_device_s", "rss_mb")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--old", default=None, help="checkout of the old code")
    parser.add_argument("--talq-off-on", action="store_true",
                        help="compare this checkout without and with TALQ instead")
    parser.add_argument("--talq-cms", action="store_true",
                        help="as --talq-off-on, with a CMS loading the TALQ side")
    parser.add_argument("--talq-period", type=int, default=None,
                        help="with --talq-cms: the periodic logger's sampling period, s "
                             "(default 10, the shortest the gateway takes)")
    parser.add_argument("--talq-read-every", type=float, default=None,
                        help="with --talq-cms: the CMS reads all of GET /devices this often, s "
                             "(default 5)")
    parser.add_argument("--new", default=str(REPO), help="checkout of the new code")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--endpoints", type=int, default=5)
    parser.add_argument("--units", type=int, default=100)
    parser.add_argument("--in-flight", type=int, default=4)
    parser.add_argument("--poll", default="1s")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=8.0)
    parser.add_argument("--batch-window", default=None)
    parser.add_argument("--sparkplug", action="store_true",
                        help="old: JSON only, new: JSON + Sparkplug, both this checkout")
    args = parser.parse_args(argv)
    args.talq_off_on = args.talq_off_on or args.talq_cms
    # TALQ reads its values from the lighting service: a CMS's gateway has one, so with a
    # CMS both runs get a lighting section and TALQ is the only difference between them
    args.lighting = args.talq_cms
    if args.sparkplug or args.talq_off_on:
        args.old = args.new
    elif args.old is None:
        parser.error("give --old CHECKOUT, --sparkplug or --talq-off-on")
    runs = {"old": [], "new": []}
    for _ in range(args.rounds):
        for label in ("old", "new"):
            run = argparse.Namespace(**vars(args))
            run.sparkplug = args.sparkplug and label == "new"
            run.talq = args.talq_off_on and label == "new"
            figures = measure(run, Path(getattr(args, label)))
            if figures is None:
                print(f"{label}: no telemetry arrived")
                return 1
            runs[label].append(figures)
            print(f"  {label}: " + ", ".join(f"{k} {figures[k]:.3f}" for k in KEYS), flush=True)
    medians = {label: {k: statistics.median(r[k] for r in rs) for k in KEYS}
               for label, rs in runs.items()}
    for label in ("old", "new"):
        m = medians[label]
        print(f"{label} median: CPU {m['cpu_ms_per_poll']:.3f} ms/poll (loop "
              f"{m['loop_ms_per_poll']:.3f}, threads {m['threads_ms_per_poll']:.3f}), p50/p99 "
              f"{m['p50']:.1f}/{m['p99']:.1f} ms, delivered {m['share'] * 100:.2f} %, "
              f"polls/device/s {m['polls_per_device_s']:.3f}, peak RSS {m['rss_mb']:.1f} MB")
    ratio = medians["new"]["cpu_ms_per_poll"] / medians["old"]["cpu_ms_per_poll"]
    print(f"new/old CPU per poll: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
