"""ModbusTcpBus against adversarial MBAP servers of our own.

One server answers out of order, late, with a wrong transaction id, as a wrong
unit and with a short reply; another accepts and closes at once. Every register
holds unit * 1000 + address, so a reply matched to the wrong request shows.
"""

import asyncio

import pytest
import logging
import random
import struct
import time

from agent.core.bus import BusScheduler, PollTarget
from drivers.errors import DeviceError
from drivers.modbus.tcp import ModbusTcpBus
from tests.support.broker import free_port

WAIT_S = 20.0          # cap on waits for events; never a timing assertion
# a good reply must come within this even on a loaded CI machine (one once took > 150 ms)
TIMEOUT_S = 0.3
KINDS = ("good",) * 5 + ("late", "wrong_tid", "wrong_unit", "short", "good")


def reply(tid: int, unit: int, fc: int, address: int, count: int, *, short=False) -> bytes:
    regs = [unit * 1000 + address + i for i in range(count)]
    if short:
        regs = regs[:-1]           # the byte count says count registers; one is missing
        body = struct.pack(f">BB{len(regs)}H", fc, 2 * count, *regs)
    else:
        body = struct.pack(f">BB{count}H", fc, 2 * count, *regs)
    return struct.pack(">HHHB", tid, 0, len(body) + 1, unit) + body


class Adversary:
    """Answers each batch of requests shuffled; each request gets a seeded misbehaviour."""

    def __init__(self, seed: int = 7):
        self.rng = random.Random(seed)
        self.done = {k: 0 for k in set(KINDS)}
        self.server = None
        self.held = []                          # late replies not yet written
        self.honest = False

    async def start(self, port: int) -> "Adversary":
        self.server = await asyncio.start_server(self._client, "127.0.0.1", port)
        return self

    async def _client(self, reader, writer):
        try:
            while True:
                batch = [await self._request(reader)]
                while len(reader._buffer) >= 12:           # what else is already here
                    batch.append(await self._request(reader))
                self.rng.shuffle(batch)                     # out of order
                for request in batch:
                    self._answer(writer, *request)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    @staticmethod
    async def _request(reader):
        tid, _, length, unit = struct.unpack(">HHHB", await reader.readexactly(7))
        fc, address, count = struct.unpack(">BHH", await reader.readexactly(length - 1))
        return tid, unit, fc, address, count

    def _answer(self, writer, tid, unit, fc, address, count):
        kind = "good" if self.honest else self.rng.choice(KINDS)
        self.done[kind] += 1
        if kind == "late":
            # held back until the test has seen this request time out (release_late), so a
            # late reply is late however slow the machine is
            self.held.append((writer, reply(tid, unit, fc, address, count)))
        elif kind == "wrong_tid":
            writer.write(reply(tid ^ 0x8000, unit, fc, address, count))
        elif kind == "wrong_unit":
            writer.write(reply(tid, unit + 1, fc, address, count))
        else:
            writer.write(reply(tid, unit, fc, address, count, short=kind == "short"))

    async def release_late(self):
        """Write the late replies held back: their requests have timed out by now."""
        held, self.held = self.held, []
        for writer, frame in held:
            writer.write(frame)
            await writer.drain()

    async def close(self):
        self.server.close()
        await self.server.wait_closed()


def test_adversarial_replies_are_counted_and_never_become_values():
    async def main():
        port = free_port()
        server = await Adversary().start(port)
        # one connection, four requests outstanding on it: replies may come in any order
        bus = ModbusTcpBus("lan", "127.0.0.1", port, timeout_s=TIMEOUT_S, max_in_flight=4,
                           connections=1)
        assert await bus.connect(), "the adversarial server did not accept"
        good, wrong, failed = 0, [], 0

        async def one(i):
            nonlocal good, failed
            unit, address = 1 + i % 3, 10 * (i % 7)
            try:
                regs = await bus.read(f"D{unit}", unit, "holding", address, 4)
            except DeviceError:
                failed += 1
                return
            good += 1
            if regs != [unit * 1000 + address + k for k in range(4)]:
                wrong.append((unit, address, regs))
        for start in range(0, 240, 4):
            await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(start, start + 4))),
                                   WAIT_S)
            await server.release_late()
        # one honest reply behind the last late ones on the same stream: once it is read,
        # so are they
        server.honest = True
        await one(0)
        bus.close()
        await server.close()
        return good, wrong, failed, bus.counters, server.done
    good, wrong, failed, counters, done = asyncio.run(main())
    assert wrong == []
    seen = f"server sent {done}; client got {good} good, {failed} failed; {vars(counters)}"
    assert good == done["good"] and failed == sum(done.values()) - done["good"], seen
    assert min(done.values()) >= 10, done
    assert counters.timeouts == done["late"] + done["wrong_tid"], seen
    assert sum(counters.late_replies.values()) == done["late"], seen
    assert counters.mismatched == done["wrong_tid"] + done["wrong_unit"] + done["short"], seen


class AcceptAndClose:
    """Accepts a connection and closes it at once; notes when each attempt came."""

    def __init__(self, enough: int):
        self.attempts = []
        self.enough = enough
        self.seen_enough = asyncio.Event()

    async def start(self, port: int):
        self.server = await asyncio.start_server(self._client, "127.0.0.1", port)

    async def _client(self, reader, writer):
        self.attempts.append(time.monotonic())
        writer.transport.abort()
        if len(self.attempts) >= self.enough:
            self.seen_enough.set()


def _polled(bus, sink=lambda reading: None):
    """A BusScheduler polling D1 every 10 ms: it keeps knocking, as the agent would."""
    target = PollTarget("D1", 0.01, lambda: bus.read("D1", 1, "holding", 0, 2))
    scheduler = BusScheduler("lan", [target], sink, time.monotonic,
                             lambda: int(time.time() * 1000), retries=0, backoff_max=0.01)
    return target, asyncio.create_task(scheduler.run_loop(), name="bus.lan.poll")


class Readings:
    """A sink that wakes the test when a reading matching its wish arrives."""

    def __init__(self):
        self.seen = []
        self.wish = None
        self.granted = asyncio.Event()

    def __call__(self, reading):
        self.seen.append(reading)
        if self.wish is not None and self.wish(self.seen):
            self.granted.set()

    async def until(self, wish):
        self.wish = wish
        self.granted.clear()
        if not wish(self.seen):
            await asyncio.wait_for(self.granted.wait(), WAIT_S)


async def _stop(task, bus):
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    bus.close()


def _knocking(peer) -> tuple[list, int, object]:
    """Poll a bus against peer (a misbehaving server) until it saw enough connection attempts;
    (gaps between attempts, polls made, the bus's counters)."""
    async def main():
        port = free_port()
        await peer.start(port)
        bus = ModbusTcpBus("lan", "127.0.0.1", port, timeout_s=0.2,
                           reconnect_min_s=0.05, reconnect_max_s=0.4)
        target, task = _polled(bus)
        try:
            await asyncio.wait_for(peer.seen_enough.wait(), WAIT_S)
        finally:
            await _stop(task, bus)
        return target.polls, bus.counters
    polls, counters = asyncio.run(main())
    attempts = peer.attempts
    return [b - a for a, b in zip(attempts, attempts[1:])], polls, counters


def _bus_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno >= logging.WARNING and r.name == "drivers.modbus.tcp"]


def test_a_peer_that_accepts_and_closes_gets_backed_off_and_one_log_line(caplog):
    caplog.set_level(logging.INFO, logger="drivers.modbus.tcp")
    peer = AcceptAndClose(enough=8)
    gaps, polls, _ = _knocking(peer)
    assert polls > len(peer.attempts)    # polls in between fail fast, without a connect
    # doubling from 0.05 s (jittered by 0.5-1x) up to the 0.4 s cap
    assert min(gaps[-3:]) > 2 * gaps[0], gaps
    assert max(gaps) < 0.4 + 0.5, gaps   # capped (slack for a loaded machine)
    warnings = _bus_warnings(caplog)
    assert len(warnings) == 1, warnings  # one outage, seven reconnects
    assert "closed by peer" in warnings[0] and "127.0.0.1" in warnings[0]


def test_a_refused_endpoint_logs_once_and_says_when_it_answers_again(caplog):
    caplog.set_level(logging.INFO, logger="drivers.modbus.tcp")

    async def main():
        port = free_port()
        bus = ModbusTcpBus("lan", "127.0.0.1", port, timeout_s=0.2,
                           reconnect_min_s=0.02, reconnect_max_s=0.1)
        readings = Readings()
        target, task = _polled(bus, readings)
        server = Adversary()
        server.honest = True
        try:                             # refused, again and again
            await readings.until(lambda seen: len(seen) >= 20)
            await server.start(port)
            await readings.until(lambda seen: seen[-1]["quality"] == "good")
        finally:
            await _stop(task, bus)
            await server.close()
    asyncio.run(main())
    lines = [(r.levelno, r.getMessage()) for r in caplog.records
             if r.name == "drivers.modbus.tcp"]
    assert len(lines) == 2, lines
    assert lines[0][0] == logging.WARNING and "refused" in lines[0][1]
    assert lines[1][0] == logging.INFO and "answers again" in lines[1][1]


class Garbler(AcceptAndClose):
    """Answers every request with bytes that are no MBAP frame (protocol id 0x5555)."""

    async def _client(self, reader, writer):
        self.attempts.append(time.monotonic())
        if len(self.attempts) >= self.enough:
            self.seen_enough.set()
        try:
            while True:
                await reader.readexactly(12)
                writer.write(b"\x00\x01\x55\x55\x00\x05\x01\x03\x02\x00\x07")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass


def test_a_peer_that_garbles_every_stream_is_one_outage_backed_off(caplog):
    # before: a warning and an immediate reconnect per garbled reply - a log flood
    caplog.set_level(logging.INFO, logger="drivers.modbus.tcp")
    gaps, _, counters = _knocking(Garbler(enough=6))
    assert counters.framing_errors >= 5
    assert min(gaps[-2:]) > 2 * gaps[0], gaps            # backed off, doubling
    warnings = _bus_warnings(caplog)
    assert len(warnings) == 1 and "garbled" in warnings[0], warnings
