"""ModbusDevice against real pymodbus servers: coalescing, split on rejection, verified writes."""

import asyncio

import pytest
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from agent.errors import DeviceError
from drivers.modbus.device import ModbusDevice
from drivers.modbus.tcp import ModbusTcpBus
from drivers.modbus.profile import load_profile
from drivers.sim.site import SimulatedSite
from tests.drivers.modbus.holey import HOLEY_PROFILE, holey_device
from tests.support.broker import free_port


async def _serve(devices, port):
    server = ModbusTcpServer(devices, address=("127.0.0.1", port), ignore_missing_devices=True)
    await server.serve_forever(background=True)
    return server


def test_streetlight_poll_takes_two_requests_counted_at_the_simulator():
    async def main():
        site = SimulatedSite(2)
        port = free_port()
        task = asyncio.create_task(site.serve_tcp("127.0.0.1", port))
        bus = ModbusTcpBus("lan", "127.0.0.1", port, timeout_s=0.5)
        for _ in range(50):
            if await bus.connect():
                break
            await asyncio.sleep(0.05)
        device = ModbusDevice("L-001", bus, 1, load_profile("streetlight-generic"))
        values = await device.read()
        bus.close()
        task.cancel()
        return site, values
    site, values = asyncio.run(main())
    # 12 points in two tables -> one holding read + one input read
    assert site.requests[(1, 3)] == 1 and site.requests[(1, 4)] == 1
    assert sum(n for (unit, _), n in site.requests.items() if unit == 1) == 2
    assert values["switch"] == 1 and values["dim"] == 100
    assert values["rated_power"] in (60, 90, 120, 150)


def test_rejected_range_is_split_and_the_split_remembered():
    calls = []

    async def action(fc, start, address, count, registers, set_values):
        calls.append((address, count))

    async def main():
        port = free_port()
        dev = holey_device(action)
        server = await _serve([dev], port)
        bus = ModbusTcpBus("lan", "127.0.0.1", port, timeout_s=0.5)
        await bus.connect()
        device = ModbusDevice("X-1", bus, 1, HOLEY_PROFILE, max_gap=8)
        first = await device.read()
        calls_after_first = len(calls)
        second = await device.read()
        bus.close()
        await server.shutdown()
        return first, second, calls_after_first
    first, second, calls_after_first = asyncio.run(main())
    assert first == second == {"a": 7, "b": 9, "c": 65538}
    # the second poll goes straight to the split blocks: no rejected request again
    assert len(calls) - calls_after_first == 2


def test_write_is_verified_by_read_back_and_mismatch_reported():
    async def main():
        port = free_port()
        results = {}

        async def stubborn(fc, start, address, count, registers, set_values):
            # it echoes a dim write as any device does, but keeps 100 (ignores dimming below
            # 100): only the read-back shows it
            if set_values is None and fc == 3 and address <= 1 < address + count:
                registers[1 - start] = 100
        dev = SimDevice(1, simdata=(
            [SimData(0, values=[False] * 16, datatype=DataType.BITS)],
            [SimData(0, values=[False] * 16, datatype=DataType.BITS)],
            [SimData(0, values=[1, 100], datatype=DataType.REGISTERS)],
            [SimData(0, values=[0] * 12, datatype=DataType.REGISTERS)]), action=stubborn)
        server = await _serve([dev], port)
        bus = ModbusTcpBus("lan", "127.0.0.1", port, timeout_s=0.5)
        await bus.connect()
        device = ModbusDevice("L-009", bus, 1, load_profile("streetlight-generic"))
        results["switch"] = await device.write("switch", 0)
        for point, value in (("dim", 40), ("voltage", 1), ("dim", 140)):
            try:
                await device.write(point, value)
            except DeviceError as exc:
                results[(point, value)] = str(exc)
        bus.close()
        await server.shutdown()
        return results
    r = asyncio.run(main())
    assert r["switch"] == 0
    assert "read-back mismatch: device holds 100" in r[("dim", 40)]
    assert "read-only" in r[("voltage", 1)]
    assert "outside 0.0..100.0" in r[("dim", 140)]


def test_unreachable_bus_is_a_device_error_naming_the_endpoint():
    async def main():
        bus = ModbusTcpBus("lan", "127.0.0.1", free_port(), timeout_s=0.2)
        device = ModbusDevice("L-001", bus, 1, load_profile("streetlight-generic"))
        with pytest.raises(DeviceError) as info:
            await device.read()
        bus.close()
        return str(info.value)
    message = asyncio.run(main())
    assert "L-001" in message and "not connected" in message and "127.0.0.1" in message
