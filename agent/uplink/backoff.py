"""Jittered exponential back-off for reconnects and re-sends: a city's worth of gateways must
not retry in lock-step after a broker restart."""

import random

MAX_DOUBLINGS = 30        # far past any sane `high`: 2**30 x the shortest delay


class Backoff:
    """Jittered exponential back-off: attempt n waits min*2^n (capped) times 0.5..1."""

    def __init__(self, low: float, high: float, rand=random.random):
        self.low = low
        self.high = high
        self.rand = rand
        self.attempt = 0

    def next(self) -> float:
        """The delay before the next attempt."""
        # capped exponent: after ~1,000 refused CONNACKs (51 min at 1-4 s) 2**n overflowed a
        # float in paho's thread, which then died and never reconnected
        base = min(self.high, self.low * 2 ** min(self.attempt, MAX_DOUBLINGS))
        self.attempt += 1
        return max(self.low / 2, base * (0.5 + self.rand() / 2))

    def reset(self) -> None:
        """Connected: start from the shortest delay next time."""
        self.attempt = 0
