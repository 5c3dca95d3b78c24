"""Batched publishes: a round of messages wakes paho's network thread once, and all arrive.

A real mosquitto on a free port, the real MqttUplink and a test subscriber.
"""

import asyncio

from agent.config.models import Mqtt
from agent.uplink.mqtt import MqttUplink
from tests.support.broker import Broker
from tests.support.subscriber import Subscriber


class CountingPair:
    """paho's wake-up socket, counting the wake-ups sent through it."""

    def __init__(self, sock):
        self.sock = sock
        self.sends = 0

    def send(self, data):
        self.sends += 1
        return self.sock.send(data)

    def __getattr__(self, name):
        return getattr(self.sock, name)


def test_a_batch_of_publishes_wakes_the_network_once_and_every_message_arrives():
    broker = Broker().start()
    sub = Subscriber(broker.port, "city/lighting/gw-1/telemetry/#")
    try:
        async def go():
            uplink = MqttUplink(Mqtt(url=f"mqtt://127.0.0.1:{broker.port}"), "gw-1")
            acked = []
            uplink.on_puback = acked.append
            uplink.start()
            async with asyncio.timeout(10):
                await uplink.connected.wait()
            pair = CountingPair(uplink._client._sockpairW)
            uplink._client._sockpairW = pair
            with uplink.batch():
                mids = [uplink.publish_raw(uplink.topics.telemetry("L-1"), f'{{"n":{i}}}')
                        for i in range(50)]
            wakes = pair.sends
            async with asyncio.timeout(10):
                while not set(mids) <= set(acked):
                    await asyncio.sleep(0.01)
            uplink._client._sockpairW = pair.sock
            await uplink.stop()
            return wakes, mids, acked
        wakes, mids, acked = asyncio.run(go())
        got = sub.wait_for(lambda m: len(m) >= 50 and m, 10, "50 messages")
    finally:
        sub.close()
        broker.stop()
    assert wakes == 1                                   # one wake-up for the batch, not 50
    assert set(mids) <= set(acked)                      # (the status message's too)
    assert [payload["n"] for _, payload, _ in got] == list(range(50))   # in order
