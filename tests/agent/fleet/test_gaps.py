"""Gaps in seq, reconciled with the gateways' own account (docs/mqtt.md "Delivery"), and
telemetry partitions made ahead and dropped for retention."""

import asyncio
import json
import subprocess
import sys
from datetime import date

import asyncpg

from agent.fleet.decode import decode
from agent.fleet.partitions import drop_older_than, ensure_days
from agent.fleet.reports import seq_gaps
from agent.fleet.writer import BatchWriter
from tests.agent.fleet.conftest import query, register


def reading(gw, seq):
    return decode(f"city/lighting/{gw}/telemetry/L-1", json.dumps(
        {"ts": 1795881120000 + seq, "seq": seq, "quality": "good", "values": {}}).encode())


def write(dsn, records):
    async def go():
        conn = await asyncpg.connect(dsn)
        try:
            await BatchWriter(conn).write(records)
        finally:
            await conn.close()
    asyncio.run(go())


def test_gaps_are_told_lost_from_not_yet_arrived(fleet_dsn):
    register(fleet_dsn, ["gw-dropped", "gw-behind", "gw-odd", "gw-recovered"])
    records = [reading("gw-dropped", s) for s in range(1, 101) if not 40 <= s < 50]
    records.append(decode("city/lighting/gw-dropped/events/gateway", json.dumps(
        {"ts": 1795881120000, "seq": 101, "event": "outbox_dropped", "dropped": 10}).encode()))
    records += [reading("gw-behind", s) for s in range(1, 101) if not 60 <= s < 70]
    records.append(decode("city/lighting/gw-behind/status", json.dumps(
        {"state": "online", "ts": 1795881120000, "outbox": {"backlog": 10, "dropped": 0}})
        .encode()))
    records += [reading("gw-odd", s) for s in (1, 2, 5)]
    records += [reading("gw-recovered", s) for s in (1, 2, 3, 1795881120001, 1795881120002)]
    write(fleet_dsn, records)

    async def go():
        conn = await asyncpg.connect(fleet_dsn)
        try:
            return {r["gateway_id"]: r for r in await seq_gaps(conn)}
        finally:
            await conn.close()
    gaps = asyncio.run(go())
    assert (gaps["gw-dropped"]["missing"], gaps["gw-dropped"]["lost"],
            gaps["gw-dropped"]["unexplained"]) == (10, 10, 0)
    assert (gaps["gw-behind"]["missing"], gaps["gw-behind"]["not_yet_arrived"],
            gaps["gw-behind"]["lost"]) == (10, 10, 0)
    assert (gaps["gw-odd"]["missing"], gaps["gw-odd"]["unexplained"]) == (2, 2)
    assert (gaps["gw-recovered"]["missing"], gaps["gw-recovered"]["recovered_jumps"]) == (0, 1)
    out = subprocess.run([sys.executable, "-m", "agent.fleet.cli", "gaps", "--db", fleet_dsn],
                         capture_output=True, text=True, timeout=60)
    assert "gw-odd: committed 3 up to seq 5; missing 2 (3-4)" in out.stdout, out.stderr
    assert "4 gateways, 22 missing, 2 unexplained" in out.stdout


def test_day_partitions_are_made_and_dropped_whole(fleet_dsn):
    async def go():
        conn = await asyncpg.connect(fleet_dsn)
        try:
            await ensure_days(conn, {date(2026, 1, d) for d in (1, 2, 3, 10)}, set())
            return await drop_older_than(conn, keep_days=7, today=date(2026, 1, 12))
        finally:
            await conn.close()
    assert asyncio.run(go()) == ["telemetry_20260101", "telemetry_20260102",
                                 "telemetry_20260103"]
    left = query(fleet_dsn, "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON "
                 "c.oid = i.inhrelid WHERE i.inhparent = 'telemetry'::regclass ORDER BY 1")
    assert [r["relname"] for r in left] == ["telemetry_20260110"]
