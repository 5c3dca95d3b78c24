"""`lentera ports`: the serial adapters this gateway sees, each with its udev rule line."""

import click


@click.command("ports")
@click.option("--prefix", default="ttyRS485-", show_default=True,
              help="Stable name to propose: PREFIX1, PREFIX2, ...")
def ports(prefix):
    """List serial adapters (by-id path, vendor, serial) and a udev rule line for each."""
    from drivers.serial.ports import list_adapters
    adapters = list_adapters()
    if not adapters:
        click.echo("no serial adapters found: plug the RS-485 adapter in (and check `dmesg` "
                   "for ttyUSB/ttyACM)")
        return
    for n, a in enumerate(adapters, 1):
        ids = f"{a.vid:04x}:{a.pid:04x}" if a.usb else "-"
        click.echo(f"{a.device}")
        click.echo(f"  by-id:   {a.by_id or '-'}")
        click.echo(f"  by-path: {a.by_path or '-'}")
        click.echo(f"  vendor:  {a.vendor or '-'}  product: {a.product or '-'}  usb id: {ids}")
        click.echo(f"  serial:  {a.serial or '- (none: pin it by USB socket instead)'}")
        click.echo(f"  rule:    {a.rule(f'{prefix}{n}')}")
    click.echo("paste the rule lines into /etc/udev/rules.d/99-lentera-rs485.rules, then: "
               "sudo udevadm control --reload && sudo udevadm trigger -s tty", err=True)
