"""Register coalescing: fewest requests, every point covered, limits respected."""

from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.modbus.coalesce import ReadBlock, plan_reads
from drivers.modbus.profile import Point


def pt(name, table, address, type_="uint16"):
    return Point(name=name, table=table, address=address, type=type_)


def test_small_gaps_merge_and_large_gaps_split():
    points = [pt("a", "input", 0), pt("b", "input", 5, "uint32"), pt("c", "input", 30),
              pt("d", "holding", 0), pt("e", "holding", 1)]
    assert plan_reads(points, max_gap=8) == [ReadBlock("holding", 0, 2),
                                             ReadBlock("input", 0, 7),
                                             ReadBlock("input", 30, 1)]
    assert len(plan_reads(points, max_gap=0)) == 4


def test_block_never_exceeds_125_registers():
    points = [pt(f"p{i}", "input", i * 2, "float32") for i in range(100)]  # 200 registers
    blocks = plan_reads(points, max_gap=8)
    assert [b.count for b in blocks] == [124, 76]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["input", "holding"]), st.integers(0, 400),
                          st.sampled_from(["uint16", "uint32"])), min_size=1, max_size=40,
                unique_by=lambda t: (t[0], t[1])),
       st.integers(0, 20), st.integers(2, 125))
def test_every_point_is_inside_exactly_one_block(specs, max_gap, max_count):
    points, used = [], set()
    for i, (table, address, type_) in enumerate(specs):
        regs = {(table, address), (table, address + 1)} if type_ == "uint32" else {(table, address)}
        if regs & used:
            continue
        used |= regs
        points.append(pt(f"p{i}", table, address, type_))
    blocks = plan_reads(points, max_gap=max_gap, max_count=max_count)
    for p in points:
        holders = [b for b in blocks if b.table == p.table and
                   b.address <= p.address and p.address + p.count <= b.address + b.count]
        assert len(holders) == 1
    assert all(b.count <= max(max_count, 2) for b in blocks)
