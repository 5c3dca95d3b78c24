"""A polled Modbus device: its profile's points read with coalesced requests, and writes.

Decoding is compiled once per read block: one struct format spans the block (gaps
as pad bytes), so a block decodes with one unpack and a scale per point; the
results match drivers/modbus/codec.py's decode() exactly (ints stay ints at scale 1,
scaled values rounded to 6 decimals, word order honoured).
"""

import math
import struct
from functools import lru_cache

from drivers.errors import DeviceError
from drivers.modbus.codec import decode, encode
from drivers.modbus.coalesce import ReadBlock, plan_reads
from drivers.errors import IllegalAddress
from drivers.modbus.profile import Profile


@lru_cache(maxsize=256)
def _compile(profile: Profile, blocks: tuple) -> tuple:
    """Block layouts for a profile's read plan, shared by every device with that plan."""
    layouts = tuple(_BlockLayout(b, profile.points) for b in blocks)
    order = [name for layout in layouts for name, _, _, _ in layout.fields]
    return layouts, order != [p.name for p in profile.points]


class ModbusDevice:
    """Reads all points of one device and writes its writable points (verified)."""

    def __init__(self, device_id: str, bus, unit: int, profile: Profile,
                 max_gap: int = 8):
        self.device_id = device_id
        self.bus = bus
        self.unit = unit
        self.profile = profile
        self.max_gap = max_gap
        self._splits: frozenset = frozenset()
        self._names = [p.name for p in profile.points]
        self._plan(plan_reads(profile.points, max_gap))

    def _plan(self, blocks) -> None:
        self.blocks = blocks
        self._layouts, self._reorder = _compile(self.profile, tuple(blocks))

    async def read(self) -> dict:
        """Read every point; DeviceError when the device fails to answer."""
        try:
            chunks = await self._read_blocks()
        except IllegalAddress as exc:
            block = next((b for b in self.blocks
                          if exc.operation == f"read {b.table} {b.address}+{b.count}"), None)
            if block is None or not self._split(block):
                raise
            return await self.read()
        values: dict = {}
        for layout, data in zip(self._layouts, chunks):
            layout.decode(data, values)
        if self._reorder:
            values = {name: values[name] for name in self._names}
        return values

    async def _read_blocks(self) -> list:
        read_blocks = getattr(self.bus, "read_blocks", None)
        if read_blocks is not None:     # drivers/modbus/tcp.py: all blocks in one send
            return await read_blocks(self.device_id, self.unit, self.blocks)
        chunks = []
        for block in self.blocks:
            words = await self.bus.read(self.device_id, self.unit, block.table,
                                        block.address, block.count)
            chunks.append(struct.pack(f">{len(words)}H", *words))
        return chunks

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
        self._plan(plan_reads(self.profile.points, self.max_gap, splits=self._splits))
        return True

    async def write(self, point_name: str, value: float) -> float:
        """Write a point and verify by read-back; returns the read-back value."""
        try:
            point = self.profile.point(point_name)
        except KeyError:
            raise DeviceError(self.device_id, f"write {point_name}={value}",
                              f"profile {self.profile.model} has no point {point_name!r}") from None
        operation = f"write {point_name}={value}"
        if point.access != "rw":
            raise DeviceError(self.device_id, operation, "point is read-only in profile "
                              f"{self.profile.model}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (
                not math.isfinite(value)):
            raise DeviceError(self.device_id, operation, f"refused: {value!r} is not a "
                              "finite number")
        if (point.min is not None and value < point.min) or (
                point.max is not None and value > point.max):
            raise DeviceError(self.device_id, operation,
                              f"value outside {point.min}..{point.max}")
        try:
            words = encode(value, point.type, point.word_order, point.scale)
        except ValueError as exc:       # a refused command, never a dead bus worker
            raise DeviceError(self.device_id, operation, f"refused: {exc}") from exc
        await self.bus.write(self.device_id, self.unit, point.address, words)
        back = await self.bus.read(self.device_id, self.unit, point.table, point.address,
                                   point.count)
        got = decode(back, point.type, point.word_order, point.scale)
        if abs(got - value) > abs(point.scale) / 2:
            raise DeviceError(self.device_id, operation,
                              f"read-back mismatch: device holds {got}")
        return got


RAW, SCALED, FLOAT, LITTLE = range(4)
FORMAT = {"int16": "h", "uint16": "H", "int32": "i", "uint32": "I", "float32": "f"}


class _BlockLayout:
    """One read block's decoding, compiled: a struct over the block and a rule per point."""

    def __init__(self, block: ReadBlock, points):
        inside = sorted((p for p in points if p.table == block.table
                         and block.address <= p.address < block.address + block.count),
                        key=lambda p: p.address)
        fmt, at, index = ">", block.address, 0
        self.fields = []                # (name, index in the unpacked tuple, scale, rule)
        for p in inside:
            fmt += "x" * 2 * (p.address - at)
            if p.word_order == "little" and p.count > 1:
                fmt += "4s"              # words swapped: decoded by the codec
                rule = LITTLE
            else:
                fmt += FORMAT[p.type]
                rule = (FLOAT if p.type == "float32" else
                        RAW if p.scale == 1 else SCALED)
            self.fields.append((p.name, index, p.scale, rule if rule != LITTLE else p))
            index += 1
            at = p.address + p.count
        fmt += "x" * 2 * (block.address + block.count - at)
        self.struct = struct.Struct(fmt)

    def decode(self, data: bytes, values: dict) -> None:
        """Decode a block's register bytes into values (name -> scaled value)."""
        if len(data) != self.struct.size:
            raise ValueError(f"block of {self.struct.size} bytes, got {len(data)}")
        raw = self.struct.unpack(data)
        for name, i, scale, rule in self.fields:
            v = raw[i]
            if rule == RAW:
                values[name] = v
            elif rule == SCALED:
                values[name] = round(v * scale, 6)
            elif rule == FLOAT:
                # NaN/inf (a meter's "no value") is not JSON: published as null
                values[name] = round(v * scale, 6) if math.isfinite(v) else None
            else:                       # a 32-bit point, low word first
                value = decode([int.from_bytes(v[:2], "big"), int.from_bytes(v[2:], "big")],
                               rule.type, rule.word_order, rule.scale)
                values[name] = value if math.isfinite(value) else None
