"""Achieved poll rate of one bus against its configured rate: is the bus keeping up?

MicroPython-compatible. Demand (bus time per poll / period) says whether the bus *should*
keep up; this measures whether it *does*, so a gateway whose event loop is behind (CPU
bound, a slow sink) is caught as well as a bus with too little line time.

Each good poll of a device that answered its previous poll too adds its period (the time
the schedule planned) and the time since its previous start (the time it took) to a
2-second bucket. The share over the last four buckets is planned / taken: 1.0 when every
device is polled at its period (the start jitter of a poll cancels out between
consecutive intervals), below 1 when the schedule slides. Failing devices are left out:
their back-off is on purpose. Oversubscribed is a share below 99 %, so it shows within
two buckets plus the window (at most 10 s) of the bus falling behind, and clears as soon
as the window holds only on-time polls again. The bus's busy share in the last bucket tells
the two causes apart: a bus busy all the time needs fewer polls; an idle one whose polls
still start late has an agent short of CPU.
"""

BUCKET_S = 2.0
BUCKETS = 4
KEEP_UP_SHARE = 0.99


class PollRate:
    """Planned against taken poll intervals over a sliding window of buckets."""

    def __init__(self, now: float):
        self.start = now              # of the open bucket
        self.planned = 0.0            # open bucket: sum of periods
        self.taken = 0.0              # open bucket: sum of actual intervals
        self.busy = 0.0               # open bucket: bus seconds spent in transactions
        self.closed = []              # (planned, taken) of the last buckets
        self.share = None             # of the closed buckets; None until one has a poll
        self.busy_share = 0.0         # of the last closed bucket: is the bus the bottleneck?

    def restart(self, now: float) -> None:
        """Start afresh at `now` (the bus begins to poll): the time between building the
        scheduler and its first poll is no bus time, and would make a bus that is busy all
        the time look idle in the first bucket (a wrong cause in the first seconds)."""
        self.__init__(now)

    def polled(self, period: float, interval: float, now: float, workers: int = 1) -> None:
        """A good poll after a good one: planned `period` after the last start, it came `interval` after."""
        self.roll(now, workers)
        self.planned += period
        self.taken += interval

    def spent(self, busy_s: float) -> None:
        """Bus time one transaction took (summed over in-flight workers)."""
        self.busy += busy_s

    def roll(self, now: float, workers: int = 1) -> None:
        """Close the open bucket when its time is up (also called when nothing polls)."""
        if now - self.start < BUCKET_S:
            return
        self.closed.append((self.planned, self.taken))
        if len(self.closed) > BUCKETS:
            self.closed.pop(0)
        # a transaction is counted whole in the bucket it ends in: cap at the whole bucket
        self.busy_share = min(1.0, self.busy / ((now - self.start) * workers))
        self.start, self.planned, self.taken, self.busy = now, 0.0, 0.0, 0.0
        planned = sum(b[0] for b in self.closed)
        taken = sum(b[1] for b in self.closed)
        self.share = min(1.0, planned / taken) if taken > 0 else None

    def bus_busy(self, now: float, workers: int = 1) -> float:
        """Busy share of the last bucket, or of the open one once it is 0.5 s old if higher
        (a bus that just turned slow shows in the open bucket first)."""
        open_s = now - self.start
        if open_s < 0.5:
            return self.busy_share
        return max(self.busy_share, min(1.0, self.busy / (open_s * workers)))

    def oversubscribed(self) -> bool:
        return self.share is not None and self.share < KEEP_UP_SHARE


def cause(name: str, share: float, achieved: float, configured: float,
          busy_share: float) -> str:
    """Why bus `name` is behind and what to do, for the status message and the console."""
    head = ("bus " + name + " keeps " + str(round(share * 100, 1)) + " % of its configured "
            "poll rate (" + str(round(achieved, 1)) + " of " + str(round(configured, 1))
            + " polls/s): ")
    if busy_share >= 0.9:
        return head + ("its devices need more bus time than there is (busy "
                       + str(round(busy_share * 100)) + " % of the time); lengthen poll periods, move devices to "
                       "another bus, or raise max_in_flight on Modbus TCP")
    return head + ("the bus has time (busy " + str(round(busy_share * 100)) + " % of the time) "
                   "but the agent starts "
                   "polls late: the gateway's CPU is short; carry fewer devices on this "
                   "gateway or lengthen poll periods (see the sizing table in "
                   "docs/benchmarks.md)")
