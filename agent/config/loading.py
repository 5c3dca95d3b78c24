"""gateway.yaml from file or text to a validated GatewayConfig; every problem with path and line."""

import os
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from agent.config.keys import load_key
from agent.config.lighting import lighting_problems, section_problems
from agent.config.models import Bus, GatewayConfig, RtuBus, cross_problems
from agent.config.points import catalogue
from agent.config.text import (ConfigProblems, clean_loc, compose, format_path, line_of,
                               pydantic_message, read_yaml, with_lines)
from agent.errors import ConfigError, PathError
from drivers.modbus.profile import set_config_dirs


def load_config(path: str | Path) -> GatewayConfig:
    """Read, parse and validate a gateway config file; ConfigProblems lists every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read: {exc.strerror}") from exc
    cfg = _resolve_files(parse_config(text, path.name, path.parent), path.parent)
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
    # the audit log and the plots' history are state the agent writes: relative, they sit
    # next to the outbox (/var/lib/lentera on a gateway), not in the config's read-only folder
    state = Path(outbox.path).parent
    console = cfg.console.model_copy(update={
        **{k: resolve(getattr(cfg.console, k)) for k in ("accounts", "tls_cert", "tls_key")},
        **{k: str(state / getattr(cfg.console, k)) for k in ("audit", "history")}})
    return cfg.model_copy(update={"outbox": outbox, "commands": commands, "uplink": uplink,
                                  "anomaly": anomaly, "control": control, "console": console})


def parse_config(text: str, source: str = "gateway.yaml", base: Path | None = None) -> GatewayConfig:
    """Validate config text; ConfigProblems lists every problem with key path and line.

    `profiles:` folders (relative: to `base`, the config's folder) join the profile search path.
    """
    data = read_yaml(text, source)
    folders = data.get("profiles") if isinstance(data.get("profiles"), list) else []
    set_config_dirs([Path(base or ".") / str(f) for f in folders])
    try:
        config = GatewayConfig.model_validate(data)
    except ValidationError as exc:
        # the lighting section is checked on the raw data too: every problem in one run
        problems = _problems(exc, data) + _raw_lighting_problems(data)
        raise ConfigProblems(source, grouped_lines(text, source, problems)) from exc
    problems = lighting_problems(config)
    if problems:
        raise ConfigProblems(source, grouped_lines(text, source, problems))
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


def _raw_lighting_problems(data: dict) -> list[tuple[tuple, str]]:
    """The lighting section's problems when the rest failed validation (pydantic's own errors
    under lighting: are none: it takes any mapping)."""
    if not isinstance(data.get("lighting"), dict):
        return []                   # pydantic names a lighting: that is no mapping
    return section_problems(data["lighting"], catalogue(data.get("devices"), data.get("serial_sensors")))


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


def _ranges(indexes: list[int]) -> str:
    """[0, 1, 2, 5] -> '0..2,5'."""
    out, start, prev = [], indexes[0], indexes[0]
    for i in indexes[1:] + [None]:
        if i is not None and i == prev + 1:
            prev = i
            continue
        out.append(f"{start}..{prev}" if prev > start else str(start))
        if i is not None:
            start = prev = i
    return ",".join(out)


def grouped_lines(text: str, source: str, problems) -> list[str]:
    """with_lines(), with one line for a problem repeated across list entries.

    `devices[0..999].profile: unknown profile 'x' (1,000 devices; first: gateway.yaml line 12)`
    """
    groups: dict = {}
    root = compose(text)
    for loc, msg in problems:
        at = next((k for k, p in enumerate(loc) if isinstance(p, int)), None)
        key = (loc[:at] + ("#",) + loc[at + 1:], msg) if at is not None else (loc, msg)
        groups.setdefault(key, []).append((loc, at))
    out = []
    for (_, msg), members in groups.items():
        first_loc, at = members[0]
        line = with_lines(text, source, [(first_loc, msg)], root)[0]
        indexes = sorted({loc[at] for loc, _ in members}) if at is not None else []
        order = line_of(root, first_loc) or 0
        if len(indexes) < 2:
            out.append((order, line))
            continue
        head = format_path(first_loc[:at + 1])
        noun = first_loc[0] if at == 1 else "entries"
        line = line.replace(head, head[:head.rindex("[")] + f"[{_ranges(indexes)}]", 1)
        where = line.rsplit(" (", 1)
        tail = f"; first: {where[1][:-1]}" if len(where) == 2 and where[1].endswith(")") else ""
        out.append((order, f"{where[0] if tail else line} ({len(indexes):,} {noun}{tail})"))
    return [line for _, line in sorted(out, key=lambda item: item[0])]   # in file order


def port_warnings(cfg: GatewayConfig) -> list[str]:
    """Serial ports the config names that do not exist here: warnings, not errors (the
    adapter may be plugged in later, or the config checked on another machine)."""
    ports = [(f"buses.{name}.port", bus.port) for name, bus in cfg.buses.items()
             if isinstance(bus, RtuBus)]
    ports += [(f"serial_sensors[{i}].port", s.port) for i, s in enumerate(cfg.serial_sensors)]
    return [f"{key}: serial port {port} does not exist on this machine (no such device "
            "file); list adapters with `ls -l /dev/serial/by-id/` and use their stable name"
            for key, port in ports if not os.path.exists(port)]
