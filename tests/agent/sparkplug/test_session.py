"""The node's paho session against a real mosquitto: a pass's publishes and barrier are one
run in paho's write queue (one send), nothing is lost or reordered by it, a lost connection
fails the barrier it owed."""

import asyncio
from types import SimpleNamespace

from agent.config.models import Mqtt
from agent.config.sparkplug import SparkplugConfig
from agent.sparkplug import node as spnode
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


def test_one_pass_of_publishes_and_its_barrier_is_one_send_and_loses_nothing(
        broker, subscriber_factory):
    """paho wrote each publish with a send() of its own (and woke its thread for each):
    201 sends for this pass before the node queued a pass's packets as one run."""
    sub = subscriber_factory(broker.port, "spBv1.0/t/DDATA/#")
    sizes = [i % 7 * 40 for i in range(199)] + [20000]    # 1-, 2- and 3-byte lengths

    async def main():
        session = await connected_session(broker.port)
        assert await session.barrier()         # the SUBSCRIBE of the connect is written
        sends = []
        real_send = session.client._sock_send

        def counting_send(buf):                # paho's own method, on its thread
            sends.append(len(buf))
            return real_send(buf)
        session.client._sock_send = counting_send
        try:
            for i, size in enumerate(sizes):
                session.publish("spBv1.0/t/DDATA/gw/d1", b"%d." % i + b"x" * size)
            assert await session.barrier()
            return list(sends)                 # not close()'s DISCONNECT
        finally:
            await session.close(ndeath=False)

    sends = asyncio.run(main())
    assert sum(sends) > sum(sizes), sends
    assert len(sends) <= 2, sends            # one, or two if the socket's buffer was full
    got = sub.wait_for(lambda m: len(m) >= 200 and m, 10, "200 DDATA")
    assert [p for _, p, _ in got] == [f"{i}." + "x" * n for i, n in enumerate(sizes)]


def test_remaining_length_is_mqtt_variable_byte_integer():
    """The examples of MQTT 3.1.1 section 2.2.3, table 2.4."""
    cases = {0: "00", 127: "7f", 128: "8001", 16383: "ff7f", 16384: "808001",
             2097151: "ffff7f", 2097152: "80808001", 268435455: "ffffff7f"}
    assert {n: spnode.remaining_length(n).hex() for n in cases} == cases


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
