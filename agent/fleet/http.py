"""The city's HTTP API and map page (aiohttp, `lentera fleet serve`; docs/fleet.md).

Read-only: `GET /api/lights.geojson`, `GET /api/faults.geojson` (RFC 7946, for the city's
GIS), `GET /api/energy.json` and the map page at `/`, drawn by static/map.js from
lights.geojson with no CDN. Query strings are checked by agent/fleet/geo.py before any SQL;
every error is JSON `{"error", "param"}` with the HTTP status that fits (400 bad input, 404,
405, 503 database away). There is no login: it listens on loopback unless told otherwise,
for the city's reverse proxy to authenticate.
"""

import asyncio
import logging
import signal
from datetime import datetime, timedelta, timezone
from pathlib import Path

from aiohttp import web

from agent.fleet import picture
from agent.fleet.geo import QueryError, parse_energy, parse_query

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
GEOJSON = "application/geo+json"
COMPRESS_FROM = 64 * 1024      # bench/fleet_picture.py: 50,000 lights, 20 MB, 0.7 MB gzipped
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "connect-src 'self'; img-src 'self' data:; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def _error(status: int, message: str, param: str | None = None) -> web.Response:
    return web.json_response({"error": message, "param": param}, status=status)


@web.middleware
async def _answers(request, handler):
    try:
        response = await handler(request)
    except QueryError as exc:
        response = _error(400, str(exc), exc.param)
    except picture.PictureUnavailable as exc:
        log.warning("%s %s: %s", request.method, request.path, exc)
        response = _error(503, str(exc))
    except web.HTTPException as exc:
        if not request.path.startswith("/api/"):
            raise
        response = _error(exc.status, f"{exc.reason}: {request.method} {request.path[:200]} "
                          "(the API has GET /api/lights.geojson, /api/faults.geojson and "
                          "/api/energy.json)")
    response.headers.update(HEADERS)
    response.headers["Cache-Control"] = "no-cache" if request.path.startswith("/static/") \
        else "no-store"
    return response


class FleetApi:
    """The routes over one connection pool; `now` is injectable for tests."""

    def __init__(self, pool, comm_after: timedelta, tz: str, now=None):
        self.pool, self.comm_after, self.tz = pool, comm_after, tz
        self.now = now or (lambda: datetime.now(timezone.utc))

    def app(self) -> web.Application:
        """The aiohttp application (GET only; no request body is ever read)."""
        app = web.Application(middlewares=[_answers], client_max_size=1024)
        app.add_routes([web.get("/", self.map_page), web.get("/map", self.map_page),
                        web.get("/api/lights.geojson", self.lights),
                        web.get("/api/faults.geojson", self.faults),
                        web.get("/api/energy.json", self.energy),
                        web.static("/static", STATIC)])
        return app

    async def map_page(self, request):
        return web.FileResponse(STATIC / "map.html")

    async def _geojson(self, endpoint: str, job, request) -> web.Response:
        query = parse_query(endpoint, list(request.query.items()))
        text = await picture.fetch(self.pool, job, query, self.now(), self.comm_after)
        response = web.Response(text=text, content_type=GEOJSON)
        if len(text) > COMPRESS_FROM:
            response.enable_compression()        # if the client accepts gzip/deflate
        return response

    async def lights(self, request):
        return await self._geojson("lights", picture.lights, request)

    async def faults(self, request):
        return await self._geojson("faults", picture.faults, request)

    async def energy(self, request):
        first, last, group = parse_energy(list(request.query.items()))
        rows = await picture.fetch(self.pool, picture.energy_per_night, self.tz, first, last,
                                   group)
        return web.json_response({"timezone": self.tz, "unit": "Wh", "nights": rows})


async def run(dsn: str, listen: str, comm_after_s: float, tz: str) -> None:
    """Serve until SIGTERM/SIGINT; PictureUnavailable/ValueError for a bad start."""
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--listen {listen!r}: expected HOST:PORT, e.g. 127.0.0.1:8480")
    pool = await picture.open_pool(dsn)
    try:
        if not await picture.fetch(pool, picture.zone_known, tz):
            raise ValueError(f"--timezone {tz!r} is not a zone PostgreSQL knows "
                             "(e.g. Asia/Jakarta; see pg_timezone_names)")
        api = FleetApi(pool, timedelta(seconds=comm_after_s), tz)
        runner = web.AppRunner(api.app(), access_log=None, handle_signals=False,
                               shutdown_timeout=1.0)
        await runner.setup()
        try:
            try:
                await web.TCPSite(runner, host, int(port)).start()
            except OSError as exc:
                raise ValueError(f"--listen {listen}: {exc} (another server on that port? "
                                 "choose another with --listen)") from exc
            log.info("fleet API and map listening on http://%s", listen)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
            await stop.wait()
        finally:
            await runner.cleanup()
    finally:
        await pool.close()
