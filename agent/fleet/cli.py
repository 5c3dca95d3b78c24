"""`lentera-fleet` (also `lentera fleet`): the city's side, one command per job.

Each command imports what it needs when it runs, so `--help` needs no database driver and
the gateway's `lentera`, which adds this group, starts without the fleet's extras (asyncpg,
orjson: `pip install -e ".[fleet]"`); a command run without them says so.
"""

import asyncio
import logging
import signal
import sys
import time

import click

DSN_HELP = "PostgreSQL URL, e.g. postgresql://lentera@db.city.local/lentera (env LENTERA_FLEET_DB)"


def _run(coro):
    from agent.fleet.broker import BrokerError
    try:
        return asyncio.run(coro)
    except BrokerError as exc:          # a broker URL or certificate that cannot work
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"{exc}: is PostgreSQL (or the broker) reachable?") from None


EXTRAS = ("asyncpg", "orjson")             # setup.py extras_require["fleet"]


class _FleetGroup(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ModuleNotFoundError as exc:
            if exc.name not in EXTRAS:
                raise
            raise click.ClickException(f"lentera fleet needs {exc.name}, not installed: pip "
                                       "install 'lentera[fleet]' (a checkout: -e '.[fleet]')"
                                       ) from None


@click.group(cls=_FleetGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main():
    """The city's side of Lentera: ingest, the light registry, faults and complaints.

    Typical order: `migrate`, `lights import`, then one `ingest` per worker core on any
    number of machines (they share the load through an MQTT 5 shared subscription).
    """


@main.command()
@click.option("--db", "dsn", required=True, envvar="LENTERA_FLEET_DB", help=DSN_HELP)
def migrate(dsn):
    """Create or upgrade the schema (safe to run again, and from several machines)."""
    from agent.fleet import db

    async def go():
        conn = await db.connect(dsn)
        try:
            return await db.migrate(conn)
        finally:
            await conn.close()
    applied = _run(go())
    click.echo(f"applied: {', '.join(applied)}" if applied else "schema is up to date")


@main.group()
def lights():
    """The registry of gateways and lights."""


@lights.command("import")
@click.argument("geojson", type=click.File("r", encoding="utf-8"))
@click.option("--db", "dsn", required=True, envvar="LENTERA_FLEET_DB", help=DSN_HELP)
def lights_import(geojson, dsn):
    """Import lights from a GeoJSON FeatureCollection (properties: gateway, device,
    pole_id, group, office; Point geometry in lon/lat)."""
    from agent.fleet import db
    from agent.fleet.registry import RegistryError, import_lights, lights_from_geojson
    try:
        rows = lights_from_geojson(geojson.read())
    except RegistryError as exc:
        raise click.ClickException(f"{geojson.name}: {exc}") from None

    async def go():
        conn = await db.connect(dsn)
        try:
            return await import_lights(conn, rows)
        finally:
            await conn.close()
    click.echo(f"{_run(go())} lights imported from {geojson.name}")


@main.command()
@click.option("--broker", default="mqtt://127.0.0.1:1883", show_default=True,
              help="the city's broker (any node of the cluster); TLS: mqtts://host:8883"
                   "?ca_file=...&cert_file=...&key_file=... (docs/fleet.md)")
@click.option("--db", "dsn", required=True, envvar="LENTERA_FLEET_DB", help=DSN_HELP)
@click.option("--group", default="lentera-ingest", show_default=True,
              help="shared-subscription group: workers with the same group split the load")
@click.option("--worker-id", required=True,
              help="stable per worker (its MQTT session: a restarted worker gets back what "
                   "it had not acknowledged)")
@click.option("--prefix", default="city/lighting", show_default=True)
@click.option("--batch-max", default=2000, show_default=True)
@click.option("--batch-window", default=0.05, show_default=True, help="seconds")
@click.option("--progress", default=10.0, show_default=True,
              help="seconds between progress lines on stderr (0: none)")
def ingest(broker, dsn, group, worker_id, prefix, batch_max, batch_window, progress):
    """Run one ingest worker until SIGTERM/SIGINT (then the batch in hand is committed
    and acknowledged)."""
    from agent.fleet.ingest import IngestWorker
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    async def go():
        worker = IngestWorker(broker, dsn, group, f"lentera-fleet-{group}-{worker_id}", prefix,
                              batch_max, batch_window)
        stats.append(worker.stats)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, worker.stop)
        task = asyncio.create_task(worker.run(), name="fleet.ingest")
        while not task.done():
            await asyncio.wait({task}, timeout=progress or None)
            if progress and not task.done():
                print(f"{time.strftime('%H:%M:%S')} {worker.stats.line()}", file=sys.stderr,
                      flush=True)
        await task
    stats = []
    _run(go())
    click.echo(stats[0].line())


def _with_conn(dsn, job):
    from agent.fleet import db

    async def go():
        conn = await db.connect(dsn)
        try:
            return await job(conn)
        finally:
            await conn.close()
    return _run(go())


@main.group()
def complaints():
    """Citizens' complaints: import them, then `lentera-fleet match`."""


@complaints.command("import")
@click.argument("source", type=click.File("r", encoding="utf-8"))
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default=None,
              help="default: from the file name (.json, else CSV)")
@click.option("--db", "dsn", required=True, envvar="LENTERA_FLEET_DB", help=DSN_HELP)
def complaints_import(source, fmt, dsn):
    """Import a complaints app's export: id, text, reported_at (ISO 8601 or epoch ms),
    lat + lon and/or pole_id, office. A re-import of an id changes nothing."""
    from agent.fleet.complaints import ComplaintError, import_complaints, parse_complaints
    fmt = fmt or ("json" if source.name.endswith(".json") else "csv")
    try:
        rows = parse_complaints(source.read(), fmt)
    except ComplaintError as exc:
        raise click.ClickException(f"{source.name}: {exc}") from None
    _with_conn(dsn, lambda conn: import_complaints(conn, rows))
    click.echo(f"{len(rows)} complaints read from {source.name}")


@main.command("match")
@click.option("--db", "dsn", required=True, envvar="LENTERA_FLEET_DB", help=DSN_HELP)
@click.option("--radius", default=30.0, show_default=True,
              help="metres: the worst GPS error expected of the complaints app")
@click.option("--all", "again", is_flag=True, help="match every complaint again, not only new")
def match_command(dsn, radius, again):
    """Match complaints to the lights' faults and say why: confirmed by telemetry, no
    fault seen (send a crew), or lamp reports healthy since the complaint."""
    from agent.fleet.complaints import match

    async def job(conn):
        ids = [r["id"] for r in await conn.fetch("SELECT id FROM complaints")] if again \
            else None
        return await match(conn, ids, radius)
    results = _with_conn(dsn, job)
    for r in results:
        click.echo(f"{r['id']} {r['verdict']}: {r['explanation']}")
    counts = {v: sum(1 for r in results if r["verdict"] == v) for v in
              ("confirmed", "send_crew", "healthy_since")}
    click.echo(f"{len(results)} matched: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


@main.command("work-orders")
@click.option("--db", "dsn", required=True, envvar="LENTERA_FLEET_DB", help=DSN_HELP)
def work_orders_command(dsn):
    """Open work per office and group: confirmed faults and complaints needing a crew."""
    from agent.fleet.complaints import work_orders
    office = None
    for r in _with_conn(dsn, work_orders):
        if r["office"] != office:
            office = r["office"]
            click.echo(f"== {office}")
        click.echo(f"  [{r['grp']}] {r['id']} {r['verdict']} pole {r['pole_id'] or '-'} "
                   f"{r['gateway_id'] or '-'}/{r['device_id'] or '-'}")


@main.command()
@click.option("--db", "dsn", required=True, envvar="LENTERA_FLEET_DB", help=DSN_HELP)
@click.option("--all", "show_all", is_flag=True, help="also gateways without gaps")
def gaps(dsn, show_all):
    """Gaps in each gateway's seq: lost (the gateway reported dropping them), not yet
    arrived (still in its outbox), or unexplained."""
    from agent.fleet.reports import seq_gaps
    rows = _with_conn(dsn, seq_gaps)
    for r in rows:
        if show_all or r["missing"] or r["recovered_jumps"]:
            spans = ", ".join(f"{x.lower}-{x.upper - 1}" for x in (r["ranges"] or [])[:5])
            click.echo(f"{r['gateway_id']}: committed {r['committed']} up to seq "
                       f"{r['last_seq']}; missing {r['missing']} ({spans}): lost {r['lost']}, "
                       f"not yet arrived {r['not_yet_arrived']}, unexplained "
                       f"{r['unexplained']}; outbox replaced {r['recovered_jumps']} time(s)")
    bad = sum(r["unexplained"] for r in rows)
    click.echo(f"{len(rows)} gateways, {sum(r['missing'] for r in rows)} missing, "
               f"{bad} unexplained")


@main.command()
@click.option("--db", "dsn", required=True, envvar="LENTERA_FLEET_DB", help=DSN_HELP)
@click.option("--keep-days", default=400, show_default=True, help="telemetry kept, in days")
@click.option("--ahead", default=3, show_default=True, help="day partitions made ahead")
def retention(dsn, keep_days, ahead):
    """Make tomorrow's telemetry partitions and drop those past retention (a daily timer)."""
    from datetime import datetime, timedelta, timezone

    from agent.fleet.partitions import drop_older_than, ensure_days
    today = datetime.now(timezone.utc).date()

    async def job(conn):
        await ensure_days(conn, {today + timedelta(days=d) for d in range(ahead + 1)}, set())
        return await drop_older_than(conn, keep_days, today)
    dropped = _with_conn(dsn, job)
    click.echo(f"dropped {len(dropped)} partition(s): {', '.join(dropped) or '-'}")


def _more_commands():
    from agent.fleet import cli_command   # command: signed commands to the gateways
    from agent.fleet import cli_serve     # serve, users, tokens: the map and who may see it
    for command in cli_command.COMMANDS + cli_serve.COMMANDS:
        main.add_command(command)


_more_commands()

if __name__ == "__main__":
    main()
