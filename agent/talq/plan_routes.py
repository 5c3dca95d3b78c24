"""The control-program, calendar and assign-command resources (spec §5.8; gateway OAS)."""

from aiohttp import web

from agent.talq.bodies import read_json
from agent.talq.catalog import Catalog
from agent.talq.errors import HEADERS, TalqError, bad, json_answer, not_found
from agent.talq.plan_changes import delete, replace
from agent.talq.plans import assign, calendar_plan, program_plan, refuse
from agent.talq.requests import check_common

MAX_BATCH = 64


class PlanResources:
    """`state.plans` is the PlanStore."""

    def __init__(self, site, talq, state):
        self.site, self.talq, self.state = site, talq, state

    def routes(self) -> list:
        out = [web.post("/assign-commands", self.assign)]
        for path, kind in (("/control-programs", "programs"), ("/calendars", "calendars")):
            out += [web.post(path, self._create(kind)), web.get(path, self._list(kind)),
                    web.get(path + "/count", self._count(kind)),
                    web.get(path + "/{id}", self._one(kind)),
                    web.put(path, self._replace(kind)), web.put(path + "/{id}", self._replace(kind)),
                    web.delete(path + "/{id}", self._delete(kind))]
        return out

    def _bodies(self, kind: str) -> dict:
        store = self.state.plans
        if kind == "programs":
            return {k: v["body"] for k, v in store.programs.items()}
        return dict(store.calendars)

    async def _batch(self, request, single: bool = False) -> list:
        check_common(request, self.talq.cms_address, request_id=True)
        if self.site.lighting is None:
            raise refuse("assignmentEntityNotValid", "this gateway has no lighting section in "
                         "gateway.yaml: it runs no plans")
        body = await read_json(request, self.talq.max_body)
        if single:
            return body
        if not isinstance(body, list) or not 0 < len(body) <= MAX_BATCH:
            raise bad("payloadError", f"the body is an array of 1..{MAX_BATCH} objects")
        return body

    def _create(self, kind: str):
        async def create(request):
            store = self.state.plans
            body = await self._batch(request)
            programs, calendars = dict(store.programs), dict(store.calendars)
            for item in body:                      # all checked before anything is stored
                if kind == "programs":
                    plan = program_plan(item)
                    new, table = plan["id"], programs
                    value = plan
                else:
                    calendar_plan(item, programs)
                    new, table, value = item["id"], calendars, item
                if new in table:
                    raise TalqError(409, "resourceConflict", f"{new[:60]!r} exists already")
                table[new] = value
            await store.save(programs, calendars)
            return web.Response(status=201, headers=HEADERS)
        return create

    def _replace(self, kind: str):
        async def replacing(request):
            one = request.match_info.get("id")
            if one is None:
                body = await self._batch(request)
            else:
                body = await self._batch(request, single=True)
                if not isinstance(body, dict) or body.get("id", one) != one:
                    raise bad("payloadError", f"one {kind[:-1]} object whose id is {one[:60]!r}")
                body = [{**body, "id": one}]
            kept = await replace(self.site, self.state.plans, kind, body)
            return json_answer(kept if one is None else kept[0])
        return replacing

    def _delete(self, kind: str):
        async def deleting(request):
            check_common(request, self.talq.cms_address, request_id=True)
            return json_answer(await delete(self.site, self.state.plans, kind,
                                            request.match_info["id"]))
        return deleting

    def _list(self, kind: str):
        async def listing(request):
            check_common(request, self.talq.cms_address)
            return json_answer(list(self._bodies(kind).values()))
        return listing

    def _count(self, kind: str):
        async def count(request):
            check_common(request, self.talq.cms_address)
            return json_answer(len(self._bodies(kind)))
        return count

    def _one(self, kind: str):
        async def one(request):
            check_common(request, self.talq.cms_address)
            found = self._bodies(kind).get(request.match_info["id"])
            if found is None:
                raise not_found(f"no such {kind[:-1]} {request.match_info['id'][:60]!r}")
            return json_answer(found)
        return one

    async def assign(self, request):
        """§5.8: 201 once the groups run the calendar's program (stored like a pushed plan)."""
        check_common(request, self.talq.cms_address, request_id=True)
        if self.site.lighting is None:
            raise refuse("assignmentAddressNotValid", "this gateway has no lighting section")
        body = await read_json(request, self.talq.max_body)
        await assign(self.site, Catalog(self.site, self.talq), self.state.plans, body)
        return web.Response(status=201, headers=HEADERS)
