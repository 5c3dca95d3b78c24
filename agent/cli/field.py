"""`lentera profiles` and `lentera scan`: the installer's look at devices and buses."""

import asyncio
import logging
import re
import sys
from pathlib import Path

import click

from agent.errors import ConfigError, DeviceError


@click.group("profiles", invoke_without_command=True)
@click.option("-c", "--config", "config_file", type=click.Path(dir_okay=False, exists=True),
              default=None, help="Also search this gateway config's `profiles:` folders.")
@click.pass_context
def profiles(ctx, config_file):
    """List the device profiles Lentera finds (shipped and the installer's own), and where."""
    if ctx.invoked_subcommand is not None:
        return
    from drivers.errors import ProfileError
    from drivers.modbus.profile import find_profiles, load_profile, search_path, shipped
    if config_file:
        from agent.config.loading import load_config
        try:
            load_config(config_file)          # sets the config's profile folders
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None
    broken = 0
    for name, path in sorted(find_profiles().items()):
        where = "shipped" if shipped(path) else str(path)
        try:
            p = load_profile(name)
        except ProfileError as exc:
            broken += 1
            click.echo(f"{name:28} BROKEN      {where}\n    {exc}")
            continue
        click.echo(f"{name:28} {len(p.points):3} points  {where:24}  {p.description}")
    click.echo("searched: " + ", ".join(str(d) for d in search_path()), err=True)
    if broken:
        sys.exit(2)


@profiles.command("check")
@click.argument("profile_file", type=click.Path(dir_okay=False, exists=True))
def profiles_check(profile_file):
    """Validate a profile file; print every problem with its key path and line."""
    from drivers.errors import ProfileError
    from drivers.modbus.profile import parse_profile
    path = Path(profile_file)
    try:
        p = parse_profile(path.read_text(encoding="utf-8"), str(path))
    except ProfileError as exc:
        click.echo(f"{profile_file}: INVALID", err=True)
        for problem in getattr(exc, "problems", [str(exc)]):
            click.echo(f"  {problem}", err=True)
        sys.exit(2)
    if p.model != path.stem:
        click.echo(f"{profile_file}: model {p.model!r} differs from the file name: devices "
                   f"name profiles by file name ({path.stem!r}); rename one", err=True)
        sys.exit(2)
    click.echo(f"{profile_file}: OK — {p.model}, {len(p.points)} points")


@profiles.command("new")
@click.argument("model")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write here (default: MODEL.yaml in the current folder).")
def profiles_new(model, output):
    """Write a commented profile skeleton for MODEL to start from."""
    from drivers.modbus.profile import skeleton
    if not re.match(r"^[a-z0-9][a-z0-9._-]{0,63}$", model):
        raise click.BadParameter("use lower-case letters, digits, '.', '_' and '-', e.g. "
                                 "acme-lamp-200", param_hint="MODEL")
    out = Path(output or f"{model}.yaml")
    if out.exists():
        raise click.ClickException(f"{out} exists; not overwriting it")
    out.write_text(skeleton(model), encoding="utf-8")
    click.echo(f"wrote {out}: edit the points, then `lentera profiles check {out}` and copy it "
               f"to /etc/lentera/profiles/{model}.yaml")


@click.command("scan")
@click.option("--bus", "bus_name", required=True, help="Bus to scan (a key under buses:).")
@click.option("-c", "--config", "config_file", required=True,
              type=click.Path(dir_okay=False, exists=True), help="Gateway config (YAML).")
@click.option("--units", default="1-247", show_default=True,
              help="Unit ids to probe, e.g. 1-247 or 1-10,20.")
@click.option("--baud-sweep", is_flag=True, help="RTU: also try the other common baud rates.")
@click.option("--parity-sweep", is_flag=True, help="RTU: also try the other parities.")
@click.option("--timeout-ms", type=click.IntRange(10, 10000), default=None,
              help="Per-probe timeout (default: from the line speed).")
@click.option("--write-yaml", type=click.Path(dir_okay=False), default=None,
              help="Write devices: entries for what was found to FILE.")
def scan(bus_name, config_file, units, baud_sweep, parity_sweep, timeout_ms, write_yaml):
    """Probe unit ids on a bus and tell which shipped profile each device matches."""
    from drivers.modbus import scan as scanner
    from agent.config.loading import load_bus_section
    try:
        cfg = load_bus_section(config_file, bus_name)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        unit_ids = scanner.parse_units(units)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--units") from None
    rtu = cfg.type == "modbus-rtu"
    if not rtu and (baud_sweep or parity_sweep):
        raise click.BadParameter(f"bus {bus_name!r} is Modbus TCP: there is no baud rate or "
                                 "parity to sweep", param_hint="--baud-sweep/--parity-sweep")
    configured = scanner.LineSetting(cfg.baudrate, cfg.parity, cfg.stopbits) if rtu else \
        scanner.LineSetting(None, None)
    settings = scanner.sweep_settings(cfg.baudrate, cfg.parity, baud_sweep, parity_sweep,
                                      cfg.stopbits) if rtu else [configured]

    def open_bus(setting):
        timeout = timeout_ms / 1000 if timeout_ms else scanner.probe_timeout_s(setting)
        # the agent's own buses: every reply checked, late replies waited out
        if rtu:
            from drivers.modbus.rtu import ModbusRtuBus
            return ModbusRtuBus(bus_name, cfg.port, baudrate=setting.baudrate,
                                parity=setting.parity, stopbits=setting.stopbits, timeout_s=timeout,
                                late_window_s=cfg.late_reply_window)
        from drivers.modbus.tcp import ModbusTcpBus
        return ModbusTcpBus(bus_name, cfg.host, cfg.port, timeout_s=timeout)

    def progress(p):
        click.echo("\r" + p.line().ljust(72), nl=False, err=True)

    logging.getLogger("drivers.modbus").setLevel(logging.ERROR)   # the scan reports itself
    click.echo(f"scanning bus {bus_name} ({cfg.port if rtu else f'{cfg.host}:{cfg.port}'}), "
               f"{len(unit_ids)} unit id(s) x {len(settings)} line setting(s)", err=True)
    try:
        hits = asyncio.run(scanner.scan(open_bus, unit_ids, settings, progress))
    except DeviceError as exc:
        raise click.ClickException(f"{exc}; is the port right, and is `lentera run` "
                                   "(which holds the port) stopped?") from exc
    click.echo("", err=True)
    for hit in hits:
        what = hit.profile or "no matching profile"
        also = f" (also matches {', '.join(hit.matches[1:])})" if len(hit.matches) > 1 else ""
        click.echo(f"unit {hit.unit:3}  {hit.setting.label():10}  {what}{also}")
    click.echo(f"{len(hits)} device(s) answered", err=True)
    if write_yaml:
        text = scanner.devices_yaml(hits, bus_name, configured)
        with open(write_yaml, "w", encoding="utf-8") as fh:
            fh.write(text)
        click.echo(f"wrote {sum(1 for h in hits if h.profile)} device entr(ies) to {write_yaml}",
                   err=True)
