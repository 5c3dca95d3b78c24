"""Sparkplug B edge node end to end: simulator -> agent -> mosquitto -> a host peer that decodes
with its own copy of Tahu's proto and checks every message (tests/support/sparkplug_host.py)."""

import shutil
import tempfile
import time
from pathlib import Path

import pytest

from tests.support.broker import Broker, free_port
from tests.support.gateway_files import make_certs, write_gateway
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


def twice(host):
    """Readings that reached the host more than once (device, reading ts) -> arrivals."""
    return {k: c for k, c in host.arrived.items() if len(c) > 1}


def bdseq(payload):
    return next(m.long_value for m in payload.metrics if m.name == "bdSeq")


def test_births_data_rebirth_and_the_primary_host_state(tmp_path, broker, site_factory,
                                                        host_factory, agent_factory):
    site = site_factory(5)
    host = host_factory(broker.port, online=False)
    # another host online is not the primary [tck-id-message-flow-edge-node-birth-publish-phid-wait-id]
    host_factory(broker.port, host_id="other-scada")
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
    # the rebirth and the new session after the host came back start from the last row
    # the broker confirmed: none again (they did when the drain started from row 0)
    assert twice(host) == {}
    assert agent.terminate(timeout=8) == 0
    host.wait_for(lambda h: len(h.of_kind("NDEATH")) >= 2, 5, "NDEATH at stop")
    assert bdseq(host.of_kind("NDEATH")[-1][1]) == 1, [(round(a, 1), t, p.metrics[0].long_value if hasattr(p, "metrics") else p) for a, t, p in host.messages if "DEATH" in t or "BIRTH/" in t or "STATE" in t]


def test_a_silent_device_gets_ddeath_within_two_polls_and_dbirth_when_back(
        tmp_path, broker, site_factory, host_factory, agent_factory):
    site = site_factory(3)
    host = host_factory(broker.port)
    agent_factory(write_gateway(tmp_path / "gw.yaml", broker.url, site.port, 3,
                                extra=SPARKPLUG))
    host.wait_for(lambda h: h.counts["DBIRTH"] >= 3 and h.counts["DDATA"] >= 3, 15, "births")
    site.call(site.site.set_dead, 2)
    silent_at = time.monotonic()
    host.wait_for(lambda h: h.of_kind("DDEATH"), 10, "DDEATH of L-002")
    died = next(at for at, t, _ in host.messages if "/DDEATH/" in t)
    assert died - silent_at <= 2 * 1.0 + 1.0, "DDEATH later than two 1 s polls (+ timeout)"
    assert [t for t, _ in host.of_kind("DDEATH")] == [NODE.format("DDEATH") + "/L-002"]
    site.call(site.site.set_dead, 2, False)
    host.wait_for(lambda h: "L-002" in h.devices_born, 15, "DBIRTH of L-002 when it answers")
    assert not host.errors, host.errors


def test_an_outage_comes_back_as_history_and_a_sigkill_keeps_bdseq(
        tmp_path, broker, site_factory, host_factory, agent_factory, subscriber_factory):
    site = site_factory(4)
    host = host_factory(broker.port)
    # resend_unheard: the JSON subscriber below connects after the restarted broker and the
    # agent may reconnect first; without it the JSON backlog got PUBACK "no subscribers" and was
    # gone (the Sparkplug node waits for the host's STATE, so its history cannot race)
    config = write_gateway(tmp_path / "gw.yaml", broker.url, site.port, 4, extra=SPARKPLUG,
                           mqtt="resend_unheard: true")
    agent = agent_factory(config)
    host.wait_for(lambda h: h.counts["DDATA"] >= 4, 15, "data")
    outage_from = int(time.time() * 1000)
    broker.stop()
    time.sleep(6)                            # six polls of every light held by the outbox
    outage_to = int(time.time() * 1000)
    broker.start()
    json_side = subscriber_factory(broker.port, "city/lighting/test-gw/telemetry/#")
    host.wait_for(lambda h: h.counts["NBIRTH"] >= 2, 20, "NBIRTH after the outage")
    assert bdseq(births(host)[1]) == 1
    held = host.wait_for(lambda h: len({ts for _, ts in h.history
                                        if outage_from <= ts <= outage_to}) >= 20, 20,
                         "the outage's readings as history")
    assert held
    json_side.wait_for(lambda m: len(m) >= 24, 20, "the JSON interface's backlog too")
    in_outage = {(t.rsplit("/", 1)[1], p["ts"]) for t, p, _ in json_side.messages
                 if outage_from + 1500 <= p["ts"] <= outage_to - 1500 and p["quality"] == "good"}
    assert in_outage and in_outage <= host.history, sorted(in_outage - host.history)[:5]
    assert not host.errors, host.errors

    deaths = len(host.of_kind("NDEATH"))   # mosquitto sent the will at its own stop too
    agent.kill()                             # SIGKILL: the broker sends the will
    host.wait_for(lambda h: len(h.of_kind("NDEATH")) > deaths, 10, "the will (NDEATH)")
    assert bdseq(host.of_kind("NDEATH")[-1][1]) == 1
    agent_factory(config)
    host.wait_for(lambda h: h.counts["NBIRTH"] >= 3, 20, "NBIRTH after the restart")
    assert bdseq(births(host)[2]) == 2       # persisted across the kill
    assert not host.errors, host.errors


def test_an_adversarial_host_floods_rebirths_forges_state_and_sends_junk(
        tmp_path, broker, site_factory, host_factory, agent_factory, subscriber_factory):
    site = site_factory(3)
    host = host_factory(broker.port)
    json_side = subscriber_factory(broker.port, "city/lighting/test-gw/telemetry/#")
    agent = agent_factory(write_gateway(tmp_path / "gw.yaml", broker.url, site.port, 3,
                                        extra=SPARKPLUG))
    host.wait_for(lambda h: h.counts["DDATA"] >= 3, 15, "data")

    # a STATE from the past (older than the online one): ignored, no NDEATH, data goes on
    host.set_online(False, ts=int(time.time() * 1000) - 60_000)
    before = host.counts["DDATA"]
    host.wait_for(lambda h: h.counts["DDATA"] >= before + 3, 10, "data after a stale STATE")
    assert not host.of_kind("NDEATH")

    # junk and refused writes: each refused and logged, the node keeps going
    junk = [b"\xff\x00garbage", b"\x0a\x03\x0a\x01", b"", bytes(70_000)]
    write = Payload(timestamp=1)
    write.metrics.add(alias=4, int_value=40)             # a DCMD writing dim
    for data in junk:
        host.send(NODE.format("NCMD"), data)
        host.send(NODE.format("DCMD") + "/L-001", data)
    host.send(NODE.format("DCMD") + "/L-001", write.SerializeToString())

    # 1,000 rebirth requests in 10 s: rebirths stay bounded (one per 1 s interval)
    births_before, polls_before = host.counts["NBIRTH"], len(json_side.messages)
    start = time.monotonic()
    for i in range(1000):
        host.rebirth_request("city", "test-gw")
        time.sleep(max(0.0, start + (i + 1) * 0.01 - time.monotonic()))
    time.sleep(2)
    rebirths = host.counts["NBIRTH"] - births_before
    assert 1 <= rebirths <= 10 / 1.0 + 2, rebirths
    assert twice(host) == {}                 # a rebirth sends no confirmed reading again
    polls = len(json_side.messages) - polls_before
    assert polls >= 3 * 10 * 0.8, f"polling suffered: {polls} readings in ~12 s from 3 lights"
    assert not host.errors, host.errors
    log = agent.output()
    assert log.count("refused a command on") >= 2 * len(junk) - 1, log[-2000:]
    assert "sparkplug.commands is off" in log
    assert agent.terminate(timeout=8) == 0


def test_the_status_message_carries_the_nodes_figures(tmp_path, broker, site_factory,
                                                     host_factory, agent_factory,
                                                     subscriber_factory):
    site = site_factory(2)
    host = host_factory(broker.port)
    status = subscriber_factory(broker.port, "city/lighting/test-gw/status")
    agent = agent_factory(write_gateway(tmp_path / "gw.yaml", broker.url, site.port, 2,
                                        extra=SPARKPLUG, status_period="2s"))
    host.wait_for(lambda h: h.counts["DDATA"] >= 2, 15, "data")
    host.send(NODE.format("NCMD"), b"\x01junk")
    figures = status.wait_for(lambda m: [p["sparkplug"] for _, p, _ in m
                                         if isinstance(p, dict) and p.get("sparkplug", {}).get(
                                             "commands_refused")], 10, "sparkplug figures")
    last = figures[-1]
    assert last["births"] >= 1 and last["host_online"] is True and last["bdseq"] == 0
    assert last["ddata"] >= 2 and last["acked"] >= 2
    assert agent.terminate(timeout=8) == 0


def test_a_dcmd_writes_dim_through_the_arbitration_when_enabled_and_bounded(
        tmp_path, broker, site_factory, host_factory, agent_factory):
    site = site_factory(2)
    host = host_factory(broker.port)
    agent = agent_factory(write_gateway(
        tmp_path / "gw.yaml", broker.url, site.port, 2, clock="assume",
        extra=SPARKPLUG.replace("}\n", ", commands: true, max_writes_per_s: 1}\n")))
    host.wait_for(lambda h: "L-001" in h.devices_born and h.counts["DDATA"] >= 2, 15, "births")
    dbirth = host.of_kind("DBIRTH")[0][1]
    alias = {m.name: m.alias for m in dbirth.metrics}
    write = Payload(timestamp=int(time.time() * 1000))
    write.metrics.add(alias=alias["dim"], int_value=40)
    host.send(NODE.format("DCMD") + "/L-001", write.SerializeToString())
    host.send(NODE.format("DCMD") + "/L-001", write.SerializeToString())   # within 1 s
    host.wait_for(lambda h: any(m.alias == alias["dim"] and m.int_value == 40
                                for t, p in h.of_kind("DDATA") if t.endswith("/L-001")
                                for m in p.metrics), 10, "dim 40 read back from L-001")
    bad = Payload(timestamp=1)
    bad.metrics.add(alias=alias["voltage"], double_value=1.0)
    host.send(NODE.format("DCMD") + "/L-001", bad.SerializeToString())
    time.sleep(1)
    log = agent.output()
    assert "more than 1 writes per second" in log
    assert "only switch (0/1) and dim (0..100) may be written" in log
    assert not host.errors, host.errors
    assert agent.terminate(timeout=8) == 0


def test_an_idle_session_keeps_its_connection_with_pings(tmp_path, broker, site_factory,
                                                         host_factory, agent_factory):
    """Waiting for the primary host sends nothing but PINGREQs: the broker (1.5 x keepalive)
    must not drop the node, or the host would see its will and a new bdSeq."""
    site = site_factory(1)
    host = host_factory(broker.port, online=False)
    agent = agent_factory(write_gateway(tmp_path / "gw.yaml", broker.url, site.port, 1,
                                        extra=SPARKPLUG.replace("}\n", ", keepalive: 5s}\n")))
    agent.wait_logged("sparkplug: connected")
    time.sleep(10)                           # two keepalives with nothing to publish
    host.set_online(True)
    host.wait_for(lambda h: h.counts["NBIRTH"] >= 1, 15, "NBIRTH")
    assert host.of_kind("NDEATH") == [] and bdseq(births(host)[0]) == 0
    assert "no answer from the broker" not in agent.output()
    assert agent.terminate(timeout=8) == 0


def test_the_node_connects_over_tls_with_the_uplinks_ca(tmp_path, site_factory, host_factory,
                                                        agent_factory):
    folder = Path(tempfile.mkdtemp(prefix="lentera-certs-"))   # not under tmp_path (0700):
    folder.chmod(0o755)                      # mosquitto as root drops to its own user
    certs = make_certs(folder)
    for name in certs.values():
        Path(name).chmod(0o644)
    tls_port = free_port()
    broker = Broker(extra_conf=f"listener {tls_port} 127.0.0.1\ncafile {certs['ca.crt']}\n"
                               f"certfile {certs['server.crt']}\nkeyfile {certs['server.key']}\n"
                               "tls_version tlsv1.2\n").start()
    try:
        site = site_factory(2)
        host = host_factory(broker.port)     # the host on the plain listener
        agent = agent_factory(write_gateway(
            tmp_path / "gw.yaml", f"mqtts://127.0.0.1:{tls_port}", site.port, 2,
            mqtt=f'tls: {{ca_file: "{certs["ca.crt"]}"}}', extra=SPARKPLUG))
        host.wait_for(lambda h: h.counts["DBIRTH"] >= 2 and h.counts["DDATA"] >= 2, 20,
                      "births and data over TLS")
        assert "sparkplug: connected to mqtts://" in agent.output()
        assert not host.errors, host.errors
        assert agent.terminate(timeout=8) == 0
    finally:
        broker.stop()
        shutil.rmtree(folder, ignore_errors=True)
