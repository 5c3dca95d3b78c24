"""clusters.geojson (agent/fleet/clusters.py) on the real PostgreSQL + PostGIS: two towns of
3,200 lights fed through the ingest's own path. At a low zoom a few clusters whose counts add
up to the lights in the box and whose fault counts add up to the lights with an open fault;
zoomed in, every light its own cluster at its own point; bad zoom or bbox is a 400 naming
the parameter."""

import asyncio
import json
from datetime import timedelta

import asyncpg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.fleet import clusters, picture
from agent.fleet.geo import MAX_ZOOM, Query, QueryError, parse_query
from tests.agent.fleet.city import Messages, feed, utc
from tests.agent.fleet.test_http import api_call
from tests.agent.fleet.test_picture import check_rfc7946

NOW = utc(2026, 12, 1, 14, 0)
AFTER = timedelta(minutes=15)
# Tangerang and Bekasi, ~40 km apart; lights 0.0005 degrees (~55 m) apart
TOWNS = {"tng": (106.6320, -6.1780, 50, 40), "bks": (106.9900, -6.2400, 40, 30)}
KINDS = ("lampFailure", "dayBurning", "cycling", "activePowerTooHigh")


def _towns() -> dict:
    """{(gateway, device): (lon, lat)} of the registry's placed lights."""
    lights = {}
    for town, (lon0, lat0, columns, rows) in TOWNS.items():
        for c in range(columns):
            for r in range(rows):
                lights[(f"{town}-gw-{c // 10}", f"L-{c:03d}-{r:03d}")] = \
                    (round(lon0 + c * 0.0005, 7), round(lat0 + r * 0.0005, 7))
    return lights


def feed_towns(dsn: str, now=NOW) -> dict:
    """Feed the towns as at `now`; {(gateway, device): (lon, lat, state)}, state as the page
    ranks it (communication: older than 15 minutes at `now`)."""
    placed = _towns()
    rows = [(gw, dev, f"P-{gw}-{dev}", "north" if int(dev[6:]) >= 20 else "south",
             f"office-{gw[:3]}", lon, lat) for (gw, dev), (lon, lat) in placed.items()]
    rows.append(("tng-gw-0", "L-unplaced", "P-X", "south", "office-tng", None, None))
    m, msgs, states = Messages(), [], {}
    for i, (gw, dev) in enumerate(sorted(placed)):
        if i % 97 == 5:                          # never reported: no reading, no fault
            states[(gw, dev)] = "never_reported"
            continue
        late = i % 61 == 7                       # communication: its reading is an hour old
        msgs.append(m.reading(gw, dev, now - timedelta(hours=1 if late else 0, minutes=1)))
        states[(gw, dev)] = "communication" if late else "ok"
        if i % 37 == 3:
            kind = KINDS[i % len(KINDS)]
            msgs.append(m.fault(gw, dev, kind, now - timedelta(minutes=30)))
            states[(gw, dev)] = kind if kind != "activePowerTooHigh" else "fault"
        elif i % 53 == 11:                       # raised and cleared: not open
            msgs.append(m.fault(gw, dev, "cycling", now - timedelta(hours=3)))
            msgs.append(m.fault(gw, dev, "cycling", now - timedelta(hours=2), "cleared"))
    msgs += [m.status(gw, now) for gw in sorted({gw for gw, _ in placed})]
    feed(dsn, msgs, rows)
    return {key: (*placed[key], states[key]) for key in placed}


@pytest.fixture
def city(fleet_dsn) -> dict:
    return feed_towns(fleet_dsn)


def _clusters(dsn: str, **query) -> dict:
    async def go():
        conn = await asyncpg.connect(dsn)
        try:
            return await clusters.clusters(conn, Query(**query), NOW, AFTER)
        finally:
            await conn.close()
    doc = json.loads(asyncio.run(go()))
    check_rfc7946(doc)
    return doc


def _faulty(state: str) -> bool:
    return state not in ("ok", "never_reported")


def _within(city: dict, box) -> dict:
    return {k: v for k, v in city.items()
            if box[0] <= v[0] <= box[2] and box[1] <= v[1] <= box[3]}


def _sums(doc: dict) -> tuple[int, int]:
    props = [f["properties"] for f in doc["features"]]
    for p in props:            # a cluster's states add up to it
        assert sum(p["states"].values()) == p["count"], p
    return sum(p["count"] for p in props), sum(p["faults"] for p in props)


def test_at_a_low_zoom_a_few_clusters_add_up_to_the_city(fleet_dsn, city):
    faulty = sum(_faulty(v[2]) for v in city.values())
    assert len(city) == 3200 and faulty > 100         # the fixture made what we count on
    # the same faults as lights.geojson says (its `state` is "fault" for any open kind)
    lights = json.loads(asyncio.run(_lights(fleet_dsn)))
    assert sum(f["properties"]["state"] == "fault" for f in lights["features"]) == faulty

    doc = _clusters(fleet_dsn, zoom=8)
    assert 2 <= len(doc["features"]) <= 4, doc["features"]
    assert _sums(doc) == (3200, faulty)        # the unplaced light is in no cell
    assert doc["bbox"] == [106.632, -6.24, 107.0095, -6.1585]
    assert "lampFailure" in {f["properties"]["worst"] for f in doc["features"]}

    # one town by bbox, at the zoom that fits it on a page: still few, still adding up
    box = (106.6, -6.2, 106.7, -6.1)
    doc = _clusters(fleet_dsn, zoom=12, bbox=box)
    town = _within(city, box)
    assert len(town) == 2000 and 1 <= len(doc["features"]) <= 12, len(doc["features"])
    assert _sums(doc) == (2000, sum(_faulty(v[2]) for v in town.values()))
    for f in doc["features"]:                  # each centroid is in the town it counts
        lon, lat = f["geometry"]["coordinates"]
        assert 106.632 <= lon <= 106.6565 and -6.178 <= lat <= -6.1585


def test_a_box_cutting_through_a_town_counts_the_lights_inside_it(fleet_dsn, city):
    box = (106.6401, -6.1702, 106.6503, -6.1651)       # 20 x 10 lights of Tangerang
    inside = _within(city, box)
    for zoom in (10, 14, 16):
        doc = _clusters(fleet_dsn, zoom=zoom, bbox=box)
        assert _sums(doc) == (len(inside), sum(_faulty(v[2]) for v in inside.values())), zoom
    assert len(inside) == 200
    # the group filter is the same as lights.geojson's
    north = {k: v for k, v in inside.items() if int(k[1][6:]) >= 20}
    assert 0 < len(north) < len(inside)
    assert _sums(_clusters(fleet_dsn, zoom=14, bbox=box, group="north"))[0] == len(north)


def test_zoomed_in_every_light_is_its_own_cluster_at_its_point(fleet_dsn, city):
    box = (106.6401, -6.1702, 106.6503, -6.1651)
    inside = _within(city, box)
    doc = _clusters(fleet_dsn, zoom=22, bbox=box)
    got = sorted((tuple(f["geometry"]["coordinates"]), f["properties"]["worst"],
                  f["properties"]["count"]) for f in doc["features"])
    assert got == sorted(((lon, lat), state, 1) for lon, lat, state in inside.values())
    # zoom 17's cells (44 px: 52.5 m) are already smaller than the 55 m between poles
    assert {f["properties"]["count"] for f in _clusters(fleet_dsn, zoom=17, bbox=box)
            ["features"]} == {1}


def test_the_endpoint_answers_geojson_and_refuses_bad_zoom_or_bbox(fleet_dsn, city):
    bad = [({"bbox": "106.6,-6.2,106.7,-6.1"}, "zoom"),        # zoom is required
           ({"zoom": ""}, "zoom"), ({"zoom": "-1"}, "zoom"), ({"zoom": "23"}, "zoom"),
           ({"zoom": "1.5"}, "zoom"), ({"zoom": "twelve"}, "zoom"), ({"zoom": "\u00b2"}, "zoom"),
           ({"zoom": " 7"}, "zoom"), ({"zoom": "1" * 5000}, "zoom"),
           ([("zoom", "3"), ("zoom", "4")], "zoom"),
           ({"zoom": "8", "bbox": "1,2,3"}, "bbox"),
           ({"zoom": "8", "bbox": "-6.2,106.6,-6.1,106.7"}, "bbox"),  # lat,lon order
           ({"zoom": "8", "bbox": "106.7,-6.2,106.6,-6.1"}, "bbox"),  # west > east
           ({"zoom": "8", "bbox": "nan,0,1,1"}, "bbox"),
           ({"zoom": "8", "limit": "5"}, "limit"), ({"zoom": "8", "kind": "cycling"}, "kind")]
    answers = api_call(fleet_dsn, [("GET", "/api/clusters.geojson", {"zoom": "8"})]
                       + [("GET", "/api/clusters.geojson", params) for params, _ in bad])
    status, ctype, doc = answers[0]
    assert (status, ctype) == (200, "application/geo+json")
    check_rfc7946(doc)
    assert sum(f["properties"]["count"] for f in doc["features"]) == 3200
    for (params, param), (status, ctype, body) in zip(bad, answers[1:]):
        assert (status, ctype, body["param"]) == (400, "application/json", param), params
        assert body["error"].startswith(param + ": ")
    assert "a whole number 0..22" in answers[3][2]["error"]
    assert "required" in answers[1][2]["error"]


async def _lights(dsn: str) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        return await picture.lights(conn, Query(), NOW, AFTER)
    finally:
        await conn.close()


ZOOMISH = st.one_of(st.integers(-5, 40).map(str), st.text(max_size=6),
                    st.sampled_from(["\u00b2", "\u0667", "+7", " 7", "7 ", "07", "1e1", "0x10"]))


@given(st.lists(st.tuples(st.sampled_from(["zoom", "bbox", "group", "office", "limit"]),
                          ZOOMISH), max_size=4))
def test_the_clusters_query_check_lets_out_only_a_query_error(items):
    """Whatever the query string, parse_query answers a checked Query or QueryError (a
    400), never another exception (a 500); a zoom it accepts is 0..MAX_ZOOM."""
    try:
        q = parse_query("clusters", items)
    except QueryError as exc:
        assert exc.param in {"zoom", "bbox", "group", "office", "limit"}
        return
    assert isinstance(q.zoom, int) and 0 <= q.zoom <= MAX_ZOOM
    assert dict(items)["zoom"] == str(q.zoom) or dict(items)["zoom"] == f"0{q.zoom}"
