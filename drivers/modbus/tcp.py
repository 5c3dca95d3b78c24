"""Modbus TCP bus: our MBAP client, requests pipelined, every reply checked.

Why not pymodbus: a poll cost ~380 µs of CPU through pymodbus 3.16 (docs/benchmarks.md);
the protocol is a 7-byte header and a few fixed PDUs (mbap.py packs and checks them).

Where the requests go: `connections` sockets, each with up to
ceil(max_in_flight / connections) requests outstanding (default: one request per
connection, because many servers - pymodbus's own, hence our simulator - serve one
at a time). What is believed:

- transaction ids are per connection, and a reply is matched only to a request of
  the connection it came on; a timed-out id is quarantined (a reply to it is a
  counted late reply) until the connection closes or the ids wrap 2^16 later;
- unit, function code (or exception), byte count and length must be those asked
  (mbap.check_reply); a mismatch is a counted line error, never a value;
- on a one-request connection a timeout closes the socket (such servers drop it);
- a lost, refused or garbled connection is retried with capped, jittered back-off;
  an outage is logged once, with its cause, until a checked reply arrives again.
"""

import asyncio
import logging
import random
import struct
import time

from drivers.errors import DeviceError, FrameError, NoReply
from drivers.modbus.line import LineCounters
from drivers.modbus.mbap import check_reply, read_request, write_echo, write_request
from drivers.modbus.tcp_link import (RECONNECT_MAX_S, RECONNECT_MIN_S, Deadlines, Link,
                                     Request, cause, refusal, wait_slot)

log = logging.getLogger(__name__)

READ_FC = {"holding": 3, "input": 4}


class ModbusTcpBus:
    """One Modbus TCP endpoint: up to max_in_flight requests over `connections` sockets."""

    def __init__(self, name: str, host: str, port: int | str = 502, *, timeout_s: float = 0.5,
                 max_in_flight: int = 1, connections: int | None = None,
                 reconnect_min_s: float = RECONNECT_MIN_S,
                 reconnect_max_s: float = RECONNECT_MAX_S):
        self.name = name
        self.kind = "modbus-tcp"
        self.host, self.port = host, int(port)
        self.endpoint = f"{host}:{port}"
        self.timeout_s = timeout_s
        self.max_in_flight = max(1, max_in_flight)
        self.reconnect_min_s, self.reconnect_max_s = reconnect_min_s, reconnect_max_s
        n = min(connections or self.max_in_flight, self.max_in_flight)
        self.depth = -(-self.max_in_flight // n)    # requests outstanding per connection
        self.counters = LineCounters()
        self._links = [Link(self) for _ in range(n)]
        self._slot_waiters: list = []     # futures of callers waiting for a free slot
        self._outage = None               # (cause, since) while the endpoint fails
        self._formats: dict[int, struct.Struct] = {}
        self._deadlines = Deadlines(timeout_s, self._timeout)
        self._loop = None                 # of the last connect: no getpid (3.11) per request

    @property
    def connected(self) -> bool:
        """True while at least one connection is up."""
        return any(link.up for link in self._links)

    async def connect(self) -> bool:
        """Open every connection; False (logged) when the endpoint is not there (yet)."""
        results = await asyncio.gather(*(self._open(link) for link in self._links
                                         if not link.up and not link.connecting))
        return self.connected or any(results)

    async def _open(self, link: Link) -> bool:
        link.connecting = True
        loop = self._loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(loop.create_connection(link.protocol, self.host, self.port),
                                   self.timeout_s * 4 + 1)
        except (asyncio.TimeoutError, OSError) as exc:
            self._back_off(link, grow=True)
            self._outage_begins(cause(exc), "cannot connect to")
            return False
        finally:
            link.connecting = False
            self._wake_one()       # whoever waited on this attempt re-checks, up or not
        link.up = True
        return True

    def _back_off(self, link: Link, grow: bool) -> None:
        """Next attempt after the link's delay, jittered; the delay doubles up to the cap."""
        link.retry_at = time.monotonic() + link.retry_s * random.uniform(0.5, 1.0)
        if grow:
            link.retry_s = min(link.retry_s * 2, self.reconnect_max_s)

    def _outage_begins(self, cause: str, what: str) -> None:
        if self._outage is None:         # one line per outage, not per attempt
            self._outage = (cause, time.monotonic())
            log.warning("bus %s: %s %s: %s (retrying with back-off up to %g s)", self.name,
                        what, self.endpoint, cause, self.reconnect_max_s)

    def _answered(self, link: Link) -> None:
        link.answered = True
        link.retry_s = self.reconnect_min_s
        if self._outage is not None:
            why, since = self._outage
            self._outage = None
            log.info("bus %s: %s answers again after %.1f s (%s)", self.name, self.endpoint,
                     time.monotonic() - since, why)

    def close(self) -> None:
        """Close every connection; outstanding requests fail."""
        for link in self._links:
            if link.up:
                link.up = False
                link.transport.close()
            self._fail(link, "bus closed")

    async def _link(self, device: str, operation: str) -> Link:
        """A connection with room for one more request (connecting one if due)."""
        while True:
            link = self._free_link()
            if link is not None:
                return link
            now = time.monotonic()
            due = [link for link in self._links
                   if not link.up and not link.connecting and now >= link.retry_at]
            if due and await self._open(due[0]):
                continue
            if not self.connected and not any(link.connecting for link in self._links):
                why = f" ({self._outage[0]})" if self._outage else ""
                raise DeviceError(device, operation, f"bus {self.name} ({self.endpoint}) is "
                                  f"not connected{why}; check the network / address and "
                                  "that the device or gateway is powered")
            if not await wait_slot(self._loop or asyncio.get_running_loop(), self._slot_waiters,
                                   self.timeout_s * 4 + 1):
                raise DeviceError(device, operation, f"no free connection to {self.endpoint} "
                                  f"within {self.timeout_s * 4 + 1:g} s")

    async def read(self, device: str, unit: int, table: str, address: int,
                   count: int) -> list[int]:
        """Read count registers of a table; DeviceError on any failure."""
        data = (await self.read_blocks(device, unit, ((table, address, count),)))[0]
        fmt = self._formats.get(count) or self._formats.setdefault(
            count, struct.Struct(f">{count}H"))
        return list(fmt.unpack(data))

    async def read_blocks(self, device: str, unit: int, blocks) -> list[bytes]:
        """Read (table, address, count) blocks of one unit, all outstanding at once.

        Returns each block's register bytes (big-endian, as on the wire). Requests that
        share a connection go out in one write; the first failure (in block order) is raised.
        """
        futures, sends = [], {}
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
            sends.setdefault(link, []).append(read_request(tid, unit, fc, address, count))
            futures.append(future)
        self._send(sends)
        results, error = [], None
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
        fc = 6 if len(values) == 1 else 16
        tid, future = self._register(link, unit, fc, 0, device, operation)
        link.transport.write(write_request(tid, unit, address, values))
        if await future != write_echo(address, values):
            self.counters.mismatched += 1
            raise DeviceError(device, operation, "write reply does not echo the request")

    def _free_link(self) -> "Link | None":
        for link in self._links:
            if link.up and len(link.pending) < self.depth:
                return link
        return None

    @staticmethod
    def _send(sends: dict) -> None:
        """Write the queued frames, one write per connection; empties sends."""
        for link, frames in sends.items():
            if link.up:                  # else its requests fail with the connection
                link.transport.write(frames[0] if len(frames) == 1 else b"".join(frames))
        sends.clear()

    def _register(self, link, unit, fc, count, device, operation):
        tid = link.next_tid()
        loop = self._loop or asyncio.get_running_loop()
        request = Request(unit, fc, count, loop.create_future(), device, operation)
        link.pending[tid] = request
        self._deadlines.add(loop, link, tid, request)
        return tid, request.future

    def _finish(self, link: Link, tid: int) -> "Request | None":
        request = link.pending.pop(tid, None)
        if request is not None:
            self._wake_one()
        return request

    def _wake_one(self) -> None:
        waiters = self._slot_waiters
        while waiters:
            waiter = waiters.pop(0)
            if not waiter.done():        # skip callers cancelled while they waited
                waiter.set_result(None)
                return

    def _reply(self, link: Link, tid: int, unit: int, pdu: bytes) -> None:
        request = self._finish(link, tid)
        if request is None:
            if tid in link.quarantine:   # the answer to a request that timed out
                self.counters.late(link.quarantine[tid])
            else:                        # no request of this connection has that id
                self.counters.mismatched += 1
            return
        try:
            code, data = check_reply(request.unit, request.fc, request.count, unit, pdu)
        except FrameError as exc:
            self.counters.mismatched += 1
            if not request.future.done():
                request.future.set_exception(DeviceError(request.device, request.operation,
                                                         exc.detail))
            return
        self._answered(link)             # only a checked reply ends an outage
        if request.future.done():        # the caller was cancelled
            return
        if code is None:
            request.future.set_result(data)
        else:
            request.future.set_exception(refusal(request, code))

    def _timeout(self, link: Link, tid: int) -> None:
        request = self._finish(link, tid)
        if request is None:
            return
        self.counters.timeouts += 1
        link.quarantine[tid] = request.device
        if not request.future.done():
            request.future.set_exception(NoReply(request.device, request.operation,
                                                 f"no reply within {self.timeout_s:g} s"))
        if self.depth == 1 and link.up:  # a one-request server dropped it: start afresh
            link.up = False
            link.transport.abort()
            link.retry_at = 0.0
            self._fail(link, "closed after a timeout")

    def _corrupt(self, link: Link, detail: str) -> None:
        self.counters.framing_errors += 1
        self._back_off(link, grow=True)  # an outage like a refusal: one line, backed off
        self._outage_begins(detail, "garbled stream (reconnecting) from")
        link.up = False
        link.buffer.clear()
        link.transport.abort()
        self._fail(link, detail)

    def _lost(self, link: Link, exc) -> None:
        link.up = False
        why = cause(exc)
        # a connection that never answered (accept-and-close) backs off like a refusal
        self._back_off(link, grow=not link.answered)
        self._outage_begins(why, "connection lost to")
        self._fail(link, "connection lost (" + why + ")")

    def _fail(self, link: Link, detail: str) -> None:
        """Fail the requests outstanding on link."""
        for tid, request in list(link.pending.items()):
            self._finish(link, tid)
            if not request.future.done():
                request.future.set_exception(DeviceError(
                    request.device, request.operation,
                    f"bus {self.name} ({self.endpoint}): {detail}"))
        while self._slot_waiters:       # let waiters look for another connection
            self._wake_one()
