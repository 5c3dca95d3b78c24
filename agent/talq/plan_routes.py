"""The control-program, calendar and assign-command resources (spec §5.8; gateway OAS)."""

from aiohttp import web

from agent.talq.bodies import read_json
from agent.talq.catalog import Catalog
from agent.talq.errors import HEADERS, TalqError, bad, got, json_answer, not_found
from agent.talq.plan_changes import TYPES, delete, replace
from agent.talq.plans import assign, calendar_plan, program_plan, refuse
from agent.talq.requests import check_common

MAX_BATCH = 64
NO_LIGHTING = ("this gateway has no lighting section in gateway.yaml, so it runs no plans: add "
               "one (lighting: groups, schedules; docs/rules.md), restart the agent and send "
               "the request again")


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

    async def _batch(self, request, kind: str, single: bool = False) -> list:
        check_common(request, self.talq.cms_address, request_id=True)
        if self.site.lighting is None:
            raise refuse("assignmentEntityNotValid", NO_LIGHTING)
        body = await read_json(request, self.talq.max_body)
        if single:
            return body
        if not isinstance(body, list) or not 0 < len(body) <= MAX_BATCH:
            shape = "an object" if isinstance(body, dict) else \
                f"{len(body)} items" if isinstance(body, list) else got(body)
            hint = "; §5.8's example sends one object, put it in [...]" \
                if isinstance(body, dict) else ""
            raise bad("payloadError", f"the body is {shape}: send an array of 1..{MAX_BATCH} "
                      f"{TYPES[kind][0]} objects (the gateway OAS){hint}")
        return body

    def _create(self, kind: str):
        async def create(request):
            store = self.state.plans
            body = await self._batch(request, kind)
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
                    path = TYPES[kind][1]
                    raise TalqError(409, "resourceConflict", f"{kind[:-1]} {new[:60]!r} exists "
                                    f"already: replace it with PUT {path} (or PUT "
                                    f"{path}/{{id}}), or send another id")
                table[new] = value
            await store.save(programs, calendars)
            return web.Response(status=201, headers=HEADERS)
        return create

    def _replace(self, kind: str):
        async def replacing(request):
            one = request.match_info.get("id")
            if one is None:
                body = await self._batch(request, kind)
            else:
                body = await self._batch(request, kind, single=True)
                name = TYPES[kind][0]
                if not isinstance(body, dict):
                    raise bad("payloadError", f"the body is {got(body)}: send one {name} "
                              f"object whose id is {one[:60]!r} (or without id)")
                if body.get("id", one) != one:
                    raise bad("payloadError", f"{name}.id is {got(body.get('id'))} but the "
                              f"path names {one[:60]!r}: send {one[:60]!r} as its id, or no "
                              "id, or PUT it at its own path")
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
                raise not_found(f"no {kind[:-1]} {request.match_info['id'][:60]!r} on this "
                                f"gateway: GET {TYPES[kind][1]} lists them")
            return json_answer(found)
        return one

    async def assign(self, request):
        """§5.8: 201 once the groups run the calendar's program (stored like a pushed plan)."""
        check_common(request, self.talq.cms_address, request_id=True)
        if self.site.lighting is None:
            raise refuse("assignmentAddressNotValid", NO_LIGHTING)
        body = await read_json(request, self.talq.max_body)
        await assign(self.site, Catalog(self.site, self.talq), self.state.plans, body)
        return web.Response(status=201, headers=HEADERS)
