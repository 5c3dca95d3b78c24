"""Who may read the city's picture (`lentera fleet serve`): city staff log in, the city's GIS
presents a token. Pure Python and the standard library; agent/fleet/http.py uses it.

The gateway console (agent/local/auth.py, login.py, accounts.py) solves the same problem,
but the layer rules (tests/test_layers.py) let the fleet take the contract only, never the
agent's own modules, and its accounts are a gateway's crew in /etc/lentera/crew.json. So
this is the same design, kept as small as it can be right:
- passwords: scrypt (hashlib, N=2^15, r=8, p=1: 32 MiB a guess), an unknown name costs a
  hash too, and at most MAX_HASHING checks run or wait at once (beyond that: busy, 503);
- sessions: a random token in an HttpOnly, SameSite=Strict cookie, ending after `idle_s`
  without use or `max_s` after login; every state change (log-out) sends the session's CSRF
  token back;
- lock-out: after `after` failures for one name or from one address, refused for `base_s`,
  doubling up to `max_s`; counted before the hash, so parallel guesses cannot all pass;
- tokens for the GIS: `Authorization: Bearer <token>`, read-only like everything here;
  only the SHA-256 of each token is stored (a 256-bit random token needs no slow hash).
"""

import asyncio
import hashlib
import hmac
import json
import math
import os
import re
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from drivers.errors import LenteraError

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
MIN_PASSWORD = 10
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 15, 8, 1
MAX_HASHING = 4
MAX_SESSIONS = 1024
MAX_TRACKED = 4096
MAX_DOUBLINGS = 40


class AccessError(LenteraError, ValueError):
    """An account or token that cannot be made as asked, or an unreadable file; says why."""


def hash_password(password: str, salt: bytes | None = None) -> str:
    """'scrypt$N$r$p$salt$hash' (hex)."""
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                            maxmem=2 ** 26, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    """Whether password matches a stored hash (constant-time compare)."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r),
                             p=int(p), maxmem=2 ** 26, dklen=len(digest) // 2)
        return hmac.compare_digest(got.hex(), digest)   # TypeError for a non-ASCII digest
    except (ValueError, TypeError):
        return False


_DUMMY = hash_password("not a password", b"\0" * 16)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AccessFile:
    """The users and tokens file (JSON), re-read when it changes, written atomically, 0640 in
    its folder's group: `sudo lentera-fleet users add` in /etc/lentera-fleet (root, group
    lentera-fleet) leaves it readable by the service and nobody else."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._mtime = None
        self.users: dict[str, str] = {}          # name -> password hash
        self.tokens: dict[str, str] = {}         # token SHA-256 -> its label

    def reload(self) -> None:
        """Read the file if it changed; AccessError if it cannot be read or parsed."""
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            self.users, self.tokens, self._mtime = {}, {}, None
            return
        if mtime == self._mtime:
            return
        try:
            doc = json.loads(self.path.read_bytes())
            users = {str(k): str(v["hash"]) for k, v in doc["users"].items()}
            tokens = {str(v): str(k) for k, v in doc["tokens"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise AccessError(f"{self.path}: cannot read the users and tokens ({exc}); fix or "
                              "remove it, then `lentera fleet users add`") from None
        self.users, self.tokens, self._mtime = users, tokens, mtime

    def add_user(self, name: str, password: str) -> None:
        """Create or replace one login."""
        if not NAME.match(name):
            raise AccessError(f"{name!r}: a name is 1-64 letters, digits, '.', '_', '@' or '-'")
        if len(password) < MIN_PASSWORD:
            raise AccessError(f"the password is shorter than {MIN_PASSWORD} characters")
        self.reload()
        self._save({**self.users, name: hash_password(password)}, self.tokens)

    def add_token(self, label: str) -> str:
        """A new token for a client such as the city's GIS; shown once, stored hashed."""
        if not NAME.match(label):
            raise AccessError(f"{label!r}: a label is 1-64 letters, digits, '.', '_', '@' or '-'")
        self.reload()
        token = "lft_" + secrets.token_urlsafe(32)
        tokens = {h: lbl for h, lbl in self.tokens.items() if lbl != label}
        self._save(self.users, {**tokens, _token_hash(token): label})
        return token

    def remove(self, name: str, kind: str) -> bool:
        """Remove a login (kind "user") or a token's label ("token"); True if there was one.
        Only that kind: a user and a token may share a name (`gis`)."""
        self.reload()
        users = {k: v for k, v in self.users.items() if kind != "user" or k != name}
        tokens = {h: lbl for h, lbl in self.tokens.items() if kind != "token" or lbl != name}
        if users == self.users and tokens == self.tokens:
            return False
        self._save(users, tokens)
        return True

    def check_user(self, name: str, password: str) -> bool:
        """Whether the name and password match (a hash is computed either way)."""
        self.reload()
        stored = self.users.get(name)
        ok = check_password(password, stored or _DUMMY)
        return ok and stored is not None

    def token_label(self, token: str) -> str | None:
        """The label of a valid token, else None."""
        self.reload()
        return self.tokens.get(_token_hash(token)) if token else None

    def _save(self, users: dict, tokens: dict) -> None:
        text = json.dumps({"version": 1, "users": {k: {"hash": v} for k, v in users.items()},
                           "tokens": {lbl: h for h, lbl in tokens.items()}}, indent=1)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, text.encode())
            group = self.path.parent.stat().st_gid
            try:
                os.fchown(fd, -1, group)
            except PermissionError:
                pass                              # not in that group: the writer's own
            os.fchmod(fd, 0o640)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        folder = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
        self._mtime = None
        self.reload()


class Session:
    """One logged-in person."""

    def __init__(self, name: str, now: float, credential: str):
        self.token, self.csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        self.name, self.started, self.seen = name, now, now
        self.credential = credential      # the password hash it logged in with: a change ends it


class Gate:
    """Log-in attempts (lock-out, bounded hashing) and the sessions they open."""

    def __init__(self, access: AccessFile, idle_s: float = 1800, max_s: float = 12 * 3600,
                 after: int = 5, base_s: float = 30, lock_max_s: float = 3600,
                 clock=time.monotonic):
        self.access, self.clock = access, clock
        self.idle_s, self.max_s = idle_s, max_s
        self.after, self.base_s, self.lock_max_s = after, base_s, lock_max_s
        self.sessions: dict[str, Session] = {}
        self.failures: dict[str, list] = {}       # key -> [count, locked until]
        self.hashing = 0
        self._hasher = ThreadPoolExecutor(1, thread_name_prefix="fleet-scrypt")

    def wait_s(self, *keys: str) -> float:
        """Seconds until these keys ('user:N', 'addr:A') may try again (0: now)."""
        now = self.clock()
        return max([0.0] + [self.failures[k][1] - now for k in keys if k in self.failures])

    def _failed(self, keys) -> None:
        now = self.clock()
        for key in keys:
            entry = self.failures.pop(key, [0, 0.0])
            entry[0] += 1
            if entry[0] >= self.after:
                doublings = min(entry[0] - self.after, MAX_DOUBLINGS)
                entry[1] = now + min(self.lock_max_s, self.base_s * 2 ** doublings)
            self.failures[key] = entry            # re-inserted: dict order is recency
        while len(self.failures) > MAX_TRACKED:
            del self.failures[next(iter(self.failures))]

    async def login(self, name: str, password: str,
                    addr: "str | None") -> tuple[Session | None, str]:
        """(the new session, "") or (None, why: "locked N", "busy", "bad"); addr None when
        the client's address is not known (behind a proxy that did not name it)."""
        keys = (f"user:{name}",) if addr is None else (f"user:{name}", f"addr:{addr}")
        if (wait := self.wait_s(*keys)) > 0:
            return None, f"locked {math.ceil(wait)}"
        if self.hashing >= MAX_HASHING:
            return None, "busy"
        self._failed(keys)                        # counted now; a good password clears it
        self.hashing += 1
        try:
            ok = await asyncio.get_running_loop().run_in_executor(
                self._hasher, self.access.check_user, name, password)
        finally:
            self.hashing -= 1
        if not ok:
            wait = self.wait_s(*keys)
            return None, f"locked {math.ceil(wait)}" if wait > 0 else "bad"
        for key in keys:
            self.failures.pop(key, None)
        now = self.clock()
        self._expire(now)
        if len(self.sessions) >= MAX_SESSIONS:
            del self.sessions[min(self.sessions.values(), key=lambda s: s.seen).token]
        session = Session(name, now, self.access.users.get(name, ""))
        self.sessions[session.token] = session
        return session, ""

    def session(self, token: str | None) -> Session | None:
        """The live session of a cookie value, refreshed; None if unknown, expired, or its
        user was removed or given a new password since."""
        self.access.reload()
        session = self.sessions.get(token or "")
        now = self.clock()
        if session is None:
            return None
        if now - session.seen > self.idle_s or now - session.started > self.max_s \
                or self.access.users.get(session.name) != session.credential:
            del self.sessions[session.token]
            return None
        session.seen = now
        return session

    def logout(self, session: Session, csrf: str | None) -> bool:
        """End the session if the CSRF token is its own (constant-time)."""
        if not (csrf and hmac.compare_digest(session.csrf, csrf)):
            return False
        self.sessions.pop(session.token, None)
        return True

    def _expire(self, now: float) -> None:
        for token in [t for t, s in self.sessions.items()
                      if now - s.seen > self.idle_s or now - s.started > self.max_s]:
            del self.sessions[token]
