"""The TALQ gateway's HTTPS server (spec §3.4–3.6): aiohttp over mutual TLS, no plaintext.

Run by the Agent as the supervised task `talq.serve` (agent/talq/wiring.py).
"""

import asyncio
import logging

from aiohttp import web

from agent.talq.device_routes import DeviceWrites
from agent.talq.errors import talq_errors
from agent.talq.logger_routes import LoggerResources
from agent.talq.packages import PackageResources
from agent.talq.plan_routes import PlanResources
from agent.talq.resources import Resources
from agent.talq.tls import server_context

log = logging.getLogger(__name__)


def routes(site, talq, state) -> list:
    """Every route the gateway serves (docs/talq.md's table says "implemented" for these)."""
    return (Resources(site, talq).routes() + LoggerResources(site, talq, state).routes()
            + PlanResources(site, talq, state).routes()
            + DeviceWrites(site, talq, state).routes()
            + PackageResources(site, talq, state).routes())


def make_app(site, talq, state) -> web.Application:
    # client_max_size bounds every request body (a 400 payloadError past it); bodies
    # are decompressed by agent/talq/bodies.py under the same bound, so a gzip bomb is refused
    # and an encoding §3.5 does not allow reaches talq_errors (415) instead of the parser
    app = web.Application(middlewares=[talq_errors], client_max_size=talq.max_body,
                          handler_args={"auto_decompress": False})
    app.add_routes(routes(site, talq, state))
    return app


class TalqServer:
    def __init__(self, site, talq, state):
        self.site, self.talq, self.state = site, talq, state
        self.context = server_context(talq)      # refused at start-up if a file is wrong
        self.port: int | None = None             # the bound port (listen may say 0)
        self.ready = asyncio.Event()

    async def serve_loop(self) -> None:
        host, port = self.talq.listen.rsplit(":", 1)
        runner = web.AppRunner(make_app(self.site, self.talq, self.state), access_log=None,
                               handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host, int(port), ssl_context=self.context)
        try:
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]
            log.info("TALQ gateway API on https://%s:%s (mutual TLS)", host, self.port)
            self.ready.set()
            await asyncio.Event().wait()         # until cancelled by the supervisor
        finally:
            await runner.cleanup()
