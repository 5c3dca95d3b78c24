"""5,000 forged, malformed and oversized commands in 20 s while 30 lights poll at 1 s.

The gate (agent/uplink/intake.py) must keep the work bounded: telemetry keeps flowing
without a seq hole, refusals are answered at the documented rate only, never echo more than
128 characters of an id, memory stays flat, and a genuine command still acts at once.
"""

import json
import os
import random
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from agent.uplink.intake import ID_ECHO_MAX, REFUSAL_BURST, REFUSAL_PER_S
from agent.uplink.signing import seal, sign
from tests.support.gateway_files import write_gateway, write_key

PREFIX = "city/lighting/test-gw"
LIGHTS = 30
FLOOD = 5000
FLOOD_S = 20.0


def _rss_kb(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _junk(i: int, key_wrong: bytes) -> bytes:
    kind = i % 5
    if kind == 0:                                     # oversized: must not even be parsed
        return b'{"payload": "' + b"x" * random.randint(17_000, 40_000) + b'", "sig": ""}'
    if kind == 1:                                     # forged, with a huge id
        payload = json.dumps({"id": "F" * random.randint(200, 12_000), "gateway": "test-gw",
                              "kind": "switch", "target": {"device": "L-001"}, "on": False,
                              "expires_at": int(time.time() * 1000) + 60_000})
        return json.dumps({"payload": payload, "sig": sign(key_wrong, payload)}).encode()
    if kind == 2:                                     # not JSON at all
        return os.urandom(random.randint(1, 3000))
    if kind == 3:                                     # JSON, but not an envelope
        return json.dumps({"payload": {"id": "x" * 500}, "sig": 7}).encode()
    return json.dumps({"payload": '{"id": "bad-sig"}', "sig": "zz" * 32}).encode()


def _flood(port: int) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    wrong = bytes(range(32))
    start = time.monotonic()
    for i in range(FLOOD):
        client.publish(f"{PREFIX}/cmd", _junk(i, wrong), qos=0)
        ahead = start + FLOOD_S * (i + 1) / FLOOD - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)                         # pacing the load generator
    client.disconnect()
    client.loop_stop()


def test_flood_of_forged_commands_leaves_telemetry_and_real_commands_unharmed(
        tmp_path, broker, site_factory, subscriber_factory, agent_factory):
    site = site_factory(LIGHTS)
    key = write_key(tmp_path / "cmd.key")
    config = write_gateway(tmp_path / "gw.yaml", broker.url, site.port, LIGHTS, poll="1s",
                           clock="assume", extra="commands: {key_file: cmd.key}\n")
    tele = subscriber_factory(broker.port, f"{PREFIX}/telemetry/#")
    acks = subscriber_factory(broker.port, f"{PREFIX}/ack")
    events = subscriber_factory(broker.port, f"{PREFIX}/events/#")
    agent = agent_factory(config)
    tele.wait_for(lambda m: len(m) >= 2 * LIGHTS, 20, "telemetry before the flood")
    rss_before = _rss_kb(agent.proc.pid)

    flood_from = time.time() * 1000
    _flood(broker.port)
    flood_to = time.time() * 1000
    assert agent.proc.poll() is None, agent.output()[-2000:]

    cmd = {"id": "real-1", "gateway": "test-gw", "kind": "switch",
           "target": {"device": "L-007"}, "on": False,
           "expires_at": int(time.time() * 1000) + 60_000}
    sent = time.monotonic()
    acks.client.publish(f"{PREFIX}/cmd", seal(key, cmd), qos=1)
    ack = acks.wait_for(lambda m: [p for _, p, _ in m if p.get("id") == "real-1"], 2.0,
                        "the genuine command's ack within 2 s")[0]
    took = time.monotonic() - sent
    assert ack["result"] == "done", ack
    assert site.call(lambda: site.site.light(7).switch) == 0
    rss_after = _rss_kb(agent.proc.pid)

    refusals = [p for _, p, _ in acks.messages if p.get("id") != "real-1"]
    bound = REFUSAL_BURST + REFUSAL_PER_S * (FLOOD_S + took + 5)
    assert 1 <= len(refusals) <= bound, len(refusals)
    assert all(p["result"] == "refused" for p in refusals)
    assert max(len(p["id"] or "") for p in refusals) <= ID_ECHO_MAX

    in_flood = [p for _, p, _ in tele.messages if flood_from + 1000 <= p["ts"] <= flood_to - 1000]
    expected = LIGHTS * (flood_to - flood_from - 2000) / 1000
    assert len(in_flood) >= 0.95 * expected, (len(in_flood), expected)

    seqs = sorted({p["seq"] for sub in (tele, acks, events) for _, p, _ in sub.messages})
    missing = set(range(seqs[0], seqs[-1] + 1)) - set(seqs)
    assert not missing, f"seq holes: {sorted(missing)[:20]}"
    assert rss_after - rss_before < 50 * 1024, (rss_before, rss_after)
    assert "F" * 200 not in agent.output()            # ids are never logged in full
    print(f"\nflood: {FLOOD} in {FLOOD_S:.0f} s; refusal acks {len(refusals)} (bound "
          f"{bound:.0f}); telemetry {len(in_flood)}/{expected:.0f} polls; RSS "
          f"{rss_before // 1024} -> {rss_after // 1024} MB; genuine command acked in {took:.2f} s")
    assert agent.terminate(timeout=10) == 0
