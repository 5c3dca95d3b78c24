"""The logger-config and log-report resources of the gateway (spec §5.5; gateway OAS)."""

from aiohttp import web

from agent.talq.bodies import read_json
from agent.talq.catalog import Catalog
from agent.talq.errors import HEADERS, TalqError, json_answer, not_found
from agent.talq.loggers import decode_logger
from agent.talq.requests import check_common


class LoggerResources:
    """`state` holds the LoggerStore (`store`) and the LogReporter (`reporter`)."""

    def __init__(self, site, talq, state):
        self.site, self.talq, self.state = site, talq, state

    def routes(self) -> list:
        return [web.post("/logger-configs", self.create),
                web.get("/logger-configs/{logger}", self.read),
                web.put("/logger-configs/{logger}", self.replace),
                web.delete("/logger-configs/{logger}", self.delete),
                web.get("/log-reports/count", self.count),
                web.get("/log-reports/{logger}", self.report)]

    def _known(self, request) -> str:
        address = request.match_info["logger"]
        if address not in self.state.store.loggers:
            raise not_found(f"no logger config {address[:60]!r}; the CMS creates one with "
                            "POST /logger-configs")
        return address

    async def _decode(self, request, address=None) -> dict:
        check_common(request, self.talq.cms_address, request_id=True)
        body = await read_json(request, self.talq.max_body)
        return decode_logger(body, Catalog(self.site, self.talq), address)

    async def create(self, request):
        logger = await self._decode(request)
        if logger["config"]["address"] in self.state.store.loggers:
            raise TalqError(409, "resourceConflict", f"logger {logger['config']['address']!r} "
                            "exists; PUT /logger-configs/{address} replaces it")
        await self.state.store.put(logger)
        return web.Response(status=201, headers=HEADERS)

    async def read(self, request):
        check_common(request, self.talq.cms_address)
        return json_answer(self.state.store.loggers[self._known(request)]["config"])

    async def replace(self, request):
        address = self._known(request)
        await self.state.store.put(await self._decode(request, address))
        return web.Response(status=200, headers=HEADERS)

    async def delete(self, request):
        check_common(request, self.talq.cms_address, request_id=True)
        address = self._known(request)
        config = self.state.store.loggers[address]["config"]
        await self.state.store.delete(address)
        return json_answer(config)

    async def count(self, request):
        check_common(request, self.talq.cms_address)
        return json_answer(len(self.state.store.loggers))

    async def report(self, request):
        """§5.5 'asking for a log report': the records of this logger not yet acknowledged."""
        check_common(request, self.talq.cms_address)
        address = self._known(request)
        waiting = self.state.reporter.waiting
        entries = [found[address] for _, found in sorted(waiting.items()) if address in found]
        return json_answer({"address": address, "entries": entries})
