"""Status is not queued while the broker is away: the newest snapshot goes out once on reconnect.

Before: every status_period a retained QoS 1 status was queued in paho while offline (2,880 a
day at 30 s) and flushed ahead of the backlog on reconnect.
"""

import time

from tests.support.durable import DurableSubscriber, persistent_broker
from tests.support.gateway_files import write_gateway

PREFIX = "city/lighting/test-gw"


def test_no_stale_status_pile_after_an_outage(tmp_path, site_factory, agent_factory):
    site = site_factory(2)
    broker = persistent_broker().start()
    config = write_gateway(tmp_path / "gw.yaml", broker.url, site.port, 2, status_period="0.2s")
    sub = DurableSubscriber(broker.port, f"{PREFIX}/#")
    try:
        agent = agent_factory(config)
        sub.wait_for(lambda m: [1 for t, p, _ in m if t.endswith("/status")
                                and "outbox" in p], 15, "a full status")
        broker.stop()
        down = time.time()
        site_polls = site.call(lambda: sum(site.site.requests.values()))
        time.sleep(4)       # the outage itself (20 status periods), not a wait for a condition
        assert site.call(lambda: sum(site.site.requests.values())) > site_polls
        seen = len(sub.messages)
        broker.start()
        back = time.time()
        sub.wait_for(lambda m: [1 for t, p, _ in m[seen:] if "/telemetry/" in t
                                and p["ts"] > back * 1000], 15, "fresh telemetry after")
        statuses = [p for t, p, _ in sub.messages[seen:] if t.endswith("/status")
                    and p.get("state") == "online" and "ts" in p]
        stale = [p["ts"] for p in statuses if p["ts"] < back * 1000 - 500]
        assert len(stale) <= 1, (len(stale), down, back)   # at most the newest snapshot
        assert agent.terminate(timeout=10) == 0
    finally:
        sub.close()
        broker.stop()
