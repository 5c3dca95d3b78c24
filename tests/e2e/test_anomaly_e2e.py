"""End to end: a lamp failure injected in the simulator becomes one lampFailure event."""

from tests.support.gateway_files import write_gateway

PREFIX = "city/lighting/test-gw"


def test_injected_lamp_failure_is_published_once_as_an_event(
        tmp_path, broker, site_factory, subscriber_factory, agent_factory):
    site = site_factory(4)
    site.call(site.site.fail_lamp, 2)
    sub = subscriber_factory(broker.port, f"{PREFIX}/events/#")
    config = write_gateway(tmp_path / "gw.yaml", broker.url, site.port, 4, poll="500ms",
                          extra="anomaly: {period: 1s}\n")
    agent = agent_factory(config)
    raised = sub.wait_for(lambda m: [(t, p) for t, p, _ in m
                                     if p.get("event") == "lampFailure"], 30, "lampFailure")
    topic, event = raised[0]
    assert topic == f"{PREFIX}/events/L-002"
    assert event["state"] == "raised" and 0 < event["score"] <= 1
    assert event["evidence"]["power"] < 1.0 and event["first_seen_ts"] <= event["ts"]
    assert event["ts"] > 1e12 and event["first_seen_ts"] > 1e12      # epoch ms like all messages
    site.call(site.site.fail_lamp, 2, False)
    sub.wait_for(lambda m: [p for t, p, _ in m if p.get("event") == "lampFailure"
                            and p["state"] == "cleared"], 30, "lampFailure cleared")
    lamp = [(t, p["state"]) for t, p, _ in sub.messages if p.get("event") == "lampFailure"]
    assert lamp == [(f"{PREFIX}/events/L-002", "raised"), (f"{PREFIX}/events/L-002", "cleared")]
    assert agent.terminate(5) == 0
    assert (tmp_path / "anomaly.npz").exists()      # learnt state saved on shutdown
