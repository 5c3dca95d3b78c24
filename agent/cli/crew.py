"""`lentera override` and `lentera lights`: a maintenance crew on site, over the control socket."""

import sys
import time

import click

from agent.cli.common import control_request


@click.command("override")
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
    from agent.config.units import parse_duration
    target = {"device": device, "group": group}
    if clear:
        control_request(config_file, {"op": "clear", **target})
        click.echo(f"override cleared on {device or group}")
        return
    try:
        seconds = parse_duration(duration)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--for") from None
    answer = control_request(config_file, {"op": "override", **target, "for_s": seconds,
                                    "switch": None if switch is None else switch == "on",
                                    "dim": dim, "reason": reason})
    failed = {d: e for d, e in answer["written"].items() if e}
    click.echo(f"override on {device or group} until "
               f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(answer['expires_s']))}")
    for dev, err in failed.items():
        click.echo(f"  {dev}: NOT applied: {err}", err=True)
    if failed:
        sys.exit(1)


@click.command("lights")
@click.option("-c", "--config", "config_file", required=True,
              type=click.Path(dir_okay=False), help="Gateway config (YAML).")
def lights(config_file):
    """Show every light's output and which source decided it."""
    answer = control_request(config_file, {"op": "lights"})
    for dev, out in sorted(answer["lights"].items()):
        state = f"on {out['dim']:3d}%" if out["switch"] else "off     "
        err = answer["write_errors"].get(dev)
        click.echo(f"{dev:12} {state}  {out['source']:11}" + (f"  WRITE FAILED: {err}"
                                                               if err else ""))
