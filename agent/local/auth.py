"""Console sessions and the login lock-out, on an injected monotonic clock (pure, no HTTP).

A session is a random token in an HttpOnly, SameSite=Strict cookie plus a CSRF token the
page must send back with every state change. Sessions end after `idle_s` without use or
`max_s` after login, whichever comes first.

Lock-out: after `after` failed logins for one account, or from one client address, further
attempts are refused for `base_s`, doubling with each further failure up to `max_s`. A good
login clears the account's and the address's count.
"""

import hmac
import secrets
import time

MAX_SESSIONS = 256            # a flood of logins cannot grow memory without bound
MAX_TRACKED = 4096            # failure counters kept (oldest forgotten first)
MAX_DOUBLINGS = 40            # base_s * 2**40 is past any lockout_max the config allows


class Session:
    """One logged-in crew member."""

    def __init__(self, name: str, role: str, now: float, credential: str = ""):
        self.token = secrets.token_urlsafe(32)
        self.csrf = secrets.token_urlsafe(32)
        self.name = name
        self.role = role
        self.credential = credential    # the password hash it logged in with: a change ends it
        self.started = now
        self.seen = now


class Sessions:
    """Tokens to sessions, expiring by idle time and by age."""

    def __init__(self, idle_s: float, max_s: float, clock=time.monotonic):
        self.idle_s = idle_s
        self.max_s = max_s
        self.clock = clock
        self.by_token: dict[str, Session] = {}

    def open(self, name: str, role: str, credential: str = "") -> Session:
        """A new session (the oldest is dropped past MAX_SESSIONS)."""
        now = self.clock()
        self._expire(now)
        if len(self.by_token) >= MAX_SESSIONS:
            oldest = min(self.by_token.values(), key=lambda s: s.seen)
            del self.by_token[oldest.token]
        session = Session(name, role, now, credential)
        self.by_token[session.token] = session
        return session

    def get(self, token: str | None) -> Session | None:
        """The live session for a cookie value, refreshed; None if unknown or expired."""
        if not token:
            return None
        now = self.clock()
        session = self.by_token.get(token)
        if session is None:
            return None
        if now - session.seen > self.idle_s or now - session.started > self.max_s:
            del self.by_token[token]
            return None
        session.seen = now
        return session

    def close(self, token: str | None) -> None:
        """Log out."""
        self.by_token.pop(token or "", None)

    def drop_user(self, name: str) -> None:
        """End every session of one account."""
        for token in [t for t, s in self.by_token.items() if s.name == name]:
            del self.by_token[token]

    def _expire(self, now: float) -> None:
        for token in [t for t, s in self.by_token.items()
                      if now - s.seen > self.idle_s or now - s.started > self.max_s]:
            del self.by_token[token]


def csrf_ok(session: Session, sent: str | None) -> bool:
    """Whether the CSRF token sent with a request is this session's (constant-time)."""
    return bool(sent) and hmac.compare_digest(session.csrf, sent)


class Lockout:
    """Failed-login counters per key ('user:NAME', 'addr:IP') with growing back-off."""

    def __init__(self, after: int, base_s: float, max_s: float, clock=time.monotonic):
        self.after = after
        self.base_s = base_s
        self.max_s = max_s
        self.clock = clock
        self.failures: dict[str, list] = {}    # key -> [count, locked until]

    def wait_s(self, *keys: str) -> float:
        """Seconds until any of these keys may try again (0: now)."""
        now = self.clock()
        return max([0.0] + [self.failures[k][1] - now for k in keys if k in self.failures])

    def failed(self, *keys: str) -> float:
        """Count one failure for each key; the lock-out now in force (s)."""
        now = self.clock()
        for key in keys:
            entry = self.failures.pop(key, [0, 0.0])
            entry[0] += 1
            if entry[0] >= self.after:
                # the exponent is capped: 2 ** 1024 overflows a float (after ~1,000 failures)
                doublings = min(entry[0] - self.after, MAX_DOUBLINGS)
                entry[1] = now + min(self.max_s, self.base_s * 2 ** doublings)
            self.failures[key] = entry          # re-inserted: dict order is recency
        while len(self.failures) > MAX_TRACKED:
            del self.failures[next(iter(self.failures))]
        return self.wait_s(*keys)

    def succeeded(self, *keys: str) -> None:
        """A good login: forget these keys' failures."""
        for key in keys:
            self.failures.pop(key, None)
