"""Hooks the edge node into the agent when `sparkplug.enabled` (two lines in agent/app.py)."""

from pathlib import Path

from agent.status import wall_ms


def start_sparkplug(agent):
    """The edge node (agent/sparkplug/service.EdgeNode) as the supervised task
    `sparkplug.node`, or None when not configured."""
    cfg = agent.config.sparkplug
    if not cfg.enabled:
        return None
    # imported only when configured: protobuf and the Tahu payload module cost ~3 MB of RSS
    from agent.sparkplug.service import EdgeNode
    node = EdgeNode(cfg, agent.config.uplink.mqtt, agent.config.gateway.id, agent.devices,
                    agent.outbox.consumer("sparkplug"), Path(agent.config.outbox.path).parent,
                    wall_ms)
    node.arbiter, node.trusted = agent.arbiter, agent.clock.trusted
    agent.supervisor.start("sparkplug.node", node.run_loop)
    agent.supervisor.start("sparkplug.commands", node.commands_loop)
    return node
