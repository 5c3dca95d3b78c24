"""`lentera-fleet command` end to end: a real agent (`lentera run`, simulated controllers,
its own command key) verifies the city's signatures; a light, a group and a polygon are
addressed from the registry (PostGIS), and commands and acks are recorded."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agent.fleet.commands import CommandError, polygon_geometry
from tests.agent.fleet.conftest import query
from tests.support.gateway_files import write_gateway, write_key

REPO = Path(__file__).resolve().parents[3]
GW = "test-gw"
# L-001, L-002 (group north) near the gateway; L-003, L-004 (group south) 1 km south
POSITIONS = {"L-001": (106.6320, -6.1780), "L-002": (106.6322, -6.1780),
             "L-003": (106.6320, -6.1870), "L-004": (106.6322, -6.1870)}
SOUTH = {"type": "Polygon", "coordinates": [[[106.631, -6.190], [106.634, -6.190],
                                             [106.634, -6.185], [106.631, -6.185],
                                             [106.631, -6.190]]]}


def fleet(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "agent.fleet.cli", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def city(tmp_path, broker, fleet_dsn, site_factory, agent_factory, subscriber_factory):
    """A running agent with 4 lights and a key; the same lights in the city's registry."""
    site = site_factory(4)
    write_key(tmp_path / "cmd.key")
    config = write_gateway(tmp_path / "gw.yaml", broker.url, site.port, 4, clock="assume",
                           extra="commands: {key_file: cmd.key}\n"
                                 "groups: {north: [L-001, L-002], south: [L-003, L-004]}\n")
    status = subscriber_factory(broker.port, f"city/lighting/{GW}/status")
    agent = agent_factory(config)
    status.wait_for(lambda m: any(p.get("state") == "online" for _t, p, _r in m
                                  if isinstance(p, dict)), 30, "the agent online")
    query(fleet_dsn, "INSERT INTO gateways (id) VALUES ($1)", GW)
    for dev, (lon, lat) in POSITIONS.items():
        query(fleet_dsn, "INSERT INTO lights (gateway_id, device_id, pole_id, grp, geom) VALUES "
              "($1, $2, $3, $4, ST_SetSRID(ST_MakePoint($5, $6), 4326)::geography)", GW, dev,
              f"P-{dev}", "north" if dev in ("L-001", "L-002") else "south", lon, lat)
    return {"dsn": fleet_dsn, "broker": broker.url, "key": str(tmp_path / "cmd.key"),
            "dir": tmp_path, "agent": agent}


def send(city, *args, key=None, timeout=20):
    return fleet("command", *args, "--db", city["dsn"], "--broker", city["broker"],
                 "--key-file", key or city["key"], "--timeout", str(timeout))


def test_a_light_a_group_and_a_polygon_are_commanded_signed_and_recorded(city):
    one = send(city, "switch", "--off", "--light", f"{GW}/L-001")
    assert one.returncode == 0, one.stdout + one.stderr
    assert "1 of 1 done" in one.stdout
    group = send(city, "dim", "--level", "40", "--group", "south", "--duration", "60")
    assert group.returncode == 0 and "1 of 1 done" in group.stdout, group.stdout + group.stderr
    area = send(city, "switch", "--on", "--polygon", json.dumps(SOUTH))
    assert area.returncode == 0 and "2 of 2 done" in area.stdout, area.stdout + area.stderr
    rows = query(city["dsn"], "SELECT id, target, kind, result, ack, payload, published_at "
                 "FROM commands ORDER BY issued_at, id")
    assert [(json.loads(r["target"]), r["result"]) for r in rows] == [
        ({"device": "L-001"}, "done"), ({"group": "south"}, "done"),
        ({"device": "L-003"}, "done"), ({"device": "L-004"}, "done")]
    group_ack = json.loads(rows[1]["ack"])
    assert sorted(group_ack["details"]["devices"]) == ["L-003", "L-004"]
    assert all(r["published_at"] is not None for r in rows)
    signed = json.loads(rows[0]["payload"])        # the very string the gateway verified
    assert signed["gateway"] == GW and signed["on"] is False and signed["id"] == rows[0]["id"]


def test_a_wrong_key_is_refused_an_unknown_gateway_unheard_and_a_silent_one_timed_out(city):
    wrong = city["dir"] / "wrong.key"
    wrong.write_text("ab" * 32 + "\n")
    refused = send(city, "switch", "--off", "--pole", "P-L-002", key=str(wrong))
    assert refused.returncode == 1
    assert "refused (signature" in refused.stdout, refused.stdout + refused.stderr
    query(city["dsn"], "INSERT INTO gateways (id) VALUES ('gw-gone')")
    query(city["dsn"], "INSERT INTO lights (gateway_id, device_id) VALUES ('gw-gone', 'L-1')")
    gone = send(city, "switch", "--off", "--light", "gw-gone/L-1", timeout=5)
    assert gone.returncode == 1 and "not_delivered" in gone.stdout, gone.stdout + gone.stderr
    city["agent"].kill()               # its session keeps the cmd subscription: queued, silent
    silent = send(city, "switch", "--off", "--light", f"{GW}/L-001", timeout=1)
    assert silent.returncode == 1 and "no_ack" in silent.stdout, silent.stdout + silent.stderr
    rows = query(city["dsn"], "SELECT gateway_id, result, reason, published_at FROM commands "
                 "ORDER BY issued_at")
    assert [(r["gateway_id"], r["result"], r["published_at"] is not None) for r in rows] == [
        (GW, "refused", True), ("gw-gone", "not_delivered", False), (GW, None, True)]
    assert rows[0]["reason"].startswith("signature")
    assert "PUBACK said" in rows[1]["reason"]      # recorded, not left NULL for ever (review)


def test_addresses_that_find_nothing_are_named(city):
    nobody = send(city, "switch", "--off", "--group", "west")
    assert nobody.returncode == 1 and "no light in group west" in nobody.stderr
    outside = send(city, "switch", "--off", "--polygon", json.dumps(
        {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}))
    assert "no light with a position within the polygon" in outside.stderr, outside.stderr
    with pytest.raises(CommandError, match="Polygon"):
        polygon_geometry(json.dumps({"type": "Point", "coordinates": [0, 0]}))
    assert query(city["dsn"], "SELECT count(*) AS n FROM commands")[0]["n"] == 0


INJECTIONS = ["x'; DROP TABLE lights; --", "gw/L' OR '1'='1", "north\" OR 1=1 --", "%", "_"]


def test_addresses_are_parameterised(fleet_dsn):
    """Injection strings through every text address: nothing found, nothing dropped."""
    import asyncio

    from agent.fleet.commands import addressees
    from agent.fleet.db import connect
    query(fleet_dsn, "INSERT INTO gateways (id) VALUES ('gw')")
    query(fleet_dsn, "INSERT INTO lights (gateway_id, device_id, pole_id, grp) VALUES "
          "('gw', 'L', 'P', 'north')")

    async def go():
        conn = await connect(fleet_dsn)
        try:
            for text in INJECTIONS:
                for field in ("light", "pole", "group"):
                    with pytest.raises(CommandError, match="no "):
                        await addressees(conn, **{field: text})
            with pytest.raises(CommandError):
                await addressees(conn, polygon=json.dumps(
                    {"type": "Polygon", "coordinates": "'); DROP TABLE lights; --"}))
        finally:
            await conn.close()
    asyncio.run(go())
    assert query(fleet_dsn, "SELECT count(*) AS n FROM lights")[0]["n"] == 1


def test_a_polygon_file_that_cannot_be_read_is_named(tmp_path):
    out = fleet("command", "switch", "--off", "--polygon", f"@{tmp_path}/none.geojson",
                "--db", "postgresql://nobody@127.0.0.1:1/none", "--key-file", "k")
    assert out.returncode == 2 and "cannot read" in out.stderr and "Traceback" not in out.stderr


def test_waves_hold_at_most_a_gateway_queue_each():
    from agent.fleet.commands import GATEWAY_QUEUE, waves
    from agent.uplink.commands import QUEUE_MAX
    assert GATEWAY_QUEUE == QUEUE_MAX                 # the fleet's copy follows the gateway
    commands = [{"id": f"a.{i}", "gateway": "a"} for i in range(70)] + \
        [{"id": f"b.{i}", "gateway": "b"} for i in range(5)]
    got = waves(commands)
    assert [len(w) for w in got] == [32 + 5, 32, 6]
    assert [c["id"] for w in got for c in w if c["gateway"] == "a"] == \
        [f"a.{i}" for i in range(70)]                 # in order, none lost or repeated


@pytest.fixture
def forty(tmp_path, broker, fleet_dsn, site_factory, agent_factory, subscriber_factory):
    """A running agent with 40 lights, all of them within one polygon of the registry."""
    site = site_factory(40)
    write_key(tmp_path / "cmd.key")
    config = write_gateway(tmp_path / "gw.yaml", broker.url, site.port, 40, clock="assume",
                           extra="commands: {key_file: cmd.key}\n")
    status = subscriber_factory(broker.port, f"city/lighting/{GW}/status")
    agent = agent_factory(config)
    status.wait_for(lambda m: any(p.get("state") == "online" for _t, p, _r in m
                                  if isinstance(p, dict)), 30, "the agent online")
    query(fleet_dsn, "INSERT INTO gateways (id) VALUES ($1)", GW)
    for i in range(1, 41):
        query(fleet_dsn, "INSERT INTO lights (gateway_id, device_id, geom) VALUES ($1, $2, "
              "ST_SetSRID(ST_MakePoint($3, -6.2), 4326))", GW, f"L-{i:03}", 106.6 + i * 1e-4)
    return {"dsn": fleet_dsn, "broker": broker.url, "key": str(tmp_path / "cmd.key"),
            "agent": agent}


AREA = json.dumps({"type": "Polygon", "coordinates": [[[106.5, -6.3], [106.7, -6.3],
                                                        [106.7, -6.1], [106.5, -6.1],
                                                        [106.5, -6.3]]]})


def test_a_polygon_past_the_gateway_queue_goes_in_paced_waves_and_all_are_done(forty):
    """Before: a polygon with more than 32 lights behind one gateway was refused (and before
    that, sent at once: 8 "busy"). Now 32, their acks, then the other 8: all 40 done."""
    out = send(forty, "switch", "--off", "--polygon", AREA, timeout=30)
    assert out.returncode == 0 and "40 of 40 done" in out.stdout, out.stdout + out.stderr
    rows = query(forty["dsn"], "SELECT result, reason, ack FROM commands")
    assert len(rows) == 40 and {r["result"] for r in rows} == {"done"}
    forty["agent"].kill()              # its session keeps the cmd subscription: silent
    silent = send(forty, "switch", "--on", "--polygon", AREA, timeout=1)
    assert silent.returncode == 1, silent.stdout + silent.stderr
    rows = query(forty["dsn"], "SELECT result, reason, published_at FROM commands "
                 "WHERE result IS DISTINCT FROM 'done'")
    # the first wave went out and went unanswered; the second was held back, never sent
    assert sorted((r["result"] or "-", r["published_at"] is not None) for r in rows) == \
        [("-", True)] * 32 + [("held_back", False)] * 8
    assert "did not answer every command of wave 1" in silent.stdout
