"""The city's picture at city size: what keeping the newest reading per light costs the
ingest, how long lights.geojson / faults.geojson take for the whole city and for one
view (bbox, and whether PostgreSQL used the GiST index for it), how long clusters.geojson
takes at the map's zooms, and with --map what the map page in chromium fetches at the
city's zoom (clusters) and for a zoomed-in view (lights).

    .venv/bin/python bench/fleet_picture.py [--lights 50000] [--rounds 2] [--faults 500] [--map]

A private PostgreSQL 15 + PostGIS (fsync off, as in bench/fleet_ingest.py). Each round
commits one reading per light through BatchWriter in batches of 2,000, alternately with the
light_last trigger disabled and enabled; the figures are wall time per message and the
PostgreSQL backends' CPU per message.
"""

import argparse
import asyncio
import gzip
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


from agent.fleet import clusters, db, picture  # noqa: E402
from agent.fleet.decode import decode  # noqa: E402
from agent.fleet.geo import Query  # noqa: E402
from agent.fleet.localdb import LocalPostgres  # noqa: E402
from agent.fleet.registry import import_lights  # noqa: E402
from agent.fleet.writer import BatchWriter  # noqa: E402
from bench.fleet_ingest import cpu_seconds  # noqa: E402

BATCH = 2000
PER_GATEWAY = 50


def city(n: int) -> list[tuple]:
    side = int(n ** 0.5) + 1
    return [(f"gw-{i // PER_GATEWAY:05d}", f"L-{i % PER_GATEWAY:02d}", f"P-{i}",
             f"group-{i % 40}", f"office-{i % 5}", 106.55 + (i % side) * 0.0004,
             -6.25 + (i // side) * 0.0004) for i in range(n)]


def readings(lights: list[tuple], round_no: int, now: datetime) -> list:
    ts = int((now - timedelta(minutes=5) + timedelta(seconds=round_no)).timestamp() * 1000)
    return [decode(f"city/lighting/{gw}/telemetry/{dev}", json.dumps(
        {"ts": ts, "seq": round_no * PER_GATEWAY + int(dev[2:]) + 1, "quality": "good",
         "values": {"power": 90.0, "energy": 1000.0 + round_no, "lamp_state": 1}}).encode())
        for gw, dev, *_ in lights]


async def commit_round(conn, server_pid: int, records: list) -> tuple[float, float]:
    writer = BatchWriter(conn)
    await writer.write(records[:BATCH])            # the day's partition, outside the timing
    cpu0, t0 = cpu_seconds(server_pid, children_of=True), time.perf_counter()
    for i in range(BATCH, len(records), BATCH):
        await writer.write(records[i:i + BATCH])
    wall = time.perf_counter() - t0
    n = len(records) - BATCH
    return wall / n * 1e6, (cpu_seconds(server_pid, children_of=True) - cpu0) / n * 1e6


async def main(args, server: LocalPostgres) -> None:
    conn = await db.connect(server.dsn)
    await db.migrate(conn)
    lights = city(args.lights)
    await import_lights(conn, lights)
    now = datetime.now(timezone.utc)
    pid = server.proc.pid
    figures = {"off": [], "on": []}
    for r in range(2 * args.rounds):
        mode = "off" if r % 2 == 0 else "on"
        await conn.execute(f"ALTER TABLE telemetry {'ENABLE' if mode == 'on' else 'DISABLE'}"
                           " TRIGGER telemetry_light_last")
        figures[mode].append(await commit_round(conn, pid, readings(lights, r, now)))
    for mode, runs in figures.items():
        print(f"light_last trigger {mode}: " + ", ".join(
            f"{w:.1f} us wall / {c:.1f} us PostgreSQL CPU per message" for w, c in runs))
    await conn.execute("ALTER TABLE telemetry ENABLE TRIGGER telemetry_light_last")
    events = [decode(f"city/lighting/{gw}/events/{dev}", json.dumps(
        {"ts": int(now.timestamp() * 1000), "seq": 10**6 + i, "event": "lampFailure",
         "state": "raised"}).encode()) for i, (gw, dev, *_) in
        enumerate(lights[::max(1, len(lights) // args.faults)][:args.faults])]
    await BatchWriter(conn).write(events + readings(lights, 99, now))
    for name, job, q in (("lights.geojson, whole city", picture.lights, Query()),
                         ("faults.geojson, whole city", picture.faults, Query()),
                         ("lights.geojson, 1/100 of the city", picture.lights,
                          Query(bbox=(106.55, -6.25, 106.559, -6.241)))):
        times, size = [], 0
        for _ in range(3):
            t0 = time.perf_counter()
            text = await job(conn, q, now, timedelta(minutes=15))
            times.append(time.perf_counter() - t0)
            size, doc = len(text), json.loads(text)
        gzipped = len(gzip.compress(text.encode(), 6))
        print(f"{name}: {len(doc['features'])} features, {size / 1e6:.1f} MB "
              f"({gzipped / 1e6:.1f} MB gzipped), "
              f"median {statistics.median(times) * 1000:.0f} ms (query and GeoJSON text)")
    await conn.execute("ANALYZE lights")
    await time_clusters(conn, lights, now)
    plan = "\n".join(r[0] for r in await conn.fetch(
        "EXPLAIN " + picture.LIGHTS_SQL, 106.55, -6.25, 106.559, -6.241, None, None, 100_001,
        now, timedelta(minutes=15)))
    used = [line.strip() for line in plan.splitlines() if "lights_geom" in line]
    print("bbox plan: " + (used[0] if used else "the GiST index lights_geom is NOT used:\n"
                           + plan))
    await conn.close()


async def time_clusters(conn, lights: list[tuple], now: datetime) -> None:
    """clusters.geojson: the whole city at the zoom the page fits it at, around it and at 0, the
    page's padded view at zoom 15 (its last zoom of clusters), and zoom 22 (a cluster per
    light: the worst case the API allows)."""
    lons, lats = [r[5] for r in lights], [r[6] for r in lights]
    mid_lon, mid_lat = statistics.median(lons), statistics.median(lats)
    # a 1200 x 800 view at zoom 15, padded by half a view each side: 2400 x 1600 pixels
    half_lon = 1200 / 256 / 2 ** 15 * 360
    half_lat = half_lon * 800 / 1200      # near the equator degrees of lat ~ degrees of lon
    view = (mid_lon - half_lon, mid_lat - half_lat, mid_lon + half_lon, mid_lat + half_lat)
    for name, q in (("whole city, zoom 0 (the page's first request: the extent)",
                     Query(zoom=0)),
                    ("whole city, zoom 10", Query(zoom=10)),
                    ("whole city, zoom 12 (the page's fit at 1200 x 800)", Query(zoom=12)),
                    ("whole city, zoom 13", Query(zoom=13)),
                    ("padded view, zoom 15", Query(zoom=15, bbox=view)),
                    ("whole city, zoom 22", Query(zoom=22))):
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            text = await clusters.clusters(conn, q, now, timedelta(minutes=15))
            times.append(time.perf_counter() - t0)
        doc = json.loads(text)
        counted = sum(f["properties"]["count"] for f in doc["features"])
        print(f"clusters.geojson, {name}: {len(doc['features'])} clusters of {counted} "
              f"lights, {len(text) / 1e3:.0f} kB, median {statistics.median(times) * 1000:.0f}"
              f" ms of 5 (min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f})")


def map_page(dsn: str) -> str:
    """Seconds from opening the map page in Debian's chromium to its first drawing, against
    `lentera fleet serve`, and the clusters drawn at the city's zoom."""
    from pathlib import Path as _Path
    from playwright.sync_api import sync_playwright

    from tests.agent.fleet.city import log_in, serving
    from tests.support.console import launch
    log = _Path(tempfile.mkdtemp(prefix="lentera-bench-")) / "serve.log"
    with serving(dsn, log) as url, sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        log_in(page, url)
        page.wait_for_selector("#map[data-ready='1']", timeout=120_000)
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            page.goto(url + "/")
            page.wait_for_selector("#map[data-ready='1']", timeout=120_000)
            times.append(time.perf_counter() - t0)
        drawn = page.get_attribute("#map", "data-clusters")
        fit = page.get_attribute("#map", "data-zoom")
        t0 = time.perf_counter()
        page.click("#zoom-in")
        redraw = time.perf_counter() - t0
        answers = []
        page.on("response", lambda r: answers.append(r)
                if "lights.geojson?bbox=" in r.url else None)
        t0 = time.perf_counter()
        for _ in range(3):      # zoomed in 4 levels, past CLUSTER_BELOW: lights by bbox
            page.click("#zoom-in")
        page.wait_for_selector("#map[data-mode='lights']", timeout=60_000)
        view = time.perf_counter() - t0
        features = page.get_attribute("#map", "data-features")
        zoom = page.get_attribute("#map", "data-zoom")
        # as sent: the body's length, or the compressed length the server announced
        kb = sum(int(r.headers.get("content-length") or len(r.body())) for r in answers) / 1e3
        fetch_ms = answers[-1].request.timing["responseEnd"]     # from the request's start
        browser.close()
    return (f"map page: drawn {statistics.median(times):.2f} s after opening (median of 3: "
            f"the extent, then the clusters of the view, fetched and drawn), {drawn} "
            f"clusters at the city's zoom {fit}; a zoom click redraws in "
            f"{redraw * 1000:.0f} ms; zoomed in to {zoom}: the page asked for its view's "
            f"lights, {features} lights, {kb:.0f} kB as sent in {fetch_ms:.0f} ms; "
            f"{view * 1000:.0f} ms from the first of 3 zoom clicks to that view drawn (the "
            "page waits 250 ms for the view to settle)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lights", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--faults", type=int, default=500)
    parser.add_argument("--map", action="store_true",
                        help="also time the map page in Debian's chromium")
    options = parser.parse_args()
    if options.lights <= 2 * BATCH:
        parser.error(f"--lights must be over {2 * BATCH} (one batch is kept out of the timing)")
    pg = LocalPostgres().start()
    try:
        asyncio.run(main(options, pg))
        if options.map:
            print(map_page(pg.dsn))
    finally:
        pg.remove()
