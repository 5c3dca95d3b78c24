"""The city's picture in SQL (migrations/003_picture.sql via agent/fleet/picture.py) on the
real PostgreSQL + PostGIS, fed through the ingest's decode and BatchWriter: lights with their
point, the newest reading per light, open faults with the communication kind, energy per
night per group."""

import asyncio
import json
from datetime import date, timedelta

import asyncpg
import pytest

from agent.fleet import picture
from agent.fleet.geo import Query
from tests.agent.fleet.city import Messages, feed, grid, utc
from tests.agent.fleet.conftest import query

NOW = utc(2026, 12, 1, 14, 0)          # 21:00 in Jakarta
COMM = timedelta(minutes=15)


def _run(dsn, job, *args):
    async def go():
        conn = await asyncpg.connect(dsn)
        try:
            answer = await job(conn, *args)
            return json.loads(answer) if isinstance(answer, str) else answer
        finally:
            await conn.close()
    return asyncio.run(go())


def check_rfc7946(doc: dict) -> None:
    """The parts of RFC 7946 a GIS trips over: the object types, Point coordinates as
    [lon, lat] numbers in range, a null geometry for an unplaced feature, string/number ids."""
    assert doc["type"] == "FeatureCollection" and isinstance(doc["features"], list)
    for f in doc["features"]:
        assert f["type"] == "Feature" and isinstance(f["properties"], dict)
        assert isinstance(f["id"], (str, int))
        if f["geometry"] is not None:
            assert f["geometry"]["type"] == "Point"
            lon, lat = f["geometry"]["coordinates"]
            assert -180 <= lon <= 180 and -90 <= lat <= 90


def _city(dsn):
    lights = grid(4, 2, gateways=2)      # gw-00: L-000-*, L-001-*; gw-01: L-002-*, L-003-*
    lights.append(("gw-01", "L-unplaced", "TNG-X", "south", "office-1", None, None))
    m = Messages()
    fresh = NOW - timedelta(minutes=2)
    msgs = [m.status("gw-00", fresh), m.status("gw-01", NOW - timedelta(hours=1))]
    msgs += [m.reading("gw-00", f"L-00{c}-00{r}", fresh) for c in (0, 1) for r in (0, 1)
             if (c, r) != (1, 1)]
    msgs.append(m.reading("gw-00", "L-001-001", NOW - timedelta(minutes=40)))   # light silent
    msgs += [m.reading("gw-01", f"L-00{c}-00{r}", NOW - timedelta(hours=1))       # gw silent
             for c in (2, 3) for r in (0, 1)]
    msgs += [m.fault("gw-00", "L-000-000", "lampFailure", NOW - timedelta(minutes=30)),
             m.fault("gw-00", "L-000-001", "cycling", NOW - timedelta(minutes=20)),
             m.fault("gw-00", "L-001-000", "dayBurning", NOW - timedelta(hours=9)),
             m.fault("gw-00", "L-001-000", "dayBurning", NOW - timedelta(hours=8), "cleared")]
    feed(dsn, msgs, lights)
    return lights


def test_lights_geojson_has_each_light_at_its_lon_lat_with_its_state(fleet_dsn):
    lights = _city(fleet_dsn)
    doc = _run(fleet_dsn, picture.lights, Query(), NOW, COMM)
    check_rfc7946(doc)
    by_id = {f["id"]: f for f in doc["features"]}
    assert len(by_id) == len(lights) == 9
    gw, dev, pole, grp, office, lon, lat = lights[0]
    assert by_id[f"{gw}/{dev}"]["geometry"]["coordinates"] == [lon, lat]   # lon first
    assert lon > 100 and lat < 0
    assert by_id["gw-01/L-unplaced"]["geometry"] is None
    assert by_id["gw-01/L-unplaced"]["properties"]["state"] == "never_reported"
    props = by_id["gw-00/L-000-000"]["properties"]
    assert props["state"] == "fault" and props["faults"] == ["lampFailure"]
    assert props["pole_id"] == pole and props["group"] == grp and props["power"] == 90.0
    assert by_id["gw-00/L-001-000"]["properties"]["state"] == "ok"      # dayBurning cleared
    assert by_id["gw-01/L-002-000"]["properties"]["faults"] == ["communication"]


def test_open_faults_include_communication_with_its_cause(fleet_dsn):
    _city(fleet_dsn)
    doc = _run(fleet_dsn, picture.faults, Query(), NOW, COMM)
    check_rfc7946(doc)
    got = {(f["properties"]["device"], f["properties"]["kind"]): f["properties"]
           for f in doc["features"]}
    assert set(got) == {("L-000-000", "lampFailure"), ("L-000-001", "cycling"),
                        ("L-001-001", "communication"), ("L-002-000", "communication"),
                        ("L-002-001", "communication"), ("L-003-000", "communication"),
                        ("L-003-001", "communication")}
    assert got[("L-001-001", "communication")]["detail"]["cause"] == "light silent"
    assert got[("L-001-001", "communication")]["detail"]["silent_s"] == 40 * 60
    assert got[("L-002-000", "communication")]["detail"]["cause"] == "gateway silent"
    assert got[("L-000-000", "lampFailure")]["since"] == (NOW - timedelta(minutes=30)).isoformat()
    # a longer configured time: the gateway an hour away is not late yet
    later = _run(fleet_dsn, picture.faults, Query(kind="communication"), NOW,
                 timedelta(hours=2))
    assert later["features"] == []


def test_bbox_group_office_and_kind_filter_and_limit_truncates(fleet_dsn):
    lights = _city(fleet_dsn)
    west = lights[0][5] - 0.0001
    box = (west, -7.0, west + 0.0007, 0.0)           # columns 0 and 1 only
    doc = _run(fleet_dsn, picture.lights, Query(bbox=box), NOW, COMM)
    assert {f["properties"]["device"][:5] for f in doc["features"]} == {"L-000", "L-001"}
    doc = _run(fleet_dsn, picture.lights, Query(group="north", office="office-0"), NOW, COMM)
    assert {f["properties"]["device"] for f in doc["features"]} == {"L-000-001", "L-001-001"}
    doc = _run(fleet_dsn, picture.faults, Query(bbox=box, kind="communication"), NOW, COMM)
    assert [f["properties"]["device"] for f in doc["features"]] == ["L-001-001"]
    doc = _run(fleet_dsn, picture.lights, Query(limit=3), NOW, COMM)
    assert len(doc["features"]) == 3 and doc["truncated"] is True


def test_the_newest_reading_per_light_survives_late_and_batched_readings(fleet_dsn):
    lights = grid(2, 1, gateways=1)
    m = Messages()
    t = NOW - timedelta(minutes=5)
    feed(fleet_dsn, [m.reading("gw-00", "L-000-000", t, energy=10),
                     m.reading("gw-00", "L-000-000", t + timedelta(minutes=1), energy=11),
                     m.reading("gw-00", "L-001-000", t, energy=50)], lights)
    # a replayed (older) reading arrives after the newer one: it must not win
    feed(fleet_dsn, [m.reading("gw-00", "L-000-000", t - timedelta(hours=1), energy=5)])
    last = _run(fleet_dsn, picture.last_readings)
    assert last[("gw-00", "L-000-000")]["energy"] == 11
    assert last[("gw-00", "L-000-000")]["ts"] == t + timedelta(minutes=1)
    assert last[("gw-00", "L-001-000")]["energy"] == 50
    newest = query(fleet_dsn, "SELECT gateway_id, device_id, max(ts) AS ts FROM telemetry "
                   "GROUP BY 1, 2")
    assert {(r["gateway_id"], r["device_id"]): r["ts"] for r in newest} == \
        {k: v["ts"] for k, v in last.items()}


def test_energy_per_night_per_group_counts_steps_and_never_a_meter_reset(fleet_dsn):
    lights = grid(1, 2, gateways=1)          # L-000-000 south, L-000-001 north
    m = Messages()
    msgs = []
    # night of 1 Dec in Jakarta (UTC+7): 18:00 local = 11:00 UTC, through 06:00 local next day
    for hour, energy in ((11, 1000), (15, 1200), (20, 1400), (23, 1500)):
        msgs.append(m.reading("gw-00", "L-000-000", utc(2026, 12, 1, hour), energy=energy))
    # the north light's meter is replaced at 03:00 local (reads 0 after): its step is not -x
    for hour, energy in ((11, 500), (15, 600), (20, 0), (23, 80)):
        msgs.append(m.reading("gw-00", "L-000-001", utc(2026, 12, 1, hour), energy=energy))
    # night of 2 Dec
    msgs += [m.reading("gw-00", "L-000-000", utc(2026, 12, 2, 11), energy=1510),
             m.reading("gw-00", "L-000-000", utc(2026, 12, 2, 20), energy=1900)]
    feed(fleet_dsn, msgs, lights)
    rows = _run(fleet_dsn, picture.energy_per_night, "Asia/Jakarta", date(2026, 12, 1),
                date(2026, 12, 2))
    assert rows == [
        {"group": "north", "night": "2026-12-01", "lights": 1, "energy_wh": 100 + 80},
        {"group": "south", "night": "2026-12-01", "lights": 1, "energy_wh": 500},
        {"group": "south", "night": "2026-12-02", "lights": 1, "energy_wh": 10 + 390}]
    south = _run(fleet_dsn, picture.energy_per_night, "Asia/Jakarta", date(2026, 12, 2),
                 date(2026, 12, 2), "south")
    assert south == [{"group": "south", "night": "2026-12-02", "lights": 1,
                      "energy_wh": 390}]


def test_a_fault_message_sent_again_late_neither_reopens_nor_closes_the_wrong_fault(fleet_dsn):
    """Before (review): a raised re-sent after reason 16 landed after its cleared and opened a
    fault that never closed; a late cleared closed the next fault, raised after it."""
    lights = grid(2, 1, gateways=1)
    m = Messages()
    t = NOW - timedelta(hours=2)
    raised1 = m.fault("gw-00", "L-000-000", "lampFailure", t)
    cleared1 = m.fault("gw-00", "L-000-000", "lampFailure", t + timedelta(minutes=5), "cleared")
    feed(fleet_dsn, [cleared1], lights)
    feed(fleet_dsn, [raised1])                         # the re-sent raised, after its cleared
    raised2 = m.fault("gw-00", "L-001-000", "cycling", t + timedelta(minutes=10))
    cleared2 = m.fault("gw-00", "L-001-000", "cycling", t + timedelta(minutes=15), "cleared")
    raised3 = m.fault("gw-00", "L-001-000", "cycling", t + timedelta(minutes=20))
    feed(fleet_dsn, [raised2, raised3])
    feed(fleet_dsn, [cleared2])                        # late: it closes raised2's, not raised3's
    rows = query(fleet_dsn, "SELECT device_id, kind, raised_seq, cleared_seq FROM faults "
                 "WHERE cleared_ts IS NULL ORDER BY device_id")
    assert [(r["device_id"], r["kind"]) for r in rows] == [("L-001-000", "cycling")]


COLUMNS_SQL = ("SELECT attname, format_type(atttypid, atttypmod) AS type FROM pg_attribute "
               "WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum")


def test_light_last_follows_telemetry_s_columns(fleet_dsn):
    def columns(table):
        return [(r["attname"], r["type"]) for r in query(fleet_dsn, COLUMNS_SQL, table)]
    assert columns("light_last") == columns("telemetry") + [("received_at",
                                                            "timestamp with time zone")]
    lights = grid(1, 1, gateways=1)
    m = Messages()
    t = NOW - timedelta(minutes=5)
    feed(fleet_dsn, [m.reading("gw-00", "L-000-000", t, energy=10)], lights)
    # a later migration adds a column to telemetry and calls the function, as 005 says
    query(fleet_dsn, "ALTER TABLE telemetry ADD COLUMN dim_level smallint")
    query(fleet_dsn, "SELECT light_last_follow_telemetry()")
    assert ("dim_level", "smallint") in columns("light_last")
    query(fleet_dsn, "INSERT INTO telemetry (gateway_id, device_id, seq, ts, quality, values, "
          "dim_level) VALUES ('gw-00', 'L-000-000', 99, $1, 'good', '{}', 40)",
          t + timedelta(minutes=1))
    last = _run(fleet_dsn, picture.last_readings)[("gw-00", "L-000-000")]
    assert (last["seq"], last["dim_level"], last["energy"]) == (99, 40, None)
    # a column telemetry drops no longer blocks the trigger; a type change must be decided
    query(fleet_dsn, "ALTER TABLE telemetry DROP COLUMN quality")
    query(fleet_dsn, "SELECT light_last_follow_telemetry()")
    query(fleet_dsn, "INSERT INTO telemetry (gateway_id, device_id, seq, ts, values) VALUES "
          "('gw-00', 'L-000-000', 100, $1, '{}')", t + timedelta(minutes=2))
    assert _run(fleet_dsn, picture.last_readings)[("gw-00", "L-000-000")]["seq"] == 100
    query(fleet_dsn, "ALTER TABLE telemetry ALTER COLUMN lamp_state TYPE integer")
    with pytest.raises(asyncpg.RaiseError, match="light_last.lamp_state is smallint"):
        query(fleet_dsn, "SELECT light_last_follow_telemetry()")
