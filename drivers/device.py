"""A polled Modbus device: its profile's points read with coalesced requests, and writes."""

from agent.errors import DeviceError
from drivers.codec import decode, encode
from drivers.coalesce import ReadBlock, plan_reads
from drivers.modbus import IllegalAddress, ModbusBus
from drivers.profiles import Profile


class ModbusDevice:
    """Reads all points of one device and writes its writable points (verified)."""

    def __init__(self, device_id: str, bus: ModbusBus, unit: int, profile: Profile,
                 max_gap: int = 8):
        self.device_id = device_id
        self.bus = bus
        self.unit = unit
        self.profile = profile
        self.max_gap = max_gap
        self._splits: frozenset = frozenset()
        self.blocks = plan_reads(profile.points, max_gap)

    async def read(self) -> dict:
        """Read every point; DeviceError when the device fails to answer."""
        registers: dict[tuple[str, int], int] = {}
        for block in list(self.blocks):
            try:
                words = await self.bus.read(self.device_id, self.unit, block.table,
                                            block.address, block.count)
            except IllegalAddress:
                if not self._split(block):
                    raise
                return await self.read()
            for offset, word in enumerate(words):
                registers[(block.table, block.address + offset)] = word
        return self._decode(registers)

    def _split(self, block: ReadBlock) -> bool:
        """Split a rejected block at its widest inner gap and remember it; False if atomic."""
        inside = sorted((p.address, p.address + p.count) for p in self.profile.points
                        if p.table == block.table
                        and block.address <= p.address < block.address + block.count)
        best, widest = None, -1
        for (_, prev_end), (lo, _) in zip(inside, inside[1:]):
            if lo - prev_end > widest:   # holes in a register map hide in the gaps
                best, widest = lo, lo - prev_end
        if best is None:
            return False
        self._splits = self._splits | {(block.table, best)}
        self.blocks = plan_reads(self.profile.points, self.max_gap, splits=self._splits)
        return True

    def _decode(self, registers: dict) -> dict:
        values = {}
        for p in self.profile.points:
            words = [registers[(p.table, a)] for a in range(p.address, p.address + p.count)]
            values[p.name] = decode(words, p.type, p.word_order, p.scale)
        return values

    async def write(self, point_name: str, value: float) -> float:
        """Write a point and verify by read-back; returns the read-back value."""
        point = self.profile.point(point_name)
        operation = f"write {point_name}={value}"
        if point.access != "rw":
            raise DeviceError(self.device_id, operation, "point is read-only in profile "
                              f"{self.profile.model}")
        if (point.min is not None and value < point.min) or (
                point.max is not None and value > point.max):
            raise DeviceError(self.device_id, operation,
                              f"value outside {point.min}..{point.max}")
        words = encode(value, point.type, point.word_order, point.scale)
        await self.bus.write(self.device_id, self.unit, point.address, words)
        back = await self.bus.read(self.device_id, self.unit, point.table, point.address,
                                   point.count)
        got = decode(back, point.type, point.word_order, point.scale)
        if abs(got - value) > abs(point.scale) / 2:
            raise DeviceError(self.device_id, operation,
                              f"read-back mismatch: device holds {got}")
        return got
