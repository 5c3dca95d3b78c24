"""Modbus over pymodbus: one bus (TCP endpoint or RTU line), for the scan and the simulator CLI.

The agent's own buses are drivers/modbus/rtu.py (RTU, every reply checked) and
drivers/modbus/tcp.py (MBAP). Every pymodbus failure, raised or returned as an
error response, becomes a DeviceError here, classified by exception type (never
by its text); nothing above this module sees pymodbus types.
"""

import asyncio
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor

from pymodbus import FramerType, ModbusException
from pymodbus.exceptions import ConnectionException, ModbusIOException
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU, ExceptionResponse

from drivers.errors import DeviceError, IllegalAddress, NoReply
from drivers.modbus.line import (GATEWAY_CODES, ILLEGAL_DATA_ADDRESS, LineCounters,
                                 rtu_gap_s)

log = logging.getLogger(__name__)


class _CountingRtuFramer(FramerRTU):
    """pymodbus's RTU framer, counting what it throws away.

    pymodbus silently drops a frame with a bad CRC and skips noise in front of a
    frame; this is its decode() with a counter at each of those two places.
    """

    def __init__(self, decoder: DecodePDU, counters: LineCounters):
        super().__init__(decoder)
        self.counters = counters

    def decode(self, data: bytes) -> tuple[int, int, int, bytes]:
        """Decode one ADU from data; (used, device id, 0, pdu bytes) or (0, ...) for more."""
        for start in range(len(data)):
            if len(data) - start < self.MIN_SIZE:
                return 0, 0, 0, self.EMPTY
            if not (pdu_class := self.decoder.lookupPduClass(data[start:])):
                continue
            if not (size := pdu_class.calculateRtuFrameSize(data[start:])):
                return 0, data[start], 0, self.EMPTY
            if len(data) < start + size:
                return 0, data[start], 0, self.EMPTY
            crc_at = start + size - 2
            if not self.check_CRC(data[start:crc_at], int.from_bytes(data[crc_at:crc_at + 2],
                                                                     "big")):
                self.counters.crc_errors += 1
                return len(data), 0, 0, self.EMPTY
            if start or len(data) > start + size:
                self.counters.framing_errors += 1
            return len(data), data[start], 0, data[start + 1:crc_at]
        return 0, 0, 0, self.EMPTY


class ModbusBus:
    """One Modbus bus: a TCP endpoint or an RTU serial line, one transaction at a time."""

    def __init__(self, name: str, kind: str, *, host: str = "", port: int | str = 502,
                 baudrate: int = 9600, parity: str = "N", stopbits: int = 1,
                 timeout_s: float = 0.5, inter_frame_s: float | None = None):
        self.name = name
        self.kind = kind
        self.timeout_s = timeout_s
        self.counters = LineCounters()
        self._unreachable = False
        # RTU: pymodbus sends the next request as soon as a reply is decoded; the
        # line needs t3.5 of silence between frames first (None: from the baud rate)
        if inter_frame_s is None:
            inter_frame_s = rtu_gap_s(baudrate, parity, stopbits) if kind == "modbus-rtu" else 0.0
        self.inter_frame_s = inter_frame_s
        self._last_frame = 0.0
        self._gap_timer: ThreadPoolExecutor | None = None
        # retries=0: retry and back-off policy belong to the scheduler, not the library
        if kind == "modbus-tcp":
            self._client = AsyncModbusTcpClient(host, port=int(port), timeout=timeout_s,
                                                retries=0, reconnect_delay=0.2,
                                                reconnect_delay_max=5.0, name=name)
            self.endpoint = f"{host}:{port}"
        elif kind == "modbus-rtu":
            # Linux pseudo-terminals refuse parity (EINVAL); on the simulator's pty wire
            # the parity only shapes line timing, so the port itself is opened without
            port_parity = "N" if _is_pty(str(port)) else parity
            self._client = AsyncModbusSerialClient(str(port), framer=FramerType.RTU,
                                                   baudrate=baudrate, parity=port_parity,
                                                   stopbits=stopbits, timeout=timeout_s,
                                                   retries=0, reconnect_delay=0.2,
                                                   reconnect_delay_max=5.0, name=name,
                                                   trace_packet=self._saw_bytes)
            # pymodbus offers no hook for this; swapping the framer instance is the seam
            self._client.ctx.framer = _CountingRtuFramer(DecodePDU(False), self.counters)
            self.endpoint = str(port)
        else:
            raise ValueError(f"unknown bus type {kind!r}")

    async def connect(self) -> bool:
        """Open the connection; False (logged) when the peer is not there yet."""
        try:
            ok = await asyncio.wait_for(self._client.connect(), self.timeout_s * 4 + 1)
        except (asyncio.TimeoutError, OSError, ModbusException) as exc:
            if not self._unreachable:      # once per outage: a missing port must not flood logs
                log.warning("bus %s: cannot open %s: %s", self.name, self.endpoint, exc)
            self._unreachable = True
            return False
        if ok and self._unreachable:
            log.info("bus %s: %s open again", self.name, self.endpoint)
            self._unreachable = False
        return bool(ok)

    def close(self) -> None:
        """Close the connection."""
        self._client.close()
        if self._gap_timer is not None:
            self._gap_timer.shutdown(wait=False)
            self._gap_timer = None

    async def read(self, device: str, unit: int, table: str, address: int,
                   count: int) -> list[int]:
        """Read count registers of a table; DeviceError on any failure."""
        call = (self._client.read_holding_registers if table == "holding"
                else self._client.read_input_registers)
        response = await self._call(device, f"read {table} {address}+{count}",
                                    lambda: call(address, count=count, device_id=unit))
        registers = list(response.registers)
        if len(registers) < count:
            raise DeviceError(device, f"read {table} {address}+{count}",
                              f"short reply: {len(registers)} registers")
        return registers[:count]

    async def write(self, device: str, unit: int, address: int, values: list[int]) -> None:
        """Write holding registers (function 6 for one, 16 for several)."""
        if len(values) == 1:
            request = lambda: self._client.write_register(address, values[0], device_id=unit)
        else:
            request = lambda: self._client.write_registers(address, values, device_id=unit)
        await self._call(device, f"write holding {address}", request)

    async def _call(self, device: str, operation: str, request):
        if not self._client.connected and not await self.connect():
            raise DeviceError(device, operation, f"bus {self.name} ({self.endpoint}) "
                              "is not connected; check cabling / address and that the "
                              "device or gateway is powered")
        if self.inter_frame_s:
            await self._line_silence()
        try:
            response = await asyncio.wait_for(request(), self.timeout_s + 0.5)
        except asyncio.TimeoutError as exc:
            self._no_reply()
            raise NoReply(device, operation, f"no reply within {self.timeout_s:g} s") from exc
        except ModbusIOException as exc:
            # pymodbus raises this for no reply and for a reply it refused (wrong unit or
            # transaction id): either way, no answer to this request
            self._no_reply()
            raise NoReply(device, operation, "no valid reply (" + _short(exc) + ")") from exc
        except ConnectionException as exc:
            raise DeviceError(device, operation, f"bus {self.name} ({self.endpoint}) "
                              f"connection failed: {_short(exc)}") from exc
        except ModbusException as exc:
            raise DeviceError(device, operation, _short(exc)) from exc
        except OSError as exc:
            raise DeviceError(device, operation, f"I/O error: {exc}") from exc
        if isinstance(response, ExceptionResponse) or response.isError():
            code = getattr(response, "exception_code", None)
            if code == ILLEGAL_DATA_ADDRESS:
                raise IllegalAddress(device, operation, "illegal data address (exception 2)")
            if code in GATEWAY_CODES:
                raise NoReply(device, operation, f"gateway reports no response (exception {code})")
            raise DeviceError(device, operation, f"device returned Modbus exception {code}")
        return response

    async def _line_silence(self) -> None:
        """Wait until the line has been silent for inter_frame_s since the last byte."""
        wait = self._last_frame + self.inter_frame_s - time.monotonic()
        if wait <= 0:
            return
        # the loop's epoll timers round up to whole milliseconds, a quarter of t3.5 at
        # 9600 baud; a worker thread's sleep is exact to ~0.1 ms
        if self._gap_timer is None:
            self._gap_timer = ThreadPoolExecutor(1, thread_name_prefix=f"bus.{self.name}.gap")
        await asyncio.get_running_loop().run_in_executor(self._gap_timer, time.sleep, wait)

    def _saw_bytes(self, sending: bool, data: bytes) -> bytes:
        # the line's silence starts at the last byte seen, not when pymodbus is done decoding
        self._last_frame = time.monotonic()
        return data

    def _no_reply(self) -> None:
        self.counters.timeouts += 1
        # bytes left half-decoded when the reply window closed: a cut or garbled frame
        if self.kind == "modbus-rtu" and self._client.ctx.recv_buffer:
            self.counters.framing_errors += 1


def _is_pty(port: str) -> bool:
    return os.path.realpath(port).startswith("/dev/pts/")


def _short(exc: Exception) -> str:
    return str(exc).replace("Modbus Error: ", "")[:200]
