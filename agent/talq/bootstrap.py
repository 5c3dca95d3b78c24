"""The gateway's TALQ bootstrap against its CMS (spec §5.1), then its devices (§5.2).

Run as the supervised task `talq.bootstrap` (agent/talq/wiring.py). The steps, in the order
of §5.1, each a request of the CMS OAS:
  1. POST /devices with the gateway device, clientAddress and gatewayAddress NIL; the CMS
     answers with the gatewayAddress and cmsAddress it assigns;
  2. POST /device-classes with the gateway's class;  3. PATCH /devices/{gatewayAddress};
  4. POST /services;  5. POST /device-classes with the other classes (an empty list says the
     bootstrap is over);  6. POST /devices with the field devices (§5.2).
A step the CMS does not take (5xx, 4xx, a timeout, a dropped connection) is sent again after a
backoff that doubles from 1 s up to talq.retry_period, with jitter; the steps already taken are
not repeated. Lentera's addresses come from gateway.yaml (the field devices' are name-based
under the gateway's), so a CMS that assigns other ones is named in the error, with the fix.
The result is kept in talq-bootstrap.json, so a restart does not bootstrap again; a CMS asks
for a new bootstrap with DELETE /devices/{gatewayAddress} (§5.1 "Resynchronizing").
"""

import asyncio
import json
import logging
import random
import ssl
import time
import uuid

import aiohttp

from agent.errors import LenteraError
from agent.store.statefile import load_or_quarantine, write_atomic_off_loop
from agent.talq.catalog import Catalog
from agent.talq.client import client_context
from agent.talq.errors import API_VERSION

log = logging.getLogger(__name__)
NIL = "00000000-0000-0000-0000-000000000000"
DEVICES_PER_POST = 100
STEPS = ("gateway announcement", "gateway class", "gateway attributes", "services",
         "device classes", "devices")


class NotTaken(LenteraError):
    """A step the CMS did not take; the text names the cause."""


class Bootstrap:
    def __init__(self, site, talq, path, on_corrupt):
        self.site, self.talq, self.path = site, talq, path
        self.done = asyncio.Event()       # the log reports wait for it (§5.1: nothing else
        self._again = asyncio.Event()     # is sent during the bootstrap)
        self.step = 0                     # the next step to send (index in STEPS)
        self.attempts = 0
        self.cause: str | None = None     # why the last attempt was not taken
        self.generation = 0               # bumped by restart(): a step in flight is not counted
        saved = load_or_quarantine(path, _load, on_corrupt)
        if saved is not None and saved == self._identity():
            self.step = len(STEPS)
            self.done.set()

    def _identity(self) -> dict:
        return {"cmsUri": self.talq.cms_uri, "gatewayAddress": self.talq.gateway_address,
                "cmsAddress": self.talq.cms_address}

    def status(self) -> dict:
        return {"bootstrapped": self.done.is_set(),
                "step": STEPS[self.step] if self.step < len(STEPS) else None,
                "attempts": self.attempts, "cause": self.cause}

    async def restart(self) -> None:
        """The CMS asked to resynchronize (§5.1): bootstrap again from step 1."""
        self.generation += 1
        self.done.clear()
        self.step = 0
        await write_atomic_off_loop(self.path, b"{}")
        self._again.set()

    async def run_loop(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.talq.report_timeout)
        connector = aiohttp.TCPConnector(ssl=client_context(self.talq), limit=1)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            while True:
                if not self.done.is_set():
                    await self._until_taken(session)
                await self._again.wait()
                self._again.clear()

    async def _until_taken(self, session) -> None:
        while True:
            await self._steps(session)
            generation = self.generation
            await write_atomic_off_loop(self.path, json.dumps(
                {**self._identity(), "at": time.time()}).encode())
            if generation == self.generation:      # no new request while it was written
                break
        self.cause = None
        self.done.set()
        log.info("TALQ bootstrap with %s done: devices announced", self.talq.cms_uri)

    async def _steps(self, session) -> None:
        delay = 1.0
        while self.step < len(STEPS):
            generation = self.generation
            self.attempts += 1
            try:
                await self._send_step(session, Catalog(self.site, self.talq))
            except NotTaken as exc:
                if str(exc) != self.cause:        # logged once per change of cause
                    log.warning("TALQ bootstrap with %s: step %d (%s) not taken: %s; sent "
                                "again with backoff up to %.0f s (talq.retry_period)",
                                self.talq.cms_uri, self.step + 1, STEPS[self.step], exc,
                                self.talq.retry_period)
                self.cause = str(exc)
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, self.talq.retry_period)
                continue
            if generation == self.generation:      # else the CMS asked again meanwhile:
                self.step += 1                     # restart() set step 1 again
            delay = 1.0

    async def _send_step(self, session, catalog) -> None:
        gateway = catalog.device(self.talq.gateway_address)
        classes = catalog.device_classes()
        mine = [c for c in classes if c["name"] == gateway["class"]]
        if self.step == 0:
            answer = await self._send(session, "POST", "/devices", [announcement(gateway)],
                                      client=NIL, expect=201)
            self._check_addresses(answer)
        elif self.step == 1:
            await self._send(session, "POST", "/device-classes", mine, expect=201)
        elif self.step == 2:
            await self._send(session, "PATCH", f"/devices/{self.talq.gateway_address}",
                             gateway, expect=200)
        elif self.step == 3:
            await self._send(session, "POST", "/services", catalog.services(), expect=201)
        elif self.step == 4:
            await self._send(session, "POST", "/device-classes",
                             [c for c in classes if c not in mine], expect=201)
        else:
            field = [catalog.device(x) for x in catalog.order[1:]]
            for i in range(0, len(field), DEVICES_PER_POST):
                await self._send(session, "POST", "/devices", field[i:i + DEVICES_PER_POST],
                                 expect=201)

    def _check_addresses(self, answer) -> None:
        found = {}
        for device in answer if isinstance(answer, list) else []:
            functions = device.get("functions") if isinstance(device, dict) else None
            for function in functions if isinstance(functions, list) else []:
                if isinstance(function, dict) and function.get("type") == "GatewayFunction":
                    for name in ("gatewayAddress", "cmsAddress"):
                        value = function.get(name)
                        found[name] = value.get("value") if isinstance(value, dict) else None
        given = (found.get("gatewayAddress"), found.get("cmsAddress"))
        wanted = (self.talq.gateway_address, self.talq.cms_address)
        if not all(isinstance(x, str) for x in given):
            raise NotTaken("the CMS's answer to POST /devices has no GatewayFunction with "
                           "gatewayAddress and cmsAddress (§5.1 step 1)")
        if tuple(x.lower() for x in given) != wanted:
            raise NotTaken(f"the CMS assigned gatewayAddress {given[0][:40]} and cmsAddress "
                           f"{given[1][:40]}, gateway.yaml has talq.gateway_address "
                           f"{wanted[0]} and talq.cms_address {wanted[1]}: set them to the "
                           "CMS's values (or have the CMS keep these) and restart lentera")

    async def _send(self, session, method: str, path: str, body, *, expect: int,
                    client: str | None = None):
        url = self.talq.cms_uri.rstrip("/") + path
        params = {"clientAddress": client or self.talq.gateway_address,
                  "talqRequestId": str(uuid.uuid4())}
        try:
            async with session.request(method, url, params=params, json=body,
                                       headers={"talq-api-version": API_VERSION}) as response:
                raw = await response.read()
                if response.status != expect:
                    raise NotTaken(f"{method} {path}: the CMS answered {response.status} "
                                   f"{raw[:200].decode('utf-8', 'replace')}")
        except (aiohttp.ClientError, asyncio.TimeoutError, ssl.SSLError, OSError) as exc:
            raise NotTaken(f"{method} {path}: {type(exc).__name__}: {exc}") from None
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            raise NotTaken(f"{method} {path}: the CMS's answer is not JSON") from None


def announcement(gateway: dict) -> dict:
    """Step 1's device: the gateway with NIL addresses (the CMS assigns them, §5.1)."""
    functions = []
    for function in gateway["functions"]:
        if function["type"] == "GatewayFunction":
            function = {**function, "gatewayAddress": {"type": "AttributeString", "value": NIL},
                        "cmsAddress": {"type": "AttributeString", "value": NIL}}
        functions.append(function)
    return {**gateway, "address": NIL, "functions": functions}


def _load(path) -> dict:
    saved = json.loads(path.read_text())
    if not isinstance(saved, dict):
        raise ValueError("talq-bootstrap.json is not an object")
    return {k: saved[k] for k in ("cmsUri", "gatewayAddress", "cmsAddress") if k in saved}
