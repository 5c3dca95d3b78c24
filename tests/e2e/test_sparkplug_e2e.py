"""Sparkplug B edge node end to end: simulator -> agent -> mosquitto -> a host peer that decodes
with its own copy of Tahu's proto and checks every message (tests/support/sparkplug_host.py)."""

import time

import pytest

from tests.support.gateway_files import write_gateway
from tests.support.sparkplug_host import HostPeer, Payload

SPARKPLUG = "sparkplug: {enabled: true, group_id: city, primary_host_id: scada, " \
            "rebirth_min_interval: 1s, reconnect_min: 0.2s, reconnect_max: 1s}\n"
NODE = "spBv1.0/city/{}/test-gw"


@pytest.fixture
def host_factory():
    hosts = []

    def make(port, **kwargs):
        hosts.append(HostPeer(port, **kwargs))
        return hosts[-1]
    yield make
    for h in hosts:
        h.close()


def births(host):
    return [p for t, p in host.of_kind("NBIRTH")]


def bdseq(payload):
    return next(m.long_value for m in payload.metrics if m.name == "bdSeq")


def test_births_data_rebirth_and_the_primary_host_state(tmp_path, broker, site_factory,
                                                        host_factory, agent_factory):
    site = site_factory(5)
    host = host_factory(broker.port, online=False)
    agent = agent_factory(write_gateway(tmp_path / "gw.yaml", broker.url, site.port, 5,
                                        extra=SPARKPLUG))
    time.sleep(4)                            # connected, polling: but the host is not online
    assert host.counts["NBIRTH"] == 0 and host.counts["DDATA"] == 0, host.counts
    host.set_online(True)
    host.wait_for(lambda h: h.counts["DBIRTH"] >= 5 and h.counts["DDATA"] >= 5, 15,
                  "NBIRTH, five DBIRTHs and data")
    first = births(host)[0]
    assert bdseq(first) == 0 and first.seq == 0
    assert not host.errors, host.errors

    host.rebirth_request("city", "test-gw")  # a full rebirth, same bdSeq (same connection)
    host.wait_for(lambda h: h.counts["NBIRTH"] >= 2, 10, "the rebirth")
    assert bdseq(births(host)[1]) == 0

    host.set_online(False)                   # the node leaves: NDEATH, then silence
    deaths = host.wait_for(lambda h: h.of_kind("NDEATH"), 10, "NDEATH after host offline")
    assert bdseq(deaths[0][1]) == 0
    seen = len(host.messages)
    time.sleep(3)
    later = [t for _, t, _ in host.messages[seen:] if "/STATE/" not in t]
    assert later == [], f"published while the primary host was offline: {later[:5]}"

    host.set_online(True)
    host.wait_for(lambda h: h.counts["NBIRTH"] >= 3, 15, "NBIRTH once the host is back")
    assert bdseq(births(host)[2]) == 1       # a new CONNECT, the next bdSeq
    before = host.counts["DDATA"]
    host.wait_for(lambda h: h.counts["DDATA"] >= before + 3, 10, "data again")
    assert not host.errors, host.errors
    assert agent.terminate(timeout=8) == 0
    host.wait_for(lambda h: len(h.of_kind("NDEATH")) >= 2, 5, "NDEATH at stop")
    assert bdseq(host.of_kind("NDEATH")[-1][1]) == 1
