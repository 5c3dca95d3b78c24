"""TALQ override commands (spec §5.6) on a live agent driving the simulator's lamps: they enter
the per-output arbitration as city commands, hand back at expiry, and a crew's hold wins."""

import asyncio
import gzip
import time
import uuid

from agent.talq.attributes import iso
from tests.agent.talq.oas import validate
from tests.agent.talq.running import GATEWAY, asker, call, running_gateway, until

LIGHTS = 3


def address(device_id: str) -> str:
    return str(uuid.uuid5(uuid.UUID(GATEWAY), device_id))


def request_id() -> str:
    return f"talqRequestId={uuid.uuid4()}"


def lamps(site) -> dict:
    """{unit: (switch, dim)} as the simulated controllers hold them now."""
    return {u: (m.switch, m.dim) for u, m in site.site.lights.items()}


def level(light: tuple) -> int:
    return light[1] if light[0] else 0


def override(addresses: list, state_level: int | None, expires_in: float | None = None) -> dict:
    body = {"addresses": addresses}
    if state_level is not None:
        body["targetCommand"] = {"reason": "override", "cmsRefId": "test",
                                 "state": {"name": "LevelState", "value": state_level}}
        if expires_in is not None:
            body["targetCommand"]["expiration"] = iso(time.time() + expires_in)
    return body


def test_a_group_override_switches_the_lamps_and_hands_back_at_expiry(tmp_path, site_factory):
    site = site_factory(LIGHTS)

    async def scenario():
        async with running_gateway(tmp_path, site, LIGHTS) as (agent, pki, port):
            ask = asker(port, pki)
            planned = {d: dict(o) for d, o in agent.lighting.outputs.items()}
            assert all(o["source"] in ("schedule", "failsafe") for o in planned.values())
            await until(lambda: all(level(v) == (planned[f"L-{u:03d}"]["dim"] if planned[
                f"L-{u:03d}"]["switch"] else 0) for u, v in lamps(site).items()), "the plan")
            status, _, groups = await ask("GET", "/groups")
            assert status == 200 and len(groups) == 1
            validate(groups[0], "Group")
            assert {m["address"] for m in groups[0]["members"]} == {
                address(f"L-{u:03d}") for u in range(1, LIGHTS + 1)}
            road = groups[0]["address"]
            status, _, body = await ask("POST", "/override-commands", query=(
                f"clientAddress={agent.config.talq.cms_address}&{request_id()}"),
                body=override([{"resource": "groups", "address": road}], 30, expires_in=4))
            assert status == 201, body
            await until(lambda: all(v == (1, 30) for v in lamps(site).values()),
                        "every lamp of the group at 30 %", 10)
            out = agent.lighting.outputs["L-001"]
            assert out["source"] == "command"
            status, _, target = await ask(
                "GET", f"/devices/{address('L-001')}/lampActuator/targetLightCommand")
            assert target["value"]["state"]["value"] == 30
            assert target["value"]["reason"] == "override"
            # at expiry the lights go back to what their plan (or the failsafe) says
            await until(lambda: all(level(v) == level((planned[f"L-{u:03d}"]["switch"],
                                                       planned[f"L-{u:03d}"]["dim"]))
                                    for u, v in lamps(site).items()),
                        "the lamps back on their plan after expiry", 20)
            assert {o["source"] for o in agent.lighting.outputs.values()} <= {
                "schedule", "failsafe"}
    asyncio.run(scenario())


def test_a_later_override_replaces_the_former_and_an_empty_one_resumes(tmp_path, site_factory):
    site = site_factory(LIGHTS)

    async def scenario():
        async with running_gateway(tmp_path, site, LIGHTS) as (agent, pki, port):
            cms = agent.config.talq.cms_address

            async def post(body):
                return await asyncio.to_thread(call, port, pki, "POST", "/override-commands",
                                               body=body, query=f"clientAddress={cms}&{request_id()}")
            one, two = ({"resource": "devices", "address": address(d)} for d in ("L-001", "L-002"))
            planned = {d: dict(o) for d, o in agent.lighting.outputs.items()}
            assert (await post(override([one, two], 40)))[0] == 201      # no expiration
            await until(lambda: lamps(site)[1] == (1, 40) and lamps(site)[2] == (1, 40), "40 %")
            # the later override replaces the former on L-001 only, by function address
            fn = {"resource": "devices", "address": address("L-001") + "/lampActuator"}
            assert (await post(override([fn], 0)))[0] == 201              # level 0: off
            await until(lambda: lamps(site)[1][0] == 0, "L-001 switched off")
            assert lamps(site)[2] == (1, 40)
            assert len([e for e in agent.lighting.controller.arbiter.entries("command")]) == 2
            # a crew's hold beats the CMS: L-002 stays at the crew's level
            await agent.lighting.override(device="L-002", switch=True, dim=90, for_s=600)
            assert (await post(override([two], 10)))[0] == 201
            await until(lambda: lamps(site)[2] == (1, 90), "the crew's 90 % on L-002")
            assert agent.lighting.outputs["L-002"]["source"] == "maintenance"
            # the crew's hold is SegmentMonitorFunction.localOverride; L-001 has none
            hold = lambda d: call(port, pki, "GET",
                                  f"/devices/{address(d)}/segmentMonitor/localOverride")[2]
            assert (await asyncio.to_thread(hold, "L-002"))["value"] == "ON"
            validate(await asyncio.to_thread(hold, "L-002"), "AttributeLocalOverride")
            assert (await asyncio.to_thread(hold, "L-001"))["value"] == "NONE"
            # an override without targetCommand resumes the plan on what it names
            assert (await post(override([one], None)))[0] == 201
            plan = planned["L-001"]
            await until(lambda: level(lamps(site)[1]) == (plan["dim"] if plan["switch"] else 0),
                        "L-001 back on its plan")
            assert agent.lighting.outputs["L-001"]["source"] == plan["source"]
    asyncio.run(scenario())


def test_overrides_the_gateway_cannot_run_are_refused_whole(tmp_path, site_factory):
    site = site_factory(1)

    async def scenario():
        async with running_gateway(tmp_path, site, 1) as (agent, pki, port):
            cms = agent.config.talq.cms_address
            light = {"resource": "devices", "address": address("L-001")}
            before = agent.lighting.controller.arbiter.entries("command")

            def post(body, query=None, headers=None):
                # made when awaited (see test_refusals_are_talq_errors_never_server_errors)
                query = query or f"clientAddress={cms}&{request_id()}"
                return lambda: asyncio.to_thread(call, port, pki, "POST", "/override-commands",
                                                 body=body, headers=headers, query=query)
            bad_state = override([light], 50)
            bad_state["targetCommand"]["state"] = {"name": "BooleanState", "value": True}
            future = override([light], 50)
            future["targetCommand"]["start"] = iso(time.time() + 3600)
            cases = [
                (post(override([light], 50), query=f"clientAddress={cms}"), 400,
                 "parameterMissing"),                                    # no talqRequestId
                (post([1, 2]), 400, "payloadError"),
                (post({"targetCommand": {}}), 400, "payloadError"),     # no addresses
                (post(override([light], 101)), 400, "payloadError"),    # DimLevel 0..100
                (post(override([{"resource": "devices", "address": str(uuid.uuid4())}], 5)),
                 422, "relatedResourceNotFound"),
                (post(override([{"resource": "groups", "address": str(uuid.uuid4())}], 5)),
                 422, "relatedResourceNotFound"),
                (post(override([{"resource": "devices", "address": GATEWAY}], 5)), 422,
                 "overrideAddressNotValid"),                             # no lamp actuator
                (post(override([light, {"resource": "calendars", "address": "x"}], 5)), 422,
                 "overrideAddressNotValid"),
                (post(override([light], 50, expires_in=-60)), 422, "overrideCommandNotValid"),
                (post(bad_state), 422, "overrideCommandNotValid"),
                (post(future), 422, "overrideCommandNotValid"),
                # bodies are bounded (max_body 4096 in the test config), inflated ones too
                (post(b" " * 5000), 400, "payloadError"),
                (post(gzip.compress(b" " * 1_000_000), headers={"content-encoding": "gzip"}),
                 400, "payloadError"),
            ]
            for pending, status, key in cases:
                got, _, body = await pending()
                assert got == status, (key, body)
                validate(body[0], "TALQErrorMessage")
                assert body[0]["key"] == key and body[0]["description"]
            # nothing was held by any of them (never half-applied)
            assert agent.lighting.controller.arbiter.entries("command") == before
    asyncio.run(scenario())
