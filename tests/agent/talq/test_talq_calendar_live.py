"""A TALQ calendar with rules through the HTTPS server with mutual TLS (spec §5.8): assigned to
a lighting group, the simulator's lamps follow the rule in force on a Friday (the default
program) and, after a restart, on a Saturday (the weekend rule), from the stored plan alone;
on a warped clock, from Friday's night into Saturday's. A calendar the gateway cannot run
exactly is refused whole and the running plan stays."""

import asyncio
import json
import uuid
from datetime import date, datetime
from zoneinfo import ZoneInfo

from agent.platform.clock import AgentClock
from edge_rules.sunclock import sun_day
from tests.agent.talq.oas import validate
from tests.agent.talq.running import CMS, GATEWAY, asker, call, cms_query, running_gateway, until
from tests.agent.talq.test_talq_plans import program
from tests.support.talq_pki import make_talq_pki

LIGHTS = 2
FRIDAY, SATURDAY = date(2026, 12, 18), date(2026, 12, 19)
ROAD = str(uuid.uuid5(uuid.UUID(GATEWAY), "group:road"))


def evening(day: date) -> float:
    """Half an hour after that day's sunset at the test site (Asia/Jakarta)."""
    return sun_day(-6.178, 106.632, day.year, day.month, day.day).get("sunset") + 30 * 60


def at(pid: str, level: int) -> dict:
    body = program(pid)
    body["astroClockTimeControls"][0]["command"]["state"]["value"] = level
    body["fixedTimeControls"] = []
    return body


CALENDAR = {"id": "city", "ownerCMS": CMS, "defaultProgram": "night", "rules": [
    {"startDate": "2026-12-24", "endDate": "2026-12-26", "program": "festival"},
    {"condition": {"type": "ccDay", "days": [{"start": 6, "end": 7}]}, "program": "weekend"}]}


def test_a_calendar_with_rules_runs_the_rule_of_each_date_and_outlives_a_restart(
        tmp_path, site_factory):
    site = site_factory(LIGHTS)
    pki = make_talq_pki(tmp_path / "pki")
    lamps = lambda: [(m.switch, m.dim) for m in site.site.lights.values()]
    assert datetime.fromtimestamp(evening(FRIDAY), ZoneInfo("Asia/Jakarta")).date() == FRIDAY

    async def friday():
        clock = AgentClock(start=evening(FRIDAY), rate=1.0, trust="assume")
        async with running_gateway(tmp_path, site, LIGHTS, pki=pki, clock=clock) as (
                agent, _, port):
            ask = asker(port, pki)
            query = cms_query
            status, _, services = await ask("GET", "/services")
            control = [s for s in services if s["name"] == "ControlService"]
            assert control and control[0]["ccDaySupport"] == "noOccurrences", services
            validate(control[0], "ControlService")
            assert (await ask("POST", "/control-programs", query=query(), body=[
                at("night", 90), at("weekend", 50), at("festival", 30)]))[0] == 201
            validate(CALENDAR, "Calendar")
            status, _, body = await ask("POST", "/calendars", query=query(), body=[CALENDAR])
            assert status == 201, body
            status, _, body = await ask("POST", "/assign-commands", query=query(), body={
                "addresses": [{"resource": "groups", "address": ROAD}],
                "entity": {"resource": "calendars", "address": "city"}})
            assert status == 201, body
            await until(lambda: all(v == (1, 90) for v in lamps()), "Friday's default at 90 %")
            assert agent.lighting.outputs["L-001"]["source"] == "schedule"
            light = str(uuid.uuid5(uuid.UUID(GATEWAY), "L-001"))
            got = (await ask("GET", f"/devices/{light}/lampActuator/calendarID"))[2]
            assert got["value"] == "city", got
            await refusals(ask, query, agent)
            assert all(v == (1, 90) for v in lamps())           # the running plan stays

    async def saturday():
        clock = AgentClock(start=evening(SATURDAY), rate=1.0, trust="assume")
        async with running_gateway(tmp_path, site, LIGHTS, pki=pki, clock=clock) as (
                agent, _, port):
            await until(lambda: all(v == (1, 50) for v in lamps()), "Saturday's rule at 50 %")
            assert agent.lighting.outputs["L-001"]["source"] == "schedule"
            status, _, body = await asyncio.to_thread(call, port, pki, "GET", "/calendars/city")
            assert status == 200 and body == CALENDAR, body      # kept as the CMS sent it
    asyncio.run(friday())
    stored = json.loads((tmp_path / "talq-plans.json").read_text())
    assert stored["calendars"] == [CALENDAR]
    asyncio.run(saturday())


async def refusals(ask, query, agent) -> None:
    """Calendars the gateway cannot run exactly: 422, nothing stored, nothing pushed."""
    pushed = agent.schedule.current()
    nth = {"condition": {"type": "ccDay", "days": [{"start": 1}], "occurrences": ["2"]},
           "program": "weekend"}
    # a full-date bound with a yearly one: not runnable exactly (a winter over the new year,
    # --11-01..--02-28, runs since stop 32, so it is no longer a refusal)
    winter = {"startDate": "2026-11-01", "endDate": "--02-28", "program": "weekend"}
    for method, path, body in (
            ("POST", "/calendars", [{**CALENDAR, "id": "other", "rules": [nth]}]),
            ("POST", "/calendars", [{**CALENDAR, "id": "ok"},
                                    {**CALENDAR, "id": "bad", "rules": [winter]}]),
            ("PUT", "/calendars/city", {**CALENDAR, "rules": CALENDAR["rules"] + [nth]}),
            ("PUT", "/calendars", [{**CALENDAR, "rules": [winter]}])):
        status, _, answer = await ask(method, path, query=query(), body=body)
        assert (status, answer[0]["key"]) == (422, "serviceConstraintExceeded"), answer
        validate(answer[0], "TALQErrorMessage")
    assert set(agent.talq.plans.calendars) == {"city"}         # not "ok" of the refused batch
    assert agent.talq.plans.calendars["city"] == CALENDAR
    assert (await ask("GET", "/calendars/city"))[2] == CALENDAR
    assert agent.schedule.current() == pushed


def test_on_a_warped_clock_fridays_night_runs_to_sunrise_then_saturdays_rule(tmp_path,
                                                                             site_factory):
    """Saturday 02:40 local on a clock 1200 times fast: the night still running is Friday's
    (the default program, 90 %) until sunrise + 10 min; at Saturday's sunset - 15 min the
    weekend rule switches on (50 %). The rule of a date runs noon to noon (dayOffset 12)."""
    site = site_factory(LIGHTS)
    sky = sun_day(-6.178, 106.632, SATURDAY.year, SATURDAY.month, SATURDAY.day)
    sunrise, sunset = sky.get("sunrise"), sky.get("sunset")
    clock = AgentClock(start=sunrise - 3 * 3600, rate=1200.0, trust="assume")
    lamps = lambda: [(m.switch, m.dim) for m in site.site.lights.values()]
    zone = ZoneInfo("Asia/Jakarta")

    async def scenario():
        async with running_gateway(tmp_path, site, LIGHTS, clock=clock) as (agent, pki, port):
            ask = asker(port, pki)
            query = cms_query
            assert (await ask("POST", "/control-programs", query=query(), body=[
                at("night", 90), at("weekend", 50), at("festival", 30)]))[0] == 201
            assert (await ask("POST", "/calendars", query=query(), body=[CALENDAR]))[0] == 201
            assert (await ask("POST", "/assign-commands", query=query(), body={
                "addresses": [{"resource": "groups", "address": ROAD}],
                "entity": {"resource": "calendars", "address": "city"}}))[0] == 201
            await until(lambda: all(v == (1, 90) for v in lamps()), "Friday's night at 90 %", 30)
            seen = clock.wall()
            assert datetime.fromtimestamp(seen, zone).date() == SATURDAY and seen < sunrise
            await until(lambda: all(s == 0 for s, _ in lamps()), "off after sunrise", 60)
            assert clock.wall() >= sunrise + 10 * 60 - 60
            await until(lambda: all(v == (1, 50) for v in lamps()), "Saturday's rule", 90)
            # the program's sunset - 15 min, within what a loaded box adds: a poll (200 ms
            # real is 4 warped min) and a lighting step or two
            assert sunset - 15 * 60 <= clock.wall() <= sunset + 15 * 60, clock.wall() - sunset
    asyncio.run(scenario())
