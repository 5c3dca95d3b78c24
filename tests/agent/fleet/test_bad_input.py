"""Bad input never crashes a worker or poisons a batch: garbage, oversized, unknown
gateways, a duplicate storm, a row PostgreSQL refuses, and SQL injection in every text."""

import asyncio
import json
import time

import asyncpg
import pytest

from agent.fleet.decode import BadMessage, Telemetry, decode
from agent.fleet.writer import BatchWriter
from tests.agent.fleet.conftest import GatewayPublisher, query, register
from tests.agent.fleet.test_ingest import counts, run_workers

INJECTIONS = ["'; DROP TABLE telemetry; --", "\" OR 1=1 --", "x'); DELETE FROM received; --",
              "$1", "\\", "%s", "$$; TRUNCATE gateways; $$", "') ON CONFLICT DO NOTHING; --"]


def test_garbage_among_good_messages_is_counted_and_the_rest_is_written(broker, fleet_dsn):
    register(fleet_dsn, ["gw-1"])
    bad = [("city/lighting/gw-1/telemetry/L-1", b"\xff\xfe not json"),
           ("city/lighting/gw-1/telemetry/L-1", b"{" * 50_000),
           ("city/lighting/gw-1/telemetry/L-1", b"[" * 70_000),                 # oversized
           ("city/lighting/gw-1/events/L-1", b'{"ts":1795881120000,"seq":9,"event":"a\\u0000"}'),
           ("city/lighting/gw-1/telemetry/L-1", b'{"ts":1,"seq":1,"values":{},"quality":"good"}'),
           ("city/lighting/gw-unknown/telemetry/L-1", json.dumps(
               {"ts": 1795881120000, "seq": 1, "values": {}, "quality": "good"}).encode()),
           ("city/lighting/gw-1/nonsense", b"{}")]

    def publish(workers):
        pub = GatewayPublisher(broker.port)
        for seq in range(1, 201):
            pub.telemetry("gw-1", seq)
            topic, payload = bad[seq % len(bad)]
            pub.raw(topic, payload)
        for _ in range(5):                       # a duplicate storm of one message
            for _ in range(200):
                pub.telemetry("gw-1", 7)
        unsubscribed = sum(1 for s in range(1, 201) if bad[s % len(bad)][0].endswith("nonsense"))
        deadline = time.monotonic() + 60
        while sum(w.stats.received for w in workers) < 1400 - unsubscribed and time.monotonic() < deadline:
            time.sleep(0.1)
        pub.close()

    workers = asyncio.run(run_workers(broker, fleet_dsn, 1, publish))
    stats = workers[0].stats
    assert counts(fleet_dsn) == (200, 200, 200)
    assert stats.duplicates == 1000
    rejected = {r["reason"]: r["count"] for r in query(
        fleet_dsn, "SELECT reason, sum(count)::int AS count FROM rejects GROUP BY reason")}
    # 200 bad messages, spread over the seven kinds; "nonsense" is not subscribed at all
    assert rejected.get("unknown_gateway", 0) > 20 and rejected.get("oversized", 0) > 20
    assert {"not_json", "nul_in_text", "bad_ts"} <= set(rejected)
    assert sum(rejected.values()) == sum(stats.rejected.values())
    unknown = query(fleet_dsn, "SELECT gateway_id, sample FROM rejects "
                    "WHERE reason = 'unknown_gateway'")
    assert [tuple(r) for r in unknown] == [("?", "gw-unknown")]


def test_events_and_statuses_outside_their_schemas_are_counted_and_the_batch_written(
        broker, fleet_dsn):
    register(fleet_dsn, ["gw-1", "gw-2"])
    bad_events = [{"score": 2}, {"state": None}, {"source": "cms"}, {"evidence": [1]},
                  {"switch": "on"}]

    def event(seq, **change):
        return json.dumps(dict({"ts": 1795881120000 + seq, "seq": seq, "event": "output_changed",
                                "old": None, "new": {"switch": True, "dim": 80},
                                "source": "schedule"}, **change))

    def publish(workers):
        pub = GatewayPublisher(broker.port)
        infos = []
        for seq in range(1, 51):                  # telemetry, good and bad events interleaved
            infos.append(pub.telemetry("gw-1", seq))
            infos.append(pub.raw("city/lighting/gw-1/events/L-1", event(100 + seq)))
            infos.append(pub.raw("city/lighting/gw-1/events/L-1",
                                 event(200 + seq, **bad_events[seq % len(bad_events)])))
        infos.append(pub.raw("city/lighting/gw-1/status", json.dumps(
            {"state": "online", "ts": 1795881120000, "outbox": {"dropped": 3, "backlog": 0}})))
        for bad in ({"state": "sleeping"}, {"state": "online", "outbox": "full"},
                    {"state": "online", "uptime_s": "1 h"}):
            infos.append(pub.raw("city/lighting/gw-2/status", json.dumps(bad)))
        pub.wait_pubacks([i.mid for i in infos], 30)
        deadline = time.monotonic() + 60
        while sum(w.stats.received for w in workers) < len(infos) and time.monotonic() < deadline:
            time.sleep(0.1)
        pub.close()

    workers = asyncio.run(run_workers(broker, fleet_dsn, 1, publish))
    stats = workers[0].stats
    assert stats.received == 154 and stats.acked == 154
    assert stats.batches < 154                    # good and bad shared batches
    assert counts(fleet_dsn) == (50, 50, 100)     # the ledger: 50 readings, 50 good events
    events = query(fleet_dsn, "SELECT seq FROM events ORDER BY seq")
    assert [r["seq"] for r in events] == list(range(101, 151))
    rejected = {r["reason"]: r["count"] for r in query(
        fleet_dsn, "SELECT reason, sum(count)::int AS count FROM rejects GROUP BY reason")}
    assert rejected == {"bad_event": 50, "bad_state": 1, "bad_status": 2}
    gateways = {r["id"]: (r["state"], r["outbox_dropped"]) for r in query(
        fleet_dsn, "SELECT id, state, outbox_dropped FROM gateways")}
    assert gateways["gw-1"] == ("online", 3) and gateways["gw-2"][0] is None


def test_a_row_the_database_refuses_is_dropped_alone(fleet_dsn):
    register(fleet_dsn, ["gw-1"])
    good = [decode(f"city/lighting/gw-1/telemetry/L-1", json.dumps(
        {"ts": 1795881120000 + s, "seq": s, "values": {"power": 1}, "quality": "good"}).encode())
        for s in range(1, 11)]
    # a record the decoder would never make (its values are not JSON): PostgreSQL refuses it
    poison = Telemetry("gw-1", "L-1", 99, 1795881120000, "good", "{not json", None, None, None)

    async def go():
        conn = await asyncpg.connect(fleet_dsn)
        try:
            return await BatchWriter(conn).write(good[:5] + [poison] + good[5:])
        finally:
            await conn.close()
    result = asyncio.run(go())
    assert result.written == 10 and [r[1] for r in result.rejected] == ["db_22P02"]
    assert counts(fleet_dsn) == (10, 10, 10)


def test_injection_strings_in_every_text_field_are_stored_as_text(fleet_dsn):
    register(fleet_dsn, ["gw-1"])
    records = []
    for i, evil in enumerate(INJECTIONS):
        # quality, result and a status's state are enums in the contract: a stranger's
        # text there never reaches the database
        for topic, body in (("telemetry/L-1", {"ts": 1795881120000, "seq": 1, "values": {},
                                               "quality": evil}),
                            ("ack", {"ts": 1795881120000, "seq": 1, "id": "c", "result": evil,
                                     "reason": None}),
                            ("status", {"state": evil})):
            with pytest.raises(BadMessage):
                decode(f"city/lighting/gw-1/{topic}", json.dumps(body).encode())
        records.append(decode("city/lighting/gw-1/telemetry/L-1", json.dumps(
            {"ts": 1795881120000, "seq": 100 + i, "quality": "stale", "error": evil,
             "values": {evil: 1.0}}).encode()))
        records.append(decode("city/lighting/gw-1/events/L-1", json.dumps(
            {"ts": 1795881120000, "seq": 200 + i, "event": evil, "state": evil,
             "evidence": {evil: evil}}).encode()))
        records.append(decode("city/lighting/gw-1/ack", json.dumps(
            {"ts": 1795881120000, "seq": 300 + i, "id": evil, "result": "refused",
             "reason": evil}).encode()))
    records.append(decode("city/lighting/gw-1/status", json.dumps(
        {"state": "online", "ts": 1795881120000, "site": INJECTIONS[0],
         "version": INJECTIONS[1]}).encode()))

    async def go():
        conn = await asyncpg.connect(fleet_dsn)
        try:
            return await BatchWriter(conn).write(
                records, {("gw-1", evil): [1, evil] for evil in INJECTIONS})
        finally:
            await conn.close()
    result = asyncio.run(go())
    assert result.written == len(records) and not result.rejected
    assert counts(fleet_dsn) == (len(INJECTIONS), len(INJECTIONS), 3 * len(INJECTIONS))
    kinds = {r["kind"] for r in query(fleet_dsn, "SELECT kind FROM events")}
    assert kinds == set(INJECTIONS)
    assert {r["command_id"] for r in query(fleet_dsn, "SELECT command_id FROM acks")} \
        == set(INJECTIONS)
    status = query(fleet_dsn, "SELECT status->>'site' AS site, status->>'version' AS version "
                   "FROM gateways")[0]
    assert (status["site"], status["version"]) == (INJECTIONS[0], INJECTIONS[1])
    assert {r["reason"] for r in query(fleet_dsn, "SELECT reason FROM rejects")} \
        == set(INJECTIONS)


def test_a_qos0_flood_past_receive_maximum_is_counted_as_shed(broker, fleet_dsn):
    register(fleet_dsn, ["gw-1"])

    def stored():
        shed = query(fleet_dsn, "SELECT coalesce(sum(count), 0)::int AS n FROM rejects "
                     "WHERE reason = 'shed_qos0'")[0]["n"]
        return counts(fleet_dsn)[0], shed

    def publish(workers):
        pub = GatewayPublisher(broker.port)
        infos = [pub.client.publish("city/lighting/gw-1/telemetry/L-1", json.dumps(
            {"ts": 1795881120000 + seq, "seq": seq, "quality": "good", "values": {}}), qos=0)
            for seq in range(1, 3001)]
        for info in infos:
            info.wait_for_publish(30)
        deadline = time.monotonic() + 60
        while sum(stored()) < 3000 and time.monotonic() < deadline:
            time.sleep(0.2)
        pub.close()

    asyncio.run(run_workers(broker, fleet_dsn, 1, publish, receive_max=5))
    rows, shed = stored()
    assert shed > 0 and rows + shed == 3000, (rows, shed)
