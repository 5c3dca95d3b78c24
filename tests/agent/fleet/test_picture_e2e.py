"""The city's picture end to end: gateways publish on a real mosquitto, an ingest worker
commits through its shared subscription, and `lentera fleet serve` shows a fault opening,
a light going quiet (communication) and both clearing when the telemetry says so."""

import asyncio
import json
import time
from datetime import datetime, timedelta, timezone

from tests.agent.fleet.city import Messages, feed, get_json, grid, serving
from tests.agent.fleet.conftest import GatewayPublisher
from tests.agent.fleet.test_ingest import run_workers


def _wait(what: str, check, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _faults(url: str) -> set:
    doc = get_json(url + "/api/faults.geojson")
    return {(f["properties"]["device"], f["properties"]["kind"]) for f in doc["features"]}


def test_faults_and_communication_open_and_clear_through_the_real_ingest(broker, fleet_dsn,
                                                                          tmp_path):
    feed(fleet_dsn, [], grid(2, 1, gateways=1))          # gw-00: L-000-000, L-001-000
    m = Messages()
    now = datetime.now(timezone.utc)

    def publish(msgs, pub):
        infos = [pub.raw(f"{pub.prefix}/{topic}", json.dumps(body)) for topic, body in msgs]
        for info in infos:
            info.wait_for_publish(10)

    def city_day(workers):
        pub = GatewayPublisher(broker.port)
        with serving(fleet_dsn, tmp_path / "serve.log", comm_after=600) as url:
            publish([m.status("gw-00", now),
                     m.reading("gw-00", "L-000-000", now - timedelta(minutes=1)),
                     m.reading("gw-00", "L-001-000", now - timedelta(minutes=30)),
                     m.fault("gw-00", "L-000-000", "lampFailure", now)], pub)
            _wait("the fault and the silent light", lambda: _faults(url) == {
                ("L-000-000", "lampFailure"), ("L-001-000", "communication")})
            lights = {f["id"]: f["properties"] for f in
                      get_json(url + "/api/lights.geojson")["features"]}
            assert lights["gw-00/L-000-000"]["faults"] == ["lampFailure"]
            assert lights["gw-00/L-001-000"]["faults"] == ["communication"]
            # the lamp is replaced and the quiet light reports again
            publish([m.fault("gw-00", "L-000-000", "lampFailure", now + timedelta(seconds=5),
                             "cleared"),
                     m.reading("gw-00", "L-001-000", now)], pub)
            _wait("both to clear", lambda: _faults(url) == set() or None)
            lights = get_json(url + "/api/lights.geojson")["features"]
            assert {f["properties"]["state"] for f in lights} == {"ok"}
        pub.close()

    workers = asyncio.run(run_workers(broker, fleet_dsn, 1, city_day))
    stats = workers[0].stats
    assert (stats.received, stats.written, stats.rejected) == (6, 6, {}), stats.line()
