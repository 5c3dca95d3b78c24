"""Writes on /devices (gateway OAS): DELETE of the gateway device by its CMS (§5.1
"Resynchronizing a Gateway"), and PATCH of the writable attributes (§5.2, §5.7).

Lentera's devices come from gateway.yaml, so a CMS can neither create nor delete a field
device; POST /devices tells it the address of one it names (§5.3, agent/talq/device_create.py). A PATCH reaches the lights only through the lighting service's arbitration, as a
TALQ override does (agent/talq/overrides.py): the adapter keeps no copy of their state.
"""

import logging

from aiohttp import web

from agent.errors import Refused
from agent.talq.bodies import read_json
from agent.talq.catalog import Catalog
from agent.talq.device_create import created, replaced
from agent.talq.errors import HEADERS, TalqError, json_answer, not_found
from agent.talq.overrides import ORIGIN, lights_of
from agent.talq.requests import check_common
from agent.talq.writes import device_writes, devices_writes, function_writes

log = logging.getLogger(__name__)


class DeviceWrites:
    """`state` has the logger store, the plan store and the bootstrap."""

    def __init__(self, site, talq, state):
        self.site, self.talq, self.state = site, talq, state

    def routes(self) -> list:
        return [web.post("/devices", self.create), web.put("/devices", self.replace),
                web.delete("/devices/{device}", self.delete),
                web.patch("/devices", self.patch), web.patch("/devices/{device}", self.patch),
                web.patch("/devices/{device}/{function}", self.patch),
                web.patch("/devices/{device}/{function}/{attribute}", self.patch)]

    async def create(self, request):
        """§5.3: 201 with the devices the CMS named, when the gateway has them."""
        check_common(request, self.talq.cms_address, request_id=True)
        body = await read_json(request, self.talq.max_body)
        return json_answer(created(Catalog(self.site, self.talq), body), status=201)

    async def replace(self, request):
        """§5.3 (PUT): refused, the definitions are gateway.yaml's (agent/talq/device_create)."""
        check_common(request, self.talq.cms_address, request_id=True)
        replaced(Catalog(self.site, self.talq), await read_json(request, self.talq.max_body))

    async def patch(self, request):
        """§5.2, §5.7: 200 once every write in the body is checked and the lights written."""
        check_common(request, self.talq.cms_address, request_id=True)
        body = await read_json(request, self.talq.max_body)
        catalog = Catalog(self.site, self.talq)
        now = self.site.clock.wall()
        match = request.match_info
        if "device" not in match:
            writes = devices_writes(catalog, body, now)
        else:
            address = match["device"].lower()
            if address not in catalog.by_address:
                raise not_found(f"no device {address[:60]!r} on this gateway; GET /devices "
                                "lists them")
            if "function" not in match:
                writes = device_writes(catalog, body, now, address)
            elif "attribute" not in match:
                writes = function_writes(catalog, address, body, now, match["function"])
            elif match["attribute"] in ("id", "type"):
                raise not_found(f"{match['attribute']} is the function's, not an attribute")
            else:
                writes = function_writes(catalog, address, {match["attribute"]: body}, now,
                                         match["function"])
        await self._apply(writes)
        return web.Response(status=200, headers=HEADERS)

    async def _apply(self, writes: list) -> None:
        """A light's last command counts; lights with the same command are held in one
        entry of the arbitration."""
        last = {light: command for _, light, command in writes}
        same: dict[tuple, list] = {}
        for light, command in last.items():
            same.setdefault(command, []).append(light)
        for (switch, dim, expires, label), lights in same.items():
            try:
                await self.site.lighting.replace_commands(ORIGIN, lights, switch, dim,
                                                          expires, label)
            except Refused as exc:
                raise TalqError(422, "serviceConstraintExceeded", str(exc)) from None

    async def delete(self, request):
        """§5.1: the CMS's DELETE of the gateway device removes its data, then the gateway
        bootstraps again; 200 with the device as it was."""
        check_common(request, self.talq.cms_address, request_id=True)
        catalog = Catalog(self.site, self.talq)
        address = request.match_info["device"].lower()
        if address not in catalog.by_address:
            raise not_found(f"no device {address[:60]!r} on this gateway; GET /devices lists "
                            "them")
        if address != self.talq.gateway_address:
            raise TalqError(422, "resourceConflict", f"device {address} is in gateway.yaml: "
                            "remove it there (`lentera check-config`, then restart lentera)")
        device = catalog.device(address)
        await self.forget_cms(catalog)
        await self.state.bootstrap.restart()
        log.warning("TALQ CMS %s asked to resynchronize: its logger configs, programs, "
                    "calendars and overrides are removed; bootstrapping again",
                    self.talq.cms_address)
        return json_answer(device)

    async def forget_cms(self, catalog) -> None:
        """Remove what the CMS put here: logger configs, programs and calendars, and its
        overrides (the lights resume their plan or defaultLightState). The lighting plan a
        calendar assignment pushed stays: it is Lentera's plan now, like an MQTT-pushed one."""
        for address in list(self.state.store.loggers):
            await self.state.store.delete(address)
        await self.state.plans.save({}, {})
        lighting = self.site.lighting
        if lighting is not None and catalog.groups:
            lights = lights_of([{"resource": "groups", "address": g} for g in catalog.groups],
                               catalog)
            try:
                await lighting.replace_commands(ORIGIN, lights, None, None, None,
                                                "TALQ CMS detached")
            except Refused as exc:          # a withdrawal holds nothing: not expected
                log.error("TALQ overrides not withdrawn: %s", exc)
