"""Serial dust sensors as TALQ devices: a simulated SDS011 on a pty reaches the CMS's reads
as ParticulateMatterSensorFunction (pm2-5, pm10 in µg/m³), checked against the data model."""

import asyncio
import uuid

from drivers.sim.serial_emitters import SerialSensorEmitter
from tests.agent.talq.oas import validate
from tests.agent.talq.running import GATEWAY, asker, running_gateway, until


def test_an_sds011_is_a_particulate_matter_sensor_device(tmp_path, site_factory):
    site = site_factory(1)

    async def scenario():
        emitter = SerialSensorEmitter("sds011", rate_hz=20, seed=3)
        path = emitter.open()
        emitter.start()                      # frames on this loop, the agent reads the pty
        extra = f"serial_sensors:\n  - {{id: AQ-01, kind: sds011, port: {path}, " \
                "publish_every: 1s}\n"
        try:
            async with running_gateway(tmp_path, site, 1, extra=extra) as (agent, pki, port):
                ask = asker(port, pki)
                await until(lambda: "AQ-01" in agent.lighting.latest, "an AQ-01 reading", 20)
                before = agent.lighting.latest["AQ-01"]
                status, _, found = await ask(
                    "GET", "/devices?deviceClasses=LenteraDustSensor")
                after = agent.lighting.latest["AQ-01"]       # a reading may come meanwhile
                assert status == 200 and len(found) == 1, found
                device = found[0]
                validate(device, "Device")
                assert device["address"] == str(uuid.uuid5(uuid.UUID(GATEWAY), "AQ-01"))
                functions = {f["id"]: f for f in device["functions"]}
                for function in functions.values():
                    validate(function, function["type"])
                dust = functions["particulateMatterSensor"]
                assert dust["type"] == "ParticulateMatterSensorFunction"
                assert dust["pm2-5"]["value"] in (before["pm2_5"], after["pm2_5"])
                assert dust["pm10"]["value"] in (before["pm10"], after["pm10"])
                assert dust["pm2-5"]["value"] > 0 and dust["pm10"]["value"] > 0
                assert "pm1" not in dust                       # the SDS011 has no PM1
                assert functions["communication"]["communicationFailure"]["value"] is False
                status, _, classes = await ask("GET", "/device-classes/LenteraDustSensor")
                assert status == 200
                validate(classes, "DeviceClass")
                status, _, got = await ask(
                    "GET", f"/devices/{device['address']}/particulateMatterSensor/pm10")
                assert status == 200 and got["type"] == "AttributeFloat"
        finally:
            await emitter.stop()

    asyncio.run(scenario())
