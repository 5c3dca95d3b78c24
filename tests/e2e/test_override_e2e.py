"""A maintenance crew overrides lights on site through `lentera override`, uplink up or not."""

import subprocess
import sys
import time
from pathlib import Path

from tests.support.gateway_files import write_gateway
from tests.support.times import unlabelled_times

REPO = Path(__file__).resolve().parents[2]
PREFIX = "city/lighting/test-gw"
LIGHTING = """\
lighting:
  groups:
    road: {devices: [L-001, L-002]}
"""


def lentera(*args):
    return subprocess.run([sys.executable, "-m", "agent.cli", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=30)


def wait_until(predicate, what, timeout=15):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_override_beats_everything_works_without_broker_and_is_published(
        tmp_path, broker, site_factory, subscriber_factory, agent_factory):
    site = site_factory(2)
    # resend_unheard: the subscriber below connects after the restarted broker, and the agent
    # may reconnect first; without it its events got PUBACK "no subscribers" and were gone
    config = write_gateway(tmp_path / "gw.yaml", broker.url, site.port, 2, extra=LIGHTING,
                           mqtt="resend_unheard: true")
    sub = subscriber_factory(broker.port, f"{PREFIX}/events/#")
    agent_factory(config)
    wait_until(lambda: (tmp_path / "lentera.sock").exists(), "control socket")
    sub.close()
    broker.stop()                                     # the uplink is down: crews still work

    res = lentera("override", "-c", str(config), "--device", "L-002", "--switch", "off",
                  "--for", "30min", "--reason", "pole 17 replacement")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "override on L-002 until" in res.stdout
    assert unlabelled_times(res.stdout) == [] and "(gateway time)" in res.stdout, res.stdout
    wait_until(lambda: site.call(lambda: site.site.light(2).switch) == 0, "L-002 off")
    assert site.call(lambda: site.site.light(1).switch) == 1

    shown = lentera("lights", "-c", str(config))
    assert shown.returncode == 0
    line = [ln for ln in shown.stdout.splitlines() if ln.startswith("L-002")][0]
    assert "off" in line and "maintenance" in line
    from agent.platform.clock import kernel_clock_synchronised
    line = [ln for ln in shown.stdout.splitlines() if ln.startswith("L-001")][0]
    if kernel_clock_synchronised():     # this machine's NTP state decides what is right
        assert "failsafe" in line and "clock" not in line, shown.stdout
    else:
        assert "failsafe (clock not synchronised since " in line, shown.stdout
        assert "clock: NOT trusted (none) since " in shown.stdout

    bad = lentera("override", "-c", str(config), "--device", "L-099", "--switch", "off")
    assert bad.returncode == 1 and "L-099" in bad.stderr

    res = lentera("override", "-c", str(config), "--device", "L-002", "--clear")
    assert res.returncode == 0, res.stderr
    wait_until(lambda: site.call(lambda: site.site.light(2).switch) == 1, "L-002 back on")

    broker.start()                                    # the events queued offline arrive
    sub2 = subscriber_factory(broker.port, f"{PREFIX}/events/#")
    events = sub2.wait_for(lambda m: [p for t, p, _ in m if p.get("event") ==
                                      "maintenance_override"] if len(
        [1 for t, p, _ in m if p.get("event") == "maintenance_override"]) >= 2 else None,
        40, "both maintenance_override events after the uplink returns")
    assert [e["state"] for e in events] == ["set", "cleared"]
    assert events[0]["reason"] == "pole 17 replacement"


def test_override_without_a_running_agent_says_what_to_do(tmp_path, broker):
    config = write_gateway(tmp_path / "gw.yaml", broker.url, 1, 2, extra=LIGHTING)
    res = lentera("override", "-c", str(config), "--group", "road", "--dim", "50")
    assert res.returncode == 1
    assert "cannot reach the agent" in res.stderr and "lentera run" in res.stderr


def test_crew_group_off_then_device_dim_keeps_the_light_off_and_clearing_nothing_fails(
        tmp_path, broker, site_factory, subscriber_factory, agent_factory):
    import pwd
    import os
    me = pwd.getpwuid(os.getuid()).pw_name
    site = site_factory(2)
    config = write_gateway(tmp_path / "gw.yaml", broker.url, site.port, 2, extra=LIGHTING,
                           status_period="1s")
    sub = subscriber_factory(broker.port, f"{PREFIX}/events/#")
    status = subscriber_factory(broker.port, f"{PREFIX}/status")
    agent = agent_factory(config)
    wait_until(lambda: (tmp_path / "lentera.sock").exists(), "control socket")
    clock = status.wait_for(lambda m: [p["clock"] for t, p, _ in m if p.get("clock")
                                       and p["clock"]["trusted"] is not None], 15,
                            "a status with the clock's trust")[-1]
    assert set(clock) == {"trusted", "source", "since", "reason"}
    assert isinstance(clock["trusted"], bool) and clock["since"] > 1_700_000_000
    switch_of = lambda unit: site.call(lambda: site.site.light(unit).switch)   # noqa: E731

    res = lentera("override", "-c", str(config), "--group", "road", "--switch", "off",
                  "--for", "30min", "--reason", "pole works")
    assert res.returncode == 0, res.stdout + res.stderr
    wait_until(lambda: switch_of(1) == 0 and switch_of(2) == 0, "road off")
    res = lentera("override", "-c", str(config), "--device", "L-002", "--dim", "40",
                  "--for", "10min", "--reason", "driver test")
    assert res.returncode == 0, res.stdout + res.stderr
    # the answer comes after the step and its writes: nothing turned L-002 back on
    assert switch_of(2) == 0
    shown = lentera("lights", "-c", str(config))
    assert shown.returncode == 0, shown.stderr
    line = [ln for ln in shown.stdout.splitlines() if ln.startswith("L-002")][0]
    assert "off" in line and "maintenance" in line
    assert f"override on group road: switch off until" in shown.stdout and f"by {me}" in shown.stdout
    assert unlabelled_times(shown.stdout) == [], shown.stdout          # one clock, labelled

    res = lentera("override", "-c", str(config), "--device", "L-002", "--clear")
    assert res.returncode == 0, res.stderr
    assert switch_of(2) == 0                                  # the group override still holds
    again = lentera("override", "-c", str(config), "--device", "L-002", "--clear")
    assert again.returncode != 0
    assert "no maintenance override on device L-002" in again.stderr
    assert "--group road" in again.stderr
    assert switch_of(2) == 0

    res = lentera("override", "-c", str(config), "--group", "road", "--clear")
    assert res.returncode == 0, res.stderr
    wait_until(lambda: switch_of(1) == 1 and switch_of(2) == 1, "road back on")

    def overrides(messages):
        found = [(t.rsplit("/", 1)[1], p) for t, p, _ in messages
                 if p.get("event") == "maintenance_override"]
        return found if any(p["state"] == "cleared" and p.get("group") == "road"
                            for _, p in found) else None
    events = sub.wait_for(overrides, 15, "the group's cleared event (the last one)")
    got = sorted((where, p["state"], p.get("group"), p["user"]) for where, p in events)
    # exactly one cleared on L-002: the failed clear published nothing
    assert got == sorted([("gateway", "set", "road", me), ("L-002", "set", None, me),
                          ("L-002", "cleared", None, me), ("gateway", "cleared", "road", me)])
    log = agent.output()
    assert f"maintenance override set on group road by {me}" in log
    assert f"maintenance override cleared on device L-002 by {me}" in log
