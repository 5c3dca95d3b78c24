"""What every command of the `lentera` CLI shares: logging, the event loop, the control socket."""

import asyncio
import logging
import sys

import click

from agent.errors import ConfigError


def load_config_or_exit(config_file: str, what: str):
    """The validated config, or exit 2 with the first problem and where to see them all."""
    from agent.config.loading import load_config
    try:
        return load_config(config_file)
    except ConfigError as exc:
        click.echo(f"{what}: {exc}\nRun `lentera check-config {config_file}` for the full "
                   "list.", err=True)
        sys.exit(2)


def setup_logging(verbose: bool) -> None:
    """Log to stderr; pymodbus kept quiet (we report device errors ourselves, once)."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                        stream=sys.stderr)
    # pymodbus logs every timeout of a dead unit at ERROR; we report those ourselves, once
    logging.getLogger("pymodbus").setLevel(logging.DEBUG if verbose else logging.CRITICAL)


def run_loop(coro) -> None:
    """Run the agent's event loop: uvloop where installed (less CPU per poll), else asyncio."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
        return
    uvloop.run(coro)


def parse_hostport(value: str, default_port: int) -> tuple[str, int]:
    """HOST:PORT (or HOST) from the command line."""
    host, _, port = value.rpartition(":")
    if not host:
        return value, default_port
    try:
        return host, int(port)
    except ValueError:
        raise click.BadParameter(f"{value!r}: expected HOST:PORT, e.g. 127.0.0.1:5020") from None


def control_request(config_file: str, payload: dict) -> dict:
    """Send one request to the running agent's control socket; exit 1 with the reason if refused."""
    from agent.config.loading import load_config
    from agent.local.control import request
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
