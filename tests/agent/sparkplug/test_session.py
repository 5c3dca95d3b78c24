"""The node's paho session against a real mosquitto: a pass's publishes wake paho's thread
once (the held wake-up socket), nothing is lost by holding it, a lost connection fails the
barrier it owed."""

import asyncio
from types import SimpleNamespace

from agent.config.models import Mqtt
from agent.config.sparkplug import SparkplugConfig
from agent.sparkplug import node as spnode
from agent.uplink import wakeup
from agent.sparkplug.topics import Topics


def make_node(port: int):
    loop = asyncio.get_running_loop()
    cfg = SparkplugConfig(enabled=True, group_id="t", keepalive=5)
    return SimpleNamespace(loop=loop, cfg=cfg, mqtt=Mqtt(url=f"mqtt://127.0.0.1:{port}"),
                           url=f"mqtt://127.0.0.1:{port}", host="127.0.0.1", port=port,
                           client_id="lentera-spb-test", topics=Topics("t", "gw"),
                           wall_ms=lambda: 1000, on_message=lambda *a: None)


async def connected_session(port: int) -> spnode.Session:
    session = spnode.Session(make_node(port), 0)
    session.start()
    async with asyncio.timeout(10):
        await session.connected.wait()
    return session


def test_one_pass_of_publishes_holds_the_wake_up_and_loses_nothing(broker, subscriber_factory):
    sub = subscriber_factory(broker.port, "spBv1.0/t/DDATA/#")

    async def main():
        session = await connected_session(broker.port)
        real = session.client._sockpairW
        try:
            for i in range(200):
                session.publish("spBv1.0/t/DDATA/gw/d1", b"%d" % i)
                assert session.client._sockpairW is wakeup.HELD   # not woken per packet
            assert await session.barrier()
            assert session.client._sockpairW is real              # given back after the pass
        finally:
            await session.close(ndeath=False)

    asyncio.run(main())
    got = sub.wait_for(lambda m: len(m) >= 200 and m, 10, "200 DDATA")
    assert [int(p) for _, p, _ in got] == list(range(200))       # all, in order


def test_a_lost_connection_fails_the_barrier_it_owed(broker):
    async def main():
        session = await connected_session(broker.port)
        try:
            session.publish("spBv1.0/t/DDATA/gw/d1", b"x")
            broker.stop()
            assert not await session.barrier()
            assert session.ended.is_set()
        finally:
            await session.close(ndeath=False)

    asyncio.run(main())
