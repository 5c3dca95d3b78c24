"""Ingest workers against a real mosquitto and a real PostgreSQL: shared load, duplicates
dropped, nothing lost when a worker is SIGKILLed or the database restarts mid-run."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from agent.fleet.ingest import IngestWorker
from tests.agent.fleet.conftest import GatewayPublisher, query, register
from tests.agent.fleet.gateways import InProcessGateway

REPO = Path(__file__).resolve().parents[3]


def counts(dsn):
    """(telemetry rows, distinct (gateway, seq) in telemetry, ledger rows)."""
    row = query(dsn, "SELECT (SELECT count(*) FROM telemetry) AS n, (SELECT count(*) FROM "
                "(SELECT DISTINCT gateway_id, seq FROM telemetry) d) AS distinct_n, "
                "(SELECT count(*) FROM received) AS ledger")[0]
    return row["n"], row["distinct_n"], row["ledger"]


def wait_rows(dsn, expected, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n = counts(dsn)[0]
        if n >= expected:
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}: {counts(dsn)} of {expected}")


async def run_workers(broker, dsn, n, until, timeout=60, receive_max=4000):
    workers = [IngestWorker(broker.url, dsn, "city", f"w{i}", batch_window=0.02,
                            receive_max=receive_max) for i in range(n)]
    tasks = [asyncio.create_task(w.run(), name=f"fleet.ingest.w{i}")
             for i, w in enumerate(workers)]
    deadline = time.monotonic() + timeout
    while not all(w.mqtt.connected.is_set() for w in workers):
        assert time.monotonic() < deadline, "workers did not connect"
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)          # the SUBACKs
    await asyncio.get_running_loop().run_in_executor(None, until, workers)
    for w in workers:
        w.stop()
    await asyncio.gather(*tasks)
    return workers


def test_two_workers_share_the_load_and_redelivery_never_doubles(broker, fleet_dsn):
    gateways = [f"gw-{i}" for i in range(4)]
    register(fleet_dsn, gateways)

    def publish(workers):
        pub = GatewayPublisher(broker.port)
        for seq in range(1, 1001):
            for gw in gateways:
                pub.telemetry(gw, seq)
        for seq in range(1, 301):              # a redelivery storm of the same messages
            pub.telemetry("gw-0", seq).wait_for_publish(5) if seq == 300 else \
                pub.telemetry("gw-0", seq)
        wait_rows(fleet_dsn, 4000, 60, "4000 readings")
        deadline = time.monotonic() + 30
        while sum(w.stats.received for w in workers) < 4300 and time.monotonic() < deadline:
            time.sleep(0.1)
        pub.close()

    workers = asyncio.run(run_workers(broker, fleet_dsn, 2, publish))
    assert counts(fleet_dsn) == (4000, 4000, 4000)
    assert all(w.stats.received > 500 for w in workers), \
        f"the shared subscription did not split: {[w.stats.received for w in workers]}"
    assert sum(w.stats.duplicates for w in workers) == 300
    per_gw = query(fleet_dsn, "SELECT gateway_id, min(seq), max(seq), count(*) FROM "
                   "telemetry GROUP BY 1 ORDER BY 1")
    assert [tuple(r) for r in per_gw] == [(gw, 1, 1000, 1000) for gw in gateways]


def start_worker(broker, dsn, worker_id, log):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "agent.fleet.cli", "ingest", "--broker", broker.url, "--db", dsn,
         "--group", "city", "--worker-id", worker_id, "--batch-max", "500",
         "--progress", "0.5"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)


def test_a_worker_killed_mid_run_and_a_database_restart_lose_nothing(broker, fleet_dsn,
                                                                     postgres, tmp_path):
    gateways = [f"gw-{i}" for i in range(10)]
    register(fleet_dsn, gateways)
    log = open(tmp_path / "workers.log", "ab")
    a = start_worker(broker, fleet_dsn, "a", log)
    b = start_worker(broker, fleet_dsn, "b", log)
    try:
        time.sleep(2)                           # both subscribed (their first progress line)
        pub = GatewayPublisher(broker.port)
        total = 0
        for seq in range(1, 601):
            for gw in gateways:
                pub.telemetry(gw, seq)
                total += 1
            if seq == 200:
                a.send_signal(signal.SIGKILL)   # mid-run, batches in flight
                a.wait()
            if seq == 300:
                a = start_worker(broker, fleet_dsn, "a", log)   # as systemd would
            if seq == 400:
                postgres.stop()                 # every worker's connection drops
            if seq == 450:
                postgres.start()
        wait_rows(fleet_dsn, total, 90, f"{total} readings after the kill and the restart")
        pub.close()
        assert counts(fleet_dsn) == (total, total, total)
        missing = query(fleet_dsn, "SELECT g, s FROM unnest($1::text[]) g, "
                        "generate_series(1, 600) s EXCEPT SELECT gateway_id, seq FROM received",
                        gateways)
        assert missing == []
    finally:
        for proc in (a, b):
            proc.send_signal(signal.SIGTERM)
        for proc in (a, b):
            proc.wait(20)
    out = (tmp_path / "workers.log").read_text()
    assert "retrying" in out or "reconnecting" in out, "the database restart went unnoticed"


def test_a_broker_restart_mid_run_loses_nothing_a_gateway_committed(broker, fleet_dsn,
                                                                    tmp_path):
    """Every reading the gateways committed lands once, across a broker restart.

    The gateways here are the agent's own publish path: Outbox, Publisher, MqttUplink (MQTT 5).
    The broker keeps the workers' sessions and queued messages (persistence), but mosquitto
    2.0 does not restore shared subscriptions: until a worker has subscribed again, the
    gateways that came back first get PUBACK reason 16, "No matching subscribers". Those rows
    stay in their outboxes and are sent again (agent/uplink/redelivery.py). Seen failing on
    the old code, which took a reason-16 PUBACK as delivered: 130 and 135 of 3,000 were
    missing (2 runs).
    """
    gateways = [f"gw-{i}" for i in range(10)]
    register(fleet_dsn, gateways)
    log = open(tmp_path / "workers.log", "ab")
    workers = [start_worker(broker, fleet_dsn, name, log) for name in ("a", "b")]
    try:
        time.sleep(2)                           # both subscribed
        refused = asyncio.run(restart_under_gateways(broker, gateways, workers, fleet_dsn,
                                                     log, tmp_path))
        wait_rows(fleet_dsn, 3000, 30, "3000 committed readings after the restart")
        assert counts(fleet_dsn) == (3000, 3000, 3000)
        missing = query(fleet_dsn, "SELECT g, s FROM unnest($1::text[]) g, generate_series(1, "
                        "300) s EXCEPT SELECT gateway_id, seq FROM received", gateways)
        assert missing == []
        assert refused > 0, "no gateway met the gap: the test did not test it"
    finally:
        for proc in workers:
            proc.send_signal(signal.SIGTERM)
        for proc in workers:
            proc.wait(20)


async def restart_under_gateways(broker, gateways, workers, dsn, log, tmp_path):
    """300 readings per gateway; worker a killed at 100, the broker restarted at 150, a back
    at 200; until every outbox is empty. Returns the PUBACKs that said "not delivered"."""
    fleet = [await InProcessGateway.start(broker.url, gw, tmp_path) for gw in gateways]
    try:
        for seq in range(1, 301):
            for gw in fleet:
                gw.reading(seq)
            await asyncio.sleep(0.01)
            if seq == 100:                      # worker a is down: its session queues
                workers[0].send_signal(signal.SIGKILL)
                workers[0].wait()
            if seq == 150:
                broker.stop()                   # a clean stop: the broker saves its sessions
                broker.start()
            if seq == 200:
                workers[0] = start_worker(broker, dsn, "a", log)
        deadline = time.monotonic() + 90
        while not all(gw.drained() for gw in fleet):
            left = sum(gw.box.db.count for gw in fleet)
            assert time.monotonic() < deadline, f"{left} rows never left the outboxes"
            await asyncio.sleep(0.2)
        return sum(gw.uplink.redelivery.not_delivered for gw in fleet)
    finally:
        for gw in fleet:
            await gw.stop()
