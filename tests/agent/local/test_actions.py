"""Crew actions against a real LightingService (recording device fakes, injected clocks)."""

import asyncio
import json

import pytest

from agent.config.console import ConsoleConfig
from agent.local.actions import ActionError, CrewActions
from agent.services.lighting import LightingService
from agent.store.audit import AuditError, AuditLog, verify
from edge_rules.controller import LightingController
from edge_rules.tz import FixedOffset

NOON = 1795845600


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


class Scheduler:
    async def execute(self, run, priority=0):
        return await run()


class Mono:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


@pytest.fixture
def crew(tmp_path):
    plan = {"groups": {"road": {"devices": ["L-001", "L-002", "L-003"]}}}
    ctl = LightingController(plan, FixedOffset(7 * 3600, "WIB"), -6.178, 106.632)
    devices = {d: Device() for d in ("L-001", "L-002", "L-003")}
    events = []
    svc = LightingService(ctl, Clock(), devices, {d: Scheduler() for d in devices},
                          lambda *a, **k: events.append((a, k)))
    asyncio.run(svc.step())
    for d in devices:
        svc.actual[d] = {"switch": 1, "dim": 100}
        devices[d].writes.clear()
    events.clear()
    audit = AuditLog(tmp_path / "audit.log")
    mono = Mono()
    actions = CrewActions(svc, lambda: ctl.groups, audit, lambda *a, **k: events.append((a, k)),
                          ConsoleConfig(relay_min_interval=30, hold_max=7200), mono,
                          wall=lambda: 1_800_000_000.0)
    return actions, svc, devices, events, mono, tmp_path / "audit.log"


def act(actions, **form):
    return asyncio.run(actions.act("budi", "10.0.0.7", {k: str(v) for k, v in form.items()}))


def test_off_with_a_hold_is_a_maintenance_override_recorded_twice(crew):
    actions, svc, devices, events, _, audit = crew
    result = act(actions, op="off", device="L-002", hold_s=600)
    assert result["ok"] and result["applied"] == ["L-002"]
    assert result["expires_s"] == NOON + 600
    assert svc.outputs["L-002"]["source"] == "maintenance"
    assert devices["L-002"].writes == [("switch", 0)] and not devices["L-001"].writes
    entry = json.loads(audit.read_text())
    assert (entry["who"], entry["addr"], entry["action"], entry["lights"]) == (
        "budi", "10.0.0.7", "off", ["L-002"])
    crew_events = [(a, k) for a, k in events if a[1] == "crew_action"]
    assert crew_events[0][0][0] == "L-002" and crew_events[0][1]["hold_s"] == 600
    assert verify(audit) == (1, [])
    # review finding 8: the city gets the log's newest hash, an anchor the gateway cannot retract
    assert crew_events[0][1]["audit_head"] == entry["hash"]


def test_release_hands_the_light_back(crew):
    actions, svc, devices, *_ = crew
    act(actions, op="dim", group="road", dim=40, hold_s=600)
    assert {svc.outputs[d]["source"] for d in devices} == {"maintenance"}
    act(actions, op="release", devices="L-001,L-003")
    assert [svc.outputs[d]["source"] for d in ("L-001", "L-002", "L-003")] == [
        "failsafe", "maintenance", "failsafe"]


@pytest.mark.parametrize("form, message", [
    ({"op": "off", "device": "L-001"}, "hold time is required"),
    ({"op": "off", "device": "L-001", "hold_s": "30"}, "hold time is required"),
    ({"op": "off", "device": "L-001", "hold_s": "7201"}, "2 h"),
    ({"op": "off", "device": "L-001", "hold_s": "abc"}, "hold time is required"),
    ({"op": "dim", "device": "L-001", "hold_s": "600", "dim": "101"}, "0..100"),
    ({"op": "blink", "device": "L-001", "hold_s": "600"}, "op must be"),
    ({"op": "off", "hold_s": "600"}, "name a light"),
    ({"op": "off", "device": "L-404", "hold_s": "600"}, "L-404"),
    ({"op": "off", "group": "nope", "hold_s": "600"}, "unknown group"),
])
def test_bad_requests_say_what_to_fix_and_change_nothing(crew, form, message):
    actions, svc, devices, events, _, audit = crew
    with pytest.raises(ActionError, match=message):
        asyncio.run(actions.act("budi", "10.0.0.7", form))
    assert not any(d.writes for d in devices.values()) and not audit.exists()


def test_relay_protection_refuses_a_second_toggle_within_the_interval(crew):
    actions, svc, devices, _, mono, audit = crew
    assert act(actions, op="off", device="L-001", hold_s=600)["ok"]
    mono.t += 10
    again = act(actions, op="on", devices="L-001,L-002", hold_s=600)
    assert "relay protection" in again["refused"]["L-001"] and "20 s" in again["refused"]["L-001"]
    assert again["applied"] == ["L-002"]             # already on: no toggle, no refusal
    assert devices["L-001"].writes == [("switch", 0)]
    mono.t += 21
    assert act(actions, op="on", device="L-001", hold_s=600)["ok"]
    assert devices["L-001"].writes == [("switch", 0), ("switch", 1)]
    results = [json.loads(x)["result"] for x in audit.read_text().splitlines()]
    assert results == ["ok", "partly refused", "ok"]


def test_nothing_is_switched_when_the_action_cannot_be_recorded(crew, tmp_path):
    """Before: the lights were switched first and the audit line written after, so on a failed
    append the light was off, the crew was told "not taken" and no crew_action was sent."""
    actions, svc, devices, events, _, _ = crew
    (tmp_path / "full").mkdir()
    actions.audit = AuditLog(tmp_path / "full")        # a directory: every append fails
    with pytest.raises(AuditError, match="the action was not taken"):
        act(actions, op="off", device="L-002", hold_s=600)
    assert devices["L-002"].writes == []
    assert svc.controller.arbiter.entries("maintenance") == []
    asyncio.run(svc.step())
    assert svc.outputs["L-002"]["source"] != "maintenance" and devices["L-002"].writes == []



def test_release_is_not_ok_while_a_group_override_still_holds_the_light(crew):
    """Before: "Release" answered ok while the control socket's group override kept the
    light off."""
    actions, svc, devices, events, _, audit = crew
    asyncio.run(svc.override(group="road", switch=False, for_s=3600, reason="pole works",
                             user="sari"))
    act(actions, op="dim", device="L-001", dim=40, hold_s=600)
    result = act(actions, op="release", device="L-001")
    assert not result["ok"] and result["applied"] == []
    assert "still held by the override on group road (set by sari)" in result["refused"]["L-001"]
    assert svc.outputs["L-001"]["source"] == "maintenance"
    assert [d for d, o in svc.outputs.items() if o["switch"]] == []
    assert json.loads(audit.read_text().splitlines()[-1])["result"] == "refused"
