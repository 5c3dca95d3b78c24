"""The console without uplink: crews still work, the record reaches the city later, and an
edited audit log is caught by `lentera audit verify`."""

import json

from playwright.sync_api import sync_playwright

from tests.support.console import (add_crew, launch, lentera, login, post_action, wait_until,
                                   write_console_gateway)
from tests.support.durable import DurableSubscriber, persistent_broker

PREFIX = "city/lighting/test-gw"


def _crew_events(messages):
    return [p for t, p, _ in messages if isinstance(p, dict) and p.get("event") == "crew_action"]


def test_console_works_without_broker_and_the_record_arrives_after(
        tmp_path, site_factory, agent_factory):
    # a broker that keeps sessions and a subscriber with one, subscribed before the outage:
    # with a plain broker the agent, reconnecting first, delivered the record before the test's
    # subscriber was back, and the test saw nothing (CI, 2026-12-08)
    broker = persistent_broker().start()
    sub = DurableSubscriber(broker.port, f"{PREFIX}/events/#")
    try:
        _outage(tmp_path, broker, sub, site_factory, agent_factory)
    finally:
        sub.close()
        broker.stop()


def _outage(tmp_path, broker, sub, site_factory, agent_factory):
    site = site_factory(2)
    config, url = write_console_gateway(tmp_path / "gw.yaml", broker.url, site.port, 2)
    add_crew(config, "budi")
    agent = agent_factory(config)
    wait_until(lambda: "console listening" in agent.output(), "the console", 30)
    broker.stop()                                      # the city's uplink is down
    with sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport={"width": 390, "height": 844})
        login(page, url, "budi")
        page.wait_for_selector(".lights li[data-l]")
        page.wait_for_selector("#uplink.bad")          # the page says the uplink is down
        answer = post_action(page, {"op": "off", "devices": "L-002", "hold_s": "600"})
        assert answer["status"] == 200, answer
        wait_until(lambda: site.call(lambda: site.site.light(2).switch) == 0, "L-002 off")
        answer = post_action(page, {"op": "release", "devices": "L-002"})
        assert answer["status"] == 200, answer
        browser.close()

    broker.start()                                     # back: the queued record arrives
    events = sub.wait_for(lambda m: _crew_events(m) if len(_crew_events(m)) >= 2 else None, 40,
                          "both crew_action events after the uplink returns")
    assert [(e["action"], e["who"], e["lights"]) for e in events] == [
        ("off", "budi", ["L-002"]), ("release", "budi", ["L-002"])]
    assert events[0]["hold_s"] == 600 and events[0]["addr"] == "127.0.0.1"

    audit = tmp_path / "audit.log"
    ok = lentera("audit", "verify", "-c", str(config))
    assert ok.returncode == 0 and "intact: 3 line(s)" in ok.stdout, ok.stdout + ok.stderr
    lines = audit.read_text().splitlines()
    entry = json.loads(lines[1])
    entry["hold_s"] = 60                               # someone makes the hold look shorter
    lines[1] = json.dumps(entry, sort_keys=True, separators=(",", ":"))
    audit.write_text("\n".join(lines) + "\n")
    bad = lentera("audit", "verify", "-c", str(config))
    assert bad.returncode == 1
    assert "line 2: content does not match its hash (edited)" in bad.stderr, bad.stderr
    assert "BROKEN" in bad.stderr


def test_the_plots_history_survives_a_restart(tmp_path, broker, site_factory, agent_factory):
    site = site_factory(1)
    config, url = write_console_gateway(tmp_path / "gw.yaml", broker.url, site.port, 1)
    add_crew(config, "budi")
    agent = agent_factory(config)
    wait_until(lambda: "console listening" in agent.output(), "the console", 30)
    assert agent.terminate() == 0
    assert (tmp_path / "history.bin").exists()        # saved on the way out
    again = agent_factory(config)
    wait_until(lambda: "console history resumed" in again.output(), "the history loaded", 30)
