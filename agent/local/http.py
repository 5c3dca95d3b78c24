"""The gateway's one local HTTP listener (aiohttp): the console today, metrics next to it.

Other local services add their routes to the same listener instead of opening a port of
their own:

    from agent.local.http import make_app
    app = make_app(console.routes(), metrics_routes, middlewares=[...])

`serve(app, listen, ssl_context)` runs it until cancelled (a supervised task).
"""

import asyncio
import logging
import ssl

from aiohttp import web

log = logging.getLogger(__name__)

MAX_BODY = 16 * 1024          # a crew action is a few hundred bytes; nothing bigger is read


def make_app(*route_lists, middlewares=()) -> web.Application:
    """An aiohttp application with these routes (lists of web.RouteDef) and middlewares."""
    app = web.Application(middlewares=list(middlewares), client_max_size=MAX_BODY)
    for routes in route_lists:
        app.add_routes(routes)
    return app


def tls_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    """Server TLS (1.2 or newer) with the gateway's own certificate."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    return context


def split_listen(listen: str) -> tuple[str, int]:
    """'HOST:PORT' (validated by the config) -> (host, port)."""
    host, _, port = listen.rpartition(":")
    return host, int(port)


async def serve(app: web.Application, listen: str, ssl_context=None) -> None:
    """Listen on HOST:PORT until cancelled, then close every connection."""
    host, port = split_listen(listen)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
        await site.start()
        log.info("console listening on %s://%s", "https" if ssl_context else "http", listen)
        await asyncio.Event().wait()            # serve until cancelled
    finally:
        await runner.cleanup()
