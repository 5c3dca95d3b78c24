"""CPU of one outbox commit (OutboxDb.commit: insert, ack deletes, meta, COMMIT + fsync) by batch size.

What sizing commits by count can save: the fixed part of a commit against the part per item.

    .venv/bin/python bench/outbox_commit_cost.py [--dir DIR]   (DIR: on the card to measure)
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from agent.store.outbox_db import Item, OutboxDb  # noqa: E402

BODY = {"values": {f"p{i}": 123.4 + i for i in range(12)}, "quality": "good"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", default=None, help="folder for the outbox file")
    parser.add_argument("--reps", type=int, default=300)
    args = parser.parse_args(argv)
    db = OutboxDb(Path(tempfile.mkdtemp(dir=args.dir)) / "o.db", 50 * 2**20, None)
    for n in (1, 10, 20, 50, 100):
        acked, cpu0, wall0 = [], time.thread_time(), time.perf_counter()
        for _ in range(args.reps):     # each commit also deletes the rows of the one before
            result = db.commit([Item("city/x/telemetry/L-1", "L-1", 1, 1, BODY)] * n,
                               {1: acked}, 1)
            acked = [row[0] for row in result.rows]
        cpu = (time.thread_time() - cpu0) / args.reps
        wall = (time.perf_counter() - wall0) / args.reps
        print(f"batch {n:3d}: {cpu * 1e6:6.0f} µs CPU a commit, {cpu * 1e6 / n:6.1f} µs an item, "
              f"{wall * 1e3:.2f} ms wall a commit")
    db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
