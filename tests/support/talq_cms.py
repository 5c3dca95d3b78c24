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


def check_request(path: str, method: str, query, headers, body, gateway: str) -> None:
    """Raise AssertionError or jsonschema.ValidationError unless the request is as the CMS OAS
    (and the data model it refers to) define it."""
    operation = document(CMS_API)["paths"][path][method]
    for param in operation.get("parameters", []):
        source = query if param["in"] == "query" else headers
        value = source.get(param["name"])
        assert value is not None or not param.get("required"), f"{param['name']} missing"
        if value is not None and param["schema"].get("format") == "uuid":
            uuid.UUID(value)
    assert query["clientAddress"] == gateway, "clientAddress is not the gateway's address"
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    validate(body, ref.rsplit("/", 1)[1])                       # LogReport
    for entry in body["entries"]:
        validate(entry["data"], entry["data"]["type"])           # e.g. EventLogData


class CmsPeer(LoopThread):
    """`script`: behaviours for the next requests ("ok", "500", "slow", "drop"); then `mode`."""

    def __init__(self, pki: dict, gateway: str, port: int | None = None):
        super().__init__()
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
        self.requests += 1
        behaviour = self.script.pop(0) if self.script else self.mode
        raw = await request.read()
        try:
            body = json.loads(raw)
            check_request("/log-reports", "post", request.query, request.headers, body,
                          self.gateway)
        except (ValueError, AssertionError, KeyError, jsonschema.ValidationError) as exc:
            self.invalid.append(f"{exc}"[:300])
            return web.json_response([{"key": "payloadError"}], status=400)
        if behaviour == "slow":
            await asyncio.sleep(self.slow_s)
        elif behaviour == "500":
            return web.Response(status=500, text="CMS database unavailable")
        elif behaviour == "drop":
            request.transport.close()       # mid-report: the gateway never sees an answer
            return web.Response(status=201)
        with self.answered:
            self.reports.append(body)
            self.answered.notify_all()
        return web.Response(status=201)

    async def serve(self):
        app = web.Application()
        app.router.add_post("/talq/log-reports", self.log_reports)
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
