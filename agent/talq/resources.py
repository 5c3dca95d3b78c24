"""The gateway resources served (docs/talq.md has the table of every OAS path).

Each handler checks the common parameters, then answers from a Catalog built for this
request: nothing is cached between requests, so a CMS reads what the lights do now.
"""

from aiohttp import web

from agent.talq.bodies import read_json
from agent.talq.catalog import Catalog
from agent.talq.errors import HEADERS, json_answer, not_found
from agent.talq.overrides import apply_override
from agent.talq.pagination import page
from agent.talq.requests import check_common


class Resources:
    def __init__(self, site, talq):
        self.site, self.talq = site, talq

    def _catalog(self, request) -> Catalog:
        check_common(request, self.talq.cms_address)
        return Catalog(self.site, self.talq)

    def routes(self) -> list:
        return [web.get("/devices", self.devices), web.get("/devices/count", self.devices_count),
                web.get("/devices/{device}", self.device),
                web.get("/devices/{device}/{function}", self.function),
                web.get("/devices/{device}/{function}/{attribute}", self.attribute),
                web.get("/device-classes", self.classes),
                web.get("/device-classes/count", self.classes_count),
                web.get("/device-classes/{name}", self.device_class),
                web.get("/groups", self.groups), web.get("/groups/count", self.groups_count),
                web.get("/groups/{group}", self.group),
                web.post("/override-commands", self.override),
                web.get("/services", self.services),
                web.get("/services/{name}", self.service)]

    async def devices(self, request):
        catalog = self._catalog(request)
        classes = request.query.getall("deviceClasses", [])
        chosen, headers = page(request.query, catalog.addresses(classes), self.talq.page_limit)
        return json_answer([catalog.device(x) for x in chosen], headers=headers)

    async def devices_count(self, request):
        return json_answer(len(self._catalog(request).order))

    def _address(self, catalog, request) -> str:
        address = request.match_info["device"].lower()
        if address not in catalog.by_address:
            raise not_found(f"no device {address[:60]!r} on this gateway; GET /devices lists them")
        return address

    def _function(self, catalog, request) -> dict:
        address = self._address(catalog, request)
        wanted = request.match_info["function"]
        for function in catalog.functions(address):
            if function["id"] == wanted:
                return function
        raise not_found(f"device {address} has no function {wanted[:60]!r}; its class "
                        f"{catalog.class_of(address)} lists them (GET /device-classes)")

    async def device(self, request):
        catalog = self._catalog(request)
        return json_answer(catalog.device(self._address(catalog, request)))

    async def function(self, request):
        catalog = self._catalog(request)
        return json_answer(self._function(catalog, request))

    async def attribute(self, request):
        catalog = self._catalog(request)
        function = self._function(catalog, request)
        name = request.match_info["attribute"]
        if name in ("id", "type") or name not in function:
            raise not_found(f"function {function['id']} has no attribute {name[:60]!r} now "
                            "(an attribute not read yet is absent)")
        return json_answer(function[name])

    async def classes(self, request):
        return json_answer(self._catalog(request).device_classes())

    async def classes_count(self, request):
        return json_answer(len(self._catalog(request).device_classes()))

    async def device_class(self, request):
        name = request.match_info["name"]
        for found in self._catalog(request).device_classes():
            if found["name"] == name:
                return json_answer(found)
        raise not_found(f"no device class {name[:60]!r}; GET /device-classes lists them")

    async def groups(self, request):
        catalog = self._catalog(request)
        return json_answer([catalog.group(x) for x in catalog.groups])

    async def groups_count(self, request):
        return json_answer(len(self._catalog(request).groups))

    async def group(self, request):
        catalog = self._catalog(request)
        address = request.match_info["group"].lower()
        if address not in catalog.groups:
            raise not_found(f"no group {address[:60]!r}; GET /groups lists the lighting "
                            "groups of gateway.yaml")
        return json_answer(catalog.group(address))

    async def override(self, request):
        """§5.6: 201 once the override is held (or withdrawn) and the lights are written."""
        check_common(request, self.talq.cms_address, request_id=True)
        body = await read_json(request, self.talq.max_body)
        await apply_override(self.site, Catalog(self.site, self.talq), body)
        return web.Response(status=201, headers=HEADERS)

    async def services(self, request):
        return json_answer(self._catalog(request).services())

    async def service(self, request):
        name = request.match_info["name"]
        for found in self._catalog(request).services():
            if found["name"] == name:
                return json_answer(found)
        raise not_found(f"service {name[:60]!r} is not supported by this gateway; "
                        "GET /services lists those it is")
