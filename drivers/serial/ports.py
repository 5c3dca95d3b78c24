"""Serial adapters on this machine (pyserial's list_ports) and the udev rule that names each.

`lentera ports` prints these so the installer can pin RS-485 adapters to stable names
(/dev/ttyRS485-1, ...) in /etc/udev/rules.d/99-lentera-rs485.rules.
"""

import os
from pathlib import Path

BY_ID = Path("/dev/serial/by-id")
BY_PATH = Path("/dev/serial/by-path")


class Adapter:
    """One serial port as the kernel and udev see it."""

    def __init__(self, device: str, by_id: str | None, by_path: str | None, vid: int | None,
                 pid: int | None, serial: str | None, vendor: str | None, product: str | None):
        self.device = device
        self.by_id = by_id
        self.by_path = by_path
        self.vid, self.pid = vid, pid
        self.serial = serial
        self.vendor = vendor
        self.product = product

    @property
    def usb(self) -> bool:
        """A USB adapter (has vendor and product ids)."""
        return self.vid is not None and self.pid is not None

    def rule(self, name: str) -> str:
        """The udev rule line giving this adapter the stable name /dev/<name>."""
        tail = f'SYMLINK+="{name}", GROUP="dialout", MODE="0660"'
        if self.usb and self.serial:
            return (f'SUBSYSTEM=="tty", ATTRS{{idVendor}}=="{self.vid:04x}", '
                    f'ATTRS{{idProduct}}=="{self.pid:04x}", ATTRS{{serial}}=="{self.serial}", '
                    + tail)
        if self.by_path:
            return f'SUBSYSTEM=="tty", ENV{{ID_PATH}}=="{id_path(self.by_path)}", ' + tail
        return f'SUBSYSTEM=="tty", KERNEL=="{Path(self.device).name}", ' + tail


def id_path(by_path_link: str) -> str:
    """udev's ID_PATH from a /dev/serial/by-path link name ('platform-...-port0' style)."""
    name = Path(by_path_link).name
    return name.rsplit("-port", 1)[0] if "-port" in name else name


def _links(folder: Path) -> dict[str, str]:
    """Resolved device -> link in folder (by-id or by-path)."""
    out = {}
    try:
        entries = list(folder.iterdir())
    except OSError:
        return out
    for link in sorted(entries):
        out.setdefault(os.path.realpath(link), str(link))
    return out


def list_adapters() -> list[Adapter]:
    """Every serial port pyserial finds, with its udev links."""
    from serial.tools import list_ports
    by_id, by_path = _links(BY_ID), _links(BY_PATH)
    out = []
    for info in sorted(list_ports.comports(), key=lambda p: p.device):
        real = os.path.realpath(info.device)
        out.append(Adapter(info.device, by_id.get(real), by_path.get(real), info.vid, info.pid,
                           info.serial_number, info.manufacturer, info.product))
    return out
