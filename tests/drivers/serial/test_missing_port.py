"""A serial port that does not exist is reported as a missing device file, with the udev
names to use instead; `lentera check-config` warns about it but does not fail."""

import asyncio
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from drivers.errors import DeviceError
from drivers.modbus.rtu import ModbusRtuBus
from drivers.serial.line import SerialSensor, SerialSensorConfig

REPO = Path(__file__).resolve().parents[3]
MISSING = "/dev/ttyUSB-lentera-missing-7"


def test_rtu_bus_on_a_missing_port_says_no_such_device_file_once(caplog):
    caplog.set_level(logging.WARNING, logger="drivers.modbus.rtu")

    async def main():
        bus = ModbusRtuBus("rs485-1", MISSING, timeout_s=0.1)
        errors = []
        for _ in range(3):
            with pytest.raises(DeviceError) as info:
                await bus.read("L-001", 1, "holding", 0, 2)
            errors.append(str(info.value))
        bus.close()
        return errors
    errors = asyncio.run(main())
    for message in errors:
        assert f"serial port {MISSING} does not exist (no such device file)" in message
        assert "ls -l /dev/serial/by-id/" in message and "L-001" in message
        assert "cabling" not in message
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == 1 and "does not exist" in logged[0]     # once per outage


def test_serial_sensor_on_a_missing_port_says_so():
    async def main():
        sensor = SerialSensor(SerialSensorConfig("pm-1", "sds011", MISSING))
        with pytest.raises(DeviceError) as info:
            sensor.open()
        return str(info.value)
    message = asyncio.run(main())
    assert "does not exist (no such device file)" in message
    assert "ls -l /dev/serial/by-id/" in message


def test_check_config_warns_about_a_missing_port_but_passes(tmp_path):
    config = tmp_path / "gateway.yaml"
    config.write_text(textwrap.dedent(f"""\
        gateway: {{id: gw-1, site: test, location: {{lat: -6.178, lon: 106.632}},
                  timezone: Asia/Jakarta}}
        uplink:
          mqtt: {{url: "mqtt://127.0.0.1:1", topic_prefix: city/lighting}}
        buses:
          rs485: {{type: modbus-rtu, port: {MISSING}, baudrate: 9600}}
        devices:
          - {{id: L-001, bus: rs485, unit: 1, profile: streetlight-generic, poll: 10s}}
        """))
    res = subprocess.run([sys.executable, "-m", "agent.cli", "check-config", str(config)],
                         capture_output=True, text=True, cwd=REPO)
    assert res.returncode == 0, res.stderr
    assert "OK" in res.stdout
    assert f"WARNING buses.rs485.port: serial port {MISSING} does not exist" in res.stderr
    assert "ls -l /dev/serial/by-id/" in res.stderr
