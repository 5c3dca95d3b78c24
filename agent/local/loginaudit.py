"""Failed logins on the record without a flood filling the card (review finding 9).

Anyone who can reach the console can send failed logins; one audit line (and fsync) each
would let them write the SD card full. Per address, the first failure of a window is
written, and so is every failure that locks the address out (the lock-out's growing waits
bound those); the rest of that window are counted and the count rides on the address's next
written line (`repeats`). Addresses beyond MAX_ADDRS share one tally ("*"), so the table
itself stays bounded too.
"""

WINDOW_S = 60.0
MAX_ADDRS = 1024


class FailedLogins:
    """note(addr) -> the extra fields of a line to write now, or None (counted, not written)."""

    def __init__(self, monotonic, window_s: float = WINDOW_S, max_addrs: int = MAX_ADDRS):
        self.monotonic = monotonic
        self.window_s = window_s
        self.max_addrs = max_addrs
        self._seen: dict[str, list] = {}       # addr -> [window start, failures not written]

    def note(self, addr: str, **fields) -> dict | None:
        now = self.monotonic()
        if addr not in self._seen and len(self._seen) >= self.max_addrs:
            self._forget(now)
            if len(self._seen) >= self.max_addrs:
                addr = "*"
        seen = self._seen.get(addr)
        locks = bool(fields.get("locked_s"))        # a lock-out is always on the record
        if seen is not None and now - seen[0] < self.window_s and not locks:
            seen[1] += 1
            return None
        repeats = seen[1] if seen is not None else 0
        self._seen[addr] = [now, 0]
        return {**fields, "repeats": repeats or None, "tally": "*" if addr == "*" else None}

    def _forget(self, now: float) -> None:
        """Drop addresses whose window ended with nothing left to report."""
        for addr in [a for a, (start, n) in self._seen.items()
                     if now - start >= self.window_s and n == 0]:
            del self._seen[addr]
