"""The crew's web console: pages, JSON and actions on the agent's local HTTP listener.

Off until `console.listen` is set and a crew account exists (`lentera crew add`). Every
page needs a session; every state change needs an operator's session and its CSRF token.
Reads come from agent/local/view.py, actions go through agent/local/actions.py.
"""

import asyncio
import logging
import re
import time
from pathlib import Path

from aiohttp import web

from agent.local import pages
from agent.local.accounts import Accounts
from agent.local.actions import ActionError, CrewActions
from agent.local.auth import Lockout, Sessions, csrf_ok
from agent.local.events import RecentEvents
from agent.local.geo import geojson
from agent.local.keeping import keep_history
from agent.local.login import LoginGate
from agent.local.loginaudit import FailedLogins
from agent.local.http import make_app, serve, tls_context
from agent.local.i18n import LANGS, words
from agent.local.plotdata import plot_data, plot_names
from agent.local.view import groups_of, light_rows, site_summary
from agent.platform.clock import ZoneOffset
from agent.store.audit import AuditError, AuditLog
from agent.store.history import History

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
COOKIE = "lentera_session"
BACK = re.compile(r"/(map|plots|events|site)?(\?[A-Za-z0-9_.,:=&%-]*)?")
NO_ACCOUNT_RECHECK_S = 10.0     # while nobody may log in, the port stays closed
HISTORY_SAVE_S = 600.0
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' data:; connect-src 'self'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY"}


@web.middleware
async def _headers(request, handler):
    response = await handler(request)
    response.headers.update(SECURITY_HEADERS)
    if not request.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-store"
    return response


class Console:
    """The console of one running agent (duck-typed `site`: see agent/local/view.py)."""

    def __init__(self, site, monotonic=time.monotonic):
        self.site = site
        self.cfg = site.config.console
        self.tz = ZoneOffset(site.config.gateway.timezone)
        site.history = History(self.cfg.history_bucket, utcoffset=self.tz.utcoffset)
        if site.history.load(self.cfg.history):
            log.info("console history resumed from %s", self.cfg.history)
        site.recent_events = RecentEvents()
        self.accounts = Accounts(self.cfg.accounts)
        self.sessions = Sessions(self.cfg.session_idle, self.cfg.session_max, monotonic)
        self.lockout = Lockout(self.cfg.lockout_after, self.cfg.lockout_base,
                               self.cfg.lockout_max, monotonic)
        self.audit = AuditLog(self.cfg.audit)
        self.audit.open()
        self.actions = CrewActions(site.lighting, lambda: groups_of(site), self.audit,
                                   site.emit_event, self.cfg, monotonic)
        self.extra_routes: list = []   # other local services' routes (docs/console.md)
        self.gate = LoginGate(self.accounts, self.lockout)   # lock-out, bounded scrypt
        self.failed = FailedLogins(monotonic)                # audited, not a disk flood

    def routes(self) -> list:
        """The console's routes, for make_app()."""
        r = web
        return [r.get("/", self.page), r.get("/map", self.page), r.get("/plots", self.page),
                r.get("/events", self.page), r.get("/site", self.page),
                r.get("/frag/{view}", self.fragment),
                r.get("/login", self.login_page), r.post("/login", self.login),
                r.post("/logout", self.logout), r.get("/lang", self.language),
                r.get("/api/lights", self.api_lights),
                r.get("/api/lights.geojson", self.api_geojson),
                r.post("/api/action", self.api_action),
                r.get("/static/{name}", self.static)]

    def app(self) -> web.Application:
        """The aiohttp application: the console plus any extra routes."""
        return make_app(self.routes(), self.extra_routes,
                        getattr(self.site, "http_routes", ()), middlewares=[_headers])

    async def serve_loop(self) -> None:
        """Wait for a crew account, then serve until cancelled."""
        if not self.accounts.reload():
            log.warning("console off: no crew account in %s yet; add one with `lentera crew "
                        "add NAME -c CONFIG` (checked every %.0f s)", self.cfg.accounts,
                        NO_ACCOUNT_RECHECK_S)
            while not self.accounts.reload():
                await asyncio.sleep(NO_ACCOUNT_RECHECK_S)   # a period, not a hand-off
        tls = tls_context(self.cfg.tls_cert, self.cfg.tls_key) if self.cfg.tls_cert else None
        await serve(self.app(), self.cfg.listen, tls)

    async def history_loop(self) -> None:
        """Save the plots' history now and then, and once more on the way out."""
        await keep_history(self.site.history, self.cfg.history, HISTORY_SAVE_S)

    # --- who is asking ---------------------------------------------------------------

    def _lang(self, request) -> str:
        lang = request.cookies.get("lang")
        return lang if lang in LANGS else "en"

    def _session(self, request):
        session = self.sessions.get(request.cookies.get(COOKIE))
        if session is None:
            return None
        account = self.accounts.reload().get(session.name)   # removed or demoted since login
        if account is None or account["hash"] != session.credential:   # or a new password
            self.sessions.close(session.token)    # the new password's sessions stay
            return None
        session.role = account["role"]
        return session

    def _changer(self, request, sent_csrf):
        """The operator's session allowed to change state, or an HTTP error to raise."""
        session = self._session(request)
        if session is None:
            raise web.HTTPUnauthorized(text="log in first")
        if session.role != "operator":
            raise web.HTTPForbidden(text=f"{session.name} is a viewer: viewers cannot change "
                                         "anything")
        if not csrf_ok(session, sent_csrf):
            raise web.HTTPForbidden(text="missing or wrong CSRF token: reload the page")
        return session

    # --- pages -----------------------------------------------------------------------

    async def page(self, request) -> web.Response:
        """A whole page of one view (site, map, plots, events)."""
        session = self._session(request)
        if session is None:
            raise web.HTTPFound("/login")
        view = request.path.strip("/") or "site"
        w, lang = words(self._lang(request)), self._lang(request)
        body = await self._fragment(view, request, w)
        header = pages.header(w, await site_summary(self.site))
        frag = f"/frag/{view}" + (f"?{request.query_string}" if request.query_string else "")
        html = pages.layout(w, lang, view, body, header, session, session.csrf,
                            self.cfg.refresh, frag, int(self.cfg.hold_default),
                            self.cfg.hold_max)
        return self._html(request, html)

    async def fragment(self, request) -> web.Response:
        """One view's content, for the page's periodic refresh."""
        if self._session(request) is None:
            raise web.HTTPUnauthorized(text="log in first")
        view = request.match_info["view"]
        if view not in pages.VIEWS:
            raise web.HTTPNotFound()
        w = words(self._lang(request))
        body = {"header": pages.header(w, await site_summary(self.site)),
                "body": await self._fragment(view, request, w)}
        response = web.json_response(body)
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            response.enable_compression()
        return response

    async def _fragment(self, view: str, request, w: dict) -> str:
        offset = self.tz.utcoffset(time.time())
        if view == "site":
            group = request.query.get("group") or None
            groups = groups_of(self.site)
            group = group if group in groups else None
            return pages.site_list(w, light_rows(self.site, group), sorted(groups), group, offset)
        if view == "map":
            return pages.site_map(w, light_rows(self.site))
        if view == "plots":
            names = plot_names(self.site)
            choice, series, since, until, nights = plot_data(self.site, request.query.get("of"),
                                                             names)
            return pages.plots(w, choice, names, series, since, until, nights, offset)
        return pages.events(w, self.site.recent_events.items(), self.audit.tail(30), offset,
                            bool(getattr(self.site.clock, "warped", False)))

    def _html(self, request, html: str) -> web.Response:
        response = web.Response(text=html, content_type="text/html")
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            response.enable_compression()
        return response

    async def static(self, request) -> web.StreamResponse:
        """The console's own CSS and JS (no CDN)."""
        name = request.match_info["name"]
        if name not in ("console.css", "console.js"):
            raise web.HTTPNotFound()
        kind = "text/css" if name.endswith(".css") else "application/javascript"
        response = web.Response(body=(STATIC / name).read_bytes(), content_type=kind)
        response.headers["Cache-Control"] = "max-age=3600"
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            response.enable_compression()
        return response

    async def language(self, request) -> web.Response:
        """Switch the language; remembered in a cookie for a year."""
        to = request.query.get("to")
        back = request.query.get("back", "/")
        if not BACK.fullmatch(back):          # only a page of ours: never //host, /\t/host
            back = "/"
        response = web.HTTPFound(back)
        if to in LANGS:
            response.set_cookie("lang", to, max_age=365 * 86400, samesite="Strict",
                                httponly=True, secure=bool(self.cfg.tls_cert))
        raise response

    # --- log in and out --------------------------------------------------------------

    async def login_page(self, request) -> web.Response:
        """The login form."""
        return self._html(request, pages.login(words(self._lang(request)), self._lang(request)))

    async def login(self, request) -> web.Response:
        """Check name and password (scrypt, in a thread), with lock-out."""
        form = await request.post()
        name, password = str(form.get("name", ""))[:64], str(form.get("password", ""))[:256]
        addr = request.remote or "?"
        w, lang = words(self._lang(request)), self._lang(request)
        attempt = await self.gate.attempt(name, password, addr)
        if attempt.busy:
            return self._refused(request, w, lang, w["busy_login"], 503)
        role, wait = attempt.role, attempt.wait_s
        if role is None:
            if attempt.checked and (extra := self.failed.note(addr, locked_s=round(wait) or None)):
                await self._audit(name, addr, "login", "refused", **extra)
            msg = w["locked"].format(s=int(wait) + 1) if wait > 0 else w["bad_login"]
            return self._refused(request, w, lang, msg, 429 if wait > 0 else 401)
        session = self.sessions.open(name, role,
                                     self.accounts.reload().get(name, {}).get("hash", ""))
        await self._audit(name, addr, "login", "ok", role=role)
        response = web.HTTPFound("/")
        response.set_cookie(COOKIE, session.token, httponly=True, samesite="Strict",
                            secure=bool(self.cfg.tls_cert), max_age=int(self.cfg.session_max))
        raise response

    def _refused(self, request, w, lang, message, status) -> web.Response:
        response = self._html(request, pages.login(w, lang, message))
        response.set_status(status)
        return response

    async def logout(self, request) -> web.Response:
        """End the session (CSRF-checked like every state change)."""
        form = await request.post()
        session = self._session(request)
        if session is not None and csrf_ok(session, form.get("csrf")):
            self.sessions.close(session.token)
        response = web.HTTPFound("/login")
        response.del_cookie(COOKIE)
        raise response

    async def _audit(self, who, addr, action, result, **extra) -> None:
        try:
            await self.audit.write(time.time(), who=who, addr=addr, action=action, result=result,
                              **{k: v for k, v in extra.items() if v is not None})
        except AuditError as exc:
            log.error("%s", exc)

    # --- data and actions ------------------------------------------------------------

    async def api_lights(self, request) -> web.Response:
        """Every light's row (the site list as JSON) and the site summary."""
        if self._session(request) is None:
            raise web.HTTPUnauthorized(text="log in first")
        return web.json_response({"summary": await site_summary(self.site),
                                  "lights": light_rows(self.site)})

    async def api_geojson(self, request) -> web.Response:
        """The lights as a GeoJSON FeatureCollection (for the city's GIS)."""
        if self._session(request) is None:
            raise web.HTTPUnauthorized(text="log in first")
        return web.json_response(geojson(light_rows(self.site)),
                                 content_type="application/geo+json")

    async def api_action(self, request) -> web.Response:
        """on / off / dim with a hold, or release, for a light, a group or a selection."""
        form = await request.post()
        session = self._changer(request, request.headers.get("X-CSRF-Token") or form.get("csrf"))
        try:
            result = await self.actions.act(session.name, request.remote or "?", dict(form))
        except ActionError as exc:
            return web.json_response({"ok": False, "error": str(exc)}, status=400)
        except AuditError as exc:
            log.error("%s", exc)
            return web.json_response({"ok": False, "error": str(exc)}, status=500)
        return web.json_response(result, status=200 if result["applied"] else 409)
