"""Modbus TCP bus: MBAP framing spoken directly, requests pipelined on one connection.

Why not pymodbus here (docs/benchmarks.md "Bus throughput (TCP)"): on the gateway
box a poll of a street-light controller (2 reads) cost ~380 µs of CPU through
pymodbus 3.16 - its transaction manager, a wait_for per request, PDU classes and a
lock serialising each client - which at 500 controllers a second is most of the
agent's CPU budget. The protocol itself is a 7-byte header and a few fixed PDUs;
this module packs and unpacks them with struct, keeps up to `max_in_flight`
requests outstanding, matches replies by transaction id (so they may come back
in any order), and times each request out with one loop timer (call_later)
instead of a wait_for.

Where the requests go: `connections` sockets, each with up to
ceil(max_in_flight / connections) requests outstanding. The default is one
request per connection, because many servers - pymodbus's own, hence our
simulator - serve one request per connection at a time and lose a second one
arriving before the first is answered. A gateway known to pipeline can be given
connections=1 and all requests share one socket. RTU, the simulator and the scan keep
using pymodbus (drivers/modbus/bus.py).

Every failure - timeout, exception response, short/corrupt reply, wrong unit or
function, connection loss - becomes a DeviceError subclass, as in drivers/modbus/bus.py.
"""

import asyncio
import logging
import struct
import time

from drivers.errors import DeviceError, IllegalAddress, NoReply
from drivers.modbus.line import GATEWAY_CODES, ILLEGAL_DATA_ADDRESS, LineCounters

log = logging.getLogger(__name__)

READ_FC = {"holding": 3, "input": 4}
MBAP = struct.Struct(">HHHB")                   # transaction id, protocol 0, length, unit
READ_REQUEST = struct.Struct(">HHHBBHH")        # MBAP + function, address, count
MAX_ADU = 260                                   # Modbus TCP: 7-byte MBAP + PDU <= 253
RECONNECT_MIN_S = 0.2
RECONNECT_MAX_S = 5.0


class _Request:
    """One outstanding request: what it asked, who waits, its timer and its connection."""

    __slots__ = ("unit", "fc", "count", "future", "timer", "operation", "device", "link")

    def __init__(self, unit, fc, count, future, device, operation, link):
        self.unit = unit
        self.fc = fc
        self.count = count
        self.future = future
        self.device = device
        self.operation = operation
        self.link = link
        self.timer = None


class _Link(asyncio.Protocol):
    """One connection: hands complete ADUs to the bus, reports loss; reconnect back-off."""

    def __init__(self, bus: "ModbusTcpBus"):
        self.bus = bus
        self.buffer = bytearray()
        self.transport = None
        self.up = False
        self.connecting = False
        self.outstanding = 0
        self.retry_at = 0.0
        self.retry_s = RECONNECT_MIN_S

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.buffer.clear()

    def data_received(self, data: bytes) -> None:
        buf = self.buffer
        buf += data
        bus = self.bus
        while len(buf) >= 8:
            tid, protocol, length, unit = MBAP.unpack_from(buf)
            if protocol != 0 or not 2 <= length <= MAX_ADU - 6:
                # a TCP stream out of step cannot be resynchronised: start a new one
                bus._corrupt(self, f"corrupt reply (protocol id {protocol}, length {length})")
                return
            end = 6 + length
            if len(buf) < end:
                return
            pdu = bytes(buf[7:end])
            del buf[:end]
            bus._reply(tid, unit, pdu)

    def connection_lost(self, exc) -> None:
        if self.up:
            self.bus._lost(self, exc)


class ModbusTcpBus:
    """One Modbus TCP endpoint: up to max_in_flight requests over `connections` sockets."""

    def __init__(self, name: str, host: str, port: int | str = 502, *, timeout_s: float = 0.5,
                 max_in_flight: int = 1, connections: int | None = None):
        self.name = name
        self.kind = "modbus-tcp"
        self.host = host
        self.port = int(port)
        self.endpoint = f"{host}:{port}"
        self.timeout_s = timeout_s
        self.max_in_flight = max(1, max_in_flight)
        n = min(connections or self.max_in_flight, self.max_in_flight)
        self.depth = -(-self.max_in_flight // n)    # requests outstanding per connection
        self.counters = LineCounters()
        self.late_replies = 0             # replies to requests that had already timed out
        self._links = [_Link(self) for _ in range(n)]
        self._pending: dict[int, _Request] = {}
        self._tid = 0
        self._slot_waiters: list = []     # futures of callers waiting for a free slot
        self._unreachable = False         # logged once per outage, not per attempt
        self._read_formats: dict[int, struct.Struct] = {}

    @property
    def connected(self) -> bool:
        """True while at least one connection is up."""
        return any(link.up for link in self._links)

    # -- connections ----------------------------------------------------------------
    async def connect(self) -> bool:
        """Open every connection; False (logged) when the endpoint is not there (yet)."""
        results = await asyncio.gather(*(self._open(link) for link in self._links
                                         if not link.up and not link.connecting))
        return self.connected or any(results)

    async def _open(self, link: _Link) -> bool:
        link.connecting = True
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(loop.create_connection(lambda: link, self.host, self.port),
                                   self.timeout_s * 4 + 1)
        except (asyncio.TimeoutError, OSError) as exc:
            link.retry_at = time.monotonic() + link.retry_s
            link.retry_s = min(link.retry_s * 2, RECONNECT_MAX_S)
            if link is self._links[0] and not self._unreachable:   # once per outage
                self._unreachable = True
                log.warning("bus %s: cannot connect to %s: %s (retrying with back-off)",
                            self.name, self.endpoint, exc or type(exc).__name__)
            return False
        finally:
            link.connecting = False
            self._wake_one()       # whoever waited on this attempt re-checks, up or not
        if self._unreachable:
            log.info("bus %s: %s reachable again", self.name, self.endpoint)
            self._unreachable = False
        link.up = True
        link.retry_s = RECONNECT_MIN_S
        return True

    def close(self) -> None:
        """Close every connection; outstanding requests fail."""
        for link in self._links:
            if link.up:
                link.up = False
                link.transport.close()
        self._fail(None, "bus closed")

    async def _link(self, device: str, operation: str) -> _Link:
        """A connection with room for one more request (connecting one if due)."""
        while True:
            link = self._free_link()
            if link is not None:
                return link
            now = time.monotonic()
            # back-off per connection: a missing endpoint must not cost every poll a connect
            due = [link for link in self._links
                   if not link.up and not link.connecting and now >= link.retry_at]
            if due and await self._open(due[0]):
                continue
            if not self.connected and not any(link.connecting for link in self._links):
                raise DeviceError(device, operation, f"bus {self.name} ({self.endpoint}) is "
                                  "not connected; check the network / address and that the "
                                  "device or gateway is powered")
            waiter = asyncio.get_running_loop().create_future()
            self._slot_waiters.append(waiter)
            try:
                await asyncio.wait_for(waiter, self.timeout_s * 4 + 1)
            except asyncio.TimeoutError:
                raise DeviceError(device, operation, f"no free connection to {self.endpoint} "
                                  f"within {self.timeout_s * 4 + 1:g} s") from None

    # -- requests -----------------------------------------------------------------
    async def read(self, device: str, unit: int, table: str, address: int,
                   count: int) -> list[int]:
        """Read count registers of a table; DeviceError on any failure."""
        data = (await self.read_blocks(device, unit, ((table, address, count),)))[0]
        return list(self._read_format(count).unpack(data))

    async def read_blocks(self, device: str, unit: int, blocks) -> list[bytes]:
        """Read (table, address, count) blocks of one unit, all outstanding at once.

        Returns each block's register bytes (big-endian, as on the wire). Requests that
        share a connection go out in one write. Every block's outcome is awaited; the
        first failure (in block order) is raised.
        """
        futures = []
        sends: dict = {}
        for table, address, count in blocks:
            operation = f"read {table} {address}+{count}"
            try:
                link = self._free_link()
                if link is None:         # send what is queued before waiting for room
                    self._send(sends)
                    link = await self._link(device, operation)
            except DeviceError:
                if not futures:
                    raise
                break                    # send what has a connection; the rest fails below
            fc = READ_FC[table]
            tid, future = self._register(link, unit, fc, count, device, operation)
            sends.setdefault(link, []).append(READ_REQUEST.pack(tid, 0, 6, unit, fc,
                                                                address, count))
            futures.append(future)
        self._send(sends)
        results = []
        error = None
        for future in futures:
            try:
                results.append(await future)
            except DeviceError as exc:
                error = error or exc
        if error is not None:
            raise error
        if len(results) < len(blocks):
            raise DeviceError(device, "read", f"bus {self.name} ({self.endpoint}) lost "
                              "its connection")
        return results

    async def write(self, device: str, unit: int, address: int, values: list[int]) -> None:
        """Write holding registers (function 6 for one, 16 for several)."""
        operation = f"write holding {address}"
        link = await self._link(device, operation)
        if len(values) == 1:
            fc, count = 6, 1
            tid, future = self._register(link, unit, fc, 0, device, operation)
            frame = READ_REQUEST.pack(tid, 0, 6, unit, fc, address, values[0] & 0xFFFF)
        else:
            fc, count = 16, len(values)
            tid, future = self._register(link, unit, fc, 0, device, operation)
            frame = struct.pack(f">HHHBBHHB{count}H", tid, 0, 7 + 2 * count, unit, fc, address,
                                count, 2 * count, *values)
        link.transport.write(frame)
        echo = await future
        expected = struct.pack(">HH", address, values[0] & 0xFFFF if fc == 6 else count)
        if echo != expected:
            raise DeviceError(device, operation, "write reply does not echo the request")

    def _free_link(self) -> "_Link | None":
        for link in self._links:
            if link.up and link.outstanding < self.depth:
                return link
        return None

    @staticmethod
    def _send(sends: dict) -> None:
        """Write the queued frames, one write per connection; empties sends."""
        for link, frames in sends.items():
            if link.up:                  # else its requests fail with the connection
                link.transport.write(frames[0] if len(frames) == 1 else b"".join(frames))
        sends.clear()

    def _read_format(self, count: int) -> struct.Struct:
        fmt = self._read_formats.get(count)
        if fmt is None:
            fmt = self._read_formats[count] = struct.Struct(f">{count}H")
        return fmt

    def _register(self, link, unit, fc, count, device, operation):
        tid = self._tid
        while True:
            tid = (tid + 1) & 0xFFFF
            if tid not in self._pending:
                break
        self._tid = tid
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        request = _Request(unit, fc, count, future, device, operation, link)
        request.timer = loop.call_later(self.timeout_s, self._timeout, tid)
        self._pending[tid] = request
        link.outstanding += 1
        return tid, future

    def _finish(self, tid: int) -> "_Request | None":
        request = self._pending.pop(tid, None)
        if request is not None:
            request.timer.cancel()
            request.link.outstanding -= 1
            self._wake_one()
        return request

    def _wake_one(self) -> None:
        waiters = self._slot_waiters
        while waiters:
            waiter = waiters.pop(0)
            if not waiter.done():        # skip callers cancelled while they waited
                waiter.set_result(None)
                return

    # -- called by the protocol and the timers ----------------------------------------
    def _reply(self, tid: int, unit: int, pdu: bytes) -> None:
        request = self._finish(tid)
        if request is None:
            self.late_replies += 1
            return
        future = request.future
        if future.done():               # the caller was cancelled
            return
        fc = pdu[0]
        if unit != request.unit or (fc & 0x7F) != request.fc:
            self.counters.framing_errors += 1
            future.set_exception(DeviceError(
                request.device, request.operation,
                f"reply from unit {unit} function {fc} to a request to unit {request.unit} "
                f"function {request.fc}"))
            return
        if fc & 0x80:
            future.set_exception(self._exception(request, pdu[1] if len(pdu) > 1 else None))
            return
        if request.count:               # a read: byte count, then the registers
            if len(pdu) < 2 or pdu[1] != 2 * request.count or len(pdu) != 2 + pdu[1]:
                self.counters.framing_errors += 1
                future.set_exception(DeviceError(
                    request.device, request.operation,
                    f"short reply: {max(0, len(pdu) - 2) // 2} registers"))
                return
            future.set_result(pdu[2:])
            return
        if len(pdu) != 5:               # a write echoes address and value/count
            self.counters.framing_errors += 1
            future.set_exception(DeviceError(request.device, request.operation,
                                             f"write reply of {len(pdu)} bytes"))
            return
        future.set_result(pdu[1:])

    @staticmethod
    def _exception(request: _Request, code) -> DeviceError:
        if code == ILLEGAL_DATA_ADDRESS:
            return IllegalAddress(request.device, request.operation,
                                  "illegal data address (exception 2)")
        if code in GATEWAY_CODES:
            return NoReply(request.device, request.operation,
                           f"gateway reports no response (exception {code})")
        return DeviceError(request.device, request.operation,
                           f"device returned Modbus exception {code}")

    def _timeout(self, tid: int) -> None:
        request = self._finish(tid)
        if request is None:
            return
        self.counters.timeouts += 1
        if not request.future.done():
            request.future.set_exception(NoReply(request.device, request.operation,
                                                 f"no reply within {self.timeout_s:g} s"))

    def _corrupt(self, link: _Link, detail: str) -> None:
        self.counters.framing_errors += 1
        log.warning("bus %s: %s from %s; reconnecting", self.name, detail, self.endpoint)
        link.up = False
        link.buffer.clear()
        link.transport.abort()
        self._fail(link, detail)

    def _lost(self, link: _Link, exc) -> None:
        link.up = False
        log.warning("bus %s: connection to %s lost%s", self.name, self.endpoint,
                    f": {exc}" if exc else "")
        self._fail(link, "connection lost" + (f": {exc}" if exc else ""))

    def _fail(self, link, detail: str) -> None:
        """Fail the requests outstanding on link (None: on every link)."""
        for tid, request in list(self._pending.items()):
            if link is not None and request.link is not link:
                continue
            self._finish(tid)
            if not request.future.done():
                request.future.set_exception(DeviceError(
                    request.device, request.operation,
                    f"bus {self.name} ({self.endpoint}): {detail}"))
        while self._slot_waiters:       # let waiters look for another connection
            self._wake_one()
