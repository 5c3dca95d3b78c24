"""`lentera plan`: the switching plan for a night (or the coming nights) from the config alone.

The installer's "show me tonight": times, levels, and which schedule, calendar exception or
dimming step decides each step — without running the agent.
"""

import json
from datetime import date, datetime, time as dtime, timedelta
from pathlib import Path

import click

from agent.cli.common import load_config_or_exit
from agent.platform.clock import clock_text


def _window(zone, day: date) -> tuple[int, int]:
    """Local noon of `day` to local noon of the next day, as epoch seconds: one whole night."""
    start = datetime.combine(day, dtime(12, 0), zone)
    return int(start.timestamp()), int((start + timedelta(days=1)).timestamp())


def _level(step: dict) -> str:
    return f"on {step['dim']:3d}% " if step["switch"] else "off     "


def _print_night(day: date, steps: list, zone, groups: dict) -> None:
    noon = datetime.combine(day, dtime(12, 0), zone).timestamp()
    span = [clock_text(t, zone, "%Y-%m-%d %H:%M") for t in (noon, noon + 86400)]
    click.echo(f"night of {day.isoformat()} ({day.strftime('%A')}), {span[0]} to {span[1]} "
               f"{zone.key} (gateway time)")
    for group, lights in groups.items():
        click.echo(f"  group {group} ({', '.join(lights)})")
        for step in (s for s in steps if s["light"] == lights[0]):
            when = clock_text(step["ts"], zone, "%a %H:%M:%S")
            click.echo(f"    {when}  {_level(step)}  {step['source']:9}  {step['reason']}")


@click.command("plan")
@click.option("-c", "--config", "config_file", required=True,
              type=click.Path(dir_okay=False), help="Gateway config (YAML).")
@click.option("--date", "day", default=None, metavar="YYYY-MM-DD",
              help="The night that starts on this local date (default: tonight).")
@click.option("--nights", default=1, show_default=True, type=click.IntRange(1, 366),
              help="How many nights from --date.")
@click.option("--json", "as_json", is_flag=True, help="One JSON step per line, for scripts.")
def plan(config_file, day, nights, as_json):
    """Print the switching plan: when each group switches or dims, and which schedule decides."""
    from zoneinfo import ZoneInfo
    from agent.config.lighting import build_lighting
    from edge_rules.timeline import describe_rules, timeline
    cfg = load_config_or_exit(config_file, config_file)
    controller = build_lighting(cfg)
    if controller is None:
        raise click.ClickException(f"{config_file} has no lighting section: there is no plan")
    zone = ZoneInfo(cfg.gateway.timezone)
    try:
        first = date.fromisoformat(day) if day else datetime.now(zone).date()
    except ValueError:
        raise click.BadParameter(f"{day!r}: expected a date like 2026-12-24",
                                 param_hint="--date") from None
    if not as_json:
        loc = cfg.gateway.location
        click.echo(f"lighting plan of {cfg.gateway.id} from {config_file} alone: "
                   f"{cfg.gateway.timezone}, {loc.lat}, {loc.lon}; clock trusted, no overrides, "
                   "no city commands, no rule active")
        if Path(cfg.commands.schedule_file).exists():
            click.echo(f"NOTE: the agent runs the schedule the city pushed "
                       f"({cfg.commands.schedule_file}), not this config's", err=True)
    for n in range(nights):
        night = first + timedelta(days=n)
        steps = timeline(controller, *_window(zone, night))
        if as_json:
            for step in steps:
                click.echo(json.dumps(step))
        else:
            _print_night(night, steps, zone, controller.groups)
    if not as_json:
        for line in describe_rules(controller):
            click.echo(f"may take over: {line}")
