"""TLS to a real mosquitto TLS listener with a throwaway CA (openssl CLI), MQTT 3.1.1 and 5."""

import shutil
import tempfile
from pathlib import Path

import pytest

from tests.support.broker import Broker, free_port
from tests.support.gateway_files import make_certs, write_gateway

PREFIX = "city/lighting/test-gw"


@pytest.fixture(scope="module")
def certs():
    """CA, server certificate and an unrelated CA, made once for this module.

    In a world-readable folder: mosquitto started as root drops to its own user
    before it reads them.
    """
    folder = Path(tempfile.mkdtemp(prefix="lentera-certs-"))
    folder.chmod(0o755)
    files = make_certs(folder)
    for name in files.values():
        Path(name).chmod(0o644)
    yield files
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def tls_broker(certs):
    """mosquitto with a plain listener (for the test) and a TLS >= 1.2 listener (for the agent)."""
    tls_port = free_port()
    b = Broker(extra_conf=(f"listener {tls_port} 127.0.0.1\ncafile {certs['ca.crt']}\n"
                           f"certfile {certs['server.crt']}\nkeyfile {certs['server.key']}\n"
                           "tls_version tlsv1.2\n"))
    b.tls_port = tls_port
    b.start()
    yield b
    b.stop()


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_agent_publishes_over_tls_with_the_configured_ca(
        protocol, tmp_path, certs, tls_broker, site_factory, subscriber_factory, agent_factory):
    site = site_factory(2)
    sub = subscriber_factory(tls_broker.port, f"{PREFIX}/#")
    agent = agent_factory(write_gateway(
        tmp_path / "gw.yaml", f"mqtts://127.0.0.1:{tls_broker.tls_port}", site.port, 2,
        mqtt=f'protocol: "{protocol}", tls: {{ca_file: "{certs["ca.crt"]}"}}'))
    sub.wait_for(lambda m: [1 for t, _, _ in m if "/telemetry/" in t], 15, "telemetry over TLS")
    assert "connected to mqtts://" in agent.output()
    assert agent.terminate(timeout=10) == 0


def test_agent_refuses_a_broker_whose_certificate_it_cannot_verify(
        tmp_path, certs, tls_broker, site_factory, subscriber_factory, agent_factory):
    site = site_factory(1)
    sub = subscriber_factory(tls_broker.port, f"{PREFIX}/#")
    agent = agent_factory(write_gateway(
        tmp_path / "gw.yaml", f"mqtts://127.0.0.1:{tls_broker.tls_port}", site.port, 1,
        mqtt=f'tls: {{ca_file: "{certs["other-ca.crt"]}"}}', poll="0.2s"))
    with pytest.raises(AssertionError, match="timed out"):
        sub.wait_for(lambda m: m, 4, "anything from an agent that must not connect")
    assert "cannot connect to mqtts://" in agent.output()
    assert (tmp_path / "outbox.db").exists()          # readings wait in the outbox meanwhile
    assert agent.terminate(timeout=10) == 0
