"""TLS for the fleet's MQTT clients (ingest and command) against a real mosquitto TLS
listener that asks for a client certificate; certificates made here with `cryptography`."""

import asyncio
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from agent.fleet import broker as broker_url
from agent.fleet.broker import BrokerError
from agent.fleet.command_link import CommandLink, LinkError
from agent.fleet.ingest import IngestWorker
from tests.agent.fleet.conftest import GatewayPublisher, ingest_broker, register
from tests.agent.fleet.test_ingest import counts, run_workers, wait_rows
from tests.support.broker import free_port
from tests.support.talq_pki import make_talq_pki


@pytest.fixture(scope="module")
def pki():
    """ca, server (127.0.0.1) and cms (client) from ca; rogue from other-ca. World-readable:
    mosquitto started as root drops to its own user before it reads them."""
    folder = Path(tempfile.mkdtemp(prefix="lentera-fleet-pki-"))
    folder.chmod(0o755)
    files = make_talq_pki(folder)
    for name in files.values():
        Path(name).chmod(0o644)
    yield files
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def tls_broker(pki):
    """The ingest's broker with its plain listener (the gateways here) and a TLS >= 1.2
    listener that requires a client certificate from ca (the fleet)."""
    b = ingest_broker()
    b.tls_port = free_port()
    b.conf.write_text(b.conf.read_text() + (
        f"listener {b.tls_port} 127.0.0.1\ncafile {pki['ca.crt']}\n"
        f"certfile {pki['server.crt']}\nkeyfile {pki['server.key']}\n"
        "require_certificate true\ntls_version tlsv1.2\n"))
    b.start()
    yield b
    b.stop()


def tls_url(b, pki, ca="ca.crt", client="cms") -> str:
    return (f"mqtts://127.0.0.1:{b.tls_port}?ca_file={pki[ca]}&cert_file={pki[client + '.crt']}"
            f"&key_file={pki[client + '.key']}")


class TlsBroker:
    """What run_workers needs of a broker: its URL (here the TLS one)."""

    def __init__(self, url):
        self.url = url


def test_ingest_over_mutual_tls_writes_every_message(tls_broker, pki, fleet_dsn):
    register(fleet_dsn, ["gw-1"])

    def publish(workers):
        pub = GatewayPublisher(tls_broker.port)
        pub.wait_pubacks([pub.telemetry("gw-1", seq).mid for seq in range(1, 201)], 30)
        pub.close()
        wait_rows(fleet_dsn, 200, 30, "200 readings over TLS")
    workers = asyncio.run(run_workers(TlsBroker(tls_url(tls_broker, pki)), fleet_dsn, 1,
                                      publish))
    assert counts(fleet_dsn) == (200, 200, 200)
    assert workers[0].stats.acked == 200


def test_ingest_with_a_wrong_ca_stops_with_the_reason(tls_broker, pki, fleet_dsn):
    worker = IngestWorker(tls_url(tls_broker, pki, ca="other-ca.crt"), fleet_dsn, "city", "w0")

    async def go():
        await asyncio.wait_for(worker.run(), 20)
    started = time.monotonic()
    with pytest.raises(BrokerError) as err:
        asyncio.run(go())
    assert "certificate verify failed: unknown CA" in str(err.value)
    assert "ca_file" in str(err.value) and time.monotonic() - started < 20


def test_command_link_over_tls_and_refused_with_a_wrong_ca(tls_broker, pki):
    async def connect(url):
        link = CommandLink(url, "city/lighting", "lentera-fleet-test")
        try:
            await link.connect(10)
            await link.subscribe_acks({"gw-1"}, 10)
        finally:
            link.close()
    asyncio.run(connect(tls_url(tls_broker, pki)))
    with pytest.raises(LinkError) as err:
        asyncio.run(connect(tls_url(tls_broker, pki, ca="other-ca.crt")))
    assert "certificate verify failed: unknown CA" in str(err.value)
    # a client certificate the broker's CA did not issue: the broker hangs up on us
    with pytest.raises(LinkError):
        asyncio.run(connect(tls_url(tls_broker, pki, client="rogue")))


@pytest.mark.parametrize("url, words", [
    ("mqtt://h?ca_file=/x", "TLS files need mqtts://"),
    ("mqtts://h?ca_file=/x&cafile=/y", "unknown key 'cafile'"),
    ("mqtts://h?cert_file=/x", "cert_file and key_file go together"),
    ("mqtts://h?ca_file=/no/such/ca.pem", "cannot load certificates"),
    ("http://h", "mqtt:// or mqtts://"),
    ("mqtt://h:99999", "out of range"),
])
def test_broker_urls_that_cannot_work_are_refused_with_the_reason(url, words):
    with pytest.raises(BrokerError) as err:
        broker_url.parse(url)
    assert words in str(err.value)


def test_broker_url_defaults():
    plain, tls = broker_url.parse("mqtt://city"), broker_url.parse("mqtts://city")
    assert (plain.host, plain.port, plain.tls) == ("city", 1883, None)
    assert (tls.port, tls.tls.minimum_version.name) == (8883, "TLSv1_2")
