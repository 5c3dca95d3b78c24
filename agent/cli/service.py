"""`lentera check-config` and `lentera run`: validate a gateway config, run the agent."""

import asyncio
import faulthandler
import signal
import sys

import click

from agent.cli.common import load_config_or_exit, run_loop, setup_logging
from agent.errors import ConfigError, LenteraError

# A clean stop takes ~5 s at most (see Agent.run). Past this, every thread's stack goes to
# stderr (the journal) and the process exits 1 at once: a stop that hangs says where, and
# ends before systemd's SIGKILL (TimeoutStopSec=15). What was committed is safe either way.
STUCK_STOP_S = 12.0


@click.command("check-config")
@click.argument("config_file", type=click.Path(dir_okay=False))
def check_config(config_file):
    """Validate a gateway config file; print every problem with its key path and line."""
    from agent.config.loading import load_config, port_warnings
    try:
        cfg = load_config(config_file)
    except ConfigError as exc:
        click.echo(f"{config_file}: INVALID", err=True)
        for problem in getattr(exc, "problems", [str(exc)]):
            click.echo(f"  {problem}", err=True)
        sys.exit(2)
    for warning in port_warnings(cfg):
        click.echo(f"{config_file}: WARNING {warning}", err=True)
    click.echo(f"{config_file}: OK — gateway {cfg.gateway.id}, {len(cfg.buses)} bus(es), "
               f"{len(cfg.devices)} device(s)")


@click.command("run")
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
    from agent.platform.clock import AgentClock, parse_warp
    setup_logging(verbose)
    cfg = load_config_or_exit(config_file, "cannot start")
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

        def on_signal():
            if not stop.is_set():
                faulthandler.dump_traceback_later(STUCK_STOP_S, exit=True)
                stop.set()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal)
        await Agent(cfg, clock=clock).run(stop)

    try:
        run_loop(_main())
    except LenteraError as exc:     # e.g. unreadable TLS files: say so, no traceback
        click.echo(f"lentera run: {exc}", err=True)
        sys.exit(2)
