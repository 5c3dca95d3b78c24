"""PATCH of writable attributes (gateway OAS, §5.2/§5.7) on a live agent driving the
simulator's lamps: targetLightCommand goes through the arbitration as a TALQ override (and
hands back at its expiration); read-only attributes are refused and the whole body with them."""

import asyncio
import time
import uuid

from agent.talq.attributes import iso
from tests.agent.talq.oas import validate
from tests.agent.talq.running import CMS, GATEWAY, call, cms_query, running_gateway, until

LIGHTS = 3
# lit all day (a 24 h night from noon to noon), so that "back on its plan" and "on" do not
# depend on the hour the suite runs at: with the default sunset-to-sunrise plan both tests
# failed by day in Tangerang (23:30 UTC, after sunrise)
ALWAYS_ON = "{on: '12:00', off: '12:00'}"


def address(device_id: str) -> str:
    return str(uuid.uuid5(uuid.UUID(GATEWAY), device_id))


def lamps(site) -> dict:
    return {u: (m.switch, m.dim) for u, m in site.site.lights.items()}


def command(level: int, expires_in: float | None = None) -> dict:
    value = {"state": {"name": "LevelState", "value": level}, "reason": "override"}
    if expires_in is not None:
        value["expiration"] = iso(time.time() + expires_in)
    return {"type": "AttributeCommand", "value": value}


def actuator(**attributes) -> dict:
    return {"id": "lampActuator", "type": "LampActuatorFunction", **attributes}


def test_patch_of_target_light_command_goes_through_the_arbitration(tmp_path, site_factory):
    site = site_factory(LIGHTS)

    async def scenario():
        async with running_gateway(tmp_path, site, LIGHTS, schedule=ALWAYS_ON) as (agent, pki, port):
            query = cms_query
            patch = lambda path, body: asyncio.to_thread(call, port, pki, "PATCH", path,
                                                         body=body, query=query())
            planned = {u: lamps(site)[u] for u in lamps(site)}
            one = f"/devices/{address('L-001')}/lampActuator/targetLightCommand"
            status, _, body = await patch(one, command(40, expires_in=4))
            assert status == 200, body
            await until(lambda: lamps(site)[1] == (1, 40), "L-001 at 40 %", 10)
            assert agent.lighting.outputs["L-001"]["source"] == "command"
            # by Device (PATCH /devices/{address}) and by a list of devices (PATCH /devices)
            status, _, body = await patch(f"/devices/{address('L-002')}", {
                "address": address("L-002"), "name": "L-002", "class": "LenteraStreetlight",
                "functions": [actuator(targetLightCommand=command(60))]})
            assert status == 200, body
            await until(lambda: lamps(site)[2] == (1, 60), "L-002 at 60 %", 10)
            # a read-only attribute in the body: 422, and nothing of it is written
            status, _, body = await patch("/devices", [
                {"address": address("L-003"), "name": "L-003", "class": "LenteraStreetlight",
                 "functions": [actuator(targetLightCommand=command(20))]},
                {"address": address("L-002"), "name": "L-002", "class": "LenteraStreetlight",
                 "functions": [actuator(defaultLightState={
                     "type": "AttributeLevelState",
                     "value": {"name": "LevelState", "value": 10}})]}])
            assert status == 422 and body[0]["key"] == "resourceConflict", body
            assert "read-only" in body[0]["description"]
            await asyncio.sleep(0.5)
            assert lamps(site)[3] == planned[3]
            # the same, well formed: both lights
            status, _, body = await patch("/devices", [
                {"address": address(d), "name": d, "class": "LenteraStreetlight",
                 "functions": [actuator(targetLightCommand=command(20))]}
                for d in ("L-002", "L-003")])
            assert status == 200, body
            await until(lambda: lamps(site)[2] == lamps(site)[3] == (1, 20), "both at 20 %")
            # the gateway's configuration is gateway.yaml's: the same value is taken (as a
            # CMS does at the end of the bootstrap's step 1), another is refused
            gateway = f"/devices/{GATEWAY}/gateway"
            status, _, _ = await patch(gateway, {"id": "gateway", "type": "GatewayFunction",
                                                 "cmsAddress": {"type": "AttributeString",
                                                                "value": CMS}})
            assert status == 200
            status, _, body = await patch(gateway + "/cmsAddress", {
                "type": "AttributeString", "value": str(uuid.uuid4())})
            assert status == 422 and "talq.cms_address" in body[0]["description"]
            status, _, body = await patch(f"/devices/{address('L-001')}/lampActuator/nothing",
                                          {"type": "AttributeString", "value": "x"})
            assert status == 404, body
            # an out-of-range level is refused (checked before anything is written)
            status, _, body = await patch(one, command(150))
            assert status == 400 and body[0]["key"] == "payloadError", body
            # L-001's command expires: it goes back to its plan
            await until(lambda: lamps(site)[1][1] == planned[1][1] and
                        agent.lighting.outputs["L-001"]["source"] != "command",
                        "L-001 back on its plan after expiry", 20)

    asyncio.run(scenario())


def test_switch_on_counter_is_the_controllers_count(tmp_path, site_factory):
    """LampMonitorFunction.switchOnCounter (data-model OAS: AttributeInteger, ON/OFF cycles
    since installation) is the controller's switch_ons point: a TALQ off then on adds one."""
    site = site_factory(LIGHTS)

    async def scenario():
        async with running_gateway(tmp_path, site, LIGHTS, schedule=ALWAYS_ON) as (agent, pki, port):
            query = cms_query
            patch = lambda body: asyncio.to_thread(
                call, port, pki, "PATCH",
                f"/devices/{address('L-001')}/lampActuator/targetLightCommand",
                body=body, query=query())
            counter = f"/devices/{address('L-001')}/lampMonitor/switchOnCounter"
            model = site.site.lights[1]
            await until(lambda: model.switch == 1, "L-001 on (the plan or the failsafe)", 10)
            before = model.switch_ons
            assert (await patch(command(0)))[0] == 200
            await until(lambda: model.switch == 0, "L-001 off", 10)
            assert (await patch(command(80)))[0] == 200
            await until(lambda: model.switch == 1, "L-001 on again", 10)
            assert model.switch_ons == before + 1
            await until(lambda: agent.lighting.latest["L-001"].get("switch_ons") == before + 1,
                        "the agent's reading of the new count", 10)
            status, _, attribute = await asyncio.to_thread(call, port, pki, "GET", counter)
            assert status == 200
            validate(attribute, "AttributeInteger")
            assert attribute == {"type": "AttributeInteger", "value": model.switch_ons}
    asyncio.run(scenario())
