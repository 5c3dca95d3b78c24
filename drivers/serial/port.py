"""Opening a serial port (pyserial) with errors that tell the operator what to do.

Shared by the serial sensors (drivers/serial/line.py) and the Modbus RTU bus
(drivers/modbus/rtu.py). A port name that does not exist is the most common
commissioning mistake (a USB adapter enumerated as ttyUSB1, not ttyUSB0): it
is reported as a missing device file with the stable udev names to use instead,
never as "check cabling".
"""

import os

import serial

from drivers.errors import DeviceError

BY_ID = "/dev/serial/by-id/"


def port_missing(port: str) -> bool:
    """True when no device file (or symlink target) exists at port."""
    return not os.path.exists(port)


def missing_port_hint(port: str) -> str:
    """What to tell the operator when the device file is not there."""
    try:
        names = sorted(os.listdir(BY_ID))
    except OSError:
        names = []
    known = (f"; adapters present: {', '.join(BY_ID + n for n in names[:4])}" if names
             else "; no USB serial adapter is present right now")
    return (f"serial port {port} does not exist (no such device file): check the "
            f"adapter is plugged in, list adapters with `ls -l {BY_ID}` and name the port "
            f"by its stable udev name (/dev/serial/by-id/...) in gateway.yaml{known}")


def open_port(device: str, port: str, baudrate: int, parity: str = "N",
              stopbits: float = 1, bytesize: int = 8) -> serial.Serial:
    """Open port non-blocking (timeout=0, exclusive); DeviceError that says what to check."""
    if port_missing(port):
        raise DeviceError(device, "open", missing_port_hint(port))
    try:
        return serial.Serial(port, baudrate, bytesize=bytesize, parity=parity,
                             stopbits=stopbits, timeout=0, write_timeout=1, exclusive=True)
    except (serial.SerialException, OSError, ValueError) as exc:
        if port_missing(port):                # unplugged between the check and the open
            raise DeviceError(device, "open", missing_port_hint(port)) from exc
        raise DeviceError(device, "open", f"cannot open serial port {port} ({exc}); check "
                          "that no other program holds it (fuser -v " + port + ") and that "
                          "the line settings suit the adapter") from exc
