"""LightingService with recording fakes: commands outside the plan, plans that keep crews safe."""

import asyncio

from agent.local.control import ControlServer
from agent.services.lighting import LightingService
from edge_rules.controller import LightingController
from edge_rules.tz import FixedOffset

NOON = 1795845600            # 2026-11-28 13:00 WIB: daylight


class Clock:
    def wall(self):
        return NOON

    def monotonic(self):
        return 0.0

    def trusted(self):
        return True


class Device:
    def __init__(self):
        self.writes = []

    async def write(self, point, value):
        self.writes.append((point, value))
        return value


class Scheduler:
    async def execute(self, run, priority=0):
        return await run()


def service(plan):
    ctl = LightingController(plan, FixedOffset(7 * 3600, "WIB"), -6.178, 106.632)
    devices = {d: Device() for d in ("L-001", "L-002", "M-1")}
    svc = LightingService(ctl, Clock(), devices, {d: Scheduler() for d in devices},
                          lambda *a, **k: None)
    return svc, devices


ROAD = {"groups": {"road": {"devices": ["L-001", "L-002"]}}}


def test_command_to_a_device_outside_every_lighting_group_is_answered_not_crashed():
    svc, devices = service(ROAD)
    result = asyncio.run(svc.apply_city_command(["L-001", "M-1"], False, None, 60))
    assert result["L-001"] is None and ("switch", 0) in devices["L-001"].writes
    assert "not in any lighting group" in result["M-1"] and not devices["M-1"].writes


def test_a_pushed_plan_keeps_the_crews_maintenance_override():
    svc, devices = service(ROAD)
    svc.controller.apply_override(NOON + 3600, device="L-002", switch=False,
                                  reason="lamp replacement")
    asyncio.run(svc.step())
    assert svc.outputs["L-002"]["source"] == "maintenance"
    new = LightingController(ROAD, FixedOffset(7 * 3600, "WIB"), -6.178, 106.632)
    asyncio.run(svc.replace_controller(new))
    assert svc.outputs["L-002"] == {"switch": False, "dim": 0, "source": "maintenance"}
    assert svc.outputs["L-001"]["source"] != "maintenance"


def test_control_socket_rejects_a_request_that_is_not_an_object():
    svc, _ = service(ROAD)
    server = ControlServer("/nonexistent", svc, lambda *a, **k: None, Clock().wall)
    for bad in (["override"], "lights", 3):
        try:
            asyncio.run(server.handle(bad))
            raised = None
        except ValueError as exc:
            raised = str(exc)
        assert raised and "JSON object" in raised
    try:
        asyncio.run(server.handle({"op": "override", "device": "L-001", "switch": "off",
                                   "for_s": 60}))
        raised = None
    except ValueError as exc:
        raised = str(exc)
    assert raised == "switch must be true or false"


def test_rules_see_good_readings_and_forget_a_device_whose_reading_went_stale():
    plan = {**ROAD, "rules": {"hot": {"when": "L-001.driver_temp > 85",
                                      "then": [{"dim": 50, "device": "L-001"}]}}}
    svc, devices = service(plan)
    svc.observe({"device": "L-001", "quality": "good",
                 "values": {"switch": 1, "dim": 100, "driver_temp": 90.0}})
    asyncio.run(svc.step())
    assert svc.outputs["L-001"]["dim"] == 50 and svc.outputs["L-001"]["source"] == "rule"
    svc.observe({"device": "L-001", "quality": "stale", "values": {"driver_temp": 90.0}})
    asyncio.run(svc.step())
    assert svc.outputs["L-001"]["source"] != "rule"      # no acting on a stale temperature
