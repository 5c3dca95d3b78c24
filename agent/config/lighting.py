"""The lighting section of a gateway config: checked, and built into the edge-rules controller."""

from agent.config.models import GatewayConfig
from agent.config.text import split_path


def build_lighting(config: GatewayConfig, lighting: dict | None = None):
    """The edge-rules LightingController for `lighting` (default: the config's section).

    None without a lighting section; RuleConfigError for a bad one.
    """
    lighting = config.lighting if lighting is None else lighting
    if lighting is None:
        return None
    from agent.platform.clock import ZoneOffset
    from edge_rules.controller import LightingController
    return LightingController(lighting, ZoneOffset(config.gateway.timezone),
                              config.gateway.location.lat, config.gateway.location.lon)


def lighting_problems(config: GatewayConfig, lighting: dict | None = None,
                      prefix: str = "lighting") -> list[tuple[tuple, str]]:
    """Problems of a lighting section: edge_rules' own check, and lights that don't exist."""
    from edge_rules.errors import RuleConfigError
    lighting = config.lighting if lighting is None else lighting
    try:
        controller = build_lighting(config, lighting)
    except RuleConfigError as exc:
        return [((prefix,) + split_path(exc.path), exc.message)]
    if controller is None:
        return []
    known = {d.id for d in config.devices}
    problems = []
    for group, raw in lighting["groups"].items():
        for i, device in enumerate(raw["devices"]):
            if str(device) not in known:
                problems.append(((prefix, "groups", group, "devices", i),
                                 f"unknown device {device!r}: lights must be in devices"))
    return problems
