"""What a real gateway publishes passes the ingest's contract checks: `lentera run` on
simulated controllers, an ingest worker on the same broker; every telemetry message, event,
ack and status the agent sent is stored, none counted as a reject (the decoder now checks
telemetry and acks against their whole schemas)."""

import asyncio
import time

from tests.agent.fleet.conftest import query
from tests.agent.fleet.test_ingest import run_workers
from tests.support.gateway_files import write_gateway

GW = "test-gw"


def test_everything_a_real_agent_publishes_is_accepted(tmp_path, broker, fleet_dsn,
                                                       site_factory, agent_factory):
    site = site_factory(4)
    config = write_gateway(tmp_path / "gw.yaml", broker.url, site.port, 4, clock="assume")
    query(fleet_dsn, "INSERT INTO gateways (id) VALUES ($1)", GW)

    def until(workers):
        agent_factory(config)
        deadline = time.monotonic() + 60
        while query(fleet_dsn, "SELECT count(DISTINCT device_id) AS n FROM telemetry")[0]["n"] < 4 \
                or query(fleet_dsn, "SELECT count(*) AS n FROM telemetry")[0]["n"] < 40:
            assert time.monotonic() < deadline, "the agent's readings did not arrive"
            time.sleep(0.5)
    workers = asyncio.run(run_workers(broker, fleet_dsn, 1, until))
    rejects = query(fleet_dsn, "SELECT gateway_id, reason, count, sample FROM rejects")
    assert [dict(r) for r in rejects] == [] and workers[0].stats.rejected == {}
    assert workers[0].stats.written >= 40
