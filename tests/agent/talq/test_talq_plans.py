"""TALQ control programs, calendars and assign commands (spec §5.8) on a live agent with a
warped clock: an astronomical program with a -15 min sunset offset switches the simulator's
lamps at sunset - 15 min, not at the gateway.yaml plan's sunset."""

import asyncio
import uuid
from datetime import datetime, timezone

from agent.platform.clock import AgentClock
from edge_rules.sunclock import sun_day
from tests.agent.talq.oas import validate
from tests.agent.talq.running import CMS, GATEWAY, call, running_gateway, until

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
            ask = lambda *a, **kw: asyncio.to_thread(call, port, pki, *a, **kw)
            query = lambda: f"clientAddress={CMS}&talqRequestId={uuid.uuid4()}"
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
