"""Register coalescing: read a device's points with the fewest Modbus requests."""

from typing import NamedTuple

MAX_REGISTERS_PER_READ = 125  # Modbus limit for function codes 3 and 4


class ReadBlock(NamedTuple):
    """One read request: a table, a start address and a register count."""

    table: str
    address: int
    count: int


def plan_reads(points, max_gap: int = 8, max_count: int = MAX_REGISTERS_PER_READ,
               splits: frozenset = frozenset()) -> list[ReadBlock]:
    """Merge points of one table into blocks across gaps of at most max_gap registers.

    `splits` holds (table, address) pairs where a device rejected a read that
    spanned that address boundary: a block never continues across one.
    """
    blocks: list[ReadBlock] = []
    for table in ("holding", "input"):
        spans = sorted((p.address, p.address + p.count) for p in points if p.table == table)
        start = end = None
        for lo, hi in spans:
            if start is not None and (lo - end <= max_gap and hi - start <= max_count
                                      and (table, lo) not in splits):
                end = max(end, hi)
                continue
            if start is not None:
                blocks.append(ReadBlock(table, start, end - start))
            start, end = lo, hi
        if start is not None:
            blocks.append(ReadBlock(table, start, end - start))
    return blocks
