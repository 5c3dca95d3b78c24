"""A gateway's own publish path in-process, for the fleet tests: the agent's Outbox,
Publisher and MqttUplink (MQTT 5), with readings as the agent commits them (docs/mqtt.md)."""

import asyncio

from agent.config.models import Mqtt
from agent.store.outbox import ROUTINE, Outbox
from agent.uplink.mqtt import MqttUplink
from agent.uplink.publisher import Publisher


class InProcessGateway:
    """One gateway: readings go through its outbox to the broker, at least once."""

    def __init__(self, box: Outbox, uplink: MqttUplink, publisher: Publisher, gateway_id: str):
        self.box, self.uplink, self.publisher = box, uplink, publisher
        self.topic = f"city/lighting/{gateway_id}/telemetry/L-1"
        self.tasks = [asyncio.create_task(box.commit_loop()),
                      asyncio.create_task(publisher.run_loop())]

    @classmethod
    async def start(cls, url: str, gateway_id: str, tmp_path) -> "InProcessGateway":
        """Open its outbox and connect (quick reconnects: it comes back before the workers)."""
        box = Outbox(tmp_path / f"{gateway_id}.outbox.db", max_mb=50)
        await box.open()
        uplink = MqttUplink(Mqtt(url=url, reconnect_min=0.05, reconnect_max=0.2,
                                 resend_unheard=True), gateway_id)
        gw = cls(box, uplink, Publisher(box.consumer("json"), uplink, window=100), gateway_id)
        uplink.start()
        return gw

    def reading(self, n: int) -> None:
        """Commit one reading (its seq is the outbox's: 1, 2, ...)."""
        self.box.put(self.topic, "L-1", ROUTINE, 1795881120000 + n,
                     {"quality": "good", "values": {"power": 90.5, "lamp_state": 1,
                                                    "energy": 1000 + n}})

    def drained(self) -> bool:
        """Everything committed has been acknowledged by the broker as delivered."""
        return not self.box._pending and self.box.db.count == 0

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await self.uplink.stop()
        await self.box.close()
