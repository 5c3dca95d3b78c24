"""200 gateways, 3 ingest workers, and three failures in one run: a worker SIGKILLed, the
database restarted, the broker restarted. Every reading a gateway committed must be in the
database exactly once, counted against each gateway's seq.

    .venv/bin/python bench/fleet_failures.py [--gateways 200] [--seconds 60] [--period 1.0]

The gateways are the agent's own publish path (tests/agent/fleet/gateways.py: Outbox in
SQLite, Publisher, MqttUplink on MQTT 5, each with its paho thread), 50 to a process (paho
waits in select(), which takes no descriptor past 1,023: one process of 200 gateways left
31 of them unable to connect), so the run
covers what a real gateway does across a broker restart (PUBACK reason 16 kept and sent
again, agent/uplink/redelivery.py). Workers are `lentera-fleet ingest` processes, as
systemd runs them; the broker runs with deploy/fleet/mosquitto-ingest.conf; PostgreSQL is
private (fsync off). A bench, not a test: it takes a few minutes on this machine.
"""

import argparse
import asyncio
import json
import logging
import signal
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
from tests.agent.fleet.conftest import ingest_broker  # noqa: E402
from tests.agent.fleet.gateways import InProcessGateway  # noqa: E402


def worker(broker, dsn, name):
    return subprocess.Popen(
        [sys.executable, "-m", "agent.fleet.cli", "ingest", "--broker", broker.url, "--db", dsn,
         "--group", "city", "--worker-id", name, "--progress", "0"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def prepare(server, gateways: list[str]) -> str:
    admin = await asyncpg.connect(server.dsn)
    await admin.execute("CREATE DATABASE failures")
    await admin.close()
    conn = await asyncpg.connect(server.dsn_for("failures"))
    await db.migrate(conn)
    await conn.execute("INSERT INTO gateways (id) SELECT unnest($1::text[])", gateways)
    await conn.close()
    return server.dsn_for("failures")


async def per_gateway(dsn: str) -> dict:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT gateway_id, count(*) AS n, count(DISTINCT seq) AS d, min(seq) AS lo, "
            "max(seq) AS hi FROM telemetry GROUP BY 1")
        ledger = await conn.fetchval("SELECT count(*) FROM received")
    finally:
        await conn.close()
    return {r["gateway_id"]: (r["n"], r["d"], r["lo"], r["hi"]) for r in rows}, ledger


async def db_rows(dsn: str) -> int:
    try:
        conn = await asyncpg.connect(dsn)
    except (OSError, asyncpg.PostgresError):
        return -1
    try:
        return await conn.fetchval("SELECT count(*) FROM telemetry")
    finally:
        await conn.close()


def log(start, text):
    print(f"{time.monotonic() - start:6.1f} s  {text}", flush=True)


async def produce(fleet, seconds, period, start):
    """Every gateway commits one reading per period, spread over the period."""
    n = 0
    while time.monotonic() - start < seconds:
        n += 1
        for i, gw in enumerate(fleet):
            gw.reading(n)
            if i % 10 == 9:
                await asyncio.sleep(period / len(fleet) * 10)
    return n


async def child(url: str, first: int, count: int, seconds: float, period: float) -> None:
    """One process of gateways (a real gateway is a process of its own; here 50 share one,
    within select()'s 1,024 descriptors): commit for `seconds`, drain, report as JSON."""
    with tempfile.TemporaryDirectory(prefix="lentera-failures-", dir="/dev/shm") as tmp:
        fleet = [await InProcessGateway.start(url, f"gw-{i:04d}", Path(tmp))
                 for i in range(first, first + count)]
        start = time.monotonic()
        readings = await produce(fleet, seconds, period, start)
        while not all(gw.drained() for gw in fleet):
            await asyncio.sleep(0.5)
            if time.monotonic() - start > seconds + 300:
                break
        print(json.dumps({"first": first, "count": count, "readings": readings,
                          "left": sum(gw.box.db.count for gw in fleet),
                          "drained_after_s": round(time.monotonic() - start - seconds, 1),
                          "not_delivered": sum(gw.uplink.redelivery.not_delivered
                                               for gw in fleet)}), flush=True)
        for gw in fleet:
            await gw.stop()


def spawn_gateways(broker, args) -> list:
    per = 50
    return [subprocess.Popen([sys.executable, __file__, "--child", broker.url, str(first),
                              str(min(per, args.gateways - first)), str(args.seconds),
                              str(args.period)], stdout=subprocess.PIPE, text=True)
            for first in range(0, args.gateways, per)]


async def main(args) -> int:
    names = [f"gw-{i:04d}" for i in range(args.gateways)]
    server = LocalPostgres().start()
    broker = ingest_broker().start()
    procs = {}
    try:
        dsn = await prepare(server, names)
        procs = {w: worker(broker, dsn, w) for w in "abc"}
        await asyncio.sleep(2)
        gateways = spawn_gateways(broker, args)
        start = time.monotonic()
        log(start, f"{len(names)} gateways in {len(gateways)} processes, 3 workers")

        def kill():
            procs["a"].send_signal(signal.SIGKILL)
            procs["a"].wait()

        def restart_broker():
            broker.stop()
            broker.start()
        s = args.seconds
        failures = [(s * 0.15, "SIGKILL worker a", kill),
                    (s * 0.25, "worker a back (same id)",
                     lambda: procs.update(a=worker(broker, dsn, "a"))),
                    (s * 0.40, "PostgreSQL stopped", server.stop),
                    (s * 0.50, "PostgreSQL started", server.start),
                    (s * 0.70, "broker restart", restart_broker)]
        for at, what, act in failures:
            await asyncio.sleep(max(0.0, at - (time.monotonic() - start)))
            log(start, f"{what} (in the database {await db_rows(dsn)})")
            await asyncio.to_thread(act)
        reports = [json.loads(await asyncio.to_thread(p.stdout.read)) for p in gateways]
        log(start, "gateways done: " + ", ".join(
            f"{r['first']}+{r['count']}: {r['readings']} readings, {r['left']} left, "
            f"drained {r['drained_after_s']} s after the end" for r in reports))
        expected = {f"gw-{i:04d}": r["readings"] for r in reports
                    for i in range(r["first"], r["first"] + r["count"])}
        total = sum(expected.values())
        deadline = time.monotonic() + 120
        while await db_rows(dsn) < total and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        got, ledger = await per_gateway(dsn)
    finally:
        for p in procs.values():
            p.terminate()
        for p in procs.values():
            p.wait(30)
        broker.stop()
        server.remove()
    bad = {gw: got.get(gw) for gw, n in expected.items() if got.get(gw) != (n, n, 1, n)}
    stored = sum(v[0] for v in got.values())
    resent = sum(r["not_delivered"] for r in reports)
    log(start, f"committed {total}, in the database {stored} (ledger {ledger}), gateways "
               f"wrong: {len(bad)}; PUBACKs 'not delivered' and sent again: {resent}")
    if bad or any(r["left"] for r in reports):
        print("FAIL:", dict(list(bad.items())[:5]))
        return 1
    print("OK: every committed reading is in the database exactly once")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateways", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--period", type=float, default=1.0, help="seconds between readings")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    a = parser.parse_args()
    # 200 gateways each log their reconnects: keep the bench's own lines readable
    logging.getLogger("agent").setLevel(logging.ERROR)
    if a.child:
        url, first, count, seconds, period = a.child
        asyncio.run(child(url, int(first), int(count), float(seconds), float(period)))
    else:
        sys.exit(asyncio.run(main(a)))
