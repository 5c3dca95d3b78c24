"""MQTT 5 PUBACK reason codes: reason 16 (No matching subscribers) and failures are not
deliveries. The outbox row stays and the message is sent again, paced (agent/uplink/redelivery.py)."""

import asyncio
import time

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from agent.config.models import Mqtt
from agent.store.outbox import ROUTINE, Outbox
from agent.uplink.mqtt import MqttUplink
from agent.uplink.publisher import Publisher
from agent.uplink.redelivery import Redelivery
from tests.support.broker import Broker
from tests.support.subscriber import Subscriber

SUCCESS = ReasonCode(PacketTypes.PUBACK, identifier=0)
NO_SUBSCRIBERS = ReasonCode(PacketTypes.PUBACK, identifier=16)
NOT_AUTHORIZED = ReasonCode(PacketTypes.PUBACK, identifier=0x87)


async def until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def test_a_message_nobody_was_subscribed_to_stays_in_the_outbox_until_someone_is(tmp_path):
    """Seen failing on the old code: the 20 rows were acknowledged (deleted) on reason 16."""
    broker = Broker().start()

    async def main():
        box = Outbox(tmp_path / "outbox.db", max_mb=10)
        await box.open()
        uplink = MqttUplink(Mqtt(url=broker.url, reconnect_min=0.1, resend_unheard=True), "gw")
        publisher = Publisher(box.consumer("json"), uplink, window=50)
        tasks = [asyncio.create_task(box.commit_loop()),
                 asyncio.create_task(publisher.run_loop())]
        uplink.start()
        await until(uplink.connected.is_set, 10, "the connection")
        for i in range(20):
            box.put("city/lighting/gw/telemetry/L-1", "L-1", ROUTINE, 1795881120000 + i,
                    {"values": {"power": 90.5}, "quality": "good"})
        refused = lambda: getattr(getattr(uplink, "redelivery", None), "not_delivered", 0)  # noqa
        await until(lambda: publisher.acked + refused() >= 20, 10, "20 PUBACKs")
        assert publisher.acked == 0, "a message nobody received was taken off the outbox"
        await box.flush()
        assert box.db.count == 20
        sub = await asyncio.to_thread(Subscriber, broker.port, "city/lighting/gw/#")
        try:
            seqs = lambda: {p["seq"] for t, p, _r in sub.messages if "/telemetry/" in t}  # noqa
            await until(lambda: box.db.count == 0 and len(seqs()) == 20, 20, "the re-sends")
            assert seqs() == set(range(1, 21))
            assert publisher.acked == 20 and not publisher.unacked
        finally:
            sub.close()
        for t in tasks:
            t.cancel()
        await uplink.stop()
        await box.close()
    try:
        asyncio.run(main())
    finally:
        broker.stop()


def test_ids_survive_paho_reusing_a_mid_and_the_pace_doubles_to_its_cap():
    async def main():
        loop = asyncio.get_running_loop()
        mids = iter([7, 8, 9, 10])
        sent = []

        def send(topic, payload, qos):
            sent.append(payload)
            return next(mids)
        r = Redelivery(loop, send, low=1.0, high=4.0, where="city/lighting/gw")
        first = r.sent(5, "t", "a", 1)
        assert r.puback(5, NO_SUBSCRIBERS) is None          # parked, not delivered
        second = r.sent(5, "t", "b", 1)                     # paho wrapped round to mid 5
        assert second != first
        assert abs(r.timer.when() - loop.time() - 1.0) < 0.5
        r._resend()                                         # "a" goes out again as mid 7
        assert r.puback(5, SUCCESS) == second
        assert r.puback(7, NOT_AUTHORIZED) is None          # a failure: parked again
        delays = [r.timer.when() - loop.time()]
        for mid in (8, 9):
            r._resend()
            assert r.puback(mid, NO_SUBSCRIBERS) is None
            delays.append(r.timer.when() - loop.time())
        assert [round(d) for d in delays] == [2, 4, 4]     # doubling, capped at high
        r._resend()
        assert r.puback(10, SUCCESS) == first and r.tries == 0
        assert sent == ["a", "a", "a", "a"] and r.not_delivered == 4
        assert r.puback(99, SUCCESS) is None               # a status message: not ours
        r.cancel()
    asyncio.run(main())


def test_a_message_refused_for_days_keeps_being_paced_and_none_after_the_stop():
    """Before: the pause was low * 2**tries uncapped, so after 1,024 rounds (~17 h at 60 s)
    every refused PUBACK raised OverflowError in the ack drain; and a PUBACK drained after
    stop() armed a new re-send on a client shutting down."""
    async def main():
        loop = asyncio.get_running_loop()
        mids = iter(range(100, 10_000))
        r = Redelivery(loop, lambda topic, payload, qos: next(mids), low=1.0, high=60.0,
                       where="city/lighting/gw")
        r.sent(5, "t", "a", 1)
        r.tries = 2000                                      # refused round after round
        assert r.puback(5, NOT_AUTHORIZED) is None
        assert abs(r.timer.when() - loop.time() - 60.0) < 1.0
        r._resend()
        r.cancel()
        assert r.puback(100, NO_SUBSCRIBERS) is None        # drained during the stop
        assert r.timer is None and r.parked                 # parked; the outbox keeps it
    asyncio.run(main())


def test_the_reconnect_back_off_survives_a_broker_refusing_for_hours():
    """Before: 2**attempt overflowed at attempt 1,024 (51 min of refused CONNACKs at 1-4 s),
    in paho's thread, which died: the gateway never reconnected once the broker was fixed."""
    from agent.uplink.backoff import Backoff
    b = Backoff(1.0, 4.0, rand=lambda: 1.0)
    delays = [b.next() for _ in range(5000)]
    assert delays[:3] == [1.0, 2.0, 4.0] and max(delays) == 4.0


def test_without_resend_unheard_any_puback_frees_the_row():
    """The default: a gateway whose city subscribes to events only must not stall on the
    telemetry nobody takes (the lighting e2e tests stalled at the 100th reading without it)."""
    async def main():
        loop = asyncio.get_running_loop()
        r = Redelivery(loop, lambda *a: None, low=1.0, high=4.0, where="gw", resend=False)
        first = r.sent(5, "t", "a", 1)
        assert r.puback(5, NO_SUBSCRIBERS) == first and r.timer is None
        second = r.sent(6, "t", "b", 1)
        assert r.puback(6, NOT_AUTHORIZED) == second and not r.parked
    asyncio.run(main())
