"""Ingest throughput: telemetry messages/s committed to PostgreSQL with 1, 2 and 4 workers,
and the CPU each part spends per message (workers, PostgreSQL, mosquitto, load generator).

    .venv/bin/python bench/fleet_ingest.py [--workers 1 2 4] [--gateways 200] [--per-gw 500]
        [--legacy REV [--rounds 2]] [--db-writers 1 2] [--load raw|paho]

--legacy REV runs the workers of that commit (`git archive` into a temporary folder) and of
this tree in turns, `--rounds` times each, on the same broker and server: on a shared
machine only such alternating runs compare old and new fairly.

Everything runs on this machine, on a private mosquitto and a private PostgreSQL 15 (no
fsync: the bench measures the ingest, not the disk). G gateways' load comes from two
bench/fleet_load.py processes (`--load raw`, the default: pre-encoded packets on a socket, a
few µs a message; `paho`: paho's publish path, ~250 µs a message, as in the figures before
2026-12-07 evening). A run counts only when every (gateway, seq) is in the
database exactly once.

Where the limit is, in the same invocation (bench/fleet_limits.py):
- each run's CPU per message of every party (workers, PostgreSQL's backends from /proc of the
  postmaster's children, mosquitto, the load generators) and the share of a core each used,
  the machine's busy cores (/proc/stat) and the rest as "other jobs";
- the database alone: the same messages, decoded beforehand, committed through the workers'
  BatchWriter with `--db-writers` connections, in batches of the workers' mean batch size;
- a line per run, "the limit at N workers is X (saturated by A, B, C)", and what N workers
  would take with the limit removed (messages per worker CPU-second x N) and the PostgreSQL
  cores and share of mosquitto's one thread that rate needs.
"""

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import asyncpg  # noqa: E402

from agent.fleet import db  # noqa: E402
from agent.fleet.localdb import LocalPostgres  # noqa: E402
from bench.fleet_limits import (cpu_seconds, db_ceiling, machine_busy, projection,  # noqa: E402
                                verdict)
from bench.fleet_load import payload  # noqa: E402
from tests.support.broker import Broker  # noqa: E402

INGEST_BROKER_CONF = "max_queued_messages 0\nmax_inflight_messages 0\n"


async def fresh_db(server: LocalPostgres, name: str, gateways: int) -> str:
    admin = await asyncpg.connect(server.dsn)
    await admin.execute(f"DROP DATABASE IF EXISTS {name}")
    await admin.execute(f"CREATE DATABASE {name}")
    await admin.close()
    conn = await asyncpg.connect(server.dsn_for(name))
    await db.migrate(conn)
    await conn.execute("INSERT INTO gateways (id) SELECT 'gw-' || lpad(n::text, 5, '0') "
                       "FROM generate_series(0, $1 - 1) n", gateways)
    await conn.close()
    return server.dsn_for(name)


async def rows(dsn: str) -> tuple[int, int]:
    conn = await asyncpg.connect(dsn)
    try:
        r = await conn.fetchrow("SELECT count(*) AS n, count(DISTINCT (gateway_id, seq)) AS d "
                                "FROM telemetry")
        return r["n"], r["d"]
    finally:
        await conn.close()


def legacy_tree(rev: str) -> Path:
    """The repository at `rev`, unpacked in a temporary folder (removed at exit)."""
    folder = Path(tempfile.mkdtemp(prefix="lentera-legacy-"))
    archive = subprocess.run(["git", "archive", rev], cwd=REPO, check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def run(server, broker, workers: int, gateways: int, per_gw: int, tree: Path = REPO,
        load_via: str = "raw") -> dict:
    dsn = asyncio.run(fresh_db(server, f"bench_{workers}", gateways))
    total = gateways * per_gw
    procs = [subprocess.Popen(
        [sys.executable, "-m", "agent.fleet.cli", "ingest", "--broker", broker.url, "--db", dsn,
         "--group", f"bench{workers}", "--worker-id", str(i), "--progress", "0"],
        cwd=tree, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        for i in range(workers)]
    time.sleep(2.0)                               # connected and subscribed
    cpu0 = {"workers": sum(cpu_seconds(p.pid) for p in procs),
            "postgres": cpu_seconds(server.proc.pid, children_of=True),
            "mosquitto": cpu_seconds(broker.proc.pid)}
    busy0 = machine_busy()
    start = time.monotonic()
    half = gateways // 2
    load = [subprocess.Popen([sys.executable, str(REPO / "bench/fleet_load.py"),
                              str(broker.port), str(first), str(n), str(per_gw), load_via],
                             stdout=subprocess.PIPE, text=True)
            for first, n in ((0, half), (half, gateways - half))]
    while asyncio.run(rows(dsn))[0] < total:
        if time.monotonic() - start > 600:
            raise SystemExit("timed out: not every message reached the database")
        time.sleep(0.25)
    elapsed = time.monotonic() - start
    busy = machine_busy() - busy0
    n, distinct = asyncio.run(rows(dsn))
    cpu = {"workers": sum(cpu_seconds(p.pid) for p in procs) - cpu0["workers"],
           "postgres": cpu_seconds(server.proc.pid, children_of=True) - cpu0["postgres"],
           "mosquitto": cpu_seconds(broker.proc.pid) - cpu0["mosquitto"], "load": 0.0}
    for p in load:                     # the load generators end with their last PUBACK
        _pid, _status, usage = os.wait4(p.pid, 0)
        p.returncode = 0
        cpu["load"] += usage.ru_utime + usage.ru_stime
    used = {k: v / elapsed for k, v in cpu.items()}
    used["others"] = max(0.0, busy / elapsed - sum(used.values()))
    batches = 0
    for p in procs:                    # each prints its counters as it stops
        p.terminate()
        batches += _batches(p.communicate(timeout=30)[0])
    return {"workers": workers, "messages": total, "stored": n, "distinct": distinct,
            "seconds": round(elapsed, 2), "msg_per_s": round(total / elapsed),
            **{f"cpu_us_per_msg_{k}": round(v / total * 1e6, 1) for k, v in cpu.items()},
            "worker_msgs_per_cpu_s": round(total / max(cpu["workers"], 1e-9)),
            "mean_batch": round(total / batches) if batches else None,
            "machine_cores_busy": round(busy / elapsed, 2),
            "cores_used": " ".join(f"{k}:{v:.2f}" for k, v in used.items()), "_used": used}


def _batches(stdout: str) -> int:
    """The `batches N` of a worker's last counters line (0 if it printed none)."""
    words = stdout.split()
    return int(words[words.index("batches") + 1]) if "batches" in words else 0


def ceiling(server, gateways: int, per_gw: int, batch: int, writers: int) -> dict:
    """The database alone (bench/fleet_limits.py), on a fresh database, the same messages."""
    dsn = asyncio.run(fresh_db(server, f"bench_db_{writers}", gateways))
    messages = [(f"city/lighting/gw-{g:05d}/telemetry/L-{seq % 20:02d}", payload(seq, seq % 20))
                for seq in range(1, per_gw + 1) for g in range(gateways)]
    result = db_ceiling(server, dsn, messages, batch, writers)
    if asyncio.run(rows(dsn)) != (len(messages), len(messages)):
        raise SystemExit("the database-only run did not store every message once")
    return result


def summary(runs: list, ceilings: list, cores: int) -> None:
    """Each run's limit by name, and scale-out with the limit removed."""
    best = max(ceilings, key=lambda c: c["msg_per_s"]) if ceilings else None
    for c in ceilings:
        print(f"database alone: writers={c['writers']}  batch={c['batch']}  "
              f"msg_per_s={c['msg_per_s']}  postgres_us_per_msg={c['postgres_us_per_msg']}  "
              f"client_us_per_msg={c['client_us_per_msg']}  postgres_cores="
              f"{c['postgres_cores']:.2f}  machine_cores_busy={c['machine_cores']:.2f}")
    for r in runs:
        share = f" ({r['msg_per_s'] / best['msg_per_s']:.0%} of the database alone)" if best else ""
        print(f"{r['workers']} worker(s), {r['msg_per_s']} msg/s{share}: "
              + verdict(r["_used"], r["workers"], cores, best))
    one = next((r for r in runs if r["workers"] == 1), runs[0])
    print("without the limit (a core per worker, at the CPU per message of the "
          f"{one['workers']}-worker run): " + projection(
              one["cpu_us_per_msg_workers"], one["cpu_us_per_msg_postgres"],
              one["cpu_us_per_msg_mosquitto"]))
    if cores <= 2:
        print(f"  (cannot be shown on {cores} cores: the load generators, mosquitto, "
              "PostgreSQL and the workers share them)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--gateways", type=int, default=200)
    parser.add_argument("--per-gw", type=int, default=500)
    parser.add_argument("--legacy", help="a commit whose workers run in turns with these")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--load", choices=["raw", "paho"], default="raw",
                        help="the load generators' MQTT client (bench/fleet_load.py)")
    parser.add_argument("--db-writers", type=int, nargs="*", default=[1, 2],
                        help="database-only runs with this many connections (none: skip)")
    args = parser.parse_args()
    trees = [("this", REPO)]
    if args.legacy:
        old = legacy_tree(args.legacy)
        trees = [(args.legacy, old), ("this", REPO)] * args.rounds
    server = LocalPostgres().start()
    # the ingest's broker settings (docs/fleet.md): no cap on queued or in-flight messages
    # to a client, so Receive Maximum (the worker's 4000) is the window
    broker = Broker(extra_conf=INGEST_BROKER_CONF).start()
    cores = os.cpu_count()
    try:
        print(f"cores: {cores}  gateways: {args.gateways}  messages per run: "
              f"{args.gateways * args.per_gw}  load average: {os.getloadavg()[0]:.1f}")
        runs = []
        for w in args.workers:
            for name, tree in trees:
                result = run(server, broker, w, args.gateways, args.per_gw, tree, args.load)
                print(f"code={name}  " + "  ".join(f"{k}={v}" for k, v in result.items()
                                                  if k != "_used"), flush=True)
                if name == "this":
                    runs.append(result)
        batch = next((r["mean_batch"] for r in runs if r["mean_batch"]), 500)
        ceilings = [ceiling(server, args.gateways, args.per_gw, batch, n)
                    for n in args.db_writers]
        summary(runs, ceilings, cores)
        print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    finally:
        broker.stop()
        server.remove()
        if args.legacy:
            shutil.rmtree(old, ignore_errors=True)


if __name__ == "__main__":
    main()
