"""Replay protection that does not trust the wall clock alone (docs/mqtt.md "Replay").

The agent's clock is injected with --time-warp (its wall clock then starts where the test
says). Before this was built, ids were pruned by wall time: after a +2-day jump the id of a
captured command was forgotten, and once the clock was back (or set back a day) the same
signed command was executed again.
"""

import time
from datetime import datetime, timezone

from agent.uplink.signing import seal
from tests.support.gateway_files import write_gateway, write_key

PREFIX = "city/lighting/test-gw"
DAY_MS = 86_400_000


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat()


def test_captured_command_is_refused_after_a_forward_jump_and_after_the_clock_is_set_back(
        tmp_path, broker, site_factory, subscriber_factory, agent_factory):
    site = site_factory(1)
    key = write_key(tmp_path / "cmd.key")
    config = write_gateway(tmp_path / "gw.yaml", broker.url, site.port, 1, clock="assume",
                           extra="commands: {key_file: cmd.key, max_ttl: 72h}\n")
    sub = subscriber_factory(broker.port, f"{PREFIX}/#")

    def command(cid, now_ms, ttl_ms=60_000):
        return seal(key, {"id": cid, "gateway": "test-gw", "kind": "dim",
                          "target": {"device": "L-001"}, "level": 40,
                          "expires_at": now_ms + ttl_ms})

    def run(warp_ms, *sends):
        """One agent run (its clock at now + warp_ms); the ack of each message sent, in order."""
        args = ["--time-warp", _iso(int(time.time() * 1000) + warp_ms)] if warp_ms else []
        seen = len(sub.messages)
        agent = agent_factory(config, args)
        sub.wait_for(lambda m: any(t == f"{PREFIX}/status" and p.get("state") == "online"
                                   for t, p, _ in m[seen:]), 15, "agent online")
        answers = []
        for raw in sends:
            before = len([1 for t, _, _ in sub.messages if t == f"{PREFIX}/ack"])
            sub.client.publish(f"{PREFIX}/cmd", raw, qos=1)
            answers.append(sub.wait_for(
                lambda m: [p for t, p, _ in m if t == f"{PREFIX}/ack"][before:], 10, "ack")[0])
        assert agent.terminate(timeout=10) == 0
        return answers

    # valid for 10 minutes: still valid when the clock is right again below
    captured = command("c-1", int(time.time() * 1000), ttl_ms=600_000)
    (first,) = run(0, captured)
    assert first["result"] == "done", first

    # +2 days: the captured command has expired; a fresh one (signed on the jumped clock, as
    # a backend with the same wrong clock would) is accepted - the old code pruned c-1 here
    jumped = command("c-2", int(time.time() * 1000) + 2 * DAY_MS)
    replay_jumped, fresh = run(2 * DAY_MS, captured, jumped)
    assert replay_jumped["result"] == "refused" and "expired" in replay_jumped["reason"]
    assert fresh["result"] == "done", fresh

    # the clock is right again and c-1 still valid. max_ttl (72 h) is longer than the jump,
    # so the issued_at horizon (c-2 - 72 h) does not cover c-1: only its remembered id
    # refuses it - which wall-time pruning had dropped when c-2 was accepted
    (replay_back,) = run(0, captured)
    assert replay_back["result"] == "refused", replay_back
    assert replay_back["reason"].split(":")[0] == "replayed", replay_back

    (replay_set_back,) = run(-DAY_MS, captured)       # an RTC-less Pi boots a day behind
    assert replay_set_back["result"] == "refused", replay_set_back
    assert replay_set_back["reason"].split(":")[0] in ("clock_untrusted", "replayed",
                                                       "stale"), replay_set_back
    assert site.call(lambda: site.site.requests[(1, 6)]) > 0      # only c-1 and c-2 wrote
    print("\nreplay refused:", *(a["reason"].split(":")[0] for a in
                                  (replay_jumped, replay_back, replay_set_back)))
