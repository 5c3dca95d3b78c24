"""City commands through the lighting rules: arbitration, pushed schedules that outlive restarts."""

import json
import time

from agent.uplink.signing import seal
from tests.support.gateway_files import write_gateway, write_key

PREFIX = "city/lighting/test-gw"
# Always-on plan: sunset..sunrise would make the result depend on the hour the test runs,
# so the groups here carry no schedule and follow the failsafe (on at `level`).
LIGHTING = """\
lighting:
  groups:
    road: {devices: [L-001, L-002]}
  failsafe: {level: 100}
"""


def _command(kind, cid, ttl_s=60, **fields):
    return {"id": cid, "gateway": "test-gw", "kind": kind,
            "expires_at": int(time.time() * 1000) + ttl_s * 1000, **fields}


def _ack(sub, cid):
    return sub.wait_for(lambda m: [p for t, p, _ in m if t == f"{PREFIX}/ack"
                                   and p.get("id") == cid], 15, f"ack of {cid}")[-1]


def test_commands_go_through_arbitration_and_pushed_schedule_survives_restart(
        tmp_path, broker, site_factory, subscriber_factory, agent_factory):
    site = site_factory(2)
    key = write_key(tmp_path / "cmd.key")
    config = write_gateway(tmp_path / "gw.yaml", broker.url, site.port, 2, clock="assume",
                           extra="commands: {key_file: cmd.key}\n" + LIGHTING)
    sub = subscriber_factory(broker.port, f"{PREFIX}/#")
    agent = agent_factory(config)
    sub.wait_for(lambda m: any(t == f"{PREFIX}/status" for t, _, _ in m), 15, "online")

    def send(cmd):
        sub.client.publish(f"{PREFIX}/cmd", seal(key, cmd), qos=1)
        return _ack(sub, cmd["id"])

    ack = send(_command("dim", "d-1", target={"group": "road"}, level=40, duration_s=600))
    assert ack["result"] == "done", ack
    assert site.call(lambda: (site.site.light(1).dim, site.site.light(2).dim)) == (40, 40)
    changed = sub.wait_for(lambda m: [p for t, p, _ in m if p.get("event") == "output_changed"
                                      and p["source"] == "command"], 10, "command record")
    assert changed[0]["new"]["dim"] == 40

    bad = send(_command("schedule", "s-bad", schedule={"groups": {"road": {
        "devices": ["L-001"], "schedule": "nope"}}}))
    assert bad["result"] == "refused" and "schedule.groups.road.schedule" in bad["reason"]

    # a plan whose rule keeps the road off whatever the hour: easy to see in the registers
    plan = {"groups": {"road": {"devices": ["L-001", "L-002"]}},
            "rules": {"dark": {"when": "true", "then": [{"switch": "off", "group": "road"}]}}}
    ack = send(_command("schedule", "s-1", schedule=plan))
    assert ack["result"] == "done", ack
    assert site.call(lambda: (site.site.light(1).switch, site.site.light(2).switch)) == (0, 0)
    stored = json.loads((tmp_path / "pushed-lighting.json").read_text())
    assert stored == plan

    assert agent.terminate(5) == 0
    site.call(site.site.light(1).set_switch, 1)            # someone switched it on meanwhile
    agent_factory(config)                                   # restart: the pushed plan rules
    deadline = time.monotonic() + 15
    while site.call(lambda: site.site.light(1).switch) != 0:
        assert time.monotonic() < deadline, "pushed schedule not applied after restart"
        time.sleep(0.1)
