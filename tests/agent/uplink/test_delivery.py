"""Nothing lost: broker outage, SIGKILL, full outbox, corrupt outbox (agent as a subprocess)."""

import time

import pytest

from tests.support.durable import DurableSubscriber, persistent_broker
from tests.support.gateway_files import write_gateway

PREFIX = "city/lighting/test-gw"


@pytest.fixture
def pbroker():
    """A mosquitto that keeps sessions when restarted; not started yet."""
    b = persistent_broker()
    yield b
    b.stop()


@pytest.fixture
def durable(pbroker):
    """Connect a persistent-session subscriber (broker must be running)."""
    subs = []

    def make():
        subs.append(DurableSubscriber(pbroker.port, f"{PREFIX}/#"))
        return subs[-1]
    yield make
    for s in subs:
        s.close()


def _readings(messages):
    """Telemetry in arrival order, first copy of each seq only (duplicates are allowed)."""
    seen, out = set(), []
    for topic, p, _ in messages:
        if "/telemetry/" in topic and p["seq"] not in seen:
            seen.add(p["seq"])
            out.append((topic.rsplit("/", 1)[1], p))
    return out


def _all_seqs(messages):
    return {p["seq"] for t, p, _ in messages if isinstance(p, dict) and "seq" in p}


def _contiguous_up_to(messages, at_least):
    seqs = _all_seqs(messages)
    return bool(seqs) and max(seqs) >= at_least and len(seqs) == max(seqs) - min(seqs) + 1


def _wait_log(agent, text, timeout):
    deadline = time.monotonic() + timeout
    while text not in agent.output():
        if time.monotonic() > deadline:
            raise AssertionError(f"agent never logged {text!r}:\n{agent.output()[-2000:]}")
        time.sleep(0.1)      # a log file has no change notification


def test_broker_down_30s_with_50_lights_every_reading_arrives_in_order(
        tmp_path, pbroker, durable, site_factory, agent_factory):
    site = site_factory(50)
    pbroker.start()
    sub = durable()
    agent = agent_factory(write_gateway(tmp_path / "gw.yaml", pbroker.url, site.port, 50))
    devices = {f"L-{u:03d}" for u in range(1, 51)}
    sub.wait_for(lambda m: {d for d, _ in _readings(m)} >= devices, 20, "all 50 lights")

    pbroker.stop()
    down_ms = time.time() * 1000
    time.sleep(30)                                   # the outage itself
    up_ms = time.time() * 1000
    pbroker.start()

    def drained(m):
        fresh = {d for d, p in _readings(m) if p["ts"] > up_ms + 1500}
        return fresh >= devices and _contiguous_up_to(m, 1)
    try:
        sub.wait_for(drained, 60, "backlog drained and live readings after the outage")
    except AssertionError:
        seqs = _all_seqs(sub.messages)
        missing = sorted(set(range(1, max(seqs) + 1)) - seqs)
        fresh = {d for d, p in _readings(sub.messages) if p["ts"] > up_ms + 1500}
        raise AssertionError(f"max seq {max(seqs)}, {len(missing)} missing: {missing[:20]}; "
                             f"fresh from {len(fresh)} devices\n{agent.output()[-3000:]}")
    readings = _readings(sub.messages)
    assert min(_all_seqs(sub.messages)) == 1                 # no gaps from the very first
    for device in devices:
        mine = [p for d, p in readings if d == device]
        assert [p["ts"] for p in mine] == sorted(p["ts"] for p in mine), device
        assert [p["seq"] for p in mine] == sorted(p["seq"] for p in mine), device
        during = [p for p in mine if down_ms < p["ts"] < up_ms]
        assert len(during) >= 27, (device, len(during))      # polled every 1 s for 30 s
    assert agent.terminate(timeout=10) == 0


def test_sigkill_mid_stream_then_restart_loses_no_committed_reading(
        tmp_path, pbroker, durable, site_factory, agent_factory):
    site = site_factory(20)
    pbroker.start()
    sub = durable()
    config = write_gateway(tmp_path / "gw.yaml", pbroker.url, site.port, 20, poll="0.5s")
    first = agent_factory(config)
    sub.wait_for(lambda m: len(_readings(m)) >= 100, 20, "100 readings")
    first.kill()
    killed_at = max(_all_seqs(sub.messages))
    second = agent_factory(config)
    sub.wait_for(lambda m: _contiguous_up_to(m, killed_at + 100), 30,
                 "seq continuing after the restart, without gaps")
    assert min(_all_seqs(sub.messages)) == 1
    assert "waiting from before" in second.output()
    assert second.terminate(timeout=10) == 0


def test_full_outbox_drops_oldest_routine_counts_and_reports_and_keeps_running(
        tmp_path, pbroker, durable, site_factory, agent_factory):
    site = site_factory(10)
    pbroker.start()
    sub = durable()
    pbroker.stop()                                   # the subscriber's session is kept
    agent = agent_factory(write_gateway(
        tmp_path / "gw.yaml", pbroker.url, site.port, 10, poll="0.2s",
        extra="outbox: {max_mb: 0.02}\n", status_period="1s"))
    _wait_log(agent, "outbox over its cap", 20)
    pbroker.start()
    event = sub.wait_for(lambda m: [p for t, p, _ in m if t == f"{PREFIX}/events/gateway"
                                    and p.get("event") == "outbox_dropped"], 20,
                         "outbox_dropped event")[0]
    assert event["dropped"] > 0 and event["dropped_total"] >= event["dropped"]
    readings = sub.wait_for(_readings, 10, "telemetry kept in the outbox")
    assert min(p["seq"] for _, p in readings) > 1    # the oldest routine readings went first
    last = max(p["seq"] for _, p in readings)
    sub.wait_for(lambda m: max(p["seq"] for _, p in _readings(m)) > last + 20, 10,
                 "telemetry keeps flowing after the drops")
    status = sub.wait_for(lambda m: [p for t, p, _ in m if t == f"{PREFIX}/status"
                                     and p.get("outbox", {}).get("dropped")], 10,
                          "status reporting the drops")[-1]["outbox"]
    assert status["dropped"] >= event["dropped_total"] and status["error"] is None
    assert agent.proc.poll() is None


def test_corrupt_outbox_is_moved_aside_and_announced(
        tmp_path, pbroker, durable, site_factory, agent_factory):
    site = site_factory(2)
    pbroker.start()
    sub = durable()
    (tmp_path / "outbox.db").write_bytes(b"\x00garbage after a bad power cut\xff" * 500)
    agent = agent_factory(write_gateway(tmp_path / "gw.yaml", pbroker.url, site.port, 2))
    event = sub.wait_for(lambda m: [p for t, p, _ in m if t == f"{PREFIX}/events/gateway"
                                    and p.get("event") == "outbox_recovered"], 15,
                         "outbox_recovered event")[0]
    aside = list(tmp_path.glob("outbox.db.corrupt-*"))
    assert len(aside) == 1 and aside[0].name in event["detail"]
    sub.wait_for(lambda m: len(_readings(m)) >= 4, 10, "telemetry from the fresh store")
    assert agent.terminate(timeout=10) == 0
