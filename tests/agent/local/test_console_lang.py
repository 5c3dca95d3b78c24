"""The language switch redirects only to the console's own pages."""

import asyncio

import aiohttp
import pytest

from agent.local.console import Console
from tests.support.console_app import console_site, serve_console


@pytest.mark.parametrize("back", ["/%09/evil.example", "//evil.example", "/\\evil.example",
                                  "https://evil.example", "/%0d%0aSet-Cookie:x=1",
                                  "/\t/evil.example", "/%5c%5cevil.example"])
def test_the_language_switch_never_redirects_off_the_console(tmp_path, back):
    """Before: /lang?back=/%09/evil.example answered Location: /\\t/evil.example, which a
    browser reads as //evil.example (tabs are stripped from URLs)."""
    console = Console(console_site(tmp_path))

    async def go():
        server = await serve_console(console)
        url = str(server.make_url("")).rstrip("/")
        try:
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{url}/lang?to=id&back={back}",
                                    allow_redirects=False) as resp:
                    return resp.status, resp.headers["Location"]
        finally:
            await server.close()
    status, location = asyncio.run(go())
    assert status == 302 and location == "/"


@pytest.mark.parametrize("back", ["/map", "/plots?of=L-001", "/site?group=road", "/"])
def test_the_language_switch_returns_to_the_console_page(tmp_path, back):
    console = Console(console_site(tmp_path))

    async def go():
        server = await serve_console(console)
        url = str(server.make_url("")).rstrip("/")
        try:
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{url}/lang", params={"to": "id", "back": back},
                                    allow_redirects=False) as resp:
                    return resp.headers["Location"]
        finally:
            await server.close()
    assert asyncio.run(go()) == back
