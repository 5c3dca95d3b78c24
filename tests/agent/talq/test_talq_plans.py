"""TALQ control programs, calendars and assign commands (spec §5.8) on a live agent with a
warped clock: an astronomical program with a -15 min sunset offset switches the simulator's
lamps at sunset - 15 min, not at the gateway.yaml plan's sunset."""

import asyncio
import uuid
from datetime import datetime, timezone

from agent.platform.clock import AgentClock
from edge_rules.sunclock import sun_day
from tests.agent.talq.oas import validate
from tests.agent.talq.running import CMS, GATEWAY, asker, call, cms_query, running_gateway, until

LIGHTS = 2
RATE = 30.0            # warped seconds per real second


def program(pid: str = "night", offset: int = -15, **extra) -> dict:
    level = lambda v: {"state": {"name": "LevelState", "value": v}}
    return {"type": "ControlProgramOne", "id": pid, "ownerCMS": CMS, "activePeriods": [],
            "fixedTimeControls": [{"startTime": "23:00:00", "command": level(40)}],
            "astroClockTimeControls": [
                {"offset": offset, "solarEventType": "sunset", "operation": "Set",
                 "command": level(90)},
                {"offset": 10, "solarEventType": "sunrise", "operation": "Set",
                 "command": level(0)}], **extra}


def test_an_astronomical_calendar_switches_at_sunset_minus_15_min(tmp_path, site_factory):
    site = site_factory(LIGHTS)
    day = datetime.now(timezone.utc).date()
    sunset = sun_day(-6.178, 106.632, day.year, day.month, day.day).get("sunset")
    clock = AgentClock(start=sunset - 25 * 60, rate=RATE, trust="assume")

    async def scenario():
        async with running_gateway(tmp_path, site, LIGHTS, clock=clock) as (agent, pki, port):
            ask = asker(port, pki)
            query = cms_query
            assert (await ask("POST", "/control-programs", body=[program()],
                              query=query()))[0] == 201
            calendar = {"id": "city", "ownerCMS": CMS, "defaultProgram": "night"}
            assert (await ask("POST", "/calendars", body=[calendar], query=query()))[0] == 201
            status, _, programs = await ask("GET", "/control-programs")
            validate(programs[0], "ControlProgramOne")
            validate((await ask("GET", "/calendars/city"))[2], "Calendar")
            road = str(uuid.uuid5(uuid.UUID(GATEWAY), "group:road"))
            status, _, body = await ask("POST", "/assign-commands", query=query(), body={
                "addresses": [{"resource": "groups", "address": road}],
                "entity": {"resource": "calendars", "address": "city"}})
            assert status == 201, body
            assert clock.wall() < sunset - 15 * 60        # still before the program's switch-on
            lamps = lambda: [(m.switch, m.dim) for m in site.site.lights.values()]
            assert all(s == 0 for s, _ in lamps())
            await until(lambda: all(v == (1, 90) for v in lamps()), "the lamps on at 90 %", 60)
            switched = clock.wall()
            # on at sunset - 15 min (within a lighting step and a poll of warped time), well
            # before gateway.yaml's own plan (on at sunset) would have switched them
            assert sunset - 15 * 60 <= switched <= sunset - 15 * 60 + 60, switched - sunset
            assert agent.lighting.outputs["L-001"]["source"] == "schedule"
    asyncio.run(scenario())


def test_plans_the_gateway_cannot_run_are_refused_and_nothing_changes(tmp_path, site_factory):
    site = site_factory(1)

    async def scenario():
        async with running_gateway(tmp_path, site, 1) as (agent, pki, port):
            def post(path, body):
                return asyncio.to_thread(call, port, pki, "POST", path, body=body,
                                         query=f"clientAddress={CMS}&talqRequestId={uuid.uuid4()}")
            two_on = program()
            two_on["astroClockTimeControls"].append(dict(two_on["astroClockTimeControls"][0]))
            cases = [("/control-programs", [program(dynamicControls=[{}])], 422),
                     ("/control-programs", [program(type="ControlProgramTwo")], 422),
                     ("/control-programs", [two_on], 422),
                     ("/control-programs", [program(offset=5000)], 400),
                     ("/control-programs", program(), 400),             # not an array
                     ("/control-programs", [program(), program("bad", offset=True)], 400),
                     ("/calendars", [{"id": "c", "ownerCMS": CMS, "defaultProgram": "none"}],
                      422),
                     ("/assign-commands", {"addresses": [{"resource": "groups",
                                                          "address": "x"}],
                                           "entity": {"resource": "calendars",
                                                      "address": "none"}}, 422)]
            for path, body, status in cases:
                got, _, answer = await post(path, body)
                assert got == status, (path, body, answer)
                validate(answer[0], "TALQErrorMessage")
            # never half-applied: the good program of the refused batch was not stored
            assert agent.talq.plans.programs == {} and agent.talq.plans.calendars == {}
    asyncio.run(scenario())


def test_programs_and_calendars_are_replaced_live_and_deleted_only_when_unused(tmp_path,
                                                                              site_factory):
    site = site_factory(LIGHTS)
    day = datetime.now(timezone.utc).date()
    sunset = sun_day(-6.178, 106.632, day.year, day.month, day.day).get("sunset")
    clock = AgentClock(start=sunset + 30 * 60, rate=1.0, trust="assume")   # lit, before 23:00

    def at(level: int, pid: str = "night") -> dict:
        body = program(pid)
        body["astroClockTimeControls"][0]["command"]["state"]["value"] = level
        return body

    async def scenario():
        async with running_gateway(tmp_path, site, LIGHTS, clock=clock) as (agent, pki, port):
            ask = asker(port, pki)
            query = cms_query
            lamps = lambda: [(m.switch, m.dim) for m in site.site.lights.values()]
            assert (await ask("POST", "/control-programs", body=[at(90), at(50, "other")],
                              query=query()))[0] == 201
            for cid in ("city", "spare"):
                assert (await ask("POST", "/calendars", query=query(), body=[
                    {"id": cid, "ownerCMS": CMS, "defaultProgram": "night"}]))[0] == 201
            road = str(uuid.uuid5(uuid.UUID(GATEWAY), "group:road"))
            assert (await ask("POST", "/assign-commands", query=query(), body={
                "addresses": [{"resource": "groups", "address": road}],
                "entity": {"resource": "calendars", "address": "city"}}))[0] == 201
            await until(lambda: all(v == (1, 90) for v in lamps()), "the lamps at 90 %", 20)
            light = str(uuid.uuid5(uuid.UUID(GATEWAY), "L-001"))
            status, _, got = await ask("GET", f"/devices/{light}/lampActuator/calendarID")
            assert status == 200 and got["value"] == "city", got      # the group's calendar
            validate(got, "AttributeString")
            # the running program replaced: the groups that run it switch to the new level
            status, _, body = await ask("PUT", "/control-programs", body=[at(60)], query=query())
            assert status == 200, body
            validate(body[0], "ControlProgramOne")
            await until(lambda: all(v == (1, 60) for v in lamps()), "the lamps at 60 %", 20)
            # what is used cannot go
            status, _, body = await ask("DELETE", "/control-programs/night", query=query())
            assert status == 422 and body[0]["key"] == "deletingResourceIsReferred", body
            status, _, body = await ask("DELETE", "/calendars/city", query=query())
            assert status == 422 and "road" in body[0]["description"], body
            # the running calendar on another program, by PUT /calendars/{id}
            status, _, body = await ask("PUT", "/calendars/city", query=query(), body={
                "id": "city", "ownerCMS": CMS, "defaultProgram": "other"})
            assert status == 200, body
            validate(body, "Calendar")
            await until(lambda: all(v == (1, 50) for v in lamps()), "the lamps at 50 %", 20)
            assert (await ask("PUT", "/calendars/nope", query=query(), body={
                "id": "nope", "ownerCMS": CMS, "defaultProgram": "other"}))[0] == 404
            assert (await ask("PUT", "/calendars/city", query=query(), body={
                "id": "town", "ownerCMS": CMS, "defaultProgram": "other"}))[0] == 400
            # unused now: deleted, the body as it was
            status, _, body = await ask("DELETE", "/calendars/spare", query=query())
            assert status == 200 and body["id"] == "spare", body
            validate(body, "Calendar")
            status, _, body = await ask("DELETE", "/control-programs/night", query=query())
            assert status == 200 and body["id"] == "night", body
            assert (await ask("GET", "/control-programs/night"))[0] == 404
            assert set(agent.talq.plans.programs) == {"other"}
            assert set(agent.talq.plans.calendars) == {"city"}
            assert all(v == (1, 50) for v in lamps())
            status, _, got = await ask("GET", f"/devices/{light}/lampActuator/calendarID")
            assert got["value"] == "city"
    asyncio.run(scenario())


def test_each_refusal_names_the_field_and_what_to_send_instead(tmp_path, site_factory):
    """Through the mutual-TLS server: the TALQErrorMessage description of a refused program,
    calendar or assignment names the field, what it got, and what to send instead."""
    site = site_factory(1)
    no_owner = program()
    del no_owner["ownerCMS"]
    at_seconds = program()
    at_seconds["fixedTimeControls"][0]["startTime"] = "23:00:30"
    light = str(uuid.uuid5(uuid.UUID(GATEWAY), "L-001"))
    deep: list = []
    for _ in range(800):          # parses, but a str() or json.dumps of it may not: no 500
        deep = [deep]
    cases = [  # (path, body, status, fragments the description must hold)
        ("/control-programs", [program(type=deep)], 422,
         ["ControlProgram.type is a list of 1", "send ControlProgramOne"]),
        ("/control-programs", [no_owner], 400,
         ["ControlProgram.ownerCMS is missing: add it", "the CMS's address"]),
        ("/control-programs", [at_seconds], 422,
         ["fixedTimeControls[0].startTime is 23:00:30", "send whole minutes (23:00:00)"]),
        ("/calendars", {"id": "city", "ownerCMS": CMS, "defaultProgram": "night"}, 400,
         ["the body is an object", "send an array of 1..64 Calendar objects", "in [...]"]),
        ("/calendars", [{"id": "city", "ownerCMS": CMS}], 400,
         ["Calendar.defaultProgram is missing: add it", "GET /control-programs"]),
        ("/assign-commands", {"addresses": [{"resource": "devices", "address": light}],
                              "entity": {"resource": "calendars", "address": "city"}}, 422,
         ["AssignCommand.entity.address", "POST /calendars first"]),
    ]

    async def scenario():
        async with running_gateway(tmp_path, site, 1) as (agent, pki, port):
            for path, body, status, fragments in cases:
                got, _, answer = await asyncio.to_thread(
                    call, port, pki, "POST", path, body=body,
                    query=f"clientAddress={CMS}&talqRequestId={uuid.uuid4()}")
                assert got == status, (path, answer)
                validate(answer[0], "TALQErrorMessage")
                told = answer[0]["description"]
                assert all(f in told for f in fragments), (fragments, told)
            # a real program and calendar, then the assignment to a single device
            for path, body in (("/control-programs", [program()]),
                               ("/calendars", [{"id": "city", "ownerCMS": CMS,
                                                "defaultProgram": "night"}])):
                got, _, answer = await asyncio.to_thread(
                    call, port, pki, "POST", path, body=body,
                    query=f"clientAddress={CMS}&talqRequestId={uuid.uuid4()}")
                assert got == 201, answer
            got, _, answer = await asyncio.to_thread(
                call, port, pki, "POST", "/assign-commands", body=cases[-1][1],
                query=f"clientAddress={CMS}&talqRequestId={uuid.uuid4()}")
            told = answer[0]["description"]
            assert got == 422 and answer[0]["key"] == "assignmentAddressNotValid", answer
            assert "AssignCommand.addresses[0] is" in told and "GET /groups" in told, told
    asyncio.run(scenario())
