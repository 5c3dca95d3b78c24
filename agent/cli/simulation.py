"""`lentera simulate` and `lentera demo`: a simulated site, and the guided demo on it."""

import asyncio
import signal

import click

from agent.cli.common import parse_hostport, setup_logging


@click.command("simulate")
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
    setup_logging(verbose)
    host, port = parse_hostport(tcp, 5020)
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

    from agent.demo.simulate import parse_injection, run_simulation
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


@click.command("demo")
@click.option("--lights", default=24, show_default=True, type=click.IntRange(1, 247),
              help="Simulated street lights.")
@click.option("--poll", default="2s", show_default=True, help="Poll period per light.")
@click.option("--fail-lamp", type=int, default=7, show_default=True, metavar="UNIT",
              help="Unit with an injected lamp failure (0 for none).")
def demo(lights, poll, fail_lamp):
    """Run a simulated site, a private broker and the agent; print telemetry live."""
    from agent.demo.tour import run_demo
    try:
        run_demo(lights, poll, fail_lamp or None)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from exc
