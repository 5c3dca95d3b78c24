"""`lentera override` and `lentera lights`: a maintenance crew on site, over the control socket."""

import sys

import click

from agent.cli.common import control_request
from agent.platform.clock import clock_text


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
    until = clock_text(answer["expires_s"], answer.get("timezone"), "%Y-%m-%d %H:%M:%S",
                       answer.get("simulated", False))
    click.echo(f"override on {device or group} until {until} (gateway time)")
    for dev, err in failed.items():
        click.echo(f"  {dev}: NOT applied: {err}", err=True)
    if failed:
        sys.exit(1)


@click.command("lights")
@click.option("-c", "--config", "config_file", required=True,
              type=click.Path(dir_okay=False), help="Gateway config (YAML).")
def lights(config_file):
    """Show every light's output, which source decided it, and the live overrides."""
    answer = control_request(config_file, {"op": "lights"})
    zone = (answer.get("timezone"), answer.get("simulated", False))
    why = failsafe_reason(answer.get("clock"), *zone)
    for dev, out in sorted(answer["lights"].items()):
        state = f"on {out['dim']:3d}%" if out["switch"] else "off     "
        source = out["source"] + (f" ({why})" if why and out["source"] == "failsafe" else "")
        err = answer["write_errors"].get(dev)
        click.echo(f"{dev:12} {state}  {source:11}" + (f"  WRITE FAILED: {err}" if err else ""))
    for entry in answer.get("overrides", []):
        target = f"device {entry['device']}" if "device" in entry else f"group {entry['group']}"
        what = ", ".join(f"{k} {v if k == 'dim' else ('on' if v else 'off')}"
                         for k, v in (("switch", entry["switch"]), ("dim", entry["dim"]))
                         if v is not None)
        click.echo(f"override on {target}: {what} until {_hhmm(entry['expires_s'], *zone)} "
                   f"by {entry.get('user') or 'unknown'} ({entry['reason']})")
    clock = answer.get("clock") or {}
    if clock.get("trusted") is not None:
        since = f" since {_hhmm(clock['since'], *zone)}" if clock.get("since") else ""
        click.echo(f"clock: {'trusted' if clock['trusted'] else 'NOT trusted'} "
                   f"({clock.get('source')}){since}"
                   + ("" if clock["trusted"] else f": {clock.get('reason')}, lights follow failsafe"))


def failsafe_reason(clock, zone=None, simulated: bool = False) -> str:
    """'clock not synchronised since 12:03 +07' (gateway time) while the clock is not trusted, else ''."""
    if not clock or clock.get("trusted") is not False:
        return ""
    since = f" since {_hhmm(clock['since'], zone, simulated)}" if clock.get("since") else ""
    return f"{clock.get('reason') or 'clock not trusted'}{since}"


def _hhmm(epoch_s, zone=None, simulated: bool = False) -> str:
    return clock_text(epoch_s, zone, "%H:%M", simulated)
