"""`lentera profiles` and `lentera scan`: the installer's look at devices and buses."""

import asyncio
import logging

import click

from agent.errors import ConfigError, DeviceError


@click.command("profiles")
def profiles():
    """List the shipped device profiles."""
    from drivers.modbus.profile import available_profiles, load_profile
    for name in available_profiles():
        p = load_profile(name)
        click.echo(f"{name:28} {len(p.points):3} points  {p.description}")


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
    from drivers.modbus.bus import ModbusBus
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
    configured = scanner.LineSetting(cfg.baudrate, cfg.parity) if rtu else \
        scanner.LineSetting(None, None)
    settings = scanner.sweep_settings(cfg.baudrate, cfg.parity, baud_sweep, parity_sweep) \
        if rtu else [configured]

    def open_bus(setting):
        timeout = timeout_ms / 1000 if timeout_ms else scanner.probe_timeout_s(setting)
        if rtu:
            return ModbusBus(bus_name, "modbus-rtu", port=cfg.port, baudrate=setting.baudrate,
                             parity=setting.parity, stopbits=cfg.stopbits, timeout_s=timeout)
        return ModbusBus(bus_name, "modbus-tcp", host=cfg.host, port=cfg.port,
                         timeout_s=timeout)

    def progress(p):
        click.echo("\r" + p.line().ljust(72), nl=False, err=True)

    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
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
