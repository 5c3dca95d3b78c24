"""Sessions end when the account's password changes (in-process console on loopback)."""

import asyncio

import aiohttp

from agent.local.console import Console
from tests.support.console_app import PASSWORD, console_site, post_login, serve_console


def test_a_changed_password_ends_the_accounts_open_sessions(tmp_path):
    """Before: a session opened with the old password stayed valid for up to 12 h."""
    site = console_site(tmp_path)
    console = Console(site)
    console.accounts.add("budi", PASSWORD)
    console.accounts.add("sari", PASSWORD, "viewer")

    async def go():
        server = await serve_console(console)
        url = str(server.make_url("")).rstrip("/")
        try:
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as budi, \
                    aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as sari:
                assert (await post_login(budi, url, "budi", PASSWORD))[0] == 302
                assert (await post_login(sari, url, "sari", PASSWORD))[0] == 302
                async with budi.post(url + "/api/action", data={"op": "on"}) as resp:
                    before = resp.status     # 403: a session without CSRF; 401: no session
                console.accounts.add("budi", "a new password 9")   # `lentera crew add budi`
                async with budi.post(url + "/api/action", data={"op": "on"}) as resp:
                    after = resp.status     # 403: a session without CSRF; 401: no session
                async with sari.post(url + "/api/action", data={"op": "on"}) as resp:
                    other = resp.status     # 403: a session without CSRF; 401: no session
                return before, after, other
        finally:
            await server.close()
    assert asyncio.run(go()) == (403, 401, 403)
