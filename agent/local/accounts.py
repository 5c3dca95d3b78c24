"""Crew accounts: names, roles and scrypt password hashes in one small JSON file.

There is no default account: the console stays off until `lentera crew add` writes one.
The file is written atomically; a corrupt file is moved aside (no account then, so the
console refuses everyone and says why).
"""

import hashlib
import hmac
import json
import logging
import os
import re
from pathlib import Path

from agent.errors import LenteraError
from agent.store.statefile import write_atomic

log = logging.getLogger(__name__)

ROLES = ("viewer", "operator")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
# scrypt: 2^15 x 8 x 128 B = 32 MiB of memory a guess, ~0.1 s on a Pi 4
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 15, 8, 1
MIN_PASSWORD = 8


class AccountError(LenteraError, ValueError):
    """A crew account that cannot be made as asked; the message says how to fix it."""


def hash_password(password: str, salt: bytes | None = None, n: int = SCRYPT_N) -> str:
    """'scrypt$N$r$p$salt$hash' (hex) of a password."""
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=SCRYPT_R, p=SCRYPT_P,
                            maxmem=2 ** 26, dklen=32)
    return f"scrypt${n}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    """Whether password matches a stored hash (constant-time compare)."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r),
                             p=int(p), maxmem=2 ** 26, dklen=len(digest) // 2)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


# checked against when the name is unknown, so a wrong name costs as long as a wrong password
_DUMMY = hash_password("not a password", b"\0" * 16)


class Accounts:
    """The accounts file, re-read when it changes (so `crew add` needs no restart)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.accounts: dict[str, dict] = {}
        self._mtime = None

    def reload(self) -> dict:
        """Read the file if it changed; {name: {"role", "hash"}}."""
        try:
            mtime = self.path.stat().st_mtime_ns
        except OSError:
            self.accounts, self._mtime = {}, None
            return self.accounts
        if mtime == self._mtime:
            return self.accounts
        self._mtime = mtime
        try:
            raw = self.path.read_bytes()
        except OSError as exc:            # e.g. root:root 0600 after `sudo lentera crew add`
            log.error("crew accounts %s cannot be read (%s): nobody can log in; make it "
                      "readable by the service user (chown lentera %s)", self.path,
                      exc.strerror, self.path)
            self.accounts = {}
            return self.accounts
        try:
            doc = json.loads(raw)
            accounts = {str(k): {"role": v["role"], "hash": v["hash"]}
                        for k, v in doc["accounts"].items() if v["role"] in ROLES}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            aside = self.path.with_name(self.path.name + ".corrupt")
            self.path.replace(aside)
            log.warning("crew accounts %s unreadable (%s): moved to %s; nobody can log in "
                        "until `lentera crew add` makes an account", self.path, exc, aside)
            accounts, self._mtime = {}, None
        self.accounts = accounts
        return accounts

    def add(self, name: str, password: str, role: str = "operator") -> None:
        """Create or replace one account, atomically."""
        if not NAME.match(name):
            raise AccountError(f"{name!r}: a crew name is 1-32 letters, digits, '.', '_' or "
                               "'-', e.g. budi or crew-7")
        if role not in ROLES:
            raise AccountError(f"role {role!r}: use viewer or operator")
        if len(password) < MIN_PASSWORD:
            raise AccountError(f"the password is shorter than {MIN_PASSWORD} characters")
        accounts = dict(self.reload())
        accounts[name] = {"role": role, "hash": hash_password(password)}
        self._save(accounts)

    def remove(self, name: str) -> bool:
        """Delete one account (its open sessions end at their next request); True if it existed."""
        accounts = dict(self.reload())
        if accounts.pop(name, None) is None:
            return False
        self._save(accounts)
        return True

    def _save(self, accounts: dict) -> None:
        """Write the file 0640 in its folder's group: on a gateway `sudo lentera crew add`
        writes /etc/lentera/crew.json as root:lentera, which the service (group lentera) reads."""
        write_atomic(self.path, json.dumps({"version": 1, "accounts": accounts},
                                           indent=1).encode())
        group = self.path.parent.stat().st_gid
        if self.path.stat().st_gid != group:
            try:
                os.chown(self.path, -1, group)
            except PermissionError:
                pass        # not in the folder's group: the file keeps the writer's group
        os.chmod(self.path, 0o640)
        self.reload()

    def check(self, name: str, password: str) -> str | None:
        """The account's role if name and password match, else None."""
        account = self.reload().get(name)
        if account is None:
            check_password(password, _DUMMY)
            return None
        return account["role"] if check_password(password, account["hash"]) else None
