"""`lentera fleet command`: a signed command (docs/mqtt.md) to a light, a group or the
lights in a polygon (agent/fleet/command_run.py does the work). Added to the group by
agent/fleet/cli.py; imports what it needs when it runs, as cli.py's commands do."""

import json
import sys
from pathlib import Path

import click

DSN_HELP = "PostgreSQL URL, e.g. postgresql://lentera@db.city.local/lentera (env LENTERA_FLEET_DB)"


@click.command("command")
@click.argument("kind", type=click.Choice(["switch", "dim"]))
@click.option("--on/--off", "on", default=None, help="switch: on or off")
@click.option("--level", type=click.IntRange(0, 100), help="dim: 0-100")
@click.option("--duration", type=int, help="seconds; then the previous state returns")
@click.option("--light", help="one light: gateway/device")
@click.option("--pole", help="one light by its pole id")
@click.option("--group", help="every light of a group (one command per gateway)")
@click.option("--polygon", help="GeoJSON Polygon (lon/lat), or @file: the lights within it")
@click.option("--key-file", help="the command key (hex) shared by the gateways addressed")
@click.option("--keys", "keys_dir", help="a folder of <gateway>.key files, one per gateway")
@click.option("--broker", default="mqtt://127.0.0.1:1883", show_default=True)
@click.option("--prefix", default="city/lighting", show_default=True)
@click.option("--db", "dsn", required=True, envvar="LENTERA_FLEET_DB", help=DSN_HELP)
@click.option("--ttl", default=600.0, show_default=True, help="seconds until it expires")
@click.option("--timeout", default=30.0, show_default=True,
              help="seconds to wait for the acks of each wave (32 commands per gateway)")
def command_command(kind, on, level, duration, light, pole, group, polygon, key_file, keys_dir,
                    broker, prefix, dsn, ttl, timeout):
    """Send a signed command (docs/mqtt.md) to a light, a group or the lights in a polygon,
    wait for the acks and record both (table `commands`). Exit status 1 unless all `done`."""
    from agent.fleet.cli import _run
    from agent.fleet.command_link import LinkError
    from agent.fleet.command_run import run
    from agent.fleet.commands import CommandError
    if (kind == "switch") != (on is not None) or (kind == "dim") != (level is not None):
        raise click.UsageError("switch takes --on or --off; dim takes --level")
    fields = {"on": on} if kind == "switch" else {"level": level}
    if duration:
        fields["duration_s"] = duration
    if polygon and polygon.startswith("@"):
        try:
            polygon = Path(polygon[1:]).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise click.BadParameter(f"cannot read {polygon[1:]}: {exc}", param_hint="--polygon")
    address = {"light": light, "pole": pole, "group": group, "polygon": polygon}
    try:
        batch, commands, outcome = _run(run(dsn, broker, prefix, address, kind, fields,
                                            key_file, keys_dir, ttl, timeout))
    except (CommandError, LinkError) as exc:
        raise click.ClickException(str(exc)) from None
    for c in commands:
        o = outcome[c["id"]]
        click.echo(f"{c['id']} {c['gateway']} {json.dumps(c['target'])}: {o['result']}"
                   + (f" ({o['reason']})" if o["reason"] else ""))
    done = sum(o["result"] == "done" for o in outcome.values())
    click.echo(f"batch {batch}: {done} of {len(commands)} done")
    if done < len(commands):
        sys.exit(1)


COMMANDS = (command_command,)
