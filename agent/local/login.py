"""One log-in attempt: lock-out first, counted before the password is hashed, bounded hashing.

Counting comes before hashing so parallel guesses cannot all pass the lock-out check while
their hashes wait in the queue: the attempt that reaches `lockout_after` locks the account
and the address for every attempt behind it, and a good password then clears the count.
At most MAX_HASHING scrypt checks (32 MiB each) are running or waiting at any time; beyond
that an attempt is refused at once as busy, so a flood cannot make a crew member's own
login wait behind it.
"""

import asyncio
from concurrent.futures import ThreadPoolExecutor

MAX_HASHING = 2        # running + waiting; one thread, so a crew member waits <= ~0.2 s on a Pi


class Attempt:
    """The outcome: role (None: refused), lock-out in force (s), busy (not even checked)."""

    def __init__(self, role=None, wait_s: float = 0.0, busy: bool = False, checked=False):
        self.role = role
        self.wait_s = wait_s
        self.busy = busy
        self.checked = checked      # the password was hashed and compared


class LoginGate:
    """Accounts + lock-out + one hashing thread."""

    def __init__(self, accounts, lockout, max_hashing: int = MAX_HASHING):
        self.accounts = accounts
        self.lockout = lockout
        self.max_hashing = max_hashing
        self.hashing = 0
        self.hashing_peak = 0
        self._hasher = ThreadPoolExecutor(1, thread_name_prefix="console-scrypt")

    async def attempt(self, name: str, password: str, addr: str) -> Attempt:
        """Check one name and password from addr."""
        keys = (f"user:{name}", f"addr:{addr}")
        wait = self.lockout.wait_s(*keys)
        if wait > 0:
            return Attempt(wait_s=wait)
        if self.hashing >= self.max_hashing:
            return Attempt(busy=True)
        self.lockout.failed(*keys)              # counted now; a good password clears it
        self.hashing += 1
        self.hashing_peak = max(self.hashing_peak, self.hashing)
        try:
            role = await asyncio.get_running_loop().run_in_executor(
                self._hasher, self.accounts.check, name, password)
        finally:
            self.hashing -= 1
        if role is None:
            return Attempt(wait_s=self.lockout.wait_s(*keys), checked=True)
        self.lockout.succeeded(*keys)
        return Attempt(role=role, checked=True)
