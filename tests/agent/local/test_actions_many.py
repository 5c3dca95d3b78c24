"""More lights and commands than the arbitration's cap: all or nothing, always answered, on
the record. A real LightingService and CommandHandler with recording device fakes."""

import asyncio
import json

from agent.config.console import ConsoleConfig
from agent.local.actions import CrewActions
from agent.services.lighting import LightingService
from agent.store.audit import AuditLog
from agent.uplink.commands import CommandHandler
from edge_rules.arbitration import MAX_ENTRIES
from edge_rules.controller import LightingController
from edge_rules.tz import FixedOffset
from tests.agent.local.test_actions import Clock, Device, Mono, NOON, Scheduler

LIGHTS = [f"L-{n:03d}" for n in range(1, 301)]


def _service(events):
    plan = {"groups": {"road": {"devices": LIGHTS}}}
    ctl = LightingController(plan, FixedOffset(7 * 3600, "WIB"), -6.178, 106.632)
    devices = {d: Device() for d in LIGHTS}
    svc = LightingService(ctl, Clock(), devices, {d: Scheduler() for d in devices},
                          lambda *a, **k: events.append((a, k)))
    asyncio.run(svc.step())
    for d in devices:
        svc.actual[d] = {"switch": 1, "dim": 100}
    return svc, ctl


def _actions(tmp_path, svc, ctl, events):
    return CrewActions(svc, lambda: ctl.groups, AuditLog(tmp_path / "audit.log"),
                       lambda *a, **k: events.append((a, k)),
                       ConsoleConfig(relay_min_interval=30, hold_max=7200), Mono(),
                       wall=lambda: 1_800_000_000.0)


def _audit(tmp_path):
    return [json.loads(x) for x in (tmp_path / "audit.log").read_text().splitlines()]


def test_a_group_of_300_lights_is_held_whole_and_recorded(tmp_path):
    """Before: the 257th light's override raised ValueError: 256 lights switched, HTTP 500,
    no audit line and no crew_action event."""
    events = []
    svc, ctl = _service(events)
    actions = _actions(tmp_path, svc, ctl, events)
    result = asyncio.run(actions.act("budi", "10.0.0.7", {"op": "dim", "group": "road",
                                                          "dim": "40", "hold_s": "600"}))
    assert result["ok"] and len(result["applied"]) == 300
    assert {svc.outputs[d]["source"] for d in LIGHTS} == {"maintenance"}
    assert _audit(tmp_path)[-1]["result"] == "ok"
    assert [a for a, _ in events if a[1] == "crew_action"]


def test_a_selection_that_does_not_fit_is_refused_whole_and_recorded(tmp_path):
    events = []
    svc, ctl = _service(events)
    actions = _actions(tmp_path, svc, ctl, events)
    fill = MAX_ENTRIES + len(LIGHTS) - 100         # room left for 100 more overrides
    for n in range(fill):                          # the control socket's, one light each
        ctl.apply_override(NOON + 3600 - n, device=LIGHTS[n % 300], switch=True, dim=90,
                           reason="socket")
    before = ctl.arbiter.entries("maintenance")
    result = asyncio.run(actions.act("budi", "10.0.0.7", {
        "op": "off", "devices": ",".join(LIGHTS[:150]), "hold_s": "600"}))
    assert not result["ok"] and result["applied"] == [] and len(result["refused"]) == 150
    assert "too many overrides" in result["refused"]["L-001"]
    assert ctl.arbiter.entries("maintenance") == before       # nothing half-applied
    assert _audit(tmp_path)[-1]["result"] == "refused"
    assert [a for a, _ in events if a[1] == "crew_action"]


class Outbox:
    newest_issued = 0

    async def remember_command(self, cid, expires_at, issued, now, max_ttl):
        return "accepted"


def test_city_commands_past_the_cap_are_refused_busy_and_every_one_is_answered():
    """Before: the 257th live city command raised ValueError out of the command loop: no
    ack for it, the commands queued behind it never answered, `commands.run` dead."""
    events = []
    svc, _ = _service(events)
    acks = []
    now_ms = NOON * 1000

    async def snapshot():
        return {}
    handler = CommandHandler("gw", 7 * 86400, {}, set(LIGHTS), svc, Outbox(),
                             lambda *a: acks.append(a), snapshot, lambda: now_ms)
    cap = MAX_ENTRIES + len(LIGHTS)
    total = cap + 4

    async def go():
        task = asyncio.create_task(handler.run_loop())
        for n in range(total):              # each one lives longer than the one after it
            while len(acks) < n - 8 and not task.done():    # paced: the queue holds 32
                await asyncio.sleep(0)
            handler.submit(json.dumps({
                "id": f"c{n}", "gateway": "gw", "kind": "dim", "level": n % 100,
                "target": {"device": LIGHTS[n % 300]}, "expires_at": now_ms + 60_000,
                "duration_s": 86400 - n}))
        for _ in range(2000):
            if len(acks) == total or task.done():
                break
            await asyncio.sleep(0)
        task.cancel()
        return task
    task = asyncio.run(go())
    assert len(acks) == total, (len(acks), task)
    results = [a[1] for a in acks]
    assert results[:cap] == ["done"] * cap, [a for a in acks if a[1] != "done"][:2]
    assert results[cap:] == ["refused"] * 4 and acks[-1][2].startswith("busy:"), acks[-1]
