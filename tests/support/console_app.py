"""An in-process console on loopback for HTTP tests (aiohttp's test server, a real client).

The site is a small duck-typed stand-in: log-in, sessions and the language switch never read
the lights."""

from types import SimpleNamespace

from aiohttp.test_utils import TestServer

from agent.config.console import ConsoleConfig

PASSWORD = "lamp post 17"


def console_site(tmp_path, **console):
    """A site with just a console config (files under tmp_path)."""
    cfg = ConsoleConfig(listen="127.0.0.1:1", accounts=str(tmp_path / "crew.json"),
                        audit=str(tmp_path / "audit.log"),
                        history=str(tmp_path / "history.bin"), **console)
    config = SimpleNamespace(console=cfg, gateway=SimpleNamespace(timezone="Asia/Jakarta"))
    events = []
    return SimpleNamespace(config=config, lighting=None,
                           emit_event=lambda *a, **k: events.append((a, k)), events=events)


async def serve_console(console):
    """The console's app on a free loopback port (close() it)."""
    server = TestServer(console.app(), host="127.0.0.1")
    await server.start_server()
    return server


async def post_login(http, url, name, password):
    """(status, Location, session cookie) of one log-in form post."""
    async with http.post(url + "/login", data={"name": name, "password": password},
                         allow_redirects=False) as resp:
        return resp.status, resp.headers.get("Location"), resp.cookies.get("lentera_session")
