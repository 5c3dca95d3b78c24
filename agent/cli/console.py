"""`lentera crew add`, `lentera audit verify` and `lentera status`: the console's commands."""

import sys
from pathlib import Path

import click

from agent.cli.common import control_request
from agent.platform.clock import clock_text

DEFAULT_CONFIG = "/etc/lentera/gateway.yaml"
DEFAULT_STATE = "/var/lib/lentera"


def _config(config_file: str):
    from agent.config.loading import load_config
    from agent.errors import ConfigError
    try:
        return load_config(config_file)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@click.group("crew")
def crew():
    """Crew accounts for the web console (there is no default account)."""


@crew.command("add")
@click.argument("name")
@click.option("-c", "--config", "config_file", required=True,
              type=click.Path(dir_okay=False), help="Gateway config (YAML).")
@click.option("--role", type=click.Choice(["viewer", "operator"]), default="operator",
              show_default=True, help="Viewers look; operators also switch and dim.")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from the first line of stdin (for scripts).")
def crew_add(name, config_file, role, password_stdin):
    """Create (or replace) the console account NAME; asks for its password."""
    from agent.local.accounts import AccountError, Accounts
    cfg = _config(config_file)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    try:
        Accounts(cfg.console.accounts).add(name, password, role)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot write {cfg.console.accounts} ({exc.strerror})") \
            from None
    where = cfg.console.listen or "nowhere yet: set console.listen in the config"
    click.echo(f"crew account {name} ({role}) saved in {cfg.console.accounts}; the console "
               f"listens on {where}")


@crew.command("remove")
@click.argument("name")
@click.option("-c", "--config", "config_file", required=True,
              type=click.Path(dir_okay=False), help="Gateway config (YAML).")
def crew_remove(name, config_file):
    """Delete the console account NAME; its open sessions end at once."""
    from agent.local.accounts import Accounts
    cfg = _config(config_file)
    if not Accounts(cfg.console.accounts).remove(name):
        raise click.ClickException(f"no crew account {name!r} in {cfg.console.accounts}")
    click.echo(f"crew account {name} removed")


@crew.command("list")
@click.option("-c", "--config", "config_file", required=True,
              type=click.Path(dir_okay=False), help="Gateway config (YAML).")
def crew_list(config_file):
    """The console accounts and their roles."""
    from agent.local.accounts import Accounts
    for name, account in sorted(Accounts(_config(config_file).console.accounts).reload().items()):
        click.echo(f"{name:20} {account['role']}")


@click.group("audit")
def audit():
    """The crew's hash-chained audit log."""


@audit.command("verify")
@click.option("-c", "--config", "config_file", default=None,
              type=click.Path(dir_okay=False), help="Gateway config (YAML).")
@click.option("--file", "log_file", default=None, type=click.Path(dir_okay=False),
              help="An audit log file (instead of the config's console.audit).")
def audit_verify(config_file, log_file):
    """Check that no line of the audit log was changed, removed or reordered."""
    from agent.store.audit import verify
    if log_file is None:
        if config_file is None:
            raise click.UsageError("give -c CONFIG or --file AUDIT_LOG")
        log_file = _config(config_file).console.audit
    try:
        # fresh: no log, no rotated log, no head (a log with lines and no head is an anchor
        # missing, which verify names, even when head and key were deleted together)
        if _never_written(log_file):
            click.echo(f"audit log {log_file}: no actions recorded yet (nobody has logged in "
                       "to the console or acted from it)")
            return
        count, problems = verify(log_file)
    except OSError as exc:
        raise click.ClickException(f"cannot read {log_file} ({exc.strerror})") from None
    for problem in problems:
        click.echo(f"{log_file}: {problem}", err=True)
    if problems:
        click.echo(f"audit log BROKEN: {len(problems)} problem(s) in {count} line(s)", err=True)
        sys.exit(1)
    if count == 0:
        click.echo(f"audit log {log_file}: no actions recorded yet")
        return
    click.echo(f"audit log intact: {count} line(s), chain and sealed head verified")


def _ago(seconds) -> str:
    return "-" if seconds is None else f"{seconds}s" if seconds < 120 else f"{seconds // 60}m"


def status_lines(s: dict) -> list[str]:
    """The status snapshot as terminal lines."""
    up = s.get("uplink", {})
    clock = s.get("clock", {})
    zone, warped = clock.get("timezone"), bool(clock.get("warped"))    # times as the gateway reads them
    out = [f"gateway {s['gateway']} ({s['site']})  version {s['version']}  up {s['uptime_s']}s",
           f"uplink  connects={up.get('connects')} backlog={s.get('outbox', {}).get('backlog')}"
           f" oldest={s.get('outbox', {}).get('oldest_age_s')}s",
           f"clock   {'trusted' if clock.get('trusted') else 'NOT TRUSTED'}"
           f"{' (time warp)' if clock.get('warped') else ''}"]
    for name, bus in s.get("buses", {}).items():
        line = bus.get("line", {})
        out.append(f"bus     {name}: " + " ".join(f"{k}={v}" for k, v in line.items())[:100])
    sources = s.get("lighting", {}).get("sources", {})
    out.append("sources " + (" ".join(f"{k}={v}" for k, v in sorted(sources.items())) or "-"))
    if s.get("lighting", {}).get("holds_error"):
        out.append(f"holds   NOT SAVED: {s['lighting']['holds_error']}")
    out.append(f"{'light':10} {'state':7} {'dim':>4} {'W':>6} {'V':>5} {'quality':8} "
               f"{'age':>4} source")
    for r in s.get("lights", []):
        until = f" until {clock_text(r['until'], zone, simulated=warped)}" if r.get("until") else ""
        out.append(f"{r['id']:10} {r['state']:7} {r['dim'] if r['dim'] is not None else '-':>4}"
                   f" {r['power'] if r['power'] is not None else '-':>6}"
                   f" {r['voltage'] if r['voltage'] is not None else '-':>5}"
                   f" {r['quality']:8} {_ago(r['age_s']):>4} {r['source'] or '-'}{until}"
                   + (f"  faults={','.join(r['faults'])}" if r["faults"] else ""))
    for dev, d in sorted(s.get("devices", {}).items()):
        if d.get("quality") != "good" and dev not in {r["id"] for r in s.get("lights", [])}:
            out.append(f"device  {dev}: {d.get('quality')} {d.get('error') or ''}")
    for f in s.get("faults", []):
        stamp = clock_text(f["ts"], zone, "%H:%M:%S", warped)
        out.append(f"fault   {stamp} {f['device']} {f['event']}")
    return out


@click.command("status")
@click.option("-c", "--config", "config_file", default=None, type=click.Path(dir_okay=False),
              help=f"Gateway config (YAML) of the running agent [default: {DEFAULT_CONFIG}].")
@click.option("--state", default=DEFAULT_STATE, show_default=True,
              type=click.Path(file_okay=False), help="The agent's state folder.")
def status(config_file, state):
    """Commissioning state, then what the running agent is doing: buses, lights, sources,
    backlog, clock, faults. Exit 1 when the gateway is not commissioned or, with -c, when the
    agent cannot be reached."""
    from pathlib import Path

    from agent.cli.provision import commissioning
    ok, line = commissioning(Path(state))
    click.echo(line, err=not ok)
    if not ok:
        sys.exit(1)
    if config_file is None and not Path(DEFAULT_CONFIG).exists():
        return                              # nothing configured yet: commissioning is all there is
    try:
        answer = control_request(config_file or DEFAULT_CONFIG, {"op": "status"})
    except click.ClickException as exc:
        if config_file is not None:
            raise
        click.echo(f"agent: {exc.message}", err=True)   # commissioned, service not running
        return
    click.echo("\n".join(status_lines(answer["status"])))


def _never_written(log_file) -> bool:
    """No trace of an audit log: no log, no rotated file of any number, no head (the key is
    made at the console's start, before any action). Anything left is verified, gaps named."""
    from agent.store.audit import files
    from agent.store.audithead import paths
    return not (files(log_file) or paths(log_file)[0].exists())
