"""City commands end to end: signed envelope -> agent subprocess -> simulated light -> ack."""

import json
import time

from agent.uplink.signing import seal
from tests.support.gateway_files import write_gateway, write_key

PREFIX = "city/lighting/test-gw"


def _acks(messages, command_id="any"):
    return [p for t, p, _ in messages if t == f"{PREFIX}/ack"
            and (command_id == "any" or p.get("id") == command_id)]


def _command(kind, cid, ttl_s=60, **fields):
    return {"id": cid, "gateway": "test-gw", "kind": kind,
            "expires_at": int(time.time() * 1000) + ttl_s * 1000, **fields}


def test_signed_commands_are_executed_and_everything_else_refused_with_nothing_written(
        tmp_path, broker, site_factory, subscriber_factory, agent_factory):
    site = site_factory(3)
    key = write_key(tmp_path / "cmd.key")
    config = write_gateway(tmp_path / "gw.yaml", broker.url, site.port, 3, clock="assume", extra=(
        "commands: {key_file: cmd.key}\ngroups: {north: [L-001, L-002]}\n"))
    sub = subscriber_factory(broker.port, f"{PREFIX}/#")
    agent = agent_factory(config)
    sub.wait_for(lambda m: any(t == f"{PREFIX}/status" and p.get("state") == "online"
                               for t, p, _ in m), 15, "agent online")
    writes = lambda unit: site.call(lambda: site.site.requests[(unit, 6)])   # noqa: E731

    def send(raw: bytes, cid):
        sub.client.publish(f"{PREFIX}/cmd", raw, qos=1)
        return sub.wait_for(lambda m: _acks(m, cid), 10, f"ack of {cid}")[-1]

    valid = seal(key, _command("switch", "c-1", target={"device": "L-001"}, on=False))
    ack = send(valid, "c-1")
    assert (ack["result"], ack["reason"]) == ("done", None), ack
    assert site.call(lambda: site.site.light(1).switch) == 0 and writes(1) > 0
    written = writes(1)

    sub.client.publish(f"{PREFIX}/cmd", valid, qos=1)
    replay = sub.wait_for(lambda m: _acks(m, "c-1")[1:], 10, "ack of the replay")[0]
    assert replay["result"] == "refused" and "replayed" in replay["reason"]

    other_key = bytes(32)
    refusals = {
        "c-sig": (seal(other_key, _command("switch", "c-sig", target={"device": "L-002"},
                                           on=False)), "signature"),
        "c-old": (seal(key, _command("switch", "c-old", ttl_s=-5, target={"device": "L-002"},
                                     on=False)), "expired"),
        "c-unknown": (seal(key, _command("dim", "c-unknown", target={"device": "L-099"},
                                         level=10)), "unknown device"),
        "c-level": (seal(key, _command("dim", "c-level", target={"device": "L-002"},
                                       level=150)), "level"),
        "c-gw": (seal(key, {**_command("switch", "c-gw", target={"device": "L-002"}, on=False),
                            "gateway": "other-gw"}), "addressed to"),
        "c-sched": (seal(key, _command("schedule", "c-sched", schedule={"rules": []})),
                    "no lighting section"),
    }
    for cid, (raw, why) in refusals.items():
        ack = send(raw, cid)
        assert ack["result"] == "refused" and why in ack["reason"], (cid, ack)

    before = len(_acks(sub.messages))
    sub.client.publish(f"{PREFIX}/cmd", b"{not json", qos=1)
    sub.client.publish(f"{PREFIX}/cmd", json.dumps({"payload": "{}", "sig": "00"}), qos=1)
    junk = sub.wait_for(lambda m: _acks(m)[before:before + 2] if len(_acks(m)) >= before + 2
                        else None, 10, "acks of malformed commands")
    assert all(a["result"] == "refused" and a["id"] is None for a in junk), junk
    assert (writes(1), writes(2), writes(3)) == (written, 0, 0)     # nothing written

    ack = send(seal(key, _command("dim", "c-group", target={"group": "north"}, level=30)),
               "c-group")
    assert ack["result"] == "done" and ack["details"]["devices"] == ["L-001", "L-002"]
    assert site.call(lambda: (site.site.light(1).dim, site.site.light(2).dim,
                              site.site.light(3).dim)) == (30, 30, 100)

    ack = send(seal(key, _command("snapshot", "c-snap")), "c-snap")
    assert ack["result"] == "done" and "backlog" in ack["details"]["outbox"]
    counts = ack["details"]["commands"]
    assert counts["refused"] >= 6                    # verified, but refused
    assert counts["rejected"] == {"oversized": 0, "not_json": 1, "bad_envelope": 1,
                                  "bad_signature": 1, "disabled": 0}   # never verified
    assert agent.terminate(timeout=5) == 0


def test_timed_dim_is_restored_when_its_duration_ends(
        tmp_path, broker, site_factory, subscriber_factory, agent_factory):
    site = site_factory(1)
    key = write_key(tmp_path / "cmd.key")
    config = write_gateway(tmp_path / "gw.yaml", broker.url, site.port, 1, clock="assume",
                           extra="commands: {key_file: cmd.key}\n")
    sub = subscriber_factory(broker.port, f"{PREFIX}/#")
    agent_factory(config)
    sub.wait_for(lambda m: any(t == f"{PREFIX}/status" for t, _, _ in m), 15, "agent online")
    sub.client.publish(f"{PREFIX}/cmd", seal(key, _command(
        "dim", "t-1", target={"device": "L-001"}, level=20, duration_s=1.5)), qos=1)
    assert sub.wait_for(lambda m: _acks(m, "t-1"), 10, "ack")[0]["result"] == "done"
    assert site.call(lambda: site.site.light(1).dim) == 20
    sub.wait_for(lambda m: [p for t, p, _ in m if t.endswith("/telemetry/L-001")
                            and p["values"]["dim"] == 100 and p["ts"] > time.time() * 1000 - 500],
                 6, "dim restored to 100 after 1.5 s")
