"""Why the broker is unreachable, named once per change of cause (and in status.uplink.cause).

Before: every failure logged the same line ("check the address, the 4G link, TLS files and
credentials"), and a CONNACK refusal was not told apart from a network error.
"""

import time

import pytest

from tests.support.broker import Broker, free_port
from tests.support.gateway_files import write_gateway


def _wait_line(agent, text, timeout=15.0):
    """Bounded wait for a log line (the agent's log is a file)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = [ln for ln in agent.output().splitlines() if text in ln]
        if lines:
            return lines
        time.sleep(0.1)
    raise AssertionError(f"no log line with {text!r}:\n{agent.output()[-2000:]}")


@pytest.mark.parametrize("url, cause", [
    (None, "refused: nothing listens"),
    ("mqtt://no-such-broker.invalid:1883", "dns: cannot resolve"),
])
def test_network_causes_are_named(url, cause, tmp_path, site_factory, agent_factory):
    site = site_factory(1)
    agent = agent_factory(write_gateway(tmp_path / "gw.yaml", url or
                                        f"mqtt://127.0.0.1:{free_port()}", site.port, 1))
    line = _wait_line(agent, "cannot connect to mqtt://")[0]
    assert cause in line, line
    assert agent.terminate(timeout=10) == 0


def test_a_connack_refusal_is_named_and_logged_once(tmp_path, site_factory, agent_factory):
    broker = Broker()
    broker.conf.write_text(broker.conf.read_text().replace("allow_anonymous true",
                                                           "allow_anonymous false"))
    broker.start()
    try:
        site = site_factory(1)
        agent = agent_factory(write_gateway(tmp_path / "gw.yaml", broker.url, site.port, 1))
        line = _wait_line(agent, "cannot connect to mqtt://")[0]
        assert "connack: the broker refused the connection (Not authorized)" in line, line
        time.sleep(3)       # an observation window: several more attempts at 0.5-2 s
        lines = [ln for ln in agent.output().splitlines() if "cannot connect" in ln]
        assert len(lines) == 1, lines
        assert agent.terminate(timeout=10) == 0
    finally:
        broker.stop()
