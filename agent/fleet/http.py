"""The city's HTTP API and map page (aiohttp, `lentera fleet serve`; docs/fleet.md).

Read-only: `GET /api/lights.geojson`, `GET /api/faults.geojson` (RFC 7946, for the city's
GIS), `GET /api/clusters.geojson` (the lights per grid cell at a zoom, grouped by
PostgreSQL: agent/fleet/clusters.py), `GET /api/energy.json` and the map page at `/`, drawn
by static/map.js from clusters.geojson at the city's zoom and lights.geojson zoomed in, with
no CDN. Query strings are checked by agent/fleet/geo.py before any SQL;
every error is JSON `{"error", "param"}` with the HTTP status that fits (400 bad input, 401,
404, 405, 503 database away).

Everything but the log-in page and the static files needs a session (log in at /login) or
a token (`Authorization: Bearer ...`, for the city's GIS); agent/fleet/access.py says how.
"""

import asyncio
import html
import logging
import signal
from datetime import datetime, timedelta, timezone
from pathlib import Path

from aiohttp import web

from agent.fleet import clusters, picture
from agent.fleet.access import AccessError, Gate
from agent.fleet.geo import QueryError, parse_energy, parse_query

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
GEOJSON = "application/geo+json"
COMPRESS_FROM = 64 * 1024      # bench/fleet_picture.py: 50,000 lights, 20 MB, 0.7 MB gzipped
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "connect-src 'self'; img-src 'self' data:; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def _error(status: int, message: str, param: str | None = None) -> web.Response:
    return web.json_response({"error": message, "param": param}, status=status)


@web.middleware
async def _answers(request, handler):
    try:
        response = await handler(request)
    except QueryError as exc:
        response = _error(400, str(exc), exc.param)
    except (picture.PictureUnavailable, AccessError) as exc:
        log.warning("%s %s: %s", request.method, request.path, exc)
        response = _error(503, str(exc))
    except web.HTTPException as exc:
        if not request.path.startswith("/api/"):
            raise
        response = _error(exc.status, f"{exc.reason}: {request.method} {request.path[:200]} "
                          "(the API has GET /api/lights.geojson, /api/faults.geojson, "
                          "/api/clusters.geojson and /api/energy.json)")
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="lentera-fleet"'
    response.headers.update(HEADERS)
    response.headers["Cache-Control"] = "no-cache" if request.path.startswith("/static/") \
        else "no-store"
    return response


COOKIE = "lentera_fleet"
SESSION = web.RequestKey("session", object)    # the request's Session, None for a token
OPEN = ("/login", "/static/")          # what a stranger may fetch
LOGIN_PAGE = (STATIC / "login.html").read_text(encoding="utf-8")
REFUSED = {"bad": (401, "Wrong name or password."),
           "busy": (503, "Too many log-ins at once: try again in a moment."),
           "locked": (429, "Too many failed log-ins: try again in {s} s.")}


class FleetApi:
    """The routes over one connection pool and one log-in gate; `now` is injectable."""

    def __init__(self, pool, comm_after: timedelta, tz: str, gate: Gate, now=None,
                 secure_cookie: bool = False, behind_proxy: bool = False):
        self.pool, self.comm_after, self.tz, self.gate = pool, comm_after, tz, gate
        self.now = now or (lambda: datetime.now(timezone.utc))
        self.secure_cookie, self.behind_proxy = secure_cookie, behind_proxy

    def client(self, request) -> "str | None":
        """The address failed log-ins are counted by, or None (the name alone counts).

        Behind the city's proxy every peer is the proxy: counting by it would let one outsider
        lock every user out. The proxy appends the real client to X-Forwarded-For, so its last
        entry is the one to trust (earlier ones are whatever the client sent)."""
        if not self.behind_proxy:
            return request.remote or "?"
        forwarded = request.headers.get("X-Forwarded-For", "").rpartition(",")[2].strip()
        return forwarded[:64] or None

    def app(self) -> web.Application:
        """The aiohttp application (only the log-in and log-out forms have a body)."""
        app = web.Application(middlewares=[_answers, self._guard], client_max_size=1024)
        app.add_routes([web.get("/", self.map_page), web.get("/map", self.map_page),
                        web.get("/login", self.login_page), web.post("/login", self.login),
                        web.post("/logout", self.logout),
                        web.get("/api/session.json", self.session_info),
                        web.get("/api/lights.geojson", self.lights),
                        web.get("/api/faults.geojson", self.faults),
                        web.get("/api/clusters.geojson", self.clusters),
                        web.get("/api/energy.json", self.energy),
                        web.static("/static", STATIC)])
        return app

    @web.middleware
    async def _guard(self, request, handler):
        """A session or a token, else 401 (API) or the log-in page (the map)."""
        if request.path == "/login" or request.path.startswith("/static/"):
            return await handler(request)
        session = self.gate.session(request.cookies.get(COOKIE))
        auth = request.headers.get("Authorization", "")
        label = self.gate.access.token_label(auth[7:].strip()) \
            if auth[:7].lower() == "bearer " else None
        if session is None and label is None:
            if request.path.startswith("/api/"):
                raise web.HTTPUnauthorized(reason="log in at /login, or send "
                                           "Authorization: Bearer <token>")
            raise web.HTTPFound("/login")
        request[SESSION] = session
        return await handler(request)

    def _login_form(self, message: str = "", status: int = 200) -> web.Response:
        text = LOGIN_PAGE.replace("{message}", html.escape(message))
        return web.Response(text=text, content_type="text/html", status=status)

    async def login_page(self, request):
        return self._login_form()

    async def login(self, request):
        form = await request.post()
        name, password = str(form.get("name", ""))[:64], str(form.get("password", ""))[:256]
        client = self.client(request)
        session, why = await self.gate.login(name, password, client)
        if session is None:
            kind, _, wait = why.partition(" ")
            status, message = REFUSED[kind]
            log.warning("log-in of %r from %s refused: %s", name, client or request.remote, why)
            return self._login_form(message.format(s=wait), status)
        log.info("%s logged in from %s", name, client or request.remote)
        response = web.HTTPSeeOther("/")
        response.set_cookie(COOKIE, session.token, httponly=True, samesite="Strict",
                            secure=self.secure_cookie, max_age=int(self.gate.max_s))
        raise response

    async def logout(self, request):
        session = request[SESSION]
        form = await request.post()
        sent = request.headers.get("X-CSRF-Token") or form.get("csrf")
        if session is None or not self.gate.logout(session, str(sent or "")):
            return _error(403, "log-out needs the session's CSRF token", "csrf")
        response = web.HTTPSeeOther("/login")
        response.del_cookie(COOKIE)
        raise response

    async def session_info(self, request):
        session = request[SESSION]
        if session is None:                      # a token: nothing to log out of
            return web.json_response({"name": None, "csrf": None})
        return web.json_response({"name": session.name, "csrf": session.csrf})

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

    async def clusters(self, request):
        return await self._geojson("clusters", clusters.clusters, request)

    async def energy(self, request):
        first, last, group = parse_energy(list(request.query.items()))
        rows = await picture.fetch(self.pool, picture.energy_per_night, self.tz, first, last,
                                   group)
        return web.json_response({"timezone": self.tz, "unit": "Wh", "nights": rows})


async def run(dsn: str, listen: str, comm_after_s: float, tz: str, gate: Gate,
              secure_cookie: bool = False, behind_proxy: bool = False) -> None:
    """Serve until SIGTERM/SIGINT; PictureUnavailable/ValueError for a bad start."""
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--listen {listen!r}: expected HOST:PORT, e.g. 127.0.0.1:8480")
    gate.access.reload()
    if not gate.access.users and not gate.access.tokens:
        raise ValueError(f"{gate.access.path} has no login and no token, so nobody could "
                         "see the map: `lentera fleet users add NAME` (or `tokens add`) first")
    pool = await picture.open_pool(dsn)
    try:
        if not await picture.fetch(pool, picture.zone_known, tz):
            raise ValueError(f"--timezone {tz!r} is not a zone PostgreSQL knows "
                             "(e.g. Asia/Jakarta; see pg_timezone_names)")
        api = FleetApi(pool, timedelta(seconds=comm_after_s), tz, gate,
                       secure_cookie=secure_cookie, behind_proxy=behind_proxy)
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
