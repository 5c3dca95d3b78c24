"""Modbus RTU bus: our own transaction layer over a pyserial port, every reply checked.

Why not pymodbus's RTU client (3.16): it matches a reply by unit id only (not the
function code or the byte count), sends the next request straight after a
timeout, and drops its whole buffer on a bad CRC, so a late reply was taken as
the answer to the next request and one noise byte cost a reply. Here:

- a reply is believed only when unit, function code (or its exception), byte
  count and CRC all match the request (drivers/modbus/rtu_frame.py ReplyScanner),
  and the bytes in front of it are skipped one at a time and rescanned;
- before each request the input is drained and flushed: bytes that arrived before
  the request went out cannot be its reply;
- after a timeout the bus waits out a late-reply window (default: one more frame
  time at the line's baud rate, at least 20 ms) before the next request; a reply
  that lands in it is counted in `counters.late_replies[device]` and discarded;
- t3.5 of line silence before every request, timed in a worker thread (the loop's
  epoll timers round up to whole milliseconds, a quarter of t3.5 at 9600 baud).

The reply deadline runs from the write: timeout_s plus the time the request and a
full reply take on the line. Every failure is a DeviceError subclass.
"""

import asyncio
import logging
import os
import struct
import termios
import time
from concurrent.futures import ThreadPoolExecutor

from drivers.errors import DeviceError, IllegalAddress, NoReply
from drivers.modbus.line import ILLEGAL_DATA_ADDRESS, LineCounters, rtu_gap_s
from drivers.modbus.rtu_frame import ReplyScanner, read_request, write_echo, write_request
from drivers.serial.port import open_port

log = logging.getLogger(__name__)

READ_FC = {"holding": 3, "input": 4}
MIN_LATE_WINDOW_S = 0.020
READ_CHUNK = 4096


class ModbusRtuBus:
    """One RS-485 line: one transaction at a time, replies checked, late replies waited out."""

    def __init__(self, name: str, port: str, *, baudrate: int = 9600, parity: str = "N",
                 stopbits: int = 1, timeout_s: float = 0.5, inter_frame_s: float | None = None,
                 late_window_s: float | None = None):
        self.name = name
        self.kind = "modbus-rtu"
        self.endpoint = str(port)
        self.baudrate, self.parity, self.stopbits = baudrate, parity, stopbits
        self.timeout_s = timeout_s
        self.char_s = (1 + 8 + (0 if parity == "N" else 1) + stopbits) / baudrate
        self.inter_frame_s = (rtu_gap_s(baudrate, parity, stopbits) if inter_frame_s is None
                              else inter_frame_s)
        self.late_window_s = late_window_s      # None: per request, from its reply size
        self.counters = LineCounters()
        self._port = None
        self._fd = -1
        self._loop = None
        self._lock = asyncio.Lock()
        self._scanner: ReplyScanner | None = None
        self._done: asyncio.Future | None = None
        self._last_byte = 0.0
        self._gap_timer: ThreadPoolExecutor | None = None
        self._unreachable = ""          # why the port is not open; logged once per outage

    @property
    def connected(self) -> bool:
        """True while the port is open."""
        return self._port is not None

    @property
    def unreachable(self) -> str:
        """Why the port could not be opened ('' while it is open or not yet tried)."""
        return self._unreachable

    async def connect(self) -> bool:
        """Open the port; False (logged once per outage) when it cannot be opened."""
        if self._port is not None:
            return True
        # Linux pseudo-terminals refuse parity (EINVAL), so a pty (the simulator's wire) is
        # opened without it and the parity is marked where the wire reads it
        pty = _is_pty(self.endpoint)
        try:
            port = open_port(self.name, self.endpoint, self.baudrate,
                             "N" if pty else self.parity, self.stopbits)
            if pty:
                _mark_pty_parity(port, self.parity)
        except DeviceError as exc:
            if not self._unreachable:
                log.warning("bus %s: %s", self.name, exc.detail)
            self._unreachable = exc.detail
            return False
        if self._unreachable:
            log.info("bus %s: %s open again", self.name, self.endpoint)
        self._unreachable = ""
        self._port, self._fd = port, port.fileno()
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._fd, self._readable)
        return True

    def close(self) -> None:
        """Close the port; a transaction in progress fails."""
        self._drop("bus closed")
        if self._gap_timer is not None:
            self._gap_timer.shutdown(wait=False)
            self._gap_timer = None

    async def read(self, device: str, unit: int, table: str, address: int,
                   count: int) -> list[int]:
        """Read count registers of a table; DeviceError on any failure."""
        fc = READ_FC[table]
        pdu = await self._transact(device, f"read {table} {address}+{count}",
                                   read_request(unit, fc, address, count), unit, fc, 2 * count)
        return list(struct.unpack(f">{count}H", pdu[2:]))

    async def write(self, device: str, unit: int, address: int, values: list[int]) -> None:
        """Write holding registers (function 6 for one, 16 for several); checks the echo."""
        operation = f"write holding {address}"
        fc = 6 if len(values) == 1 else 16
        pdu = await self._transact(device, operation, write_request(unit, address, values),
                                   unit, fc, 4)
        if pdu[1:] != write_echo(address, values):
            self.counters.mismatched += 1
            raise DeviceError(device, operation, "write reply does not echo the request")

    async def _transact(self, device, operation, frame, unit, fc, data_size) -> bytes:
        async with self._lock:
            if self._port is None and not await self.connect():
                raise DeviceError(device, operation, f"bus {self.name}: {self._unreachable}")
            await self._line_silence()
            self._drain()                # what came before the request is not its reply
            scanner = ReplyScanner(unit, fc, data_size)
            done = asyncio.get_running_loop().create_future()
            self._scanner, self._done = scanner, done
            try:
                self._send(device, operation, frame)
                line_s = (len(frame) + scanner.length) * self.char_s
                try:
                    async with asyncio.timeout(self.timeout_s + line_s):   # not wait_for: gh-86296
                        pdu = await asyncio.shield(done)
                except TimeoutError:
                    await self._late_window(device, done, scanner)
                    raise NoReply(device, operation,
                                  f"no reply within {self.timeout_s:g} s") from None
            finally:
                self._scanner = self._done = None
                if not done.done():
                    done.cancel()        # nothing may set it later, unobserved
                self._account(scanner)
        if pdu[0] & 0x80:
            raise _exception(device, operation, pdu[1])
        return pdu

    async def _late_window(self, device, done, scanner) -> None:
        """After a timeout: wait for a late reply before the line is used again; count it."""
        self.counters.timeouts += 1
        window = self.late_window_s
        if window is None:
            window = max(MIN_LATE_WINDOW_S, scanner.length * self.char_s + self.inter_frame_s)
        try:
            async with asyncio.timeout(window):
                await asyncio.shield(done)
        except TimeoutError:
            return
        except DeviceError:
            return                      # the port went away meanwhile
        self.counters.late(device)

    def _send(self, device, operation, frame) -> None:
        try:
            self._port.write(frame)
        except OSError as exc:           # pyserial's SerialException is an OSError
            self._drop(f"write failed: {exc}")
            raise DeviceError(device, operation, f"bus {self.name}: cannot write to "
                              f"{self.endpoint}: {exc}") from exc
        # the request is on the line until its last byte is out
        self._last_byte = time.monotonic() + len(frame) * self.char_s

    def _readable(self) -> None:
        try:
            data = os.read(self._fd, READ_CHUNK)
        except BlockingIOError:
            return
        except OSError as exc:           # EIO: the USB adapter was unplugged
            self._drop(f"read failed: {exc}")
            return
        if not data:
            return
        self._last_byte = time.monotonic()
        scanner, done = self._scanner, self._done
        if scanner is None:
            self.counters.noise_bytes += len(data)   # nobody asked: nothing to believe
            return
        pdu = scanner.feed(data)
        if pdu is not None and not done.done():
            done.set_result(pdu)

    def _drain(self) -> None:
        """Read and discard what the line delivered since the last transaction."""
        while True:
            try:
                data = os.read(self._fd, READ_CHUNK)
            except OSError:
                break
            if not data:
                break
            self.counters.noise_bytes += len(data)
        try:
            self._port.reset_input_buffer()
        except OSError:                 # the port is going away; the next read tells
            pass

    def _account(self, scanner: ReplyScanner) -> None:
        c = self.counters
        c.crc_errors += scanner.crc_errors
        c.resyncs += scanner.resyncs
        c.mismatched += scanner.mismatched
        c.noise_bytes += scanner.noise_bytes + scanner.leftover()

    def _drop(self, why: str) -> None:
        """Close the port; fail the transaction waiting on it."""
        if self._port is None:
            return
        port, self._port = self._port, None
        if not self._loop.is_closed():
            self._loop.remove_reader(self._fd)
        try:
            port.close()
        except OSError:                 # already gone
            pass
        if why != "bus closed":
            log.warning("bus %s: %s closed: %s", self.name, self.endpoint, why)
            self._unreachable = why
        done = self._done
        if done is not None and not done.done():
            done.set_exception(DeviceError("bus " + self.name, "transaction", why))

    async def _line_silence(self) -> None:
        """Wait until the line has been silent for inter_frame_s since the last byte."""
        wait = self._last_byte + self.inter_frame_s - time.monotonic()
        if wait <= 0:
            return
        if self._gap_timer is None:
            self._gap_timer = ThreadPoolExecutor(1, thread_name_prefix=f"bus.{self.name}.gap")
        await asyncio.get_running_loop().run_in_executor(self._gap_timer, time.sleep, wait)


def _exception(device: str, operation: str, code: int) -> DeviceError:
    if code == ILLEGAL_DATA_ADDRESS:
        return IllegalAddress(device, operation, "illegal data address (exception 2)")
    return DeviceError(device, operation, f"device returned Modbus exception {code}")


def _is_pty(port: str) -> bool:
    return os.path.realpath(port).startswith("/dev/pts/")


def _mark_pty_parity(port, parity: str) -> None:
    """A pty clears PARENB but keeps the rest of its termios: the parity asked for is left as
    INPCK (parity checked on input) and PARODD, which the simulator's wire reads to answer only
    at its own framing, as a real bus would (drivers/sim/wire.py); DeviceError if refused."""
    try:
        attrs = termios.tcgetattr(port.fileno())
        attrs[0] = attrs[0] | termios.INPCK if parity != "N" else attrs[0] & ~termios.INPCK
        attrs[2] = attrs[2] | termios.PARODD if parity == "O" else attrs[2] & ~termios.PARODD
        termios.tcsetattr(port.fileno(), termios.TCSANOW, attrs)
    except termios.error as exc:
        port.close()
        raise DeviceError("bus", "open", f"cannot set parity {parity} on the pty: {exc}") from exc
