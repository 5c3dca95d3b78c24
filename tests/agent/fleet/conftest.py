"""Fixtures of the fleet tests: a private PostgreSQL + PostGIS, a fresh migrated database
per test, a private mosquitto, and a publisher that speaks the gateways' contract."""

import asyncio
import itertools
import json
import time
from pathlib import Path

import asyncpg
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from agent.fleet import db
from tests.support.broker import Broker
from tests.support.postgres import LocalDbUnavailable, LocalPostgres

_numbers = itertools.count()
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def postgres():
    """One server per test module (initdb costs ~1 s)."""
    try:
        server = LocalPostgres().start()
    except LocalDbUnavailable as exc:
        pytest.skip(f"no private PostgreSQL here: {exc}")
    yield server
    server.remove()


@pytest.fixture
def fleet_dsn(postgres):
    """A fresh database with the fleet schema."""
    name = f"fleet_{next(_numbers)}"

    async def make():
        admin = await asyncpg.connect(postgres.dsn)
        await admin.execute(f"CREATE DATABASE {name}")
        await admin.close()
        conn = await asyncpg.connect(postgres.dsn_for(name))
        await db.migrate(conn)
        await conn.close()
    asyncio.run(make())
    return postgres.dsn_for(name)


INGEST_BROKER_CONF = REPO / "deploy/fleet/mosquitto-ingest.conf"


def ingest_broker() -> Broker:
    """A mosquitto of our own on a free port, with the settings a city's broker needs under
    the ingest (deploy/fleet/mosquitto-ingest.conf, as docs/fleet.md asks)."""
    b = Broker()
    b.dir.chmod(0o777)     # mosquitto started as root saves as user mosquitto
    b.conf.write_text(b.conf.read_text().replace("persistence false\n", "")
                      + f"persistence_location {b.dir}/\n"
                      + INGEST_BROKER_CONF.read_text(encoding="utf-8"))
    return b


@pytest.fixture
def broker():
    """A private mosquitto configured as the ingest's broker."""
    b = ingest_broker().start()
    yield b
    b.stop()


def query(dsn: str, sql: str, *args):
    """Run one query in a fresh connection; rows."""
    async def go():
        conn = await asyncpg.connect(dsn)
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()
    return asyncio.run(go())


def register(dsn: str, gateways: list[str], lights_per_gateway: int = 2) -> None:
    """Put gateways and their lights (no positions) in the registry."""
    query(dsn, "INSERT INTO gateways (id) SELECT unnest($1::text[])", gateways)
    query(dsn, "INSERT INTO lights (gateway_id, device_id) SELECT g, 'L-' || n FROM "
          "unnest($1::text[]) g, generate_series(1, $2) n", gateways, lights_per_gateway)


class GatewayPublisher:
    """Publishes contract-exact messages (docs/mqtt.md) as gateways would, QoS 1."""

    def __init__(self, port: int, prefix: str = "city/lighting"):
        self.prefix = prefix
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        # the PUBACK's reason per mid: 0 Success, 16 "No matching subscribers" (MQTT 5)
        self.reasons: dict[int, int] = {}
        self.client.on_publish = self._on_publish
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def telemetry(self, gateway: str, seq: int, device: str = "L-1", ts: int | None = None):
        """One reading; returns the MQTTMessageInfo."""
        body = {"ts": ts or 1795881120000 + seq, "seq": seq, "quality": "good",
                "values": {"power": 90.5, "lamp_state": 1, "energy": 1000 + seq}}
        return self.raw(f"{self.prefix}/{gateway}/telemetry/{device}", json.dumps(body))

    def raw(self, topic: str, payload, retain: bool = False):
        """Any bytes on any topic."""
        return self.client.publish(topic, payload, qos=1, retain=retain)

    def _on_publish(self, client, userdata, mid, reason_code, properties):
        self.reasons[mid] = reason_code.value

    def wait_pubacks(self, mids: list[int], timeout: float) -> None:
        """Until every mid has its PUBACK (paho re-sends, after a reconnect, what was
        published while the broker was away; its wait_for_publish() raises for those)."""
        deadline = time.monotonic() + timeout
        while not all(mid in self.reasons for mid in mids):
            missing = sum(mid not in self.reasons for mid in mids)
            assert time.monotonic() < deadline, f"{missing} messages never PUBACKed"
            time.sleep(0.05)

    def close(self):
        """Disconnect after everything queued went out."""
        self.client.loop_stop()
        self.client.disconnect()
