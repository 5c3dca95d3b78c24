"""TLS to a real mosquitto TLS listener with a throwaway CA (openssl CLI), MQTT 3.1.1 and 5."""

import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

import pytest

from tests.support.broker import Broker, free_port
from tests.support.gateway_files import make_bad_certs, make_certs, write_gateway

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
    files.update(make_bad_certs(folder, files))
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
    agent.wait_logged("cannot connect to mqtts://")
    assert (tmp_path / "outbox.db").exists()          # readings wait in the outbox meanwhile
    assert agent.terminate(timeout=10) == 0


# (server certificate, broker TLS version, the CA the agent trusts, what the log must say)
REFUSALS = {
    "wrong CA": ("server.crt", "other-ca.crt", "unknown CA"),
    "self-signed": ("self-signed", "ca.crt", "self-signed certificate"),
    "expired": ("expired", "ca.crt", "certificate expired"),
    "wrong host name": ("other-host", "ca.crt", "mismatch"),
}


def _log_lines(agent, what):
    return [ln for ln in agent.output().splitlines() if what in ln]


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_each_certificate_refusal_is_logged_with_its_cause(
        case, tmp_path, certs, site_factory, subscriber_factory, agent_factory):
    cert, ca, cause = REFUSALS[case]
    tls_port = free_port()
    broker = Broker(extra_conf=(f"listener {tls_port} 127.0.0.1\ncafile {certs['ca.crt']}\n"
                                f"certfile {certs[cert]}\nkeyfile {certs['server.key']}\n"
                                "tls_version tlsv1.2\n")).start()
    try:
        site = site_factory(1)
        sub = subscriber_factory(broker.port, "#")
        agent = agent_factory(write_gateway(
            tmp_path / "gw.yaml", f"mqtts://127.0.0.1:{tls_port}", site.port, 1,
            mqtt=f'tls: {{ca_file: "{certs[ca]}"}}', poll="0.2s"))
        with pytest.raises(AssertionError, match="timed out"):
            sub.wait_for(lambda m: m, 3, "anything from an agent that must not connect")
        agent.wait_logged("cannot connect to mqtts://")
        time.sleep(2)                              # more attempts, each refused again
        lines = _log_lines(agent, "cannot connect to mqtts://")
        assert len(lines) == 1, lines              # once per cause, not once per attempt
        assert cause in lines[0], lines[0]
        assert agent.terminate(timeout=10) == 0
    finally:
        broker.stop()


class Tls11Listener:
    """A TLS listener that speaks TLS 1.0/1.1 only (mosquitto's tls_version is a minimum, so
    it cannot be limited to 1.1): Python's ssl with OpenSSL's security level lowered."""

    def __init__(self, certs):
        import ssl
        import warnings
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)   # that is the point here
            self.ctx.minimum_version = ssl.TLSVersion.TLSv1
            self.ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        self.ctx.load_cert_chain(certs["server.crt"], certs["server.key"])
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.handshakes = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            conn.settimeout(5)
            try:
                self.ctx.wrap_socket(conn, server_side=True).close()
                self.handshakes += 1          # must never happen
            except OSError:
                conn.close()


def test_a_tls_1_1_only_broker_is_refused_naming_the_tls_version(
        tmp_path, certs, site_factory, subscriber_factory, agent_factory):
    listener = Tls11Listener(certs)
    site = site_factory(1)
    agent = agent_factory(write_gateway(
        tmp_path / "gw.yaml", f"mqtts://127.0.0.1:{listener.port}", site.port, 1,
        mqtt=f'tls: {{ca_file: "{certs["ca.crt"]}"}}'))
    _wait_lines(agent, "cannot connect to mqtts://", 1, timeout=15)
    with pytest.raises(TimeoutError):
        _wait_lines(agent, "cannot connect to mqtts://", 2)   # a second line: a cause change
    lines = _log_lines(agent, "cannot connect to mqtts://")
    assert len(lines) == 1 and "tls version" in lines[0], lines
    assert listener.handshakes == 0
    assert agent.terminate(timeout=10) == 0
    listener.server.close()


def _wait_lines(agent, what, count, timeout=4.0):
    """Wait (bounded) until the agent logged `count` lines containing `what` (the log is a
    file: read it every 0.1 s; several reconnect attempts happen within the 4 s)."""
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(_log_lines(agent, what)) >= count:
            return
        time.sleep(0.1)
    raise TimeoutError(what)


def test_nothing_goes_out_in_plaintext_when_tls_cannot_be_set_up(
        tmp_path, certs, site_factory, agent_factory):
    """A 'broker' that accepts TCP and never answers: the agent's first bytes are a TLS hello."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    first_bytes = []
    got = threading.Event()

    def accept():
        conn, _ = server.accept()
        conn.settimeout(10)
        first_bytes.append(conn.recv(5))
        got.set()
        conn.recv(1)            # hold the line; the agent gives up on its own
    threading.Thread(target=accept, daemon=True).start()
    site = site_factory(1)
    agent = agent_factory(write_gateway(
        tmp_path / "gw.yaml", f"mqtts://127.0.0.1:{port}", site.port, 1,
        mqtt=f'tls: {{ca_file: "{certs["ca.crt"]}"}}'))
    assert got.wait(15), "the agent never connected"
    assert first_bytes[0][:1] == b"\x16", first_bytes   # a TLS handshake record...
    assert first_bytes[0][:1] != b"\x10"                 # ...never an MQTT CONNECT
    assert agent.terminate(timeout=10) == 0
    server.close()
