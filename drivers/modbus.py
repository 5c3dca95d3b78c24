"""Modbus adapter: one bus (TCP endpoint or RTU line) and device reads/writes over it.

Every pymodbus failure, raised or returned as an error response, becomes a
DeviceError here; nothing above this module sees pymodbus types.
"""

import asyncio
import logging

from pymodbus import FramerType, ModbusException
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.pdu import ExceptionResponse

from agent.errors import DeviceError

log = logging.getLogger(__name__)

ILLEGAL_DATA_ADDRESS = 2


class IllegalAddress(DeviceError):
    """The device rejected a register range (Modbus exception 2)."""


class ModbusBus:
    """One Modbus bus: a TCP endpoint or an RTU serial line, one transaction at a time."""

    def __init__(self, name: str, kind: str, *, host: str = "", port: int | str = 502,
                 baudrate: int = 9600, parity: str = "N", stopbits: int = 1,
                 timeout_s: float = 0.5):
        self.name = name
        self.kind = kind
        self.timeout_s = timeout_s
        # retries=0: retry and back-off policy belong to the scheduler, not the library
        if kind == "modbus-tcp":
            self._client = AsyncModbusTcpClient(host, port=int(port), timeout=timeout_s,
                                                retries=0, reconnect_delay=0.2,
                                                reconnect_delay_max=5.0, name=name)
            self.endpoint = f"{host}:{port}"
        elif kind == "modbus-rtu":
            self._client = AsyncModbusSerialClient(str(port), framer=FramerType.RTU,
                                                   baudrate=baudrate, parity=parity,
                                                   stopbits=stopbits, timeout=timeout_s,
                                                   retries=0, reconnect_delay=0.2,
                                                   reconnect_delay_max=5.0, name=name)
            self.endpoint = str(port)
        else:
            raise ValueError(f"unknown bus type {kind!r}")

    async def connect(self) -> bool:
        """Open the connection; False (logged) when the peer is not there yet."""
        try:
            ok = await asyncio.wait_for(self._client.connect(), self.timeout_s * 4 + 1)
        except (asyncio.TimeoutError, OSError, ModbusException) as exc:
            log.warning("bus %s: cannot connect to %s: %s", self.name, self.endpoint, exc)
            return False
        return bool(ok)

    def close(self) -> None:
        """Close the connection."""
        self._client.close()

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
        try:
            response = await asyncio.wait_for(request(), self.timeout_s + 0.5)
        except asyncio.TimeoutError as exc:
            raise DeviceError(device, operation, f"no reply within {self.timeout_s:g} s") from exc
        except ModbusException as exc:
            raise DeviceError(device, operation, _short(exc)) from exc
        except OSError as exc:
            raise DeviceError(device, operation, f"I/O error: {exc}") from exc
        if isinstance(response, ExceptionResponse) or response.isError():
            code = getattr(response, "exception_code", None)
            if code == ILLEGAL_DATA_ADDRESS:
                raise IllegalAddress(device, operation, "illegal data address (exception 2)")
            raise DeviceError(device, operation, f"device returned Modbus exception {code}")
        return response


def _short(exc: Exception) -> str:
    text = str(exc)
    if "No response" in text:
        return "no reply (timeout)"
    return text.replace("Modbus Error: ", "")[:200]
