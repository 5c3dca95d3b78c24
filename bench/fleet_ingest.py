"""Ingest throughput: telemetry messages/s committed to PostgreSQL with 1, 2 and 4 workers,
and the CPU each part spends per message (workers, PostgreSQL, mosquitto, load generator).

    .venv/bin/python bench/fleet_ingest.py [--workers 1 2 4] [--gateways 200] [--per-gw 500]
        [--legacy REV [--rounds 2]]

--legacy REV runs the workers of that commit (`git archive` into a temporary folder) and of
this tree in turns, `--rounds` times each, on the same broker and server: on a shared
machine only such alternating runs compare old and new fairly.

Everything runs on this machine, on a private mosquitto and a private PostgreSQL 15 (no
fsync: the bench measures the ingest, not the disk). G gateways' load comes from two
bench/fleet_load.py processes. A run counts only when every (gateway, seq) is in the
database exactly once.

Each run names its limit from where the CPU went: the share of a core each part used over
the run's wall time (workers, PostgreSQL, mosquitto, the load generators) and the machine's
busy time outside all of them (other jobs on a shared machine). A part near one core is
the limit if it is single-threaded (mosquitto, a load generator, a worker); the machine is
the limit when everything together (ours and others') fills its cores.
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
from tests.support.broker import Broker  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
INGEST_BROKER_CONF = "max_queued_messages 0\nmax_inflight_messages 0\n"


def cpu_seconds(pid: int, children_of: bool = False) -> float:
    """utime+stime of a process (or of its direct children, for the postmaster's backends)."""
    pids = [pid]
    if children_of:
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit() and _ppid(int(p)) == pid]
    total = 0.0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / TICK
        except (OSError, IndexError):
            pass
    return total


def machine_busy() -> float:
    """CPU-seconds the whole machine spent busy (every core), from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]                  # idle + iowait
    return (sum(fields[:8]) - idle) / TICK


def name_limit(cores_used: dict, workers: int, cores: int) -> str:
    """Which part held the rate back, from its share of the cores (see the module doc)."""
    total = sum(cores_used.values())
    if total >= 0.85 * cores:
        return (f"the machine's {cores} cores: all parts together {total:.2f} cores busy "
                f"(other jobs {cores_used['others']:.2f})")
    if cores_used["mosquitto"] >= 0.85:
        return "mosquitto (one thread, %.2f of a core)" % cores_used["mosquitto"]
    if cores_used["load"] / 2 >= 0.85:
        return "the two load generators (%.2f cores)" % cores_used["load"]
    if cores_used["workers"] / workers >= 0.85:
        return "the workers (%.2f cores for %d)" % (cores_used["workers"], workers)
    return ("PostgreSQL (%.2f cores; waits for commits, no part CPU-bound)"
            % cores_used["postgres"])


def _ppid(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError):
        return -1


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


def run(server, broker, workers: int, gateways: int, per_gw: int, tree: Path = REPO) -> dict:
    dsn = asyncio.run(fresh_db(server, f"bench_{workers}", gateways))
    total = gateways * per_gw
    procs = [subprocess.Popen(
        [sys.executable, "-m", "agent.fleet.cli", "ingest", "--broker", broker.url, "--db", dsn,
         "--group", f"bench{workers}", "--worker-id", str(i), "--progress", "0"],
        cwd=tree, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for i in range(workers)]
    time.sleep(2.0)                               # connected and subscribed
    cpu0 = {"workers": sum(cpu_seconds(p.pid) for p in procs),
            "postgres": cpu_seconds(server.proc.pid, children_of=True),
            "mosquitto": cpu_seconds(broker.proc.pid)}
    busy0 = machine_busy()
    start = time.monotonic()
    half = gateways // 2
    load = [subprocess.Popen([sys.executable, str(REPO / "bench/fleet_load.py"),
                              str(broker.port), str(first), str(n), str(per_gw)],
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
           "mosquitto": cpu_seconds(broker.proc.pid) - cpu0["mosquitto"]}
    load_cpu = 0.0
    for p in load:                     # the load generators end with their last PUBACK
        _pid, _status, usage = os.wait4(p.pid, 0)
        p.returncode = 0
        load_cpu += usage.ru_utime + usage.ru_stime
    used = {k: v / elapsed for k, v in cpu.items()}
    used["load"] = load_cpu / elapsed
    used["others"] = max(0.0, busy / elapsed - sum(used.values()))
    for p in procs:
        p.terminate()
        p.wait(30)
    return {"workers": workers, "messages": total, "stored": n, "distinct": distinct,
            "seconds": round(elapsed, 2), "msg_per_s": round(total / elapsed),
            **{f"cpu_us_per_msg_{k}": round(v / total * 1e6, 1) for k, v in cpu.items()},
            "worker_msgs_per_cpu_s": round(total / max(cpu["workers"], 1e-9)),
            "cores_used": " ".join(f"{k}:{v:.2f}" for k, v in used.items()),
            "limit": name_limit(used, workers, os.cpu_count())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--gateways", type=int, default=200)
    parser.add_argument("--per-gw", type=int, default=500)
    parser.add_argument("--legacy", help="a commit whose workers run in turns with these")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    trees = [("this", REPO)]
    if args.legacy:
        old = legacy_tree(args.legacy)
        trees = [(args.legacy, old), ("this", REPO)] * args.rounds
    server = LocalPostgres().start()
    # the ingest's broker settings (docs/fleet.md): no cap on queued or in-flight messages
    # to a client, so Receive Maximum (the worker's 4000) is the window
    broker = Broker(extra_conf=INGEST_BROKER_CONF).start()
    try:
        print(f"cores: {os.cpu_count()}  gateways: {args.gateways}  messages per run: "
              f"{args.gateways * args.per_gw}")
        for w in args.workers:
            for name, tree in trees:
                result = run(server, broker, w, args.gateways, args.per_gw, tree)
                limit = result.pop("limit")
                print(f"code={name}  " + "  ".join(f"{k}={v}" for k, v in result.items()),
                      flush=True)
                print(f"  limit: {limit}", flush=True)
    finally:
        broker.stop()
        server.remove()
        if args.legacy:
            shutil.rmtree(old, ignore_errors=True)


if __name__ == "__main__":
    main()
