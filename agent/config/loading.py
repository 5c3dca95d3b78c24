"""gateway.yaml from file or text to a validated GatewayConfig; every problem with path and line."""

import os
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from agent.config.keys import load_key
from agent.config.lighting import lighting_problems
from agent.config.models import Bus, GatewayConfig, RtuBus, cross_problems
from agent.config.text import (ConfigProblems, PathError, clean_loc, pydantic_message, read_yaml,
                               with_lines)
from agent.errors import ConfigError


def load_config(path: str | Path) -> GatewayConfig:
    """Read, parse and validate a gateway config file; ConfigProblems lists every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read: {exc.strerror}") from exc
    cfg = _resolve_files(parse_config(text, path.name), path.parent)
    if cfg.commands.key_file:
        load_key(cfg.commands.key_file)       # unreadable or short key: fatal now, not later
    return cfg


def _resolve_files(cfg: GatewayConfig, base: Path) -> GatewayConfig:
    """Relative file names in the config are relative to the config file's folder."""
    def resolve(name):
        return name if name is None or Path(name).is_absolute() else str(base / name)
    outbox = cfg.outbox.model_copy(update={"path": resolve(cfg.outbox.path)})
    commands = cfg.commands.model_copy(update={
        "key_file": resolve(cfg.commands.key_file),
        "schedule_file": resolve(cfg.commands.schedule_file)})
    mqtt = cfg.uplink.mqtt
    if mqtt.tls is not None:
        tls = mqtt.tls.model_copy(update={k: resolve(getattr(mqtt.tls, k))
                                          for k in ("ca_file", "cert_file", "key_file")})
        mqtt = mqtt.model_copy(update={"tls": tls})
    uplink = cfg.uplink.model_copy(update={"mqtt": mqtt})
    anomaly = cfg.anomaly.model_copy(update={"state_file": resolve(cfg.anomaly.state_file)})
    control = cfg.control.model_copy(update={"socket": resolve(cfg.control.socket)})
    return cfg.model_copy(update={"outbox": outbox, "commands": commands, "uplink": uplink,
                                  "anomaly": anomaly, "control": control})


def parse_config(text: str, source: str = "gateway.yaml") -> GatewayConfig:
    """Validate config text; ConfigProblems lists every problem with key path and line."""
    data = read_yaml(text, source)
    try:
        config = GatewayConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigProblems(source, with_lines(text, source, _problems(exc, data))) from exc
    problems = lighting_problems(config)
    if problems:
        raise ConfigProblems(source, with_lines(text, source, problems))
    return config


def _problems(exc: ValidationError, data: dict) -> list[tuple[tuple, str]]:
    """pydantic's errors as (key path, message), plus the cross-key checks on the raw data."""
    problems = []
    for err in exc.errors():
        ctx_error = (err.get("ctx") or {}).get("error")
        if isinstance(ctx_error, PathError):
            problems.append((ctx_error.loc, str(ctx_error)))
        else:
            problems.append((clean_loc(err["loc"]), pydantic_message(err)))
    buses = data.get("buses") if isinstance(data.get("buses"), dict) else {}
    devices = data.get("devices") if isinstance(data.get("devices"), list) else []
    # keys of any YAML type (null, numbers): pydantic reports them; named here as text
    problems += [p for p in cross_problems([str(b) for b in buses], devices)
                 if p not in problems]
    return problems


def load_bus_section(path: str, bus: str):
    """Only the named bus of a gateway.yaml, validated (a scan needs no devices yet)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read: {exc.strerror}") from exc
    data = read_yaml(text, Path(path).name)
    buses = data.get("buses") if isinstance(data.get("buses"), dict) else {}
    if bus not in buses:
        raise ConfigError(str(path), f"no bus {bus!r} under buses:; defined: "
                          f"{', '.join(sorted(buses)) or 'none'}")
    try:
        return TypeAdapter(Bus).validate_python(buses[bus])
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"] if p not in ("modbus-tcp", "modbus-rtu"))
        raise ConfigError(f"{path}: buses.{bus}.{where}", f"{first['msg']} "
                          f"(run `lentera check-config {path}`)") from None


def port_warnings(cfg: GatewayConfig) -> list[str]:
    """Serial ports the config names that do not exist here: warnings, not errors (the
    adapter may be plugged in later, or the config checked on another machine)."""
    ports = [(f"buses.{name}.port", bus.port) for name, bus in cfg.buses.items()
             if isinstance(bus, RtuBus)]
    ports += [(f"serial_sensors[{i}].port", s.port) for i, s in enumerate(cfg.serial_sensors)]
    return [f"{key}: serial port {port} does not exist on this machine (no such device "
            "file); list adapters with `ls -l /dev/serial/by-id/` and use their stable name"
            for key, port in ports if not os.path.exists(port)]
