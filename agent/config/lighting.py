"""The lighting section of a gateway config: checked, and built into the edge-rules controller."""

from agent.config.models import GatewayConfig
from agent.config.points import catalogue, did_you_mean, point_problems
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
    """Every problem of a lighting section (default: the config's own): see section_problems."""
    lighting = config.lighting if lighting is None else lighting
    if lighting is None:
        return []
    return section_problems(lighting, catalogue(config.devices, config.serial_sensors), prefix)


def section_problems(lighting, known: dict, prefix: str = "lighting") -> list[tuple[tuple, str]]:
    """(key path, message) of every problem of a raw lighting section, all in one pass: its own
    (edge_rules), lights missing from `devices:`, and points no device reports.

    known is catalogue()'s {device id: points}; it works on raw data, so `check-config` reports
    lighting problems even when other sections are broken.
    """
    from edge_rules.check import lighting_errors, point_refs
    errors, groups, trees = lighting_errors(lighting)
    problems = [((prefix,) + split_path(exc.path), exc.message) for exc in errors]
    raw_groups = lighting.get("groups") if isinstance(lighting, dict) else None
    for group, raw in (raw_groups if isinstance(raw_groups, dict) else {}).items():
        devices = raw.get("devices") if isinstance(raw, dict) else None
        for i, device in enumerate(devices if isinstance(devices, list) else []):
            if str(device) not in known:
                problems.append(((prefix, "groups", group, "devices", i),
                                 f"unknown device {device!r}: lights must be in devices"
                                 f"{did_you_mean(str(device), known)}"))
    return problems + point_problems(point_refs(lighting, groups, trees), known, (prefix,))
