"""End to end: simulator (pymodbus) -> agent subprocess -> mosquitto -> subscriber."""

import time

from tests.support.gateway_files import write_gateway

PREFIX = "city/lighting/test-gw"


def _telemetry(messages, device=None):
    return [(t, p) for t, p, _ in messages
            if "/telemetry/" in t and (device is None or t.endswith("/" + device))]


def test_every_device_is_seen_and_a_change_arrives_within_two_polls(
        tmp_path, broker, site_factory, subscriber_factory, agent_factory):
    site = site_factory(5)
    sub = subscriber_factory(broker.port, f"{PREFIX}/#")
    agent = agent_factory(write_gateway(tmp_path / "gw.yaml", broker.url, site.port, 5))

    devices = {f"L-{u:03d}" for u in range(1, 6)}
    sub.wait_for(lambda m: {t.rsplit("/", 1)[1] for t, _ in _telemetry(m)} >= devices,
                 15, "telemetry from every configured device")
    status = sub.wait_for(lambda m: [p for t, p, r in m if t == f"{PREFIX}/status" and r
                                     or t == f"{PREFIX}/status"], 5, "status")
    assert status[-1]["state"] == "online"
    assert set(status[-1]["buses"]["lan"]["line"]) == {
        "crc_errors", "framing_errors", "timeouts", "resyncs", "noise_bytes", "mismatched",
        "late_replies"}
    assert status[-1]["buses"]["lan"]["line"]["late_replies"] == {}     # per device
    assert "load" in status[-1]["buses"]["lan"]

    _, first = _telemetry(sub.messages, "L-003")[-1]
    assert first["quality"] == "good"
    assert set(first["values"]) >= {"switch", "dim", "power", "voltage", "energy"}
    assert 200 < first["values"]["voltage"] < 240

    site.call(site.site.light(3).set_dim, 37)      # a crew at the pole changes the dim level
    changed_at = time.monotonic()
    seen = sub.wait_for(lambda m: [p for _, p in _telemetry(m, "L-003")
                                   if p["values"].get("dim") == 37], 2 * 1.0 + 1.5,
                        "dim=37 from L-003 within two poll periods")
    assert time.monotonic() - changed_at <= 3.5
    power = seen[-1]["values"]["power"]
    rated = seen[-1]["values"]["rated_power"]
    assert abs(power - rated * 0.37) < rated * 0.37 * 0.06   # power follows dim

    seqs = [p["seq"] for _, p in _telemetry(sub.messages)]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert agent.terminate(timeout=5) == 0


def test_the_agent_polls_and_publishes_under_python_oo_as_the_unit_runs_it(
        tmp_path, broker, site_factory, subscriber_factory, agent_factory):
    # deploy/raspberrypi/lentera.service sets PYTHONOPTIMIZE=2 (no docstrings, no asserts)
    site = site_factory(3)
    sub = subscriber_factory(broker.port, f"{PREFIX}/#")
    agent = agent_factory(write_gateway(tmp_path / "gw.yaml", broker.url, site.port, 3),
                          env={"PYTHONOPTIMIZE": "2"})
    devices = {f"L-{u:03d}" for u in range(1, 4)}
    sub.wait_for(lambda m: {t.rsplit("/", 1)[1] for t, _ in _telemetry(m)} >= devices,
                 15, "telemetry from every configured device")
    sub.wait_for(lambda m: [p for t, p, _ in m if t == f"{PREFIX}/status"
                            and p.get("state") == "online"], 5, "status online")
    assert agent.terminate(timeout=5) == 0
    assert "Traceback" not in agent.output()


def test_sigterm_publishes_offline_and_exits_within_5s(
        tmp_path, broker, site_factory, subscriber_factory, agent_factory):
    site = site_factory(2)
    sub = subscriber_factory(broker.port, f"{PREFIX}/status")
    agent = agent_factory(write_gateway(tmp_path / "gw.yaml", broker.url, site.port, 2))
    sub.wait_for(lambda m: any(p.get("state") == "online" for _, p, _ in m), 15, "online")
    start = time.monotonic()
    assert agent.terminate(timeout=5) == 0
    assert time.monotonic() - start < 5
    sub.wait_for(lambda m: m[-1][1].get("state") == "offline", 5, "offline status")


def test_dead_device_reports_comm_error_and_others_keep_flowing(
        tmp_path, broker, site_factory, subscriber_factory, agent_factory):
    site = site_factory(3)
    site.call(site.site.set_dead, 2)
    sub = subscriber_factory(broker.port, f"{PREFIX}/telemetry/#")
    agent_factory(write_gateway(tmp_path / "gw.yaml", broker.url, site.port, 3))
    bad = sub.wait_for(lambda m: [p for _, p in _telemetry(m, "L-002")], 15, "L-002 reading")
    assert bad[0]["quality"] == "comm_error" and "no reply" in bad[0]["error"]
    sub.wait_for(lambda m: len([1 for _, p in _telemetry(m, "L-001")
                                if p["quality"] == "good"]) >= 3, 10, "L-001 keeps flowing")
    site.call(site.site.set_dead, 2, False)
    sub.wait_for(lambda m: [p for _, p in _telemetry(m, "L-002") if p["quality"] == "good"],
                 15, "L-002 good again after it answers")
