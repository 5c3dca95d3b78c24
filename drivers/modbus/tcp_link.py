"""One Modbus TCP connection of drivers/modbus/tcp.py: its requests, ids and back-off.

A fresh protocol object per socket (`Link.protocol()`): a closed socket's late
callbacks (its data, its connection_lost) can never be taken for the new one's.
"""

import asyncio

from drivers.errors import DeviceError, FrameError, IllegalAddress, NoReply
from drivers.modbus.line import GATEWAY_CODES, ILLEGAL_DATA_ADDRESS
from drivers.modbus.mbap import take_frames

RECONNECT_MIN_S = 0.2
RECONNECT_MAX_S = 5.0


class Request:
    """One outstanding request: what it asked, who waits, its timer."""

    __slots__ = ("unit", "fc", "count", "future", "timer", "operation", "device")

    def __init__(self, unit, fc, count, future, device, operation):
        self.unit, self.fc, self.count = unit, fc, count
        self.future, self.device, self.operation = future, device, operation
        self.timer = None


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
