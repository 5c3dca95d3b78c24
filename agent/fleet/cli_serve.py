"""`lentera fleet serve` and who may see what it serves: `users` (city staff log in) and
`tokens` (the city's GIS sends `Authorization: Bearer ...`), in one file (agent/fleet/access.py).
"""

import asyncio
import logging

import click

ACCESS_HELP = "the users and tokens file (env LENTERA_FLEET_ACCESS)"
ACCESS_DEFAULT = "/etc/lentera-fleet/access.json"


def _access(path):
    from agent.fleet.access import AccessFile
    return AccessFile(path)


@click.command()
@click.option("--db", "dsn", required=True, envvar="LENTERA_FLEET_DB",
              help="PostgreSQL URL (env LENTERA_FLEET_DB)")
@click.option("--listen", default="127.0.0.1:8480", show_default=True, help="HOST:PORT")
@click.option("--access", "access_path", default=ACCESS_DEFAULT, show_default=True,
              envvar="LENTERA_FLEET_ACCESS", help=ACCESS_HELP)
@click.option("--secure-cookie", is_flag=True,
              help="served to browsers over HTTPS (the city's proxy): the cookie is Secure")
@click.option("--behind-proxy", is_flag=True,
              help="every request comes through the city's reverse proxy: failed log-ins are "
                   "counted per client by the last X-Forwarded-For entry (the proxy's), "
                   "never per the proxy's own address, which would lock out everyone")
@click.option("--comm-after", default=900.0, show_default=True, type=click.FloatRange(min=1),
              help="seconds without a reading before a light has a communication fault")
@click.option("--timezone", "tz", default="Asia/Jakarta", show_default=True,
              help="the city's zone: a night for energy is local noon to noon")
def serve(dsn, listen, access_path, secure_cookie, behind_proxy, comm_after, tz):
    """Serve the map page and the GeoJSON API (lights, faults) behind a log-in until
    SIGTERM/SIGINT."""
    from agent.fleet.access import AccessError, Gate
    from agent.fleet.http import run
    from agent.fleet.picture import PictureUnavailable
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        asyncio.run(run(dsn, listen, comm_after, tz, Gate(_access(access_path)),
                        secure_cookie, behind_proxy))
    except (PictureUnavailable, AccessError, ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
def users():
    """City staff who may log in to `serve` (each sees the whole city, read-only)."""


@users.command("add")
@click.argument("name")
@click.option("--access", "access_path", default=ACCESS_DEFAULT, show_default=True,
              envvar="LENTERA_FLEET_ACCESS", help=ACCESS_HELP)
@click.password_option(help="asked for when not given (env LENTERA_FLEET_PASSWORD)",
                       envvar="LENTERA_FLEET_PASSWORD")
def users_add(name, access_path, password):
    """Create a login, or give it a new password."""
    from agent.fleet.access import AccessError
    try:
        _access(access_path).add_user(name, password)
    except (AccessError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{name} can log in ({access_path})")


def _remover(kind: str, what: str):
    """`users remove` and `tokens remove`: each removes only its own kind."""
    @click.command("remove")
    @click.argument("name")
    @click.option("--access", "access_path", default=ACCESS_DEFAULT, show_default=True,
                  envvar="LENTERA_FLEET_ACCESS", help=ACCESS_HELP)
    def remove(name, access_path):
        from agent.fleet.access import AccessError
        try:
            found = _access(access_path).remove(name, kind)
        except (AccessError, OSError) as exc:
            raise click.ClickException(str(exc)) from None
        if not found:
            raise click.ClickException(f"no {kind} {name} in {access_path}")
        click.echo(f"{kind} {name} removed")
    remove.help = f"Remove {what} (its sessions end at their next request)."
    return remove


@click.group()
def tokens():
    """Tokens for programs such as the city's GIS (read-only, like the whole API)."""


@tokens.command("add")
@click.argument("label")
@click.option("--access", "access_path", default=ACCESS_DEFAULT, show_default=True,
              envvar="LENTERA_FLEET_ACCESS", help=ACCESS_HELP)
def tokens_add(label, access_path):
    """Make a token (replacing the label's old one) and print it once: only its hash is kept."""
    from agent.fleet.access import AccessError
    try:
        token = _access(access_path).add_token(label)
    except (AccessError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(token)


users.add_command(_remover("user", "a login"))
tokens.add_command(_remover("token", "a token"))
COMMANDS = (serve, users, tokens)
