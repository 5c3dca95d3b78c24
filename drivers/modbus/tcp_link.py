"""One Modbus TCP connection of drivers/modbus/tcp.py: its requests, ids and back-off.

A fresh protocol object per socket (`Link.protocol()`): a closed socket's late
callbacks (its data, its connection_lost) can never be taken for the new one's.
"""

import asyncio
from collections import deque

from drivers.errors import DeviceError, FrameError, IllegalAddress, NoReply
from drivers.modbus.line import GATEWAY_CODES, ILLEGAL_DATA_ADDRESS
from drivers.modbus.mbap import take_frames

RECONNECT_MIN_S = 0.2
RECONNECT_MAX_S = 5.0


class Request:
    """One outstanding request: what it asked, who waits."""

    __slots__ = ("unit", "fc", "count", "future", "operation", "device")

    def __init__(self, unit, fc, count, future, device, operation):
        self.unit, self.fc, self.count = unit, fc, count
        self.future, self.device, self.operation = future, device, operation


class Deadlines:
    """Every request's timeout on one timer of the bus, not a timer each (uvloop's call_later
    and cancel per request were the poll path's costliest C calls, issue 24). A bus has one
    timeout, so requests expire in the order they were sent: a FIFO of (deadline, link, tid,
    request). Answered ones stay until their deadline passes and are skipped. The timer
    sweeps at most every `grain` s: a request times out between timeout_s and timeout_s + grain
    after it was sent."""

    def __init__(self, timeout_s: float, expire):
        self.timeout_s = timeout_s
        self.grain = min(0.05, timeout_s / 10)
        self.expire = expire                    # expire(link, tid): it had no reply in time
        self._queue = deque()
        self._timer = None
        self._loop = None

    def add(self, loop, link, tid, request) -> None:
        """Time request out unless it is answered within timeout_s."""
        deadline = loop.time() + self.timeout_s
        self._queue.append((deadline, link, tid, request))
        if self._loop is not loop:              # a bus used on a new loop: the old timer is gone
            self._loop, self._timer = loop, None
        if self._timer is None:
            self._timer = loop.call_at(deadline, self._sweep)

    def _sweep(self) -> None:
        self._timer = None
        now = self._loop.time()
        queue = self._queue
        while queue and queue[0][0] <= now:
            _, link, tid, request = queue.popleft()
            if link.pending.get(tid) is request:
                self.expire(link, tid)
        if queue and self._timer is None:       # expire may have sent (and armed) anew
            self._timer = self._loop.call_at(max(queue[0][0], now + self.grain), self._sweep)


class Link:
    """One connection slot: its own transaction ids, its requests, its back-off."""

    def __init__(self, bus):
        self.bus = bus                          # the ModbusTcpBus it belongs to
        self.current = None                     # the protocol of the open socket
        self.buffer = bytearray()
        self.transport = None
        self.up = False
        self.connecting = False
        self.pending: dict[int, Request] = {}
        self.quarantine: dict[int, str] = {}    # timed-out tid -> device
        self.tid = 0
        self.answered = False                   # a reply came on this connection
        self.retry_at = 0.0
        self.retry_s = bus.reconnect_min_s

    def next_tid(self) -> int:
        """A transaction id neither outstanding nor (until 2^16 later) quarantined."""
        tid = self.tid
        while True:
            tid = (tid + 1) & 0xFFFF
            if tid in self.pending:
                continue
            self.quarantine.pop(tid, None)      # 2^16 ids later: free again
            self.tid = tid
            return tid

    def protocol(self) -> "_Socket":
        """The protocol for a new socket of this link."""
        self.current = _Socket(self)
        return self.current


class _Socket(asyncio.Protocol):
    """One socket of a Link; ignored once the link has moved on to another socket."""

    def __init__(self, link: Link):
        self.link = link

    def connection_made(self, transport) -> None:
        link = self.link
        link.transport = transport
        link.buffer.clear()
        link.quarantine.clear()
        link.answered = False

    def data_received(self, data: bytes) -> None:
        link = self.link
        if link.current is not self:
            return
        link.buffer += data
        while link.up:
            try:
                frames = take_frames(link.buffer)
            except FrameError as exc:
                link.bus._corrupt(link, exc.detail)
                return
            if not frames:
                return
            for tid, unit, pdu in frames:
                link.bus._reply(link, tid, unit, pdu)

    def connection_lost(self, exc) -> None:
        if self.link.current is self and self.link.up:
            self.link.bus._lost(self.link, exc)


async def wait_slot(loop, waiters: list, timeout_s: float) -> bool:
    """Until the bus hands this caller a free slot (sets its future in waiters): True, or False
    after timeout_s. A timer, not wait_for: on 3.11 that is a getpid and a handful of objects a
    wait, and with two reads a poll and one request a connection, polls often wait here."""
    waiter = loop.create_future()
    waiters.append(waiter)
    timer = loop.call_later(timeout_s, _expire, waiter)
    try:
        await waiter
    except asyncio.TimeoutError:
        return False
    finally:
        timer.cancel()
    return True


def _expire(waiter) -> None:
    if not waiter.done():
        waiter.set_exception(asyncio.TimeoutError())


def cause(exc) -> str:
    """The operator's word for why a connection failed."""
    if exc is None:
        return "closed by peer"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, ConnectionResetError):
        return "reset"
    if isinstance(exc, asyncio.TimeoutError):
        return "timeout"
    return str(exc) or type(exc).__name__


def refusal(request: Request, code: int) -> DeviceError:
    """The DeviceError for a Modbus exception reply."""
    if code == ILLEGAL_DATA_ADDRESS:
        return IllegalAddress(request.device, request.operation,
                              "illegal data address (exception 2)")
    if code in GATEWAY_CODES:
        return NoReply(request.device, request.operation,
                       f"gateway reports no response (exception {code})")
    return DeviceError(request.device, request.operation,
                       f"device returned Modbus exception {code}")
