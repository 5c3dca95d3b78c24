"""Unassigning a calendar from a lighting group (AssignCommand in the data-model OAS: "Any entity
associated with the address(es) can be de-associated by setting the 'entity.resource' but not
the 'entity.address'"): through the mutual-TLS server, the group goes back to gateway.yaml's own
plan, stored atomically like a pushed schedule, and stays there after a restart. The clock is
pinned to an evening, so gateway.yaml's sunset-to-sunrise plan is on whatever the real hour."""

import asyncio
import json
import uuid
from datetime import date
from pathlib import Path

from agent.platform.clock import AgentClock
from tests.agent.talq.running import CMS, GATEWAY, asker, cms_query, running_gateway, until
from tests.agent.talq.test_talq_calendar_live import at, evening
from tests.support.talq_pki import make_talq_pki

LIGHTS = 2
FRIDAY = date(2026, 12, 18)
ROAD = str(uuid.uuid5(uuid.UUID(GATEWAY), "group:road"))
CALENDAR = {"id": "city", "ownerCMS": CMS, "defaultProgram": "dim"}


def test_an_unassigned_group_goes_back_to_gateway_yaml_plan_and_stays_there(tmp_path,
                                                                             site_factory):
    site = site_factory(LIGHTS)
    pki = make_talq_pki(tmp_path / "pki")
    lamps = lambda: [(m.switch, m.dim) for m in site.site.lights.values()]
    light = str(uuid.uuid5(uuid.UUID(GATEWAY), "L-001"))
    own = {}

    async def assign_then_unassign():
        clock = AgentClock(start=evening(FRIDAY), rate=1.0, trust="assume")
        async with running_gateway(tmp_path, site, LIGHTS, pki=pki, clock=clock) as (
                agent, _, port):
            ask = asker(port, pki)
            query = cms_query
            await until(lambda: all(s == 1 for s, _ in lamps()), "gateway.yaml's plan on")
            own["lamps"] = lamps()
            assert own["lamps"][0][1] != 40, own                     # the calendar's differs
            assert (await ask("POST", "/control-programs", query=query(),
                              body=[at("dim", 40)]))[0] == 201
            assert (await ask("POST", "/calendars", query=query(), body=[CALENDAR]))[0] == 201
            status, _, body = await ask("POST", "/assign-commands", query=query(), body={
                "addresses": [{"resource": "groups", "address": ROAD}],
                "entity": {"resource": "calendars", "address": "city"}})
            assert status == 201, body
            await until(lambda: all(v == (1, 40) for v in lamps()), "the calendar's 40 %")
            # a calendar in use cannot be deleted; the refusal says how to unassign it
            status, _, body = await ask("DELETE", "/calendars/city", query=query())
            assert (status, body[0]["key"]) == (422, "deletingResourceIsReferred"), body
            told = body[0]["description"]
            assert "unassign" in told and 'address: ""' in told, told
            status, _, body = await ask("POST", "/assign-commands", query=query(), body={
                "addresses": [{"resource": "groups", "address": ROAD}],
                "entity": {"resource": "calendars", "address": ""}})
            assert status == 201, body
            await until(lambda: lamps() == own["lamps"], "gateway.yaml's plan again")
            got = (await ask("GET", f"/devices/{light}/lampActuator/calendarID"))[2]
            assert got["value"] == "", got
            stored = json.loads(Path(agent.config.commands.schedule_file).read_text())
            assert stored["groups"]["road"]["schedule"] == "evening", stored["groups"]
            assert "calendar" not in stored["groups"]["road"], stored["groups"]
            # unassigned, the calendar is no longer in use: it can go
            assert (await ask("DELETE", "/calendars/city", query=query()))[0] == 200

    async def after_restart():
        clock = AgentClock(start=evening(FRIDAY) + 600, rate=1.0, trust="assume")
        async with running_gateway(tmp_path, site, LIGHTS, pki=pki, clock=clock) as (
                agent, _, port):
            await until(lambda: lamps() == own["lamps"], "gateway.yaml's plan after a restart")
            assert agent.lighting.outputs["L-001"]["source"] == "schedule"

    asyncio.run(assign_then_unassign())
    asyncio.run(after_restart())
