"""The city's HTTP API (agent/fleet/http.py) on a real port over the real PostgreSQL: GeoJSON
answers, JSON errors for every kind of bad input, injection strings through every text
parameter, 503 when the database goes away."""

import asyncio
import socket
import subprocess
import sys
from datetime import timedelta

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from agent.fleet import picture
from agent.fleet.access import AccessFile, Gate
from agent.fleet.http import FleetApi
from tests.agent.fleet.city import Messages, feed, grid, utc
from tests.agent.fleet.conftest import REPO, query
from tests.agent.fleet.test_picture import check_rfc7946
from tests.support.broker import free_port

NOW = utc(2026, 12, 1, 14, 0)
ODD_GROUP = "o'brien\"; DROP TABLE lights; --"
INJECTIONS = ["' OR '1'='1", "'; DROP TABLE lights; --", "\" OR 1=1 --", "x' UNION SELECT "
              "id, id, id FROM gateways --", "$1", "%' OR ''='", "\\'; SELECT pg_sleep(5); --",
              "1; DELETE FROM faults", ODD_GROUP, "north' --", "ñ'‮;--"]


def _city(dsn):
    lights = grid(3, 2, gateways=1)
    lights.append(("gw-00", "L-odd", "TNG-ODD", ODD_GROUP, "office-0", 106.64, -6.17))
    m = Messages()
    msgs = [m.status("gw-00", NOW)]
    msgs += [m.reading("gw-00", light[1], NOW - timedelta(minutes=1)) for light in lights]
    msgs.append(m.fault("gw-00", "L-000-000", "lampFailure", NOW - timedelta(minutes=9)))
    msgs.append(m.fault("gw-00", "L-odd", "cycling", NOW - timedelta(minutes=8)))
    feed(dsn, msgs, lights)
    return lights


def gate_and_token() -> tuple[Gate, dict]:
    """A log-in gate over a fresh access file holding one GIS token; the header to send."""
    import tempfile
    from pathlib import Path
    access = AccessFile(Path(tempfile.mkdtemp(prefix="fleet-access-")) / "access.json")
    token = access.add_token("gis")
    return Gate(access), {"Authorization": f"Bearer {token}"}


def access_args() -> list[str]:
    """`--access FILE` of a file with one token, for `serve` in a process of its own."""
    gate, _auth = gate_and_token()
    return ["--access", str(gate.access.path)]


def api_call(dsn, requests, now=NOW):
    """Start the API on a free port, make each (method, path) request, stop; [(status,
    content type, body as JSON or None)]."""
    async def go():
        pool = await picture.open_pool(dsn)
        gate, auth = gate_and_token()
        runner = web.AppRunner(FleetApi(pool, timedelta(minutes=15), "Asia/Jakarta", gate,
                                        lambda: now).app())
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        answers = []
        try:
            async with aiohttp.ClientSession(f"http://127.0.0.1:{port}",
                                             headers=auth) as session:
                for method, path, params in requests:
                    async with session.request(method, path, params=params) as r:
                        body = await r.json(content_type=None) if r.content_type.endswith(
                            "json") else None
                        answers.append((r.status, r.content_type, body))
        finally:
            await runner.cleanup()
            await pool.close()
        return answers
    return asyncio.run(go())


def test_both_geojson_endpoints_answer_rfc7946(fleet_dsn):
    _city(fleet_dsn)
    (s1, t1, lights), (s2, t2, faults), (s3, _, energy) = api_call(fleet_dsn, [
        ("GET", "/api/lights.geojson", None),
        ("GET", "/api/faults.geojson", {"bbox": "106.5,-6.3,106.7,-6.0", "kind": "lampFailure"}),
        ("GET", "/api/energy.json", {"from": "2026-11-30", "to": "2026-12-01"})])
    assert (s1, t1, s2, t2, s3) == (200, "application/geo+json", 200, "application/geo+json",
                                    200)
    check_rfc7946(lights)
    check_rfc7946(faults)
    assert len(lights["features"]) == 7
    assert [f["properties"]["device"] for f in faults["features"]] == ["L-000-000"]
    assert faults["features"][0]["geometry"]["coordinates"] == [106.632, -6.178]
    assert energy["unit"] == "Wh" and energy["timezone"] == "Asia/Jakarta"


@pytest.mark.parametrize("path, params, status, param", [
    ("/api/lights.geojson", {"bbox": "1,2,3"}, 400, "bbox"),
    ("/api/lights.geojson", {"bbox": "a,b,c,d"}, 400, "bbox"),
    ("/api/lights.geojson", {"bbox": "nan,0,1,1"}, 400, "bbox"),
    ("/api/lights.geojson", {"bbox": "-6.2,106.6,-6.1,106.7"}, 400, "bbox"),   # lat,lon order
    ("/api/lights.geojson", {"bbox": "106.7,-6.2,106.6,-6.1"}, 400, "bbox"),   # west > east
    ("/api/lights.geojson", {"limit": "0"}, 400, "limit"),
    ("/api/lights.geojson", {"limit": "1e9"}, 400, "limit"),
    ("/api/lights.geojson", {"limit": "9999999"}, 400, "limit"),
    ("/api/lights.geojson", {"limit": "\u00b2"}, 400, "limit"),     # isdigit(), not int(): a 500
    ("/api/lights.geojson", {"limit": "1" * 5000}, 400, "limit"),
    ("/api/lights.geojson", {"group": ""}, 400, "group"),
    ("/api/lights.geojson", {"group": "g" * 129}, 400, "group"),
    ("/api/lights.geojson", {"office": "a\x00b"}, 400, "office"),
    ("/api/lights.geojson", {"kind": "lampFailure"}, 400, "kind"),      # not a lights param
    ("/api/lights.geojson", {"colour": "red"}, 400, "colour"),
    ("/api/lights.geojson", [("group", "a"), ("group", "b")], 400, "group"),
    ("/api/faults.geojson", {"kind": "lampfailure"}, 400, "kind"),
    ("/api/energy.json", {"from": "2026-12-01"}, 400, "to"),
    ("/api/energy.json", {"from": "yesterday", "to": "2026-12-01"}, 400, "from"),
    ("/api/energy.json", {"from": "2026-12-02", "to": "2026-12-01"}, 400, "to"),
    ("/api/energy.json", {"from": "2020-01-01", "to": "2026-12-01"}, 400, "to"),
    ("/api/energy.json", [("from", "2026-12-01"), ("to", "2026-12-01"), ("to", "2026-12-02")],
     400, "to"),
    ("/api/energy.json", {"from": "2026-12-01", "to": "2026-12-01", "night": "1"}, 400,
     "night"),
    ("/api/nothing.geojson", None, 404, None),
])
def test_bad_input_gets_a_json_error_naming_the_parameter(fleet_dsn, path, params, status,
                                                          param):
    [(code, ctype, body)] = api_call(fleet_dsn, [("GET", path, params)])
    assert (code, ctype) == (status, "application/json")
    assert body["param"] == param and body["error"]


def test_a_post_gets_a_json_405(fleet_dsn):
    [(code, ctype, body)] = api_call(fleet_dsn, [("POST", "/api/lights.geojson", None)])
    assert (code, ctype) == (405, "application/json") and "GET /api/lights" in body["error"]


def test_injection_strings_through_every_text_parameter_are_only_data(fleet_dsn):
    _city(fleet_dsn)
    before = query(fleet_dsn, "SELECT (SELECT count(*) FROM lights) AS l, "
                   "(SELECT count(*) FROM faults) AS f, (SELECT count(*) FROM gateways) AS g")
    requests = []
    for text in INJECTIONS:
        for name in ("group", "office", "bbox", "limit"):
            requests.append(("GET", "/api/lights.geojson", {name: text}))
        for name in ("group", "office", "kind", "bbox", "limit"):
            requests.append(("GET", "/api/faults.geojson", {name: text}))
        for name in ("group", "office", "bbox", "zoom"):
            requests.append(("GET", "/api/clusters.geojson", {"zoom": "8", name: text}))
        for name in ("from", "to", "group"):
            params = {"from": "2026-12-01", "to": "2026-12-01", name: text}
            requests.append(("GET", "/api/energy.json", params))
    answers = api_call(fleet_dsn, requests)
    for (_, path, params), (status, ctype, body) in zip(requests, answers):
        assert status in (200, 400), (path, params, status, body)
        assert ctype in ("application/json", "application/geo+json")
        odd = params.get("group") == ODD_GROUP
        if status == 200 and path == "/api/clusters.geojson":
            assert sum(f["properties"]["count"] for f in body["features"]) == odd, params
        elif status == 200 and path != "/api/energy.json":
            # only the light whose group is literally that text matches it
            found = {f["properties"]["device"] for f in body["features"]}
            assert found == ({"L-odd"} if odd else set()), (params, found)
    assert query(fleet_dsn, "SELECT (SELECT count(*) FROM lights) AS l, "
                 "(SELECT count(*) FROM faults) AS f, "
                 "(SELECT count(*) FROM gateways) AS g") == before


def test_a_database_gone_away_is_a_503_that_says_what_to_do(fleet_dsn, postgres):
    name = fleet_dsn.rsplit("/", 1)[1]

    async def go():
        pool = await picture.open_pool(fleet_dsn)
        gate, auth = gate_and_token()
        api = FleetApi(pool, timedelta(minutes=15), "Asia/Jakarta", gate, lambda: NOW)
        admin = await asyncpg.connect(postgres.dsn)
        await admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
        await admin.close()
        runner = web.AppRunner(api.app())
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            async with aiohttp.ClientSession(headers=auth) as session:
                url = f"http://127.0.0.1:{port}/api/lights.geojson"
                async with session.get(url) as r:
                    return r.status, await r.json()
        finally:
            await runner.cleanup()
            pool.terminate()
    status, body = asyncio.run(go())
    assert status == 503
    assert "database" in body["error"] and "PostgreSQL is up" in body["error"]


@pytest.mark.parametrize("args, message", [
    (["--timezone", "Mars/Olympus"], "not a zone PostgreSQL knows"),
    (["--comm-after", "0"], "--comm-after"),
    (["--listen", "8480"], "expected HOST:PORT"),
    (["--listen", "127.0.0.1:99999"], "expected HOST:PORT"),
])
def test_serve_refuses_a_bad_start_with_the_reason(fleet_dsn, args, message):
    if "--listen" not in args:
        args = ["--listen", f"127.0.0.1:{free_port()}", *args]
    done = subprocess.run([sys.executable, "-m", "agent.fleet.cli", "serve", "--db", fleet_dsn,
                           *args, *access_args()], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and message in done.stderr, done.stderr


def test_serve_on_a_port_in_use_says_so(fleet_dsn):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "agent.fleet.cli", "serve", "--db",
                               fleet_dsn, "--listen", f"127.0.0.1:{port}", *access_args()],
                              cwd=REPO,
                              capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "another server on that port" in done.stderr, done.stderr


def test_serve_without_a_database_says_which_and_what_to_check():
    dsn = f"postgresql://lentera@127.0.0.1:{free_port()}/lentera"     # nothing listens
    done = subprocess.run([sys.executable, "-m", "agent.fleet.cli", "serve", "--db", dsn,
                           "--listen", f"127.0.0.1:{free_port()}", *access_args()], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "cannot reach the database" in done.stderr, done.stderr


def test_serve_without_a_login_or_a_token_refuses_to_start(fleet_dsn, tmp_path):
    done = subprocess.run([sys.executable, "-m", "agent.fleet.cli", "serve", "--db", fleet_dsn,
                           "--listen", f"127.0.0.1:{free_port()}", "--access",
                           str(tmp_path / "none.json")], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "nobody could see the map" in done.stderr, done.stderr
