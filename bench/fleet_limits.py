"""Where the ingest's limit is (used by bench/fleet_ingest.py): the CPU each party spent, the
machine's busy time, the database alone (no MQTT) and what scale-out would be without the
limit.

- `cpu_seconds` / `machine_busy`: utime+stime of our processes (the postmaster's children are
  PostgreSQL's backends) and of the whole machine, from /proc.
- `db_ceiling`: the worker's own BatchWriter fed decoded messages straight from this process,
  `writers` connections at once, in batches of the size the workers committed: the rate
  PostgreSQL alone reaches on this machine and its CPU per message.
- `verdict`: "the limit at N workers is X (the cores are saturated by A, B, C)".
- `projection`: with the machine's limit removed (a core per worker), N workers take N x
  (messages per worker CPU-second), and need that rate x PostgreSQL's CPU per message in
  PostgreSQL cores and x mosquitto's in its one thread (over one core: the broker is then
  the limit, and a cluster is needed).
"""

import asyncio
import os
import time
from pathlib import Path

import asyncpg

from agent.fleet.decode import decode
from agent.fleet.writer import BatchWriter

TICK = os.sysconf("SC_CLK_TCK")
PARTIES = ("workers", "postgres", "mosquitto", "load", "others")
LABEL = {"workers": "ingest workers", "postgres": "PostgreSQL", "mosquitto": "mosquitto",
         "load": "the load generators", "others": "other jobs on the machine"}


def _ppid(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError):
        return -1


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


def verdict(used: dict, workers: int, cores: int, ceiling: dict | None) -> str:
    """The limit of one run, named from each party's share of the cores (used[party] in
    cores over the run's wall time) and the database's own ceiling."""
    total = sum(used.values())
    ranked = sorted(PARTIES, key=lambda k: -used[k])
    who = ", ".join(f"{LABEL[k]} {used[k]:.2f}" for k in ranked if used[k] >= 0.01)
    if total >= 0.85 * cores:
        return (f"the limit at {workers} worker(s) is the machine's {cores} cores "
                f"({total:.2f} busy; saturated by {who})")
    single = {"mosquitto": used["mosquitto"], "load": used["load"] / 2,
              "workers": used["workers"] / workers}
    top = max(single, key=single.get)
    if single[top] >= 0.85:
        return (f"the limit at {workers} worker(s) is {LABEL[top]} (one thread each, "
                f"{single[top]:.2f} of a core; cores: {who})")
    if ceiling and used["postgres"] >= 0.85 * ceiling["postgres_cores"]:
        return (f"the limit at {workers} worker(s) is PostgreSQL ({used['postgres']:.2f} "
                f"cores, its ceiling alone {ceiling['postgres_cores']:.2f}; cores: {who})")
    return (f"the limit at {workers} worker(s) is not CPU ({total:.2f} of {cores} cores: "
            f"{who}): waits (commit round trips, batch window)")


def projection(worker_us: float, pg_us: float, broker_us: float, workers=(1, 2, 4, 8)) -> str:
    """Messages/s with the machine's limit removed: each worker on a core of its own, at the
    CPU per message measured here, and what PostgreSQL (many backends, so many cores) and
    mosquitto (one thread: at most one core) need for it."""
    per_worker = 1e6 / worker_us
    parts = []
    for n in workers:
        rate = n * per_worker
        broker = rate * broker_us / 1e6
        parts.append(f"{n}: {rate:,.0f} msg/s with {rate * pg_us / 1e6:.1f} PostgreSQL cores, "
                     f"{broker:.2f} of mosquitto's thread" + (" (over one: the broker is the "
                                                              "limit)" if broker > 1 else ""))
    return f"{per_worker:,.0f} msg/s per worker core => " + "; ".join(parts)


async def _write_all(server, dsn: str, batches: list, writers: int) -> dict:
    """Commit `batches` on `writers` connections at once; wall, client, PostgreSQL and
    machine CPU seconds (the backends are read before their connections close)."""
    conns = [await asyncpg.connect(dsn) for _ in range(writers)]
    try:
        async def one(i: int) -> None:
            writer = BatchWriter(conns[i])
            for batch in batches[i::writers]:
                await writer.write(batch)
        pg0, busy0, cpu0 = cpu_seconds(server.proc.pid, True), machine_busy(), time.process_time()
        start = time.monotonic()
        await asyncio.gather(*(one(i) for i in range(writers)))
        return {"wall": time.monotonic() - start, "client": time.process_time() - cpu0,
                "postgres": cpu_seconds(server.proc.pid, True) - pg0,
                "machine": machine_busy() - busy0}
    finally:
        for c in conns:
            await c.close()


def db_ceiling(server, dsn: str, messages: list, batch: int, writers: int) -> dict:
    """The database alone: `messages` ((topic, payload) as the gateways publish) decoded
    beforehand, then committed through BatchWriter as the workers do, without MQTT."""
    records = [decode(t, p) for t, p in messages]
    batches = [records[i:i + batch] for i in range(0, len(records), batch)]
    cpu = asyncio.run(_write_all(server, dsn, batches, writers))
    n, wall = len(records), cpu["wall"]
    return {"writers": writers, "batch": batch, "messages": n,
            "msg_per_s": round(n / wall),
            "postgres_us_per_msg": round(cpu["postgres"] / n * 1e6, 1),
            "client_us_per_msg": round(cpu["client"] / n * 1e6, 1),
            "postgres_cores": cpu["postgres"] / wall, "machine_cores": cpu["machine"] / wall}
