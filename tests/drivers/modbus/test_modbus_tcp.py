"""ModbusTcpBus (our MBAP client) against the pymodbus simulator and scripted test servers."""

import asyncio
import struct

import pytest
from pymodbus.server import ModbusTcpServer

from agent.errors import DeviceError
from drivers.modbus.device import ModbusDevice
from drivers.errors import IllegalAddress, NoReply
from drivers.modbus.tcp import ModbusTcpBus
from drivers.modbus.profile import load_profile
from drivers.sim.site import SimulatedSite
from tests.drivers.modbus.holey import HOLEY_PROFILE, holey_device
from tests.support.broker import free_port

WAIT_S = 10.0         # generous cap on waits for events; never a timing assertion


async def _site(lights: int, port: int):
    site = SimulatedSite(lights)
    task = asyncio.create_task(site.serve_tcp("127.0.0.1", port))
    return site, task


async def _connected(port: int, timeout_s: float = 0.5, max_in_flight: int = 4,
                     connections: int | None = None) -> ModbusTcpBus:
    bus = ModbusTcpBus("lan", "127.0.0.1", port, timeout_s=timeout_s,
                       max_in_flight=max_in_flight, connections=connections)
    for _ in range(100):
        if await bus.connect():
            return bus
        await asyncio.sleep(0.05)
    raise AssertionError(f"simulator on port {port} never accepted a connection")


def test_streetlight_poll_decodes_in_two_requests_like_the_pymodbus_client():
    async def main():
        port = free_port()
        site, task = await _site(2, port)
        bus = await _connected(port)
        values = await ModbusDevice("L-001", bus, 1, load_profile("streetlight-generic")).read()
        raw = await bus.read("L-002", 2, "holding", 0, 2)
        bus.close()
        # one request at a time: the poll's second read waits for the first's reply
        single = await _connected(port, max_in_flight=1)
        again = await ModbusDevice("L-001", single, 1, load_profile("streetlight-generic")).read()
        single.close()
        task.cancel()
        return site, values, raw, again
    site, values, raw, again = asyncio.run(main())
    assert again["switch"] == 1 and again["rated_power"] == values["rated_power"]
    assert site.requests[(1, 3)] == 2 and site.requests[(1, 4)] == 2
    assert values["switch"] == 1 and values["dim"] == 100
    assert values["rated_power"] in (60, 90, 120, 150)
    assert isinstance(values["energy"], int) and isinstance(values["voltage"], float)
    assert list(values) == [p.name for p in load_profile("streetlight-generic").points]
    assert raw == [1, 100]


def test_writes_use_functions_6_and_16_and_are_verified():
    async def main():
        port = free_port()
        site, task = await _site(1, port)
        bus = await _connected(port)
        device = ModbusDevice("L-001", bus, 1, load_profile("streetlight-generic"))
        dim = await device.write("dim", 40)
        await bus.write("L-001", 1, 0, [0, 70])
        back = await bus.read("L-001", 1, "holding", 0, 2)
        bus.close()
        task.cancel()
        return site, dim, back
    site, dim, back = asyncio.run(main())
    assert dim == 40 and back == [0, 70]
    # (the simulator counts its access action, which pymodbus runs more than once per write)
    assert site.requests[(1, 6)] and site.requests[(1, 16)]


def test_exception_responses_become_device_errors():
    async def main():
        port = free_port()
        site, task = await _site(1, port)
        bus = await _connected(port)
        errors = {}
        for name, call in (("absent unit", bus.read("X", 77, "input", 0, 2)),
                           ("bad address", bus.read("L-001", 1, "input", 500, 2))):
            try:
                await call
            except DeviceError as exc:
                errors[name] = exc
        bus.close()
        task.cancel()
        return errors
    errors = asyncio.run(main())
    assert isinstance(errors["absent unit"], NoReply)           # gateway exception 0x0B
    assert "gateway reports no response" in str(errors["absent unit"])
    assert isinstance(errors["bad address"], IllegalAddress)


def test_rejected_range_is_split_through_the_device_and_remembered():
    calls = []

    async def action(fc, start, address, count, registers, set_values):
        calls.append((address, count))

    async def main():
        port = free_port()
        dev = holey_device(action)
        server = ModbusTcpServer([dev], address=("127.0.0.1", port),
                                 ignore_missing_devices=True)
        await server.serve_forever(background=True)
        bus = await _connected(port)
        device = ModbusDevice("X-1", bus, 1, HOLEY_PROFILE, max_gap=8)
        first = await device.read()
        after_first = len(calls)
        second = await device.read()
        bus.close()
        await server.shutdown()
        return first, second, after_first
    first, second, after_first = asyncio.run(main())
    assert first == second == {"a": 7, "b": 9, "c": 65538}
    assert len(calls) - after_first == 2


def test_a_dead_unit_times_out_without_holding_up_the_others():
    async def main():
        port = free_port()
        site, task = await _site(3, port)
        bus = await _connected(port, timeout_s=0.3)
        site.set_dead(2)
        finished = []

        async def poll(unit):
            try:
                await ModbusDevice(f"L-{unit}", bus, unit,
                                   load_profile("streetlight-generic")).read()
                finished.append((unit, "good"))
            except NoReply:
                finished.append((unit, "no reply"))
        await asyncio.wait_for(asyncio.gather(poll(2), poll(1), poll(3)), WAIT_S)
        site.set_dead(2, False)
        await poll(2)                    # answers again on the same connection
        bus.close()
        task.cancel()
        return finished, bus.counters.timeouts
    finished, timeouts = asyncio.run(main())
    # the live units complete while the dead one's requests are still outstanding
    assert finished == [(1, "good"), (3, "good"), (2, "no reply"), (2, "good")]
    assert timeouts == 2                 # its two pipelined reads


class ScriptedServer:
    """A Modbus TCP server of our own: collects requests, answers as the test says."""

    def __init__(self, answer):
        self.answer = answer             # async (requests so far, writer) -> None
        self.requests = []
        self.max_outstanding = 0
        self.server = None

    async def start(self, port: int) -> "ScriptedServer":
        self.server = await asyncio.start_server(self._client, "127.0.0.1", port)
        return self

    async def _client(self, reader, writer):
        try:
            while True:
                header = await reader.readexactly(7)
                tid, _, length, unit = struct.unpack(">HHHB", header)
                pdu = await reader.readexactly(length - 1)
                self.requests.append((tid, unit, pdu))
                await self.answer(self, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def close(self):
        self.server.close()
        await self.server.wait_closed()


def _read_reply(tid: int, unit: int, pdu: bytes) -> bytes:
    fc, address, count = struct.unpack(">BHH", pdu)
    # each register holds its own address + 1000: a reply matched wrongly shows at once
    body = struct.pack(f">BB{count}H", fc, 2 * count, *range(address + 1000,
                                                              address + 1000 + count))
    return struct.pack(">HHHB", tid, 0, len(body) + 1, unit) + body


def test_pipelined_replies_are_matched_by_transaction_id_even_out_of_order():
    async def reverse_in_fours(server, writer):
        if len(server.requests) % 4 == 0:     # four outstanding: answer them last-first
            for tid, unit, pdu in reversed(server.requests[-4:]):
                writer.write(_read_reply(tid, unit, pdu))
            await writer.drain()

    async def main():
        port = free_port()
        server = await ScriptedServer(reverse_in_fours).start(port)
        # one connection, four requests outstanding on it: true pipelining
        bus = await _connected(port, timeout_s=5.0, max_in_flight=4, connections=1)
        reads = [bus.read(f"D{i}", 1 + i % 3, "input", 10 * i, 2) for i in range(8)]
        results = await asyncio.wait_for(asyncio.gather(*reads), WAIT_S)
        bus.close()
        await server.close()
        return results, server.requests
    results, requests = asyncio.run(main())
    assert results == [[10 * i + 1000, 10 * i + 1001] for i in range(8)]
    assert len(requests) == 8 and len({tid for tid, _, _ in requests[:4]}) == 4


def test_a_corrupt_reply_is_a_counted_device_error_and_the_bus_reconnects():
    async def garbage_then_good(server, writer):
        tid, unit, pdu = server.requests[-1]
        if len(server.requests) == 1:
            writer.write(b"\xde\xad\xbe\xef" * 4)    # not an MBAP frame
        else:
            writer.write(_read_reply(tid, unit, pdu))
        await writer.drain()

    async def main():
        port = free_port()
        server = await ScriptedServer(garbage_then_good).start(port)
        bus = await _connected(port, timeout_s=5.0)
        with pytest.raises(DeviceError) as info:
            await asyncio.wait_for(bus.read("L-001", 1, "input", 0, 2), WAIT_S)
        errors = bus.counters.framing_errors
        for _ in range(100):             # the first reconnect waits out the back-off
            try:
                good = await bus.read("L-001", 1, "input", 0, 2)
                break
            except DeviceError:
                await asyncio.sleep(0.05)
        bus.close()
        await server.close()
        return str(info.value), errors, good
    message, errors, good = asyncio.run(main())
    assert "corrupt reply" in message and "L-001" in message
    assert errors == 1
    assert good == [1000, 1001]


def test_wrong_unit_and_short_replies_are_device_errors():
    async def misbehave(server, writer):
        tid, unit, pdu = server.requests[-1]
        if len(server.requests) == 1:             # answers as another unit
            writer.write(_read_reply(tid, unit + 1, pdu))
        else:                                     # one register short
            fc, _, count = struct.unpack(">BHH", pdu)
            body = struct.pack(f">BB{count - 1}H", fc, 2 * (count - 1), *range(count - 1))
            writer.write(struct.pack(">HHHB", tid, 0, len(body) + 1, unit) + body)
        await writer.drain()

    async def main():
        port = free_port()
        server = await ScriptedServer(misbehave).start(port)
        bus = await _connected(port, timeout_s=5.0)
        errors = []
        for _ in range(2):
            try:
                await asyncio.wait_for(bus.read("L-001", 1, "input", 0, 2), WAIT_S)
            except DeviceError as exc:
                errors.append(str(exc))
        bus.close()
        await server.close()
        return errors, bus.counters.mismatched
    errors, counted = asyncio.run(main())
    assert len(errors) == 2 and "reply from unit 2" in errors[0]
    assert "short reply" in errors[1]
    assert counted == 2


def test_reconnects_after_the_server_restarts():
    async def main():
        port = free_port()
        site, task = await _site(1, port)
        bus = await _connected(port)
        before = await bus.read("L-001", 1, "holding", 0, 2)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        failed = None
        for _ in range(100):             # until the bus notices the connection is gone
            try:
                await bus.read("L-001", 1, "holding", 0, 2)
                await asyncio.sleep(0.02)
            except DeviceError as exc:
                failed = exc
                break
        site2, task2 = await _site(1, port)
        after = None
        for _ in range(200):
            try:
                after = await bus.read("L-001", 1, "holding", 0, 2)
                break
            except DeviceError:
                await asyncio.sleep(0.05)
        bus.close()
        task2.cancel()
        return before, failed, after
    before, failed, after = asyncio.run(main())
    assert before == [1, 100] and failed is not None and after == [1, 100]


def test_unreachable_endpoint_is_a_device_error_naming_it():
    async def main():
        bus = ModbusTcpBus("lan", "127.0.0.1", free_port(), timeout_s=0.2)
        with pytest.raises(DeviceError) as info:
            await ModbusDevice("L-001", bus, 1, load_profile("streetlight-generic")).read()
        bus.close()
        return str(info.value)
    message = asyncio.run(main())
    assert "L-001" in message and "not connected" in message and "127.0.0.1" in message
