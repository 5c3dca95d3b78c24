"""The bus scheduler's pick: which idle device polls next, in O(log n), no scan of the bus.

MicroPython-compatible (its `heapq`). The rule is the scheduler's: among the devices whose
poll is due, the one most late relative to its own period goes first, so an over-subscribed
bus stretches every period in proportion. Lateness `(now - due) / period` orders devices of
one period exactly as their due times do, so each distinct period is one heap (a lane) keyed
by due time, and a pick compares only the lanes' heads: a bus has one or a few periods.
"""

from heapq import heapify, heappop, heappush


class DueQueue:
    """The idle poll targets of one bus, by due time, one heap per period."""

    def __init__(self, targets):
        lanes = {}
        self._lane_of = {}             # id(target) -> (its lane, its tie-breaking number)
        for n, target in enumerate(targets):
            lane = lanes.setdefault(target.period, [])
            self._lane_of[id(target)] = (lane, n)
            lane.append((target.next_due, n, target))
        self._lanes = list(lanes.items())   # [(period, heap)]
        for _, lane in self._lanes:
            heapify(lane)

    def push(self, target) -> None:
        """Target is idle again (its poll finished): back in its lane at its next_due."""
        lane, n = self._lane_of[id(target)]
        heappush(lane, (target.next_due, n, target))

    def pick(self, now: float):
        """(the most-late due target, taken out; None if none is due, earliest due time)."""
        best, best_lane, best_late, earliest = None, None, 0.0, now + 1.0
        for period, lane in self._lanes:
            if not lane:
                continue
            due = lane[0][0]
            if due <= now:
                late = (now - due) / period
                if best is None or late > best_late:
                    best, best_lane, best_late = lane[0][2], lane, late
            elif due < earliest:
                earliest = due
        if best is not None:
            heappop(best_lane)
        return best, earliest
