"""The `lentera` command: the composition root that wires adapters together."""

import asyncio
import logging
import signal
import sys
import time

import click

from agent import __version__
from agent.errors import ConfigError, DeviceError, LenteraError


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                        stream=sys.stderr)
    # pymodbus logs every timeout of a dead unit at ERROR; we report those ourselves, once
    logging.getLogger("pymodbus").setLevel(logging.DEBUG if verbose else logging.CRITICAL)


def _run_loop(coro) -> None:
    """Run the agent's event loop: uvloop where installed (less CPU per poll), else asyncio."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
        return
    uvloop.run(coro)


def _parse_hostport(value: str, default_port: int) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host:
        return value, default_port
    try:
        return host, int(port)
    except ValueError:
        raise click.BadParameter(f"{value!r}: expected HOST:PORT, e.g. 127.0.0.1:5020") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lentera")
def main():
    """Lentera: edge agent for city street lighting and sensors.

    Polls street-light controllers, meters and sensors over Modbus and serial
    lines, applies local rules and forwards telemetry to the city's MQTT broker.
    """


@main.command("check-config")
@click.argument("config_file", type=click.Path(dir_okay=False))
def check_config(config_file):
    """Validate a gateway config file; print every problem with its key path and line."""
    from agent.config import load_config
    try:
        cfg = load_config(config_file)
    except ConfigError as exc:
        click.echo(f"{config_file}: INVALID", err=True)
        for problem in getattr(exc, "problems", [str(exc)]):
            click.echo(f"  {problem}", err=True)
        sys.exit(2)
    click.echo(f"{config_file}: OK — gateway {cfg.gateway.id}, {len(cfg.buses)} bus(es), "
               f"{len(cfg.devices)} device(s)")


@main.command()
@click.option("-c", "--config", "config_file", required=True,
              type=click.Path(dir_okay=False), help="Gateway config (YAML).")
@click.option("--time-warp", metavar="START[,RATE]", default=None,
              help="Commissioning aid: run the lighting logic on a simulated clock starting at "
                   "START (ISO time with zone, e.g. 2026-11-28T17:40:00+07:00) and running RATE "
                   "times faster (default 1). Polling keeps real time. Never use in service.")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def run(config_file, time_warp, verbose):
    """Run the agent until SIGTERM or Ctrl-C."""
    from agent.app import Agent
    from agent.clock import AgentClock, parse_warp
    from agent.config import load_config
    _setup_logging(verbose)
    try:
        cfg = load_config(config_file)
    except ConfigError as exc:
        click.echo(f"cannot start: {exc}\nRun `lentera check-config {config_file}` "
                   "for the full list.", err=True)
        sys.exit(2)
    clock = None
    if time_warp:
        try:
            start, rate = parse_warp(time_warp)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--time-warp") from None
        clock = AgentClock(start, rate)

    async def _main():
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await Agent(cfg, clock=clock).run(stop)

    try:
        _run_loop(_main())
    except LenteraError as exc:     # e.g. unreadable TLS files: say so, no traceback
        click.echo(f"lentera run: {exc}", err=True)
        sys.exit(2)


@main.command()
@click.option("--lights", default=20, show_default=True, type=click.IntRange(1, 247),
              help="Street-light controllers to simulate (unit ids 1..N).")
@click.option("--tcp", "tcp", default="127.0.0.1:5020", show_default=True,
              help="Serve Modbus TCP on HOST:PORT.")
@click.option("--fail-lamp", multiple=True, type=int, metavar="UNIT",
              help="Inject a lamp failure on UNIT (draws no power while on). Repeatable.")
@click.option("--dead", multiple=True, type=int, metavar="UNIT",
              help="UNIT never answers. Repeatable.")
@click.option("--seed", default=0, show_default=True, help="Random seed for noise.")
@click.option("--rtu", "rtu", default=None, type=click.Path(dir_okay=False), metavar="PATH",
              help="Serve Modbus RTU instead of TCP, on a pty linked at PATH "
                   "(line timing enforced at --baud).")
@click.option("--baud", default=9600, show_default=True,
              type=click.Choice(["1200", "2400", "4800", "9600", "19200", "38400", "57600",
                                 "115200"]), help="RTU line speed.")
@click.option("--parity", default="N", show_default=True, type=click.Choice(["N", "E", "O"]),
              help="RTU parity.")
@click.option("--meter", type=click.Choice(["sdm120", "sdm630"]), default=None,
              help="Add a cabinet energy meter measuring the lights.")
@click.option("--meter-unit", type=click.IntRange(1, 247), default=None,
              help="Unit id of the meter (default: the one after the last light).")
@click.option("--lux-unit", type=click.IntRange(1, 247), default=None,
              help="Add a lux sensor (lux-rs485-generic) at this unit id.")
@click.option("--inject", "injections", multiple=True, metavar="KIND:UNIT[@SECONDS]",
              help="Inject a fault (lampFailure, dayBurning, cycling, activePowerTooHigh, "
                   "lampVoltageTooLow, lampVoltageTooHigh, sensorStuck, energyCounterDecrease) "
                   "on UNIT, at start or SECONDS later. Repeatable.")
@click.option("--labels", type=click.Path(dir_okay=False), default=None,
              help="Append ground-truth labels of injected faults to FILE (JSON lines).")
@click.option("--sds011", metavar="PATH", default=None,
              help="Also simulate an SDS011 dust sensor on a pty linked at PATH.")
@click.option("--pms5003", metavar="PATH", default=None,
              help="Also simulate a PMS5003 dust sensor on a pty linked at PATH.")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def simulate(lights, tcp, fail_lamp, dead, seed, rtu, baud, parity, meter, meter_unit,
             lux_unit, injections, labels, sds011, pms5003, verbose):
    """Simulate a street-light site: N controllers speaking Modbus (streetlight-generic)."""
    from drivers.sim.site import SimulatedSite
    _setup_logging(verbose)
    host, port = _parse_hostport(tcp, 5020)
    try:
        site = SimulatedSite(lights, seed=seed, meter=meter, meter_unit=meter_unit,
                             lux_unit=lux_unit)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    for unit in fail_lamp:
        site.fail_lamp(unit)
    for unit in dead:
        site.set_dead(unit)
    extras = "".join([f", {meter} meter at unit {site.meter_unit}" if meter else "",
                      f", lux sensor at unit {lux_unit}" if lux_unit else ""])
    if rtu:
        def on_ready(wire):
            click.echo(f"simulating {lights} street light(s), unit ids 1..{lights}{extras}, "
                       f"Modbus RTU {baud} {parity} on {wire.client_port} (linked at {rtu}; "
                       "Ctrl-C to stop)", err=True)
            click.echo(wire.client_port)
        serve = lambda: site.serve_rtu(rtu, int(baud), parity, on_ready=on_ready)
    else:
        click.echo(f"simulating {lights} street light(s), unit ids 1..{lights}{extras}, "
                   f"Modbus TCP on {host}:{port} (Ctrl-C to stop)", err=True)
        serve = lambda: site.serve_tcp(host, port)

    from agent.simulation import parse_injection, run_simulation
    try:
        faults = [parse_injection(text) for text in injections]
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--inject") from None
    for kind, unit, _ in faults:
        if unit not in site.lights:
            raise click.BadParameter(f"{kind}:{unit}: unit {unit} is not a simulated light "
                                     f"(1..{lights})", param_hint="--inject")
    sensors = [(kind, path) for kind, path in (("sds011", sds011), ("pms5003", pms5003))
               if path]

    async def _main():
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_simulation(site, serve, sensors, faults, labels, stop,
                             lambda msg: click.echo(msg, err=True))

    try:
        asyncio.run(_main())
    except OSError as exc:
        raise click.ClickException(f"cannot serve on {rtu or f'{host}:{port}'}: {exc}") from exc


@main.command()
@click.option("--lights", default=24, show_default=True, type=click.IntRange(1, 247),
              help="Simulated street lights.")
@click.option("--poll", default="2s", show_default=True, help="Poll period per light.")
@click.option("--fail-lamp", type=int, default=7, show_default=True, metavar="UNIT",
              help="Unit with an injected lamp failure (0 for none).")
def demo(lights, poll, fail_lamp):
    """Run a simulated site, a private broker and the agent; print telemetry live."""
    from agent.demo import run_demo
    try:
        run_demo(lights, poll, fail_lamp or None)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from exc


def _control(config_file: str, payload: dict) -> dict:
    """Send one request to the running agent's control socket; exit 1 with the reason if refused."""
    from agent.config import load_config
    from agent.control import request
    try:
        path = load_config(config_file).control.socket
    except ConfigError as exc:
        raise click.ClickException(f"{exc}") from None
    try:
        answer = asyncio.run(request(path, payload))
    except (OSError, asyncio.TimeoutError) as exc:
        raise click.ClickException(f"cannot reach the agent at {path} ({exc}); is "
                                   "`lentera run` (the lentera service) running?") from None
    if not answer.get("ok"):
        raise click.ClickException(f"refused: {answer.get('error')}")
    return answer


@main.command()
@click.option("-c", "--config", "config_file", required=True,
              type=click.Path(dir_okay=False), help="Gateway config (YAML).")
@click.option("--device", default=None, help="One light.")
@click.option("--group", default=None, help="A lighting group.")
@click.option("--switch", type=click.Choice(["on", "off"]), default=None)
@click.option("--dim", type=click.IntRange(0, 100), default=None, help="Level in percent.")
@click.option("--for", "duration", default="2h", show_default=True,
              help="How long the override holds (it always ends), e.g. 30min, 2h.")
@click.option("--reason", default="maintenance on site", show_default=True)
@click.option("--clear", is_flag=True, help="End the override on DEVICE/GROUP now.")
def override(config_file, device, group, switch, dim, duration, reason, clear):
    """Maintenance override on site: beats city commands, rules and schedules until it ends."""
    from agent.config import parse_duration
    target = {"device": device, "group": group}
    if clear:
        _control(config_file, {"op": "clear", **target})
        click.echo(f"override cleared on {device or group}")
        return
    try:
        seconds = parse_duration(duration)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--for") from None
    answer = _control(config_file, {"op": "override", **target, "for_s": seconds,
                                    "switch": None if switch is None else switch == "on",
                                    "dim": dim, "reason": reason})
    failed = {d: e for d, e in answer["written"].items() if e}
    click.echo(f"override on {device or group} until "
               f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(answer['expires_s']))}")
    for dev, err in failed.items():
        click.echo(f"  {dev}: NOT applied: {err}", err=True)
    if failed:
        sys.exit(1)


@main.command()
@click.option("-c", "--config", "config_file", required=True,
              type=click.Path(dir_okay=False), help="Gateway config (YAML).")
def lights(config_file):
    """Show every light's output and which source decided it."""
    answer = _control(config_file, {"op": "lights"})
    for dev, out in sorted(answer["lights"].items()):
        state = f"on {out['dim']:3d}%" if out["switch"] else "off     "
        err = answer["write_errors"].get(dev)
        click.echo(f"{dev:12} {state}  {out['source']:11}" + (f"  WRITE FAILED: {err}"
                                                               if err else ""))


@main.command()
def profiles():
    """List the shipped device profiles."""
    from drivers.profiles import available_profiles, load_profile
    for name in available_profiles():
        p = load_profile(name)
        click.echo(f"{name:28} {len(p.points):3} points  {p.description}")


def _scan_bus_config(config_file: str, bus: str):
    """Only the named bus of a gateway.yaml, validated (a scan needs no devices yet)."""
    import yaml
    from pydantic import TypeAdapter, ValidationError

    from agent.config import Bus
    try:
        with open(config_file, encoding="utf-8") as fh:
            buses = (yaml.safe_load(fh) or {}).get("buses") or {}
    except (OSError, yaml.YAMLError) as exc:
        raise click.ClickException(f"cannot read {config_file}: {exc}") from exc
    if bus not in buses:
        raise click.ClickException(f"{config_file}: no bus {bus!r} under buses:; defined: "
                                   f"{', '.join(sorted(buses)) or 'none'}")
    try:
        return TypeAdapter(Bus).validate_python(buses[bus])
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"] if p not in ("modbus-tcp", "modbus-rtu"))
        raise click.ClickException(f"{config_file}: buses.{bus}.{where}: {first['msg']} "
                                   f"(run `lentera check-config {config_file}`)") from None


@main.command()
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
    from drivers import scan as scanner
    from drivers.modbus import ModbusBus
    cfg = _scan_bus_config(config_file, bus_name)
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


if __name__ == "__main__":
    main()
