"""The crew's console in headless Chromium against the real agent, broker and simulator."""

import json
import re
import time
from datetime import datetime, timedelta, timezone

import pytest

from agent.local.svg import COLOURS, MAP_W, fit_height, project
from agent.store.audit import verify
from tests.conftest import AgentProcess
from tests.support.broker import Broker
from tests.support.console import (ConsoleRig, add_crew, login, position, post_action,
                                   wait_until, write_console_gateway)
from tests.support.site import SiteThread

LIGHTS = 6
UNPLACED = (6,)


class Peers(ConsoleRig):
    """One site, broker, agent and browser for the module (each test uses its own lights)."""

    def __init__(self, tmp):
        super().__init__(tmp, LIGHTS, crew=(("budi", "operator"), ("sari", "viewer")),
                         console=", relay_min_interval: 2s", unplaced=UNPLACED)


@pytest.fixture(scope="module")
def peers(tmp_path_factory):
    p = Peers(tmp_path_factory.mktemp("console"))
    yield p
    p.close()


def _row(page, light):
    return page.locator(f'.lights li[data-l="{light}"]')


def test_log_in_switch_off_with_a_10_min_hold_then_the_schedule_takes_back(peers):
    page = peers.page()
    cookie = [c for c in page.context.cookies() if c["name"] == "lentera_session"][0]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert peers.register(2) == 1
    _row(page, "L-002").click()
    page.wait_for_selector("#act:not([hidden])")
    assert page.text_content("#act-what") == "L-002"
    page.select_option("select[name=hold_s]", "600")
    page.click('#act button[value="off"]')
    page.wait_for_selector("#act-msg.ok")
    wait_until(lambda: peers.register(2) == 0, "the simulator's switch register to read 0")
    # the page refreshes itself: the next poll's reading shows the light off
    page.wait_for_selector('.lights li[data-l="L-002"].s-off', timeout=15000)
    row = _row(page, "L-002")
    text = row.text_content()
    assert "override" in text and "until" in text, text
    until = int(row.locator("time").get_attribute("data-ts"))
    assert 0 < until - _warped_now(page) <= 600
    shown = datetime.fromtimestamp(until, timezone(timedelta(hours=7))).strftime("%H:%M +07")
    assert row.locator("time").text_content() == shown
    # the hold ends by itself (injected time runs 30x): the schedule switches it back on
    wait_until(lambda: peers.register(2) == 1, "the schedule to take L-002 back", 40)
    page.reload()
    assert "schedule" in _row(page, "L-002").locator(".src").text_content()
    entries = [json.loads(line) for line in peers.audit.read_text().splitlines()]
    assert any(e["action"] == "off" and e["who"] == "budi" and e["lights"] == ["L-002"]
               and e["hold_s"] == 600 and e["expires_s"] == until for e in entries)


def _warped_now(page):
    """The agent's lighting clock (injected time), as its console reports it."""
    return page.evaluate("fetch('/api/lights').then(r => r.json())")["summary"]["clock"]["now_s"]


def test_a_viewer_cannot_change_anything(peers):
    page = peers.page("sari")
    assert page.locator("#act").count() == 0          # no actions panel at all
    before = peers.audit.read_text()
    answer = post_action(page, {"op": "off", "devices": "L-004", "hold_s": "600"})
    assert answer["status"] == 403 and "viewer" in answer["text"]
    time.sleep(1.5)                                   # a write would have happened by now
    assert peers.register(4) == 1
    assert peers.audit.read_text() == before


def test_a_state_change_without_the_csrf_token_is_refused(peers):
    page = peers.page("budi")
    before = peers.audit.read_text()
    for token in (None, "forged-token"):
        answer = post_action(page, {"op": "off", "devices": "L-004", "hold_s": "600"}, token)
        assert answer["status"] == 403 and "CSRF" in answer["text"]
    time.sleep(1.5)
    assert peers.register(4) == 1
    assert peers.audit.read_text() == before


def test_relay_protection_refuses_toggling_too_fast(peers):
    page = peers.page("budi")
    first = post_action(page, {"op": "off", "devices": "L-001", "hold_s": "600"})
    again = post_action(page, {"op": "on", "devices": "L-001", "hold_s": "600"})
    assert first["status"] == 200, first
    assert again["status"] == 409 and "relay protection" in again["text"]
    post_action(page, {"op": "release", "devices": "L-001"})


def test_the_map_shows_every_light_at_its_position_in_its_colour(peers):
    page = peers.page("budi")
    assert post_action(page, {"op": "off", "devices": "L-005", "hold_s": "1800"})["status"] == 200
    peers.fail_lamp_3()
    wait_until(lambda: peers.register(5) == 0, "L-005 off")
    page.goto(peers.url + "/map")

    def states():
        page.reload()
        return [page.locator(f'circle[data-l="{d}"]').get_attribute("data-state")
                for d in ("L-003", "L-005")]
    wait_until(lambda: states() == ["fault", "off"], "L-003 fault and L-005 off on the map")
    placed = [u for u in range(1, LIGHTS + 1) if u not in UNPLACED]
    spots = [position(u) for u in placed]
    expected_xy = project(spots, MAP_W, fit_height(spots))   # the drawing fits the street
    want_state = {1: "on", 2: "on", 3: "fault", 4: "on", 5: "off"}
    for unit, (x, y) in zip(placed, expected_xy):
        circle = page.locator(f'circle[data-l="L-{unit:03d}"]')
        assert (float(circle.get_attribute("cx")), float(circle.get_attribute("cy"))) == (x, y)
        if unit in want_state:
            assert circle.get_attribute("fill") == COLOURS[want_state[unit]], unit
    assert page.locator("circle.pole").count() == len(placed)
    assert "L-006" in page.text_content("main")        # listed under "without position"
    page.locator('circle[data-l="L-004"]').click()
    page.wait_for_selector("#act:not([hidden])")
    assert page.text_content("#act-what") == "L-004"
    assert page.locator('circle[data-l="L-004"]').get_attribute("class").endswith("sel")


def test_geojson_is_valid_and_lists_every_light(peers):
    page = peers.page("budi")
    answer = page.request.get(peers.url + "/api/lights.geojson")
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("application/geo+json")
    doc = answer.json()
    assert doc["type"] == "FeatureCollection"
    ids = []
    for feature in doc["features"]:
        assert feature["type"] == "Feature" and isinstance(feature["properties"], dict)
        geometry = feature["geometry"]
        unit = int(feature["id"][2:])
        if unit in UNPLACED:
            assert geometry is None
        else:
            assert geometry["type"] == "Point"
            lon, lat = geometry["coordinates"]
            assert (lat, lon) == pytest.approx(position(unit))
        ids.append(feature["id"])
    assert ids == [f"L-{u:03d}" for u in range(1, LIGHTS + 1)]


def test_the_night_plot_shows_the_injected_lamp_failure(peers):
    failed_at = peers.fail_lamp_3()
    page = peers.page("budi")
    wait_until(lambda: time.time() > failed_at + 6, "some buckets after the failure")
    page.goto(peers.url + "/plots?of=device:L-003")
    svg = page.locator("svg#night")
    since, until = float(svg.get_attribute("data-since")), float(svg.get_attribute("data-until"))
    pmax = float(svg.get_attribute("data-pmax"))
    points = [tuple(map(float, p.split(","))) for p in
              page.locator("polyline#power").get_attribute("points").split()]
    box = page.locator("svg#night rect.frame")
    left, width = float(box.get_attribute("x")), float(box.get_attribute("width"))
    top, height = float(box.get_attribute("y")), float(box.get_attribute("height"))
    samples = [(since + (x - left) / width * (until - since), (top + height - y) / height * pmax)
               for x, y in points]
    before = [w for t, w in samples if t < failed_at - 1.5]
    after = [w for t, w in samples if t > failed_at + 2.5]
    assert len(before) >= 3 and len(after) >= 2, samples
    assert min(before) > 20 and max(after) < 2, samples
    drop = next(t for t, w in samples if w < 2)
    assert abs(drop - failed_at) <= 2.5, (drop, failed_at)
    assert verify(peers.audit)[1] == []


def test_language_switch_is_remembered(peers):
    page = peers.page("budi")
    page.click("header a.lang")
    page.wait_for_selector("nav")
    assert "Peta" in page.text_content("nav")
    page.goto(peers.url + "/map")
    assert "Peta" in page.text_content("nav") and "Pilih beberapa" in page.text_content("main")
    page.click("header a.lang")
    assert "Map" in page.text_content("nav")


def test_a_map_selection_is_dimmed_together_then_released(peers):
    page = peers.page("budi")
    page.goto(peers.url + "/map")
    page.check("#many")
    page.locator('circle[data-l="L-001"]').click()
    page.locator('circle[data-l="L-002"]').click()
    assert page.text_content("#act-what") == "2 selected"
    page.fill('#act input[name="dim"]', "40")
    page.select_option("select[name=hold_s]", "600")
    page.click('#act button[value="dim"]')
    page.wait_for_selector("#act-msg.ok")
    wait_until(lambda: [peers.register(u, "dim") for u in (1, 2)] == [40, 40], "both dimmed")
    page.click('#act button[value="release"]')
    wait_until(lambda: [peers.register(u, "dim") for u in (1, 2)] == [100, 100], "released")


def test_lentera_status_prints_the_same_picture(peers):
    from tests.support.console import lentera
    res = lentera("status", "-c", str(peers.config))
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "gateway test-gw" in out and "clock   trusted (time warp)" in out
    assert "bus     lan:" in out and "sources " in out
    lines = {ln.split()[0]: ln for ln in out.splitlines() if ln.startswith("L-")}
    assert sorted(lines) == [f"L-{u:03d}" for u in range(1, LIGHTS + 1)]
    assert "good" in lines["L-004"] and "on" in lines["L-004"]


def test_wrong_password_is_refused_and_repeated_failures_lock_out(tmp_path, peers):
    broker = Broker().start()
    site = SiteThread(1).start()
    config, url = write_console_gateway(tmp_path / "gw.yaml", broker.url, site.port, 1,
                                        console=", lockout_after: 3, lockout_base: 60s")
    add_crew(config, "budi")
    agent = AgentProcess(config, tmp_path / "agent.log")
    try:
        wait_until(lambda: "console listening" in agent.output(), "the console", 30)
        page = peers.browser.new_page(viewport={"width": 390, "height": 844})  # its own context
        statuses = []
        for _ in range(3):
            login(page, url, "budi", "wrong password")
            statuses.append(page.wait_for_selector("#login-msg").text_content())
        assert "Wrong name or password" in statuses[0]
        assert re.search(r"Too many failed logins: try again in \d+ s", statuses[2])
        login(page, url, "budi")                      # the right password, but locked out
        assert "Too many failed logins" in page.text_content("#login-msg")
        assert page.context.cookies() == [] or all(c["name"] != "lentera_session"
                                                   for c in page.context.cookies())
        entries = [json.loads(x) for x in (tmp_path / "audit.log").read_text().splitlines()]
        # review finding 9: one line a minute per address, plus each lock-out (with the count)
        assert [(e["result"], e.get("repeats"), bool(e.get("locked_s"))) for e in entries] == [
            ("refused", None, False), ("refused", 1, True)]
    finally:
        agent.terminate()
        site.stop()
        broker.stop()


def test_the_listener_is_hardened(peers):
    page = peers.page(None)
    req = page.request
    assert req.get(peers.url + "/api/lights.geojson").status == 401
    assert req.get(peers.url + "/api/lights").status == 401
    assert req.post(peers.url + "/api/action", form={"op": "off", "device": "L-004",
                                                     "hold_s": "600"}).status == 401
    first = req.get(peers.url + "/", max_redirects=0)
    assert first.status == 302 and first.headers["location"] == "/login"
    login_page = req.get(peers.url + "/login")
    assert "script-src 'self'" in login_page.headers["content-security-policy"]
    assert login_page.headers["x-frame-options"] == "DENY"
    away = req.get(peers.url + "/lang?to=id&back=//elsewhere.example/", max_redirects=0)
    assert away.headers["location"] == "/"
    assert req.get(peers.url + "/static/../../gw.yaml").status == 404
    assert req.get(peers.url + "/static/console.js").status == 200
    big = req.post(peers.url + "/login", data="name=" + "x" * 100_000,
                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert big.status == 413
    assert peers.register(4) == 1


def test_the_console_can_serve_tls_with_the_gateways_certificate(tmp_path, peers):
    from tests.support.gateway_files import make_certs
    certs = make_certs(tmp_path / "certs")
    broker = Broker().start()
    site = SiteThread(1).start()
    config, url = write_console_gateway(
        tmp_path / "gw.yaml", broker.url, site.port, 1,
        console=f', tls_cert: "{certs["server.crt"]}", tls_key: "{certs["server.key"]}"')
    add_crew(config, "budi")
    agent = AgentProcess(config, tmp_path / "agent.log")
    try:
        wait_until(lambda: "console listening on https://" in agent.output(), "https", 30)
        context = peers.browser.new_context(ignore_https_errors=True)   # a self-made CA
        page = context.new_page()
        login(page, url.replace("http://", "https://"), "budi")
        page.wait_for_selector(".lights li[data-l]")
        cookie = [c for c in context.cookies() if c["name"] == "lentera_session"][0]
        assert cookie["secure"] and cookie["httpOnly"]
        context.close()
    finally:
        agent.terminate()
        site.stop()
        broker.stop()


def test_the_console_stays_closed_until_a_crew_account_exists(tmp_path):
    import socket
    broker = Broker().start()
    site = SiteThread(1).start()
    config, url = write_console_gateway(tmp_path / "gw.yaml", broker.url, site.port, 1)
    port = int(url.rsplit(":", 1)[1])
    agent = AgentProcess(config, tmp_path / "agent.log")
    try:
        wait_until(lambda: "console off: no crew account" in agent.output(), "the warning", 30)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        add_crew(config, "budi")
        wait_until(lambda: "console listening" in agent.output(), "the console to open", 30)
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    finally:
        agent.terminate()
        site.stop()
        broker.stop()


def test_a_removed_account_is_logged_out_at_once(peers):
    from tests.support.console import lentera
    add_crew(peers.config, "tmp-crew")
    page = peers.page("tmp-crew")
    listed = lentera("crew", "list", "-c", str(peers.config))
    assert "tmp-crew" in listed.stdout and "budi" in listed.stdout
    assert lentera("crew", "remove", "tmp-crew", "-c", str(peers.config)).returncode == 0
    answer = post_action(page, {"op": "off", "devices": "L-004", "hold_s": "600"})
    assert answer["status"] == 401
    page.goto(peers.url + "/")
    assert page.url.endswith("/login")
    assert peers.register(4) == 1
