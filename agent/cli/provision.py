"""`lentera provision`, `lentera firstboot`, `lentera status`: commissioning gateways."""

import sys
from pathlib import Path

import click

from agent.errors import ConfigError


@click.command("provision")
@click.option("--fleet", "fleet_file", required=True, type=click.Path(dir_okay=False, exists=True),
              help="CSV: id,site,lat,lon[,timezone,broker,cert_file,key_file], one gateway a row.")
@click.option("--template", "template_file", required=True,
              type=click.Path(dir_okay=False, exists=True),
              help="gateway.yaml every bundle starts from (comments are kept).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="New (or empty) folder for the bundles and manifest.json.")
@click.option("--ca-cert", type=click.Path(dir_okay=False, exists=True), default=None,
              help="CA certificate that signs the gateways' client certificates.")
@click.option("--ca-key", type=click.Path(dir_okay=False, exists=True), default=None,
              help="The CA's private key (PEM).")
@click.option("--ca-password-file", type=click.Path(dir_okay=False, exists=True), default=None,
              help="File holding the CA key's passphrase, if it is encrypted.")
@click.option("--days", type=click.IntRange(1, 3650), default=825, show_default=True,
              help="Client certificate validity.")
def provision(fleet_file, template_file, out_dir, ca_cert, ca_key, ca_password_file, days):
    """One bundle per gateway: config, a fresh command key, a TLS client certificate and key.

    All or nothing: any bad row is reported (row and column) and nothing is written.
    """
    from agent.provision import pki
    from agent.provision.fleet_run import provision as run_provision
    if bool(ca_cert) != bool(ca_key):
        raise click.BadParameter("give --ca-cert and --ca-key together", param_hint="--ca-key")
    try:
        password = Path(ca_password_file).read_bytes().strip() if ca_password_file else None
        ca = pki.Ca(ca_cert, ca_key, password) if ca_cert else None
        manifest = run_provision(Path(fleet_file), Path(template_file), Path(out_dir), ca, days)
    except ConfigError as exc:
        click.echo(f"lentera provision: {getattr(exc, 'path', '')}", err=True)
        for problem in getattr(exc, "problems", [str(exc)]):
            click.echo(f"  {problem}", err=True)
        sys.exit(2)
    for entry in manifest:
        click.echo(f"{entry['id']:24} key {entry['key_sha256'][:16]}  cert {entry['cert_sha256'][:16]}")
    click.echo(f"{len(manifest)} bundle(s) in {out_dir}; manifest.json is for the city backend "
               "(gateway id -> key and certificate fingerprints)", err=True)


@click.command("firstboot")
@click.option("--boot", default="/boot/firmware", show_default=True,
              type=click.Path(file_okay=False), help="The boot partition (bundle in lentera/).")
@click.option("--etc", default="/etc/lentera", show_default=True,
              type=click.Path(file_okay=False), help="Where the config and keys go.")
@click.option("--state", default="/var/lib/lentera", show_default=True,
              type=click.Path(file_okay=False), help="Where the outcome is recorded.")
def firstboot(boot, etc, state):
    """Install a provisioning bundle from the boot partition (run by lentera-firstboot.service)."""
    from agent.provision import firstboot as fb
    ok, message = fb.run(Path(boot), Path(etc), Path(state))
    click.echo(f"lentera firstboot: {message}", err=not ok)
    sys.exit(0 if ok else 1)


def commissioning(state: Path) -> tuple[bool, str]:
    """(commissioned or configured by hand, one line saying so) from the first-boot state."""
    from agent.provision.firstboot import read_state
    s = read_state(state)
    what = s.get("state")
    if what == "installed":
        return True, f"commissioned: gateway {s.get('gateway')} (bundle installed)"
    if what == "rejected":
        return False, (f"NOT commissioned: the bundle was rejected: {s.get('reason')}\n"
                       "  the agent stays stopped; drop a good bundle in /boot/firmware/lentera/ "
                       "and reboot")
    if what == "failed":
        return False, f"NOT commissioned: installing the bundle failed: {s.get('reason')}"
    if what == "installing":
        return False, "commissioning was cut off; it is redone at the next boot"
    return True, "no bundle installed yet (configured by hand, or waiting for one)"
