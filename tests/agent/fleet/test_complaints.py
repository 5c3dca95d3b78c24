"""Complaints matched to faults on PostGIS: the labelled set of bench/complaints_set.py
(200 complaints, GPS noise 5-30 m, pole ids, fine lamps), resolution when a fault clears,
the import's checks, and the CLI end to end."""

import asyncio
import json
import subprocess
import sys

import asyncpg
import pytest

from bench.complaints_match import evaluate
from bench.complaints_set import make_set
from agent.fleet.complaints import ComplaintError, match, parse_complaints
from agent.fleet.decode import decode
from agent.fleet.writer import BatchWriter
from tests.agent.fleet.conftest import query


def test_the_labelled_set_is_matched_with_95_percent_precision_and_recall(fleet_dsn):
    result = asyncio.run(evaluate(fleet_dsn, 30.0, make_set()))
    print(result)
    assert result["complaints"] == 200
    assert result["confirmed_precision"] >= 0.95 and result["confirmed_recall"] >= 0.95
    assert result["verdict_accuracy"] >= 0.95
    rows = query(fleet_dsn, "SELECT verdict, count(*) FROM complaints GROUP BY 1")
    assert {r["verdict"] for r in rows} == {"confirmed", "healthy_since", "send_crew"}
    explained = query(fleet_dsn, "SELECT explanation FROM complaints WHERE verdict = "
                      "'confirmed' AND pole_id IS NULL LIMIT 1")[0]["explanation"]
    assert " m away; fault " in explained and " min before the complaint" in explained


def test_a_cleared_fault_resolves_its_complaints_with_the_evidence(fleet_dsn):
    data = make_set()
    asyncio.run(evaluate(fleet_dsn, 30.0, data))
    fault = query(fleet_dsn, "SELECT f.id, f.gateway_id, f.device_id, f.kind, count(c.id) AS n "
                  "FROM faults f JOIN complaints c ON c.fault_id = f.id "
                  "GROUP BY 1 ORDER BY 1 LIMIT 1")[0]
    cleared = decode(f"city/lighting/{fault['gateway_id']}/events/{fault['device_id']}",
                     json.dumps({"ts": 1795990000000, "seq": 10_000, "event": fault["kind"],
                                 "state": "cleared"}).encode())

    async def go():
        conn = await asyncpg.connect(fleet_dsn)
        try:
            await BatchWriter(conn).write([cleared])
        finally:
            await conn.close()
    asyncio.run(go())
    resolved = query(fleet_dsn, "SELECT resolved_at, resolution FROM complaints "
                     "WHERE fault_id = $1", fault["id"])
    assert len(resolved) == fault["n"] >= 1
    assert all(r["resolved_at"] is not None and "cleared by telemetry (seq 10000)"
               in r["resolution"] for r in resolved)


@pytest.mark.parametrize("text, fmt, message", [
    ('[{"id": "a", "reported_at": 1795881120000}]', "json", "needs a position"),
    ('[{"id": "a", "reported_at": "yesterday", "pole_id": "P"}]', "json", "reported_at"),
    ('[{"id": "a", "reported_at": 1, "lat": 91, "lon": 0}]', "json", "out of range"),
    ("id,reported_at,lat,lon\na,2026-12-01T20:00:00Z,-6.1,north\n", "csv", "not a number"),
    ('{"complaints": 3}', "json", "expected a list"),
])
def test_a_bad_complaints_file_names_the_record(text, fmt, message):
    with pytest.raises(ComplaintError, match=message):
        parse_complaints(text, fmt)


def test_the_cli_imports_matches_and_lists_work_orders(fleet_dsn, tmp_path):
    from bench.complaints_set import lights_geojson
    data = make_set()
    (tmp_path / "lights.geojson").write_text(json.dumps(lights_geojson(data["lights"])))
    csv_lines = ["id,text,reported_at,lat,lon,pole_id,office",
                 "X-1,mati,2026-12-01T20:00:00Z,,,TNG-0005,office-0",
                 f"X-2,gelap,2026-12-01T20:00:00Z,{data['lights'][7]['lat']},"
                 f"{data['lights'][7]['lon']},,office-0"]
    (tmp_path / "c.csv").write_text("\n".join(csv_lines) + "\n")

    def cli(*args):
        out = subprocess.run([sys.executable, "-m", "agent.fleet.cli", *args, "--db", fleet_dsn],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout
    assert "400 lights imported" in cli("lights", "import", str(tmp_path / "lights.geojson"))
    assert "2 complaints read" in cli("complaints", "import", str(tmp_path / "c.csv"))
    out = cli("match")
    assert "X-1 send_crew" in out and "pole id names gw-00/L-05" in out
    assert "X-2 send_crew" in out and "gw-00/L-07 is 0 m away" in out
    assert "office-0" in cli("work-orders")
