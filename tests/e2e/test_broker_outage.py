"""The agent survives its broker going away and reconnects when it returns."""

from tests.support.gateway_files import write_gateway

PREFIX = "city/lighting/test-gw"


def test_broker_killed_and_restarted_agent_reconnects(
        tmp_path, broker, site_factory, subscriber_factory, agent_factory):
    site = site_factory(2)
    agent = agent_factory(write_gateway(tmp_path / "gw.yaml", broker.url, site.port, 2))
    sub = subscriber_factory(broker.port, f"{PREFIX}/#")
    sub.wait_for(lambda m: any("/telemetry/" in t for t, _, _ in m), 15, "first telemetry")

    sub.close()
    broker.stop()
    assert agent.proc.poll() is None, "agent died when the broker went away"
    broker.start()                                   # same port, fresh broker
    assert agent.proc.poll() is None

    sub2 = subscriber_factory(broker.port, f"{PREFIX}/#")
    sub2.wait_for(lambda m: any(t.endswith("/status") and p.get("state") == "online"
                                for t, p, _ in m), 40, "online status after reconnect")
    sub2.wait_for(lambda m: len([1 for t, _, _ in m if "/telemetry/" in t]) >= 4, 15,
                  "telemetry after reconnect")
    assert agent.proc.poll() is None
    assert agent.terminate(timeout=5) == 0
