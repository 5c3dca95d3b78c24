"""A real Agent with the TALQ interface on, polling a simulated site, and an HTTPS client."""

import asyncio
import contextlib
import http.client
import json
import ssl
import uuid

from agent.app import Agent
from agent.config.loading import load_config
from tests.support.broker import free_port
from tests.support.gateway_files import write_gateway
from tests.support.talq_pki import make_talq_pki

CMS = str(uuid.UUID(int=0x1C0FFEE))
GATEWAY = str(uuid.UUID(int=0x6A7E))
HEADERS = {"talq-api-version": "2.7.1"}


class PolledAgent(Agent):
    """The agent, telling the test once every light has been polled."""

    def __init__(self, *args, lights: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen: set = set()
        self.lights = lights
        self.polled = asyncio.Event()

    def on_reading(self, reading):
        super().on_reading(reading)
        if reading["quality"] == "good":
            self.seen.add(reading["device"])
        if len(self.seen) >= self.lights:
            self.polled.set()


def talq_gateway_yaml(tmp_path, site_port: int, lights: int, pki: dict, port: int,
                      extra: str = "", cms_port: int = 9, talq_extra: str = "",
                      schedule: str = "{on: sunset, off: sunrise}", load: bool = True):
    talq = (f'talq: {{listen: "127.0.0.1:{port}", tls_cert: "{pki["server.crt"]}", '
            f'tls_key: "{pki["server.key"]}", cms_ca: "{pki["ca.crt"]}", '
            f'cms_uri: "https://127.0.0.1:{cms_port}/talq", cms_address: "{CMS}", '
            f'gateway_uri: "https://127.0.0.1:{port}", gateway_address: "{GATEWAY}", '
            f'page_limit: 3, max_body: 4096{talq_extra}}}\n')
    lighting = ("lighting:\n  groups:\n    road: {devices: [" +
                ", ".join(f"L-{u:03d}" for u in range(1, lights + 1)) + "], schedule: evening}\n"
                f"  schedules:\n    evening: {schedule}\n"
                "  failsafe: {level: 70}\n")
    path = write_gateway(tmp_path / "gateway.yaml", f"mqtt://127.0.0.1:{free_port()}",
                         site_port, lights, poll="200ms", clock="assume",
                         extra=talq + lighting + extra)
    return load_config(path) if load else path


@contextlib.asynccontextmanager
async def running_gateway(tmp_path, site, lights: int, pki: dict | None = None, clock=None,
                          **yaml):
    """(agent, pki, port) while the agent runs with every light polled once; `yaml`: more
    talq_gateway_yaml arguments (extra, cms_port, talq_extra)."""
    pki = pki or make_talq_pki(tmp_path / "pki")
    port = free_port()
    agent = PolledAgent(talq_gateway_yaml(tmp_path, site.port, lights, pki, port, **yaml),
                        lights=lights, clock=clock)
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    try:
        await asyncio.wait_for(agent.polled.wait(), 20)
        yield agent, pki, port
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


def client_context(pki: dict, cert: str | None = "cms") -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=pki["ca.crt"])
    if cert is not None:
        context.load_cert_chain(pki[f"{cert}.crt"], pki[f"{cert}.key"])
    return context


def call(port: int, pki: dict, method: str, path: str, body=None, headers=None,
         cert: str | None = "cms", query: str = f"clientAddress={CMS}"):
    """(status, headers, parsed JSON body) of one HTTPS request, in a thread-safe sync client."""
    connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=10,
                                             context=client_context(pki, cert))
    try:
        sep = "&" if "?" in path else "?"
        target = path + (sep + query if query else "")
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        connection.request(method, target, body=data, headers={**HEADERS, **(headers or {})})
        response = connection.getresponse()
        raw = response.read()
        return response.status, dict(response.getheaders()), json.loads(raw) if raw else None
    finally:
        connection.close()


def asker(port: int, pki: dict):
    """The CMS's side of a test in the event loop: `await ask(method, path, ...)` runs call()
    in a thread, so the agent under test keeps its loop."""
    return lambda *args, **kwargs: asyncio.to_thread(call, port, pki, *args, **kwargs)


def cms_query() -> str:
    """The query of a CMS request: its clientAddress and a fresh talqRequestId."""
    return f"clientAddress={CMS}&talqRequestId={uuid.uuid4()}"


async def until(predicate, what: str, timeout: float = 20.0):
    """Wait (bounded) until predicate() is truthy, e.g. a simulated lamp reaching a level:
    the simulator has no event to wait on, so it is looked at every 0.1 s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (value := predicate()):
        assert loop.time() < deadline, f"timed out after {timeout} s waiting for {what}"
        await asyncio.sleep(0.1)
    return value
