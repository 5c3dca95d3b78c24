"""Hooks the edge node into the agent when `sparkplug.enabled` (two lines in agent/app.py)."""

from pathlib import Path

from agent.sparkplug.service import EdgeNode
from agent.status import wall_ms


def start_sparkplug(agent) -> EdgeNode | None:
    """The edge node as the supervised task `sparkplug.node`, or None when not configured."""
    cfg = agent.config.sparkplug
    if not cfg.enabled:
        return None
    node = EdgeNode(cfg, agent.config.uplink.mqtt, agent.config.gateway.id, agent.devices,
                    agent.outbox.consumer("sparkplug"), Path(agent.config.outbox.path).parent,
                    wall_ms)
    node.arbiter, node.trusted = agent.arbiter, agent.clock.trusted
    agent.supervisor.start("sparkplug.node", node.run_loop)
    agent.supervisor.start("sparkplug.commands", node.commands_loop)
    return node
