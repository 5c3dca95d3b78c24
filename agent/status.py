"""One status snapshot of the running agent.

The retained status topic, `lentera lights` and (later) metrics and the console all read
this, so they never disagree about what the gateway is doing.
"""

import asyncio
import time

from agent import __version__

CHECK_S = 1.0    # how often the buses' `oversubscribed` is looked at between status periods
# a bus right at its limit flips `oversubscribed` with every 2 s rate bucket: a change is
# published at most this often (still inside the 10 s promise), not a retained status each flip
CHANGE_GAP_S = 5.0


def wall_ms() -> int:
    """Epoch milliseconds."""
    return int(time.time() * 1000)


def snapshot(agent) -> dict:
    """What the agent can say without waiting: identity, buses, tasks, lighting."""
    return {"gateway": agent.config.gateway.id, "site": agent.config.gateway.site,
            "version": __version__, "ts": wall_ms(),
            "uptime_s": round(time.time() - agent.started),
            "buses": {n: {**s.status(), "line": agent.buses[n].counters.as_dict()}
                      for n, s in agent.schedulers.items()},
            "tasks": {n: t["restarts"] for n, t in agent.supervisor.status().items()},
            "clock": agent.lighting.trust.as_dict() if agent.lighting else None,
            **({"lighting": agent.lighting.status()} if agent.lighting else {})}


async def full_snapshot(agent) -> dict:
    """snapshot() plus the outbox and publisher figures (needs the SQLite thread)."""
    out = snapshot(agent)
    out["outbox"] = await agent.outbox.status()
    out["uplink"] = {**agent.publisher.status(), "connects": agent.uplink.connects,
                     "broker_refused": agent.uplink.broker_refused,
                     "not_delivered": agent.uplink.redelivery.not_delivered,
                     "connected": agent.uplink.connected.is_set(), "cause": agent.uplink.cause}
    out["commands"] = {**agent.commands.counts, **agent.intake.status()}
    if getattr(agent, "sparkplug", None) is not None:     # docs/sparkplug.md
        out["sparkplug"] = agent.sparkplug.status()
    if getattr(agent, "talq", None) is not None:          # docs/talq.md
        out["talq"] = {**agent.talq.reporter.status(), "loggers": len(agent.talq.store.loggers),
                       "bootstrap": agent.talq.bootstrap.status(),
                       "packages": agent.talq.packages.status()}
    return out


def behind(agent) -> frozenset:
    """Names of the buses that keep < 99 % of their configured poll rate (agent/core/rate.py)."""
    return frozenset(n for n, s in agent.schedulers.items() if s.status()["oversubscribed"])


async def publish_loop(agent) -> None:
    """The retained status every `uplink.status_period`, and at once when a bus starts or
    stops keeping its configured rate: `oversubscribed` is promised within 10 s of the change,
    and the period (30 s by default) would hide it that long."""
    period = agent.config.uplink.status_period
    shown, due = behind(agent), time.monotonic() + period
    last = time.monotonic() - CHANGE_GAP_S
    while True:
        await asyncio.sleep(max(0.0, min(CHECK_S, due - time.monotonic())))
        now, at = behind(agent), time.monotonic()
        if (now != shown and at - last >= CHANGE_GAP_S) or at >= due:
            shown, due, last = now, at + period, at
            agent.uplink.publish_status("online", **await agent.full_status())
