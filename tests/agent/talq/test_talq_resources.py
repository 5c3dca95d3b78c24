"""The gateway's TALQ resources on a live agent, checked against the official data-model OAS."""

import asyncio
import uuid

import pytest

from tests.agent.talq.oas import lighting_mandatory, validate
from tests.agent.talq.running import CMS, GATEWAY, call, running_gateway

LIGHTS = 4


def test_devices_functions_and_attributes_follow_the_data_model(tmp_path, site_factory):
    site = site_factory(LIGHTS)

    async def scenario():
        async with running_gateway(tmp_path, site, LIGHTS) as (agent, pki, port):
            await agent.lighting.step()
            get = lambda path, **kw: asyncio.to_thread(call, port, pki, "GET", path, **kw)
            status, _, devices = await get("/devices")
            assert status == 200 and len(devices) == 1 + LIGHTS
            for device in devices:
                validate(device, "Device")
                for function in device["functions"]:
                    validate(function, function["type"])      # e.g. LampActuatorFunction
                    missing = lighting_mandatory(function["type"]) - set(function)
                    assert not missing, f"{device['name']}.{function['id']}: {missing}"
            lights = {d["name"]: d for d in devices if d["class"] == "LenteraStreetlight"}
            assert sorted(lights) == [f"L-{u:03d}" for u in range(1, LIGHTS + 1)]
            gateway = next(d for d in devices if d["address"] == GATEWAY)
            fn = {f["id"]: f for f in gateway["functions"]}
            assert fn["gateway"]["cmsAddress"]["value"] == CMS
            light = lights["L-001"]
            actuator = next(f for f in light["functions"] if f["id"] == "lampActuator")
            # the failsafe level is the TALQ default light state (gateway.yaml failsafe.level)
            assert actuator["defaultLightState"]["value"]["value"] == 70
            # what the lighting decided now, translated: level and reason
            out = agent.lighting.outputs["L-001"]
            level = out["dim"] if out["switch"] else 0
            assert actuator["targetLightCommand"]["value"]["state"]["value"] == level
            # one function, one attribute, by path
            address = light["address"]
            status, _, one = await get(f"/devices/{address}/lampActuator")
            assert status == 200 and one["id"] == "lampActuator"
            validate(one, "LampActuatorFunction")
            # the light is polled every second while the request is in flight (CI: 220.4
            # answered, 219.3 read after it): the answer is the reading before or after
            before = agent.lighting.latest["L-001"]["voltage"]
            status, _, attr = await get(f"/devices/{address}/lampMonitor/supplyVoltage")
            after = agent.lighting.latest["L-001"]["voltage"]
            assert status == 200 and attr["type"] == "AttributeFloat"
            validate(attr, "AttributeFloat")
            assert attr["value"] in (pytest.approx(before), pytest.approx(after)), (
                attr["value"], before, after)
            status, _, classes = await get("/device-classes")
            for found in classes:
                validate(found, "DeviceClass")
            assert {c["name"] for c in classes} == {"LenteraGateway", "LenteraStreetlight"}
            status, _, services = await get("/services")
            for service in services:
                validate(service, service["name"])
            status, _, count = await get("/devices/count")
            assert (status, count) == (200, 1 + LIGHTS)
    asyncio.run(scenario())


def test_pagination_follows_section_5_10(tmp_path, site_factory):
    site = site_factory(LIGHTS)

    async def scenario():
        async with running_gateway(tmp_path, site, LIGHTS) as (agent, pki, port):
            get = lambda path: asyncio.to_thread(call, port, pki, "GET", path)
            _, _, everything = await get("/devices")
            seen = []
            for offset in range(0, len(everything), 2):
                status, headers, body = await get(f"/devices?offset={offset}&limit=2")
                assert status == 200
                assert headers["pagination-offset"] == str(offset)
                assert headers["pagination-totalCount"] == str(len(everything))
                assert headers["pagination-count"] == str(len(body))
                seen += [d["address"] for d in body]
            assert seen == [d["address"] for d in everything]     # stable order, no gap
            # only an offset: the gateway's default limit (page_limit: 3 in the test config)
            status, headers, body = await get("/devices?offset=1")
            assert len(body) == 3 and headers["pagination-defaultLimit"] == "3"
            status, _, body = await get("/devices?offset=999")
            assert (status, body) == (200, [])
            for abuse in ("limit=0", "limit=-1", "limit=1000000000", "offset=-5", "limit=abc",
                          "offset=1e3", "limit=" + "9" * 5000):
                status, _, body = await get(f"/devices?{abuse}")
                assert status == 400, abuse
                validate(body[0], "TALQErrorMessage")
                assert body[0]["key"] == "parameterValueNotValid"
    asyncio.run(scenario())


def test_refusals_are_talq_errors_never_server_errors(tmp_path, site_factory):
    site = site_factory(1)

    async def scenario():
        async with running_gateway(tmp_path, site, 1) as (agent, pki, port):
            def ask(method, path, **kw):
                # made when awaited: a list of coroutines made up front leaves the rest
                # never awaited when one case fails or skips (no OAS files)
                return lambda: asyncio.to_thread(call, port, pki, method, path, **kw)
            cases = [
                (ask("GET", "/devices", headers={"talq-api-version": "9.9"}), 400,
                 "headerValueNotValid"),
                (ask("GET", "/devices", query=""), 400, "parameterMissing"),
                (ask("GET", "/devices", query="clientAddress=not-a-uuid"), 400,
                 "parameterValueNotValid"),
                (ask("GET", "/devices", query=f"clientAddress={GATEWAY}"), 400,
                 "parameterValueNotValid"),                    # not the attached CMS (§4.1)
                (ask("GET", "/devices/00000000-0000-0000-0000-000000000001"), 404,
                 "resourceNotFound"),
                (ask("GET", f"/devices/{GATEWAY}/nofunction"), 404, "resourceNotFound"),
                (ask("GET", f"/devices/{GATEWAY}/gateway/noattribute"), 404, "resourceNotFound"),
                (ask("GET", "/device-classes/Nope"), 404, "resourceNotFound"),
                (ask("GET", "/services/DataPackageService"), 404, "resourceNotFound"),
                (ask("GET", "/bracket-types"), 404, "resourceNotFound"),   # optional, unsupported
                # a resynchronization (§5.1) needs its talqRequestId: nothing is removed
                (ask("DELETE", f"/devices/{GATEWAY}"), 400, "parameterMissing"),
                (ask("POST", "/devices", body=b"{not json", query=f"clientAddress={CMS}&"
                     f"talqRequestId={uuid.uuid4()}"), 400, "payloadError"),
                (ask("POST", "/devices", body=b"x", headers={"content-encoding": "br"}), 415,
                 "headerValueNotValid"),
            ]
            for pending, status, key in cases:
                got, _, body = await pending()
                assert got == status, body
                validate(body[0], "TALQErrorMessage")
                assert body[0]["key"] == key and body[0]["description"]
    asyncio.run(scenario())


def test_post_devices_tells_the_address_of_a_device_the_gateway_has(tmp_path, site_factory):
    """§5.3: a NIL-addressed device the gateway already has (same name and class) is answered
    with its address; a UUID of the CMS's own is a CONFLICT; a device it does not have, 422;
    PUT of a definition gateway.yaml owns, 422 (404 unknown); nothing changes."""
    site = site_factory(LIGHTS)
    nil = "00000000-0000-0000-0000-000000000000"

    async def scenario():
        async with running_gateway(tmp_path, site, LIGHTS) as (agent, pki, port):
            def ask(method, body):
                return asyncio.to_thread(call, port, pki, method, "/devices", body=body,
                                         query=f"clientAddress={CMS}&talqRequestId="
                                               f"{uuid.uuid4()}")
            _, _, before = await asyncio.to_thread(call, port, pki, "GET", "/devices")
            known = {d["name"]: d for d in before}
            light = lambda name, address=nil, cls="LenteraStreetlight": {
                "address": address, "name": name, "class": cls,
                "functions": [{"id": "basic", "type": "BasicFunction",
                               "assetId": {"type": "AttributeString", "value": "pole 7"}}]}
            status, _, body = await ask("POST", [light("L-002"), light("L-004")])
            assert status == 201, body
            for device in body:
                validate(device, "Device")
            assert [d["address"] for d in body] == [known["L-002"]["address"],
                                                    known["L-004"]["address"]]
            status, _, body = await ask("POST", [light("L-002", str(uuid.uuid4()))])
            assert status == 409 and body[0]["key"] == "resourceConflict"
            for wrong in ([light("L-009")], [light("L-001", cls="LenteraElectricalMeter")]):
                status, _, body = await ask("POST", wrong)
                assert status == 422, body
                validate(body[0], "TALQErrorMessage")
            assert (await ask("POST", [{"name": "L-001"}]))[0] == 400
            status, _, body = await ask("PUT", [known["L-001"]])
            assert status == 422 and "PATCH" in body[0]["description"]
            assert (await ask("PUT", [light("L-001", str(uuid.uuid4()))]))[0] == 404
            _, _, after = await asyncio.to_thread(call, port, pki, "GET", "/devices")
            assert [d["address"] for d in after] == [d["address"] for d in before]
    asyncio.run(scenario())
