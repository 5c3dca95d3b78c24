"""The status loop (agent/status.py publish_loop) under a bus whose `oversubscribed` flips at
every check, as one right at its limit does: a change is still published within the 10 s
promise, but not a retained status per flip (review finding: one every 2 s, for ever)."""

import asyncio
from types import SimpleNamespace

from agent import status


class FlippingScheduler:
    def __init__(self):
        self.calls = 0

    def status(self):
        self.calls += 1
        return {"oversubscribed": self.calls % 2 == 0}


def test_a_flapping_bus_is_published_at_most_every_change_gap(monkeypatch):
    monkeypatch.setattr(status, "CHECK_S", 0.01)
    monkeypatch.setattr(status, "CHANGE_GAP_S", 0.2, raising=False)   # absent before the gap
    published = []

    async def full_status():
        return {}

    agent = SimpleNamespace(
        schedulers={"lan": FlippingScheduler()},
        config=SimpleNamespace(uplink=SimpleNamespace(status_period=3600)),
        uplink=SimpleNamespace(publish_status=lambda state, **_: published.append(state)),
        full_status=full_status)

    async def main():
        task = asyncio.ensure_future(status.publish_loop(agent))
        await asyncio.sleep(1.0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    asyncio.run(main())
    checks = agent.schedulers["lan"].calls
    assert checks > 30, checks                         # it flipped at every check
    assert 1 <= len(published) <= 6, (len(published), checks)   # ~1 s / 0.2 s, not ~checks/2
