"""The audit log's anchor: a sealed head file, so removing the newest lines shows.

The chain alone proves only that each line follows the one before: deleting the newest
lines, emptying the file or re-chaining an edit from the top all leave a valid chain. The
head file (`audit.log.head`) records how many chained entries the log holds and the newest
entry's hash, sealed with HMAC-SHA256 under a key of its own (`audit.log.key`, 0600, made
on first use). Someone who can edit the log (it is 0640, readable by the lentera group) but
cannot read the key cannot forge a head that matches a shortened or re-chained log. Against
root on the gateway the second anchor is the city's copy: every crew_action event carries
`audit_head`, the hash of its audit line, and what the city has received cannot be taken back.

The log rotates by size (audit.log.1 ... audit.log.N, oldest dropped); the chain runs on
across the files and the head also seals where the kept chain starts (`first`), so removing
a rotated file shows too. The head is rewritten (atomically) after each appended line. A power cut between the two
leaves one entry after the sealed head; verify accepts exactly that one, and the agent
reseals at its next start. A log older than the head file is sealed as found at the first
start (trust on first use, logged).
"""

import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

from agent.store.statefile import write_atomic

KEY_BYTES = 32


def paths(log_path: str | Path) -> tuple[Path, Path]:
    """(head file, key file) of the audit log at log_path."""
    log_path = Path(log_path)
    return (log_path.with_name(log_path.name + ".head"),
            log_path.with_name(log_path.name + ".key"))


def load_key(key_path: Path, create: bool = False) -> bytes:
    """The sealing key; made (32 random bytes, 0600) when create and missing or torn (a power
    cut while it was first written leaves it short: no head was sealed with it). OSError else."""
    try:
        key = key_path.read_bytes()
        if len(key) >= KEY_BYTES or not create:
            return key
    except FileNotFoundError:
        if not create:
            raise
    key = secrets.token_bytes(KEY_BYTES)
    tmp = key_path.with_name(key_path.name + ".new")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, key)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, key_path)       # whole or not at all
    return key


def _mac(key: bytes, entries: int, last: str, first: str) -> str:
    return hmac.new(key, f"lentera-audit-head:{entries}:{last}:{first}".encode(),
                    hashlib.sha256).hexdigest()


def seal(head_path: Path, key: bytes, entries: int, last: str, first: str) -> None:
    """Write the head (entries in the kept files, newest hash, the oldest kept line's `prev`,
    seal) crash-safely; OSError on failure."""
    head = {"entries": entries, "last": last, "first": first,
            "mac": _mac(key, entries, last, first)}
    write_atomic(head_path, json.dumps(head, sort_keys=True).encode() + b"\n")


def sealed_first(log_path: str | Path, default: str) -> str:
    """Where the head says the kept chain starts (after rotation dropped older files)."""
    try:
        return str(json.loads(paths(log_path)[0].read_bytes())["first"])
    except (OSError, ValueError, TypeError, KeyError):
        return default


def check(log_path: str | Path, hashes: list[str], first: str) -> list[str]:
    """Problems of the log's chained entry hashes (oldest first, across its rotated files;
    first: the oldest line's `prev`) against its sealed head."""
    head_path, key_path = paths(log_path)
    if not head_path.exists():
        if not hashes:
            return []
        both = "" if key_path.exists() else f" and no key {key_path.name}"
        return [f"anchor missing: no sealed head file {head_path}{both}, yet the log holds "
                f"{len(hashes)} entr{'y' if len(hashes) == 1 else 'ies'} (a fresh install has "
                "no lines; were they deleted? the agent writes the head with every entry): "
                "removed newest lines cannot be ruled out"]
    try:
        key = load_key(key_path)
    except OSError as exc:
        return [f"cannot read the head's key {key_path} ({exc.strerror}): run `lentera audit "
                "verify` as root or as the lentera service user"]
    try:
        head = json.loads(head_path.read_bytes())
        entries, last, mac = int(head["entries"]), str(head["last"]), str(head["mac"])
        sealed_start = str(head["first"])
    except (OSError, ValueError, TypeError, KeyError) as exc:
        return [f"the head file {head_path} is unreadable ({exc}): it was damaged or edited"]
    if not hmac.compare_digest(mac, _mac(key, entries, last, sealed_start)):
        return [f"the head file {head_path} does not match its seal: it was edited"]
    if hashes and first != sealed_start:
        return ["the oldest kept entry is not where the sealed head starts the chain: an older "
                "rotated file or the oldest lines were removed"]
    if len(hashes) < entries:
        return [f"{entries - len(hashes)} newest entr{'y' if entries - len(hashes) == 1 else 'ies'}"
                f" missing: the sealed head records {entries}, the log holds {len(hashes)} "
                "(lines removed from the end, or the file emptied)"]
    if entries and hashes[entries - 1] != last:
        return [f"entry {entries} is not the one the head sealed: the log was re-chained "
                "(lines edited or replaced and their hashes recomputed)"]
    if len(hashes) > entries + 1:       # one: a power cut between the line and its head
        return [f"{len(hashes) - entries} entries after the sealed head were not written by "
                "the agent (added by hand)"]
    return []
