"""A TALQ CMS for the CPU bench: the load a real CMS puts on a gateway (bench/cpu_per_poll.py
`--talq-cms`, docs/benchmarks.md).

An aiohttp HTTPS server (mutual TLS, the certificates of tests/support/talq_pki.py) answers
the gateway's bootstrap (spec §5.1: step 1 with the addresses gateway.yaml has, the others
2xx) and takes its log reports (`201`, so the gateway acknowledges its outbox rows). Once the
bootstrap is through it configures, over the gateway's own HTTPS, an Event logger and a
Periodic logger, both on every device (`sourceAddresses {"blackList": []}`), and then reads
`GET /devices` page by page every `--read-every` seconds, as a CMS's map view does.

Unlike tests/support/talq_cms.py it checks no request against the OAS: that peer's
jsonschema validation of thousands of records would take the bench's cores from the agent
it measures. It runs as its own process (bench/tcp_fleet.py starts it) so its work does not
share the GIL with the bench's MQTT collector either. It prints `ready` when both loggers
are stored, and its counts when it is stopped (SIGTERM).

Run by bench/tcp_fleet.py: talq_cms_load.py --port P --gateway-port G --pki DIR
    --gateway-address UUID --cms-address UUID
"""

import argparse
import asyncio
import json
import signal
import ssl
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import aiohttp
from aiohttp import web

NIL = "00000000-0000-0000-0000-000000000000"
HEADERS = {"talq-api-version": "2.7.1", "content-type": "application/json"}


class LoadCms:
    def __init__(self, args):
        self.args = args
        self.pki = Path(args.pki)
        self.bootstrapped = asyncio.Event()
        self.counts = {"bootstrap_requests": 0, "reports": 0, "records": 0,
                       "device_reads": 0, "device_pages": 0, "read_errors": 0}
        self.read_ms: list[float] = []

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.verify_mode = ssl.CERT_REQUIRED          # the gateway's client certificate
        context.load_cert_chain(self.pki / "cms-server.crt", self.pki / "cms-server.key")
        context.load_verify_locations(cafile=self.pki / "ca.crt")
        return context

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        context.load_cert_chain(self.pki / "cms.crt", self.pki / "cms.key")
        return context

    async def bootstrap(self, request: web.Request) -> web.Response:
        """§5.1's steps: step 1 (POST /devices with clientAddress NIL) gets the gateway device
        back with gateway.yaml's addresses; the other steps are taken as they come."""
        self.counts["bootstrap_requests"] += 1
        body = json.loads(await request.read())
        if request.method == "PATCH":
            self.bootstrapped.set()       # step 3; the rest follow at once
            return web.Response(status=200)
        if request.path.endswith("/devices") and request.query.get("clientAddress") == NIL:
            device = dict(body[0], address=self.args.gateway_address)
            for function in device["functions"]:
                if function["type"] == "GatewayFunction":
                    function["gatewayAddress"] = {"type": "AttributeString",
                                                  "value": self.args.gateway_address}
                    function["cmsAddress"] = {"type": "AttributeString",
                                              "value": self.args.cms_address}
            return web.json_response([device], status=201)
        return web.Response(status=201)

    async def log_reports(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        self.counts["reports"] += 1
        self.counts["records"] += len(body.get("entries", []))
        return web.Response(status=201)

    def loggers(self) -> list[dict]:
        start = datetime.now(timezone.utc).isoformat(timespec="seconds")
        every = {"blackList": []}        # every device (data-model OAS, LoggerConfig)
        events = {"address": "bench-events", "ownerCMS": self.args.cms_address,
                  "sourceAddresses": every,
                  "recordingMode": {"type": "EventRecordingMode",
                                    "sourceEvents": {"blackList": []}},
                  "reportingMode": {"type": "ImmediateReportingMode", "delay": 0}}
        attributes = [{"name": n} for n in self.args.attributes.split(",")]
        periodic = {"address": "bench-energy", "ownerCMS": self.args.cms_address,
                    "sourceAddresses": every,
                    "recordingMode": {"type": "PeriodicRecordingMode", "content": [
                        {"function": {"functionType": "LampMonitorFunction",
                                      "attributes": attributes}}],
                        "samplingProfiles": [{"samplingStartTime": start,
                                              "samplingPeriod": f"PT{self.args.period}S"}]},
                    "reportingMode": {"type": "ImmediateReportingMode",
                                      "delay": self.args.report_delay}}
        return [events, periodic]

    async def gateway_loop(self) -> None:
        """Configure the two loggers once bootstrapped, then read /devices forever."""
        base = f"https://127.0.0.1:{self.args.gateway_port}"
        query = f"clientAddress={self.args.cms_address}"
        timeout = aiohttp.ClientTimeout(total=30)
        connector = aiohttp.TCPConnector(ssl=self.client_context(), limit=1)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            await asyncio.wait_for(self.bootstrapped.wait(), 120)
            for logger in self.loggers():
                async with session.post(f"{base}/logger-configs?{query}&talqRequestId="
                                        f"{uuid.uuid4()}", data=json.dumps(logger),
                                        headers=HEADERS) as response:
                    text = await response.text()
                    if response.status != 201:
                        raise SystemExit(f"logger {logger['address']}: {response.status} {text}")
            print("ready", flush=True)
            while True:
                await self.read_devices(session, base, query)
                await asyncio.sleep(self.args.read_every)

    async def read_devices(self, session, base: str, query: str) -> None:
        t0, offset = time.perf_counter(), 0
        while True:
            async with session.get(f"{base}/devices?{query}&offset={offset}&limit=100",
                                   headers=HEADERS) as response:
                body = await response.read()
                if response.status != 200:
                    self.counts["read_errors"] += 1
                    return
                self.counts["device_pages"] += 1
                total = int(response.headers.get("pagination-totalCount", "0"))
            offset += len(json.loads(body))
            if offset >= total or not body:
                break
        self.counts["device_reads"] += 1
        self.read_ms.append((time.perf_counter() - t0) * 1000)

    async def main(self) -> None:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post("/talq/log-reports", self.log_reports)
        for path in ("/talq/devices", "/talq/device-classes", "/talq/services"):
            app.router.add_post(path, self.bootstrap)
        app.router.add_patch("/talq/devices/{address}", self.bootstrap)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.args.port,
                          ssl_context=self.server_context()).start()
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        reader = asyncio.create_task(self.gateway_loop(), name="cms.gateway")
        await asyncio.wait([reader, asyncio.create_task(stop.wait())],
                           return_when=asyncio.FIRST_COMPLETED)
        reader.cancel()
        await runner.cleanup()
        ms = sorted(self.read_ms)
        self.counts["read_ms_p50"] = round(ms[len(ms) // 2], 1) if ms else None
        print("counts " + json.dumps(self.counts), flush=True)
        if reader.done() and not reader.cancelled() and reader.exception():
            raise reader.exception()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True, help="this CMS's HTTPS port")
    parser.add_argument("--gateway-port", type=int, required=True)
    parser.add_argument("--pki", required=True, help="folder of make_talq_pki's files")
    parser.add_argument("--gateway-address", required=True)
    parser.add_argument("--cms-address", required=True)
    parser.add_argument("--read-every", type=float, default=5.0,
                        help="seconds between two reads of all /devices pages")
    parser.add_argument("--period", type=int, default=10, help="sampling period, s (>= 10)")
    parser.add_argument("--report-delay", type=int, default=2,
                        help="the periodic logger's ImmediateReportingMode delay, s")
    parser.add_argument("--attributes", default="supplyVoltage,activePower,activeEnergy",
                        help="LampMonitorFunction attributes the periodic logger samples")
    asyncio.run(LoadCms(parser.parse_args(argv)).main())
    return 0


if __name__ == "__main__":
    sys.exit(main())
