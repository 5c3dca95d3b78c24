"""The city map page in Debian's headless Chromium against `lentera fleet serve` on the real
PostgreSQL + PostGIS: clusters at the city's zoom (made by PostgreSQL, clusters.geojson),
single lights when zoomed in (lights.geojson), each in its fault's colour, and not one
request leaving the server (no CDN, no tiles)."""

from datetime import datetime, timedelta, timezone

import pytest
from playwright.sync_api import sync_playwright

from tests.agent.fleet.city import Messages, feed, grid, log_in, serving
from tests.agent.fleet.test_clusters import feed_towns
from tests.support.console import launch

COLUMNS, ROWS = 41, 25                  # the middle light (20, 12) is the view's centre
COLOURS = {"lampFailure": "#d7191c", "dayBurning": "#f28e2b", "cycling": "#8e44ad",
           "communication": "#607d8b", "ok": "#1a9641"}
PLACES = {(20, 12): "lampFailure", (21, 12): "dayBurning", (19, 12): "cycling",
          (20, 13): "communication", (20, 11): "ok"}


def _city(dsn) -> dict:
    lights = grid(COLUMNS, ROWS)
    by_place = {(int(d[2:5]), int(d[6:9])): (gw, d) for gw, d, *_ in lights}
    now = datetime.now(timezone.utc)
    m = Messages()
    msgs = []
    for place, (gw, dev) in by_place.items():
        late = PLACES.get(place) == "communication"
        msgs.append(m.reading(gw, dev, now - timedelta(hours=1 if late else 0, minutes=1)))
    for place, kind in PLACES.items():
        if kind not in ("ok", "communication"):
            msgs.append(m.fault(*by_place[place], kind, now - timedelta(minutes=10)))
    msgs += [m.status(gw, now) for gw in sorted({gw for gw, _ in by_place.values()})]
    feed(dsn, msgs, lights)
    return {f"{gw}/{dev}": PLACES[place] for place, (gw, dev) in by_place.items()
            if place in PLACES}


@pytest.fixture
def served(fleet_dsn, tmp_path):
    with serving(fleet_dsn, tmp_path / "serve.log") as url:
        yield url


def _settled(page) -> None:
    """Until the page draws the answer its zoom asks for: the clusters of that very zoom
    below CLUSTER_BELOW (16, static/map.js), lights from it on."""
    page.wait_for_function("""() => { const m = document.getElementById('map').dataset;
        return +m.zoom < 16 ? m.mode === 'clusters' && m.answered === m.zoom
                            : m.mode === 'lights'; }""", timeout=20_000)


def _shown(page) -> tuple[list, dict]:
    clusters = page.eval_on_selector_all(
        "#map .cluster", "els => els.map(e => [+e.dataset.count, e.dataset.state, "
        "e.getAttribute('fill')])")
    singles = page.eval_on_selector_all(
        "#map .light", "els => Object.fromEntries(els.map(e => [e.dataset.id, "
        "[e.dataset.state, e.getAttribute('fill')]]))")
    return clusters, singles


def test_the_city_map_clusters_at_low_zoom_and_shows_lights_in_fault_colours(fleet_dsn, served):
    wanted = _city(fleet_dsn)
    with sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        requests = []
        page.on("request", lambda r: requests.append(r.url))
        encodings = {}       # lights.geojson of 1,025 lights is ~400 kB: sent compressed
        page.on("response", lambda r: encodings.setdefault(
            r.url.rsplit("/", 1)[-1].split("?")[0], r.headers.get("content-encoding")))
        errors = []          # script errors and CSP refusals show up here
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        log_in(page, served)
        page.wait_for_selector("#map[data-ready='1']", timeout=20_000)
        clusters, singles = _shown(page)
        assert len(clusters) >= 5 and max(c[0] for c in clusters) >= 10, clusters
        assert sum(c[0] for c in clusters) + len(singles) == COLUMNS * ROWS
        worst = [c for c in clusters if c[1] == "lampFailure"]
        assert len(worst) == 1 and worst[0][2] == COLOURS["lampFailure"], clusters
        # the city's zoom is below CLUSTER_BELOW: PostgreSQL made these clusters
        assert page.get_attribute("#map", "data-mode") == "clusters"
        assert "1025 lights in this area, 4 with an open fault" in page.inner_text("#summary")
        fit_zoom = int(page.get_attribute("#map", "data-zoom"))

        for _ in range(8):                          # zoom in on the centre
            if all(ident in singles for ident in wanted):
                break
            page.click("#zoom-in")
            _settled(page)
            clusters, singles = _shown(page)
        assert {ident: singles.get(ident) for ident in wanted} == \
            {ident: [kind, COLOURS[kind]] for ident, kind in wanted.items()}
        assert int(page.get_attribute("#map", "data-zoom")) > fit_zoom

        failed = next(ident for ident, kind in wanted.items() if kind == "lampFailure")
        page.click(f"#map .light[data-id='{failed}']")
        assert "lampFailure" in page.inner_text("#detail")
        page.click("#zoom-all")
        _settled(page)
        clusters, _ = _shown(page)
        assert len(clusters) >= 5
        browser.close()
    assert errors == []
    assert encodings["lights.geojson"] in ("gzip", "deflate"), encodings
    assert requests and all(u.startswith(served + "/") for u in requests), requests


def _loaded_after(page, before: str) -> None:
    page.wait_for_function("b => document.getElementById('map').dataset.loaded !== b", arg=before,
                           timeout=20_000)


def test_zoomed_in_the_map_asks_for_its_view_only(fleet_dsn, served):
    wanted = _city(fleet_dsn)
    with sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        asked = []
        page.on("request", lambda r: asked.append(r.url) if "lights.geojson" in r.url else None)
        log_in(page, served)
        page.wait_for_selector("#map[data-ready='1']", timeout=20_000)
        assert page.get_attribute("#map", "data-mode") == "clusters"
        assert asked == []                      # the city's zoom: clusters, not lights
        before = page.get_attribute("#map", "data-loaded")
        for _ in range(3):
            page.click("#zoom-in")
        _loaded_after(page, before)
        page.wait_for_selector("#map[data-mode='lights']", timeout=20_000)
        box = [float(v) for v in page.get_attribute("#map", "data-bbox").split(",")]
        features = int(page.get_attribute("#map", "data-features"))
        assert "bbox=" in asked[-1] and 0 < features < COLUMNS * ROWS, (asked, features)
        assert "lights in this area" in page.inner_text("#summary")
        # what is drawn is what the box holds, and the faults at the centre keep their colours
        _clusters, singles = _shown(page)
        assert {i: singles.get(i) for i in wanted} == \
            {i: [k, COLOURS[k]] for i, k in wanted.items()}
        # the grid is 41 x 25 lights 0.0005 degrees apart from (106.6320, -6.1780)
        columns = [c for c in range(COLUMNS) if box[0] <= 106.6320 + c * 0.0005 <= box[2]]
        rows = [r for r in range(ROWS) if box[1] <= -6.1780 + r * 0.0005 <= box[3]]
        assert features == len(columns) * len(rows)
        # a drag to the west edge: the view leaves the box, so the page asks again
        before, first_box = page.get_attribute("#map", "data-loaded"), box
        svg = page.locator("#map").bounding_box()
        page.mouse.move(svg["x"] + 100, svg["y"] + 400)
        page.mouse.down()
        page.mouse.move(svg["x"] + 1100, svg["y"] + 400, steps=10)
        page.mouse.up()
        _loaded_after(page, before)
        box = [float(v) for v in page.get_attribute("#map", "data-bbox").split(",")]
        assert box[0] < first_box[0] and box[2] < first_box[2]
        browser.close()


def test_at_a_city_s_zoom_the_page_draws_the_clusters_postgresql_made(fleet_dsn, tmp_path):
    """Two towns 40 km apart (3,200 lights): the page never fetches a light at the city's
    zoom, and the clusters it draws add up to the towns and their faults."""
    city = feed_towns(fleet_dsn, datetime.now(timezone.utc))
    faulty = sum(state not in ("ok", "never_reported") for *_, state in city.values())
    with serving(fleet_dsn, tmp_path / "serve.log") as url, sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        asked = []
        page.on("request", lambda r: asked.append(r.url.split("/api/", 1)[-1])
                if "/api/" in r.url and "session" not in r.url else None)
        log_in(page, url)
        page.wait_for_selector("#map[data-ready='1']", timeout=20_000)
        zoom = int(page.get_attribute("#map", "data-zoom"))
        assert page.get_attribute("#map", "data-mode") == "clusters" and zoom < 12, zoom
        assert asked[0] == "clusters.geojson?zoom=0"             # the city's extent
        assert asked[1].startswith(f"clusters.geojson?zoom={zoom}&bbox=") and len(asked) == 2
        clusters, singles = _shown(page)
        assert 2 <= len(clusters) <= 8 and singles == {}, clusters
        assert sum(c[0] for c in clusters) == 3200
        faults = page.eval_on_selector_all("#map .cluster", "els => els.map(e => "
                                           "+e.dataset.faults)")
        assert sum(faults) == faulty
        assert f"3200 lights in this area, {faulty} with an open fault" in \
            page.inner_text("#summary")
        assert COLOURS["lampFailure"] in {c[2] for c in clusters}
        # a zoom click asks PostgreSQL for that zoom's clusters, still no lights
        before = page.get_attribute("#map", "data-loaded")
        page.click("#zoom-in")
        _loaded_after(page, before)
        assert asked[-1].startswith(f"clusters.geojson?zoom={zoom + 1}&bbox=")
        assert not any(a.startswith("lights.geojson") for a in asked), asked
        browser.close()
