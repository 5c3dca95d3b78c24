"""Acks are believed only from the gateway the command went to (review finding)."""

import asyncio
import json

from agent.fleet.command_link import CommandLink


def test_an_ack_on_another_gateways_topic_does_not_answer_a_command():
    """Before: any gateway's ack topic naming a command id marked it done."""
    async def main():
        link = CommandLink("mqtt://127.0.0.1:1", "city/lighting", "lentera-fleet-test")
        link._gateway_of["c-1"] = "gw-a"
        ack = json.dumps({"id": "c-1", "result": "done"}).encode()
        link._ack("city/lighting/gw-b/ack", ack)
        assert link.acks == {}
        link._ack("city/lighting/gw-a/ack", ack)
        assert link.acks["c-1"]["result"] == "done"
    asyncio.run(main())
