"""A TALQ CMS peer for the tests: an HTTPS server (mutual TLS) that takes the gateway's log
reports, validates every request against the official CMS OAS (parameters, header, body by
the data-model schemas, with jsonschema) and misbehaves as scripted: slow, 500, or a
connection dropped mid-report."""

import asyncio
import json
import ssl
import threading
import uuid

import jsonschema
from aiohttp import web

from tests.agent.talq.oas import document, validate
from tests.support.broker import free_port, wait_port
from tests.support.site import LoopThread

CMS_API = "talq-api-cms-2-7-1-online.json"


NIL = "00000000-0000-0000-0000-000000000000"


def check_request(path: str, method: str, query, headers, body, client: str) -> None:
    """Raise AssertionError or jsonschema.ValidationError unless the request is as the CMS OAS
    (and the data model it refers to) define it; `client` is the clientAddress it must carry."""
    operation = document(CMS_API)["paths"][path][method]
    for param in operation.get("parameters", []):
        if param["in"] == "path":
            continue
        source = query if param["in"] == "query" else headers
        value = source.get(param["name"])
        assert value is not None or not param.get("required"), f"{param['name']} missing"
        if value is not None and param["schema"].get("format") == "uuid":
            uuid.UUID(value)
    assert query["clientAddress"] == client, f"clientAddress is not {client}"
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    items = body if "items" in schema else [body]
    assert isinstance(items, list), "the OAS asks for an array"
    name = (schema.get("items") or schema)["$ref"].rsplit("/", 1)[1]
    for item in items:
        validate(item, name)                                     # e.g. Device, LogReport
        for function in item.get("functions", []) if name == "Device" else []:
            validate(function, function["type"])                 # e.g. GatewayFunction
        for entry in item["entries"] if name == "LogReport" else []:
            validate(entry["data"], entry["data"]["type"])       # e.g. EventLogData


class CmsPeer(LoopThread):
    """`script`: behaviours for the next requests ("ok", "500", "slow", "drop"); then `mode`.
    The bootstrap's requests (§5.1) are answered too, and listed in `steps`; `assign` is the
    (gatewayAddress, cmsAddress) it gives the gateway in step 1."""

    def __init__(self, pki: dict, gateway: str, port: int | None = None, cms: str | None = None):
        super().__init__()
        self.assign = (gateway, cms or str(uuid.UUID(int=0x1C0FFEE)))
        self.steps: list[tuple] = []       # (method, OAS path) the CMS took, in order
        self.devices: dict[str, dict] = {}   # announced devices by address
        self.classes: list[str] = []
        self.services: list = []
        document(CMS_API)      # skips in the test's thread, not in a handler, without the OAS
        self.pki, self.gateway = pki, gateway
        self.port = port or free_port()
        self.mode = "ok"
        self.script: list[str] = []
        self.slow_s = 30.0
        self.reports: list[dict] = []      # bodies answered 201
        self.requests = 0
        self.invalid: list[str] = []       # requests that broke the OAS (must stay empty)
        self.answered = threading.Condition()

    def context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_cert_chain(self.pki["cms-server.crt"], self.pki["cms-server.key"])
        context.load_verify_locations(cafile=self.pki["ca.crt"])
        return context

    async def log_reports(self, request: web.Request):
        behaviour = self._misbehave()
        raw = await request.read()
        try:
            body = json.loads(raw)
            check_request("/log-reports", "post", request.query, request.headers, body,
                          self.gateway)
        except (ValueError, AssertionError, KeyError, jsonschema.ValidationError) as exc:
            self.invalid.append(f"{exc}"[:300])
            return web.json_response([{"key": "payloadError"}], status=400)
        refused = await self._act(behaviour, request, 201)
        if refused is not None:
            return refused
        with self.answered:
            self.reports.append(body)
            self.answered.notify_all()
        return web.Response(status=201)

    async def _act(self, behaviour: str, request: web.Request, status: int):
        """Misbehave as scripted: the response instead of a real answer, or None after a slow
        one (answer late, then normally)."""
        if behaviour == "slow":
            await asyncio.sleep(self.slow_s)
        elif behaviour == "500":
            return web.Response(status=500, text="CMS database unavailable")
        elif behaviour == "drop":
            request.transport.close()       # mid-request: the gateway never sees an answer
            return web.Response(status=status)
        return None

    def _misbehave(self):
        self.requests += 1
        return self.script.pop(0) if self.script else self.mode

    def _bootstrap(self, method: str, path: str, expect: int):
        async def handler(request: web.Request):
            behaviour = self._misbehave()
            try:
                body = json.loads(await request.read())
                first = path == "/devices" and request.query.get("clientAddress") == NIL
                check_request(path, method, request.query, request.headers, body,
                              NIL if first else self.gateway)
                if first:
                    assert body[0]["address"] == NIL, "step 1 sends a NIL gatewayAddress"
            except (ValueError, AssertionError, KeyError, TypeError,
                    jsonschema.ValidationError) as exc:
                self.invalid.append(f"{method} {path}: {exc}"[:300])
                return web.json_response([{"key": "payloadError"}], status=400)
            refused = await self._act(behaviour, request, expect)
            if refused is not None:
                return refused
            answer = self._take(method, path, body, first)
            with self.answered:
                self.steps.append((method, path))
                self.answered.notify_all()
            return web.json_response(answer, status=expect) if answer is not None else \
                web.Response(status=expect)
        return handler

    def _take(self, method: str, path: str, body, first: bool):
        if path == "/devices" and first:
            device = dict(body[0], address=self.assign[0])
            for function in device["functions"]:
                if function["type"] == "GatewayFunction":
                    function["gatewayAddress"] = {"type": "AttributeString",
                                                  "value": self.assign[0]}
                    function["cmsAddress"] = {"type": "AttributeString", "value": self.assign[1]}
            return [device]
        if path == "/devices":
            self.devices.update({d["address"]: d for d in body})
        elif path == "/device-classes":
            self.classes += [c["name"] for c in body]
        elif path == "/services":
            self.services = body
        return None

    def wait_steps(self, predicate, what: str, timeout: float = 30.0) -> list:
        with self.answered:
            assert self.answered.wait_for(lambda: predicate(list(self.steps)), timeout), \
                f"timed out waiting for {what}; the CMS took {self.steps}, refused {self.invalid}"
        return list(self.steps)

    async def serve(self):
        app = web.Application()
        app.router.add_post("/talq/log-reports", self.log_reports)
        app.router.add_post("/talq/devices", self._bootstrap("post", "/devices", 201))
        app.router.add_post("/talq/device-classes", self._bootstrap("post", "/device-classes",
                                                                    201))
        app.router.add_patch("/talq/devices/{address}",
                             self._bootstrap("patch", "/devices/{deviceAddress}", 200))
        app.router.add_post("/talq/services", self._bootstrap("post", "/services", 201))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port, ssl_context=self.context()).start()
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    def start(self) -> "CmsPeer":
        self.thread.start()
        wait_port(self.port)
        return self

    def records(self) -> list[dict]:
        """Every EventLogData the CMS took, in order (duplicates kept)."""
        return [e["data"] for body in list(self.reports) for e in body["entries"]]

    def wait_records(self, predicate, what: str, timeout: float = 30.0) -> list:
        """Block (bounded) until predicate(records) is truthy; returns the records."""
        with self.answered:
            assert self.answered.wait_for(lambda: predicate(self.records()), timeout), \
                f"timed out waiting for {what}; the CMS has {self.records()}"
        return self.records()
