"""DueQueue, the bus scheduler's pick: most late relative to its own period first, by heap."""

from agent.core.bus import PollTarget
from agent.core.due import DueQueue


def _targets(spec):
    """[(id, period, next_due)] -> PollTargets."""
    out = []
    for device_id, period, due in spec:
        target = PollTarget(device_id, period, None)
        target.next_due = due
        out.append(target)
    return out


def test_nothing_due_gives_the_earliest_due_time():
    queue = DueQueue(_targets([("a", 1.0, 100.5), ("b", 1.0, 100.3), ("c", 10.0, 100.4)]))
    target, earliest = queue.pick(100.0)
    assert target is None and earliest == 100.3


def test_nothing_due_within_a_second_looks_again_after_one():
    queue = DueQueue(_targets([("a", 60.0, 500.0)]))
    assert queue.pick(100.0) == (None, 101.0)


def test_the_most_late_relative_to_its_period_goes_first_across_periods():
    # at 110: a is 10 s late on a 100 s period (0.1), b 1 s late on a 1 s period (1.0)
    queue = DueQueue(_targets([("a", 100.0, 100.0), ("b", 1.0, 109.0), ("c", 1.0, 109.5)]))
    order = [queue.pick(110.0)[0].device_id for _ in range(3)]
    assert order == ["b", "c", "a"], order
    assert queue.pick(110.0)[0] is None       # all taken out: busy until pushed back


def test_a_pushed_back_target_is_picked_at_its_new_due_time():
    targets = _targets([("a", 1.0, 100.0), ("b", 1.0, 100.5)])
    queue = DueQueue(targets)
    first = queue.pick(100.0)[0]
    assert first.device_id == "a"
    first.next_due = 101.0
    queue.push(first)
    assert queue.pick(100.2) == (None, 100.5)
    assert queue.pick(100.6)[0].device_id == "b"
    assert queue.pick(100.6) == (None, 101.0)
    assert queue.pick(101.0)[0].device_id == "a"


def test_equal_due_times_keep_the_configured_order():
    queue = DueQueue(_targets([("a", 1.0, 100.0), ("b", 1.0, 100.0), ("c", 1.0, 100.0)]))
    assert [queue.pick(100.0)[0].device_id for _ in range(3)] == ["a", "b", "c"]
