"""A value that cannot be encoded for a write is a refused command with the reason, and the
bus worker goes on polling (before: codec.encode's ValueError ended the worker)."""

import asyncio
import time

import pytest

from agent.core.bus import BusScheduler, PollTarget
from drivers.errors import DeviceError
from drivers.modbus.codec import encode
from drivers.modbus.device import ModbusDevice
from drivers.modbus.profile import load_profile


class RecordingBus:
    """A hand-written fake of the bus port: holds registers, records writes."""

    def __init__(self):
        self.writes = []
        self.registers = {("holding", 0): 1, ("holding", 1): 100}

    async def read(self, device, unit, table, address, count):
        return [self.registers.get((table, address + i), 0) for i in range(count)]

    async def write(self, device, unit, address, values):
        self.writes.append((address, values))
        for i, v in enumerate(values):
            self.registers[("holding", address + i)] = v


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), "40", None, 1e300])
def test_unencodable_values_are_refused_with_the_reason(value):
    bus = RecordingBus()
    device = ModbusDevice("L-001", bus, 1, load_profile("streetlight-generic"))

    async def main():
        with pytest.raises(DeviceError) as info:
            await device.write("dim", value)
        return str(info.value)
    message = asyncio.run(main())
    assert "L-001" in message and ("refused" in message or "outside" in message)
    assert bus.writes == []


@pytest.mark.parametrize("value,kind", [(float("nan"), "int16"), (float("inf"), "uint32"),
                                        (1e40, "float32"), (70000, "uint16"), ("x", "int16"),
                                        (1.0, "int32")])
def test_encode_raises_only_value_error(value, kind):
    if value == 1.0:
        assert encode(value, kind) == [0, 1]
        with pytest.raises(ValueError):
            encode(value, kind, scale=0.0)
        return
    with pytest.raises(ValueError):
        encode(value, kind)


def test_a_refused_command_leaves_the_bus_worker_polling():
    bus = RecordingBus()
    device = ModbusDevice("L-001", bus, 1, load_profile("streetlight-generic"))

    async def main():
        polled = asyncio.Event()
        readings = []

        def sink(reading):
            readings.append(reading)
            polled.set()
        sched = BusScheduler("rs485", [PollTarget("L-001", 0.01, device.read)], sink,
                             time.monotonic, lambda: int(time.time() * 1000))
        task = asyncio.create_task(sched.run_loop(), name="bus.rs485.poll")
        try:
            with pytest.raises(DeviceError) as info:
                await asyncio.wait_for(sched.execute(lambda: device.write("dim", float("nan"))),
                                       5)
            polled.clear()
            await asyncio.wait_for(polled.wait(), 5)     # still polling afterwards
            done = await asyncio.wait_for(sched.execute(lambda: device.write("dim", 40)), 5)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        return str(info.value), done, task
    message, done, task = asyncio.run(main())
    assert "refused" in message and "nan" in message
    assert done == 40
