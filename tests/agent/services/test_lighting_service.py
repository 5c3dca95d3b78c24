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


class WarpClock:
    """An injected clock the test moves by hand; trust as told."""

    def __init__(self, start, trusted=True):
        self.now = float(start)
        self.start = float(start)
        self.is_trusted = trusted

    def wall(self):
        return self.now

    def monotonic(self):
        return self.now - self.start

    def trusted(self):
        return self.is_trusted

    def trust_source(self):
        return "ntp" if self.is_trusted else "none"


NIGHT = 1795870800           # 2026-11-28 20:00 WIB
EVENING = {"groups": {"road": {"devices": ["L-001", "L-002"], "schedule": "evening"}},
           "schedules": {"evening": {"on": "sunset", "off": "sunrise"}}}


def recording_service(plan, clock):
    ctl = LightingController(plan, FixedOffset(7 * 3600, "WIB"), -6.178, 106.632)
    devices = {d: Device() for d in ("L-001", "L-002")}
    events = []
    svc = LightingService(ctl, clock, devices, {d: Scheduler() for d in devices},
                          lambda device, event, priority=0, **f: events.append((device, event, f)))
    return svc, devices, events


def test_two_overlapping_timed_city_commands_end_at_the_plans_value():
    clock = WarpClock(NIGHT)
    svc, devices, _ = recording_service(EVENING, clock)

    async def run():
        await svc.step()
        assert svc.outputs["L-001"] == {"switch": True, "dim": 100, "source": "schedule"}
        await svc.apply_city_command(["L-001"], None, 50, 20)      # A: dim 50 for 20 s
        clock.now += 5
        await svc.apply_city_command(["L-001"], None, 30, 10)      # B: dim 30 for 10 s
        seen = {}
        for _ in range(20):
            clock.now += 1
            await svc.step()
            seen[int(clock.now - NIGHT)] = svc.outputs["L-001"]["dim"]
        return seen
    seen = asyncio.run(run())
    assert [seen[t] for t in (6, 14, 15, 19, 20, 25)] == [30, 30, 50, 50, 100, 100]
    assert svc.outputs["L-001"]["source"] == "schedule"
    assert devices["L-001"].writes[-1] == ("dim", 100)


def test_a_crews_device_dim_under_a_group_off_keeps_it_off_and_clearing_nothing_fails():
    clock = WarpClock(NIGHT)
    svc, devices, events = recording_service(EVENING, clock)

    async def run():
        await svc.override(group="road", switch=False, for_s=3600, reason="pole works", user="ana")
        await svc.override(device="L-002", dim=40, for_s=600, reason="driver test", user="budi")
        assert svc.outputs["L-002"] == {"switch": False, "dim": 0, "source": "maintenance"}
        assert ("switch", 1) not in devices["L-002"].writes
        await svc.clear(device="L-002", user="budi")
        assert svc.outputs["L-002"] == {"switch": False, "dim": 0, "source": "maintenance"}
        before = len(events)
        try:
            await svc.clear(device="L-002", user="budi")
            raised = None
        except ValueError as exc:
            raised = str(exc)
        assert raised and "no maintenance override on device L-002" in raised
        assert "--group road" in raised                       # says what does hold it
        assert len(events) == before                          # and publishes nothing
    asyncio.run(run())
    overrides = [f for d, e, f in events if e == "maintenance_override"]
    assert [(o["state"], o["user"]) for o in overrides] == [("set", "ana"), ("set", "budi"),
                                                            ("cleared", "budi")]
    assert overrides[0]["group"] == "road" and overrides[0]["switch"] is False


def test_clock_trust_changes_are_published_and_shown():
    clock = WarpClock(NIGHT, trusted=False)
    svc, _, events = recording_service(EVENING, clock)

    async def run():
        await svc.step()
        clock.now += 5
        await svc.step()                                       # no change: no second event
        clock.is_trusted = True
        clock.now += 5
        await svc.step()
    asyncio.run(run())
    trust = [f for d, e, f in events if e == "clock_trust"]
    assert [(t["trusted"], t["source"]) for t in trust] == [(False, "none"), (True, "ntp")]
    assert trust[0]["reason"] == "clock not synchronised" and trust[0]["since"] == NIGHT
    assert svc.lights()["clock"]["trusted"] is True


def test_lentera_lights_names_the_failsafe_reason():
    from agent.cli.crew import failsafe_reason
    clock = {"trusted": False, "source": "none", "since": NIGHT, "reason": "clock not synchronised"}
    assert failsafe_reason(clock).startswith("clock not synchronised since ")
    assert failsafe_reason({**clock, "trusted": True}) == ""
