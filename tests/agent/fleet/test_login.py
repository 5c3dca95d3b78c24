"""Who may see the city's picture: the log-in gate on an injected clock, the API and map page
behind it on the real PostgreSQL (in-process aiohttp), and the form in Debian's chromium
against `lentera fleet serve`."""

import asyncio
import json
import os
import re
import stat
from datetime import timedelta

import aiohttp
import pytest
from aiohttp import web
from playwright.sync_api import sync_playwright

from agent.fleet import picture
from agent.fleet.access import AccessError, AccessFile, Gate, check_password
from agent.fleet.http import FleetApi
from tests.agent.fleet.city import STAFF, log_in, serving
from tests.support.broker import free_port
from tests.support.console import launch

PASSWORD = "a long city password"


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


@pytest.fixture
def access(tmp_path) -> AccessFile:
    access = AccessFile(tmp_path / "access.json")
    access.add_user("ana", PASSWORD)
    return access


def test_the_file_keeps_hashes_only_and_is_private_to_its_group(access):
    token = access.add_token("city-gis")
    text = access.path.read_text()
    assert PASSWORD not in text and token not in text and "scrypt$" in text
    assert stat.S_IMODE(os.stat(access.path).st_mode) == 0o640
    assert access.token_label(token) == "city-gis" and access.token_label(token + "x") is None
    assert access.check_user("ana", PASSWORD) and not access.check_user("ana", "wrong one!")
    assert not access.check_user("nobody", PASSWORD)
    again = access.add_token("city-gis")             # a new token replaces the label's old one
    assert access.token_label(token) is None and access.token_label(again) == "city-gis"
    with pytest.raises(AccessError, match="shorter than"):
        access.add_user("bob", "short")
    with pytest.raises(AccessError, match="a name is"):
        access.add_user("bad name; DROP", PASSWORD)


def test_a_corrupt_file_is_named_not_a_crash(access):
    access.path.write_text("{not json")
    with pytest.raises(AccessError, match="cannot read the users"):
        AccessFile(access.path).reload()


def test_removing_a_user_keeps_the_token_of_the_same_name(access):
    access.add_user("gis", PASSWORD)
    token = access.add_token("gis")
    assert access.remove("gis", "user")
    assert access.token_label(token) == "gis" and "gis" not in access.users
    assert access.remove("gis", "token") and access.token_label(token) is None
    assert not access.remove("gis", "token")


def test_a_hand_edited_hash_that_is_not_ascii_is_no_match_not_an_error():
    assert not check_password(PASSWORD, "scrypt$16384$8$1$00ff$\u00e9\u00e9")


def test_lock_out_grows_and_a_good_password_clears_it(access):
    clock = Clock()
    gate = Gate(access, after=3, base_s=30, lock_max_s=100, clock=clock)

    def login(password, addr="10.0.0.1"):
        return asyncio.run(gate.login("ana", password, addr))
    assert [login("wrong password")[1] for _ in range(3)] == ["bad", "bad", "locked 30"]
    assert login(PASSWORD) == (None, "locked 30")     # even the right one waits
    clock.t += 31
    assert login("wrong again")[1] == "locked 60"     # doubled
    clock.t += 61
    session, why = login(PASSWORD)
    assert session is not None and why == "" and gate.wait_s("user:ana") == 0


def test_sessions_end_idle_old_or_when_the_user_is_removed(access):
    clock = Clock()
    gate = Gate(access, idle_s=60, max_s=300, clock=clock)
    session, _ = asyncio.run(gate.login("ana", PASSWORD, "a"))
    clock.t += 59
    assert gate.session(session.token) is session
    clock.t += 61
    assert gate.session(session.token) is None         # idle
    session, _ = asyncio.run(gate.login("ana", PASSWORD, "a"))
    for _ in range(6):
        clock.t += 50
        assert gate.session(session.token) is session  # in use, up to max_s (300 s)
    clock.t += 1
    assert gate.session(session.token) is None         # older than max_s
    session, _ = asyncio.run(gate.login("ana", PASSWORD, "a"))
    assert not gate.logout(session, "not its csrf") and gate.session(session.token)
    access.add_user("ana", PASSWORD + " changed")
    assert gate.session(session.token) is None         # a new password ends old sessions
    session, _ = asyncio.run(gate.login("ana", PASSWORD + " changed", "a"))
    assert gate.session(session.token) is session
    access.remove("ana", "user")
    assert gate.session(session.token) is None


def _calls(dsn, access, steps, behind_proxy=False):
    """Run the API in-process; each step (method, path, kwargs) -> (status, headers, body)."""
    async def go():
        pool = await picture.open_pool(dsn)
        runner = web.AppRunner(FleetApi(pool, timedelta(minutes=15), "Asia/Jakarta",
                                        Gate(access, after=3),
                                        behind_proxy=behind_proxy).app())
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        out = []
        try:
            jar = aiohttp.CookieJar(unsafe=True)
            async with aiohttp.ClientSession(f"http://127.0.0.1:{port}", cookie_jar=jar) as s:
                for method, path, kwargs in steps:
                    if callable(kwargs):
                        kwargs = kwargs(out)
                    async with s.request(method, path, allow_redirects=False, **kwargs) as r:
                        text = await r.text()
                        body = json.loads(text) if r.content_type.endswith("json") else text
                        out.append((r.status, r.headers, body))
        finally:
            await runner.cleanup()
            await pool.close()
        return out
    return asyncio.run(go())


def test_nothing_is_served_without_a_session_or_a_token(fleet_dsn, access):
    token = access.add_token("gis")
    bearer = {"headers": {"Authorization": f"Bearer {token}"}}
    got = _calls(fleet_dsn, access, [
        ("GET", "/api/lights.geojson", {}),
        ("GET", "/api/faults.geojson", {"headers": {"Authorization": "Bearer lft_guess"}}),
        ("GET", "/api/energy.json", {"params": {"from": "2026-01-01", "to": "2026-01-02"}}),
        ("GET", "/", {}),
        ("GET", "/api/lights.geojson", bearer),
        ("GET", "/login", {}),
        ("GET", "/static/map.js", {})])
    for status, headers, body in got[:3]:
        assert status == 401 and "log in at /login" in body["error"], body
        assert headers["WWW-Authenticate"].startswith("Bearer")
    assert got[3][0] == 302 and got[3][1]["Location"] == "/login"
    assert got[4][0] == 200 and got[4][2]["type"] == "FeatureCollection"
    assert got[5][0] == 200 and 'name="password"' in got[5][2]
    assert got[6][0] == 200


def test_log_in_lock_out_and_log_out_over_http(fleet_dsn, access):
    form = {"name": "ana", "password": PASSWORD}
    got = _calls(fleet_dsn, access, [
        ("POST", "/login", {"data": {"name": "ana", "password": "<script>x</script>"}}),
        ("POST", "/login", {"data": form}),
        ("GET", "/api/session.json", {}),
        ("GET", "/api/lights.geojson", {}),
        ("POST", "/logout", {"data": {"csrf": "forged"}}),
        ("GET", "/api/lights.geojson", {}),
        ("POST", "/logout", lambda out: {"data": {"csrf": out[2][2]["csrf"]}}),
        ("GET", "/api/lights.geojson", {}),
        ("POST", "/login", {"data": {"name": "ana", "password": "wrong 2"}}),
        ("POST", "/login", {"data": {"name": "ana", "password": "wrong 3"}}),
        ("POST", "/login", {"data": {"name": "ana", "password": "wrong 4"}}),
        ("POST", "/login", {"data": form})])
    assert got[0][0] == 401 and "Wrong name or password" in got[0][2]
    assert "<script>" not in got[0][2]
    assert got[1][0] == 303 and got[1][1]["Location"] == "/"
    cookie = got[1][1]["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert got[2][2]["name"] == "ana" and len(got[2][2]["csrf"]) > 20
    assert got[3][0] == 200
    assert got[4][0] == 403 and got[5][0] == 200       # a forged log-out changes nothing
    assert got[6][0] == 303 and got[7][0] == 401
    # the good log-in cleared the count: the 3rd failure after it locks, the right one waits
    assert [g[0] for g in got[8:]] == [401, 401, 429, 429]
    assert re.search(r"try again in \d+ s", got[11][2])     # real time passes: not exact


@pytest.mark.parametrize("behind_proxy", [False, True])
def test_an_outsider_behind_the_city_proxy_cannot_lock_everyone_out(fleet_dsn, access,
                                                                    behind_proxy):
    """Behind the proxy every request has its address (here all come from 127.0.0.1): the
    outsider's failures must count against the outsider, not against everyone."""
    outsider = {"X-Forwarded-For": "198.51.100.7, 203.0.113.9"}   # the proxy appended .9
    ana = {"X-Forwarded-For": "192.0.2.20"}
    steps = [("POST", "/login", {"data": {"name": f"guess{i}", "password": "wrong"},
                                 "headers": outsider}) for i in range(5)]
    steps.append(("POST", "/login", {"data": {"name": "ana", "password": PASSWORD},
                                     "headers": ana}))
    got = _calls(fleet_dsn, access, steps, behind_proxy=behind_proxy)
    assert [g[0] for g in got[:3]] == [401, 401, 429]   # the outsider's address is locked
    if behind_proxy:
        assert got[5][0] == 303, got[5][2]             # ana comes in from her own address
    else:                                              # without the setting: the old lock
        assert got[5][0] == 429


def test_behind_the_proxy_without_a_forwarded_address_only_the_name_counts(fleet_dsn, access):
    steps = [("POST", "/login", {"data": {"name": f"guess{i}", "password": "wrong"}})
             for i in range(4)]
    steps += [("POST", "/login", {"data": {"name": "ana", "password": "wrong"}})] * 3
    got = _calls(fleet_dsn, access, steps, behind_proxy=True)
    assert [g[0] for g in got] == [401] * 4 + [401, 401, 429]   # ana's name, not the proxy


def test_the_map_page_asks_for_a_log_in_in_chromium(fleet_dsn, tmp_path):
    with serving(fleet_dsn, tmp_path / "serve.log") as url, sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page()
        page.goto(url + "/")
        assert page.url == url + "/login"
        page.fill("input[name=name]", STAFF[0])
        page.fill("input[name=password]", "not the password")
        page.click("button[type=submit]")
        assert "Wrong name or password" in page.inner_text("#message")
        log_in(page, url)
        page.wait_for_selector("#map[data-ready='1']", timeout=20_000)
        assert page.inner_text("#who") == STAFF[0]
        page.click("#logout button")
        page.wait_for_url(url + "/login")
        page.goto(url + "/")
        assert page.url == url + "/login"              # the session is gone
        browser.close()


def test_an_access_file_gone_bad_lets_nobody_in_and_says_why(fleet_dsn, access):
    token = access.add_token("gis")
    access.path.write_text('{"users": [')             # e.g. a hand edit cut short
    got = _calls(fleet_dsn, access, [
        ("GET", "/api/lights.geojson", {"headers": {"Authorization": f"Bearer {token}"}}),
        ("POST", "/login", {"data": {"name": "ana", "password": PASSWORD}})])
    assert [g[0] for g in got] == [503, 503]
    assert "cannot read the users and tokens" in got[0][2]["error"]
