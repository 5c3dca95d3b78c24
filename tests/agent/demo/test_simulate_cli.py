"""`lentera simulate` as installers run it: TCP site, injected faults with labels, a serial sensor."""

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from drivers.modbus.device import ModbusDevice
from drivers.modbus.tcp import ModbusTcpBus
from drivers.modbus.profile import load_profile
from drivers.serial.line import SerialSensor, SerialSensorConfig
from tests.support.broker import free_port, wait_port

REPO = Path(__file__).resolve().parents[3]


def test_simulate_injects_faults_labels_them_and_serves_a_dust_sensor(tmp_path):
    port = free_port()
    labels = tmp_path / "labels.jsonl"
    link = tmp_path / "ttyAQ0"
    proc = subprocess.Popen([sys.executable, "-m", "agent.cli", "simulate", "--lights", "3",
                             "--tcp", f"127.0.0.1:{port}", "--inject", "lampFailure:2",
                             "--inject", "lampVoltageTooHigh:3@0.2", "--labels", str(labels),
                             "--sds011", str(link)], cwd=REPO, stderr=subprocess.PIPE, text=True)
    try:
        wait_port(port)
        deadline = time.monotonic() + 10
        while not (link.is_symlink() and labels.exists()
                   and len(labels.read_text().splitlines()) == 2):
            assert time.monotonic() < deadline, "simulator did not start sensor/injections"
            time.sleep(0.05)

        async def read_all():
            bus = ModbusTcpBus("lan", "127.0.0.1", port, timeout_s=0.5)
            profile = load_profile("streetlight-generic")
            values = [await ModbusDevice(f"L-{u}", bus, u, profile).read() for u in (1, 2)]
            bus.close()
            async with SerialSensor(SerialSensorConfig(name="AQ", kind="sds011",
                                                       port=str(link))) as sensor:
                dust = await sensor.next_reading(timeout=5)
            return values, dust
        (healthy, failed), dust = asyncio.run(read_all())
        assert healthy["lamp_state"] == 1 and healthy["power"] > 30
        assert failed["lamp_state"] == 2 and failed["power"] < 1 and failed["faults"] & 1
        assert 0 < dust.values["pm2_5"] < 1000
        kinds = [json.loads(line)["kind"] for line in labels.read_text().splitlines()]
        assert kinds == ["lampFailure", "lampVoltageTooHigh"]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
    assert not link.is_symlink()        # cleaned up on exit
