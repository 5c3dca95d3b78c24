"""The retained status says `oversubscribed` within 10 s of a bus falling below 99 % of its
configured poll rate, and clears it within 10 s of keeping up again: the real agent
(`lentera run`), a simulated site that is made to answer slowly, a private mosquitto.

The scheduler's own tests (tests/drivers/modbus/test_oversubscribed_bus.py) show the flag in
`status()`; this shows it where the city reads it. The status is published every
`status_period` (30 s here, the default); a change of the flag must not wait for it."""

from tests.support.gateway_files import write_gateway

PREFIX = "city/lighting/test-gw"
LIGHTS = 10
PROMISE_S = 10.0      # the promise, in each direction
CARRY_S = 2.0         # the status message's way to the subscriber on a loaded box


def _statuses(messages):
    return [p for t, p, _ in messages if t == f"{PREFIX}/status" and isinstance(p, dict)
            and p.get("state") == "online" and "lan" in p.get("buses", {})]


def _config(tmp_path, broker, site):
    path = write_gateway(tmp_path / "gw.yaml", broker.url, site.port, LIGHTS, poll="500ms")
    # one request at a time: 10 lights x 2 reads x 40 ms every 0.5 s is 1.6 s of bus time a second
    text = path.read_text().replace("timeout_ms: 300}", "timeout_ms: 1000, max_in_flight: 1}")
    path.write_text(text)
    return path


def test_the_published_status_turns_oversubscribed_within_10s_and_back(
        tmp_path, broker, site_factory, subscriber_factory, agent_factory):
    site = site_factory(LIGHTS)
    sub = subscriber_factory(broker.port, f"{PREFIX}/#")
    agent = agent_factory(_config(tmp_path, broker, site))
    sub.wait_for(lambda m: _statuses(m), 20, "the first online status")
    # on time for a while: every light polled at its period
    sub.wait_for(lambda m: sum(1 for t, _, _ in m if "/telemetry/" in t) >= 8 * LIGHTS, 20,
                 "four seconds of telemetry")
    on_time = _statuses(sub.messages)
    assert not any(s["buses"]["lan"]["oversubscribed"] for s in on_time), on_time[-1]

    site.call(setattr, site.site, "answer_delay_s", 0.04)
    slowed = len(sub.messages)
    shown = sub.wait_for(lambda m: [s for s in _statuses(m[slowed:])
                                    if s["buses"]["lan"]["oversubscribed"]],
                         PROMISE_S + CARRY_S, "a status with oversubscribed: true")[0]
    lan = shown["buses"]["lan"]
    assert lan["rate_share"] < 0.99 and lan["polls_per_s"] < lan["configured_polls_per_s"], lan
    assert "of its configured poll rate" in lan["oversubscribed_cause"], lan

    site.call(setattr, site.site, "answer_delay_s", 0.0)
    recovered = len(sub.messages)
    cleared = sub.wait_for(lambda m: [s for s in _statuses(m[recovered:])
                                      if not s["buses"]["lan"]["oversubscribed"]],
                           PROMISE_S + CARRY_S, "a status with oversubscribed: false")[0]
    assert cleared["buses"]["lan"]["oversubscribed_cause"] is None
    assert cleared["buses"]["lan"]["rate_share"] >= 0.99, cleared["buses"]["lan"]
    assert agent.terminate(timeout=5) == 0
