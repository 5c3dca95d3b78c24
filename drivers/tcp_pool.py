"""Modbus TCP pipelining: several connections to one endpoint, one request in flight on each.

pymodbus serialises requests per client, so "up to N requests in flight" to a
Modbus TCP endpoint is N connections. The pool offers ModbusBus's interface.
"""

import asyncio

from drivers.modbus import ModbusBus


class ConnectionPool:
    """N ModbusBus connections to one TCP endpoint; each request takes an idle one."""

    def __init__(self, name: str, host: str, port: int, timeout_s: float, size: int):
        self.name = name
        self.kind = "modbus-tcp"
        self.timeout_s = timeout_s
        self.endpoint = f"{host}:{port}"
        self.members = [ModbusBus(f"{name}#{i}", "modbus-tcp", host=host, port=port,
                                  timeout_s=timeout_s) for i in range(size)]
        self._idle: asyncio.Queue = asyncio.Queue()
        for member in self.members:
            self._idle.put_nowait(member)

    async def connect(self) -> bool:
        """Open every connection; True if at least one is up."""
        results = await asyncio.gather(*(m.connect() for m in self.members))
        return any(results)

    def close(self) -> None:
        """Close every connection."""
        for member in self.members:
            member.close()

    async def read(self, device: str, unit: int, table: str, address: int,
                   count: int) -> list[int]:
        """Read registers over an idle connection."""
        member = await self._idle.get()
        try:
            return await member.read(device, unit, table, address, count)
        finally:
            self._idle.put_nowait(member)

    async def write(self, device: str, unit: int, address: int, values: list[int]) -> None:
        """Write registers over an idle connection."""
        member = await self._idle.get()
        try:
            await member.write(device, unit, address, values)
        finally:
            self._idle.put_nowait(member)
