"""The crew's record: an append-only audit log, each line chained to the one before by hash.

One JSON object per line: the entry's fields plus `prev` (the previous line's hash) and
`hash` = SHA-256 of the canonical JSON of everything else. Editing, deleting or reordering
a line breaks the chain at that line, which `lentera audit verify` reports.

Appending is the one write in the agent that is not a whole-file replacement: each line
is written and fsynced on its own. A torn last line (power cut mid-write) is kept as the
evidence it is; the chain goes on from the last good line with a `chain_resumed` entry.

The newest end is anchored by a sealed head file (see agent/store/audithead.py). A head
that does not match the log at start is not quietly resealed: an `anchor_lost` entry goes
into the chain first, and verify lists it for ever after.
"""

import hashlib
import json
import logging
import os
from pathlib import Path

from agent.errors import LenteraError
from agent.store import audithead
from agent.store.serial import SerialWorker

log = logging.getLogger(__name__)

GENESIS = "0" * 64
MAX_LINE = 64 * 1024          # a longer "line" is not ours: verify says so, never loads it
MAX_BYTES = 1024 * 1024       # the live file rotates past this...
KEEP = 4                      # ...into audit.log.1 .. audit.log.4 (about 20,000 actions in all)


class AuditError(LenteraError, ValueError):
    """The audit log cannot be written; the message says what to do."""


def entry_hash(fields: dict) -> str:
    """SHA-256 of an entry's canonical JSON (sorted keys, no spaces), `hash` itself excluded."""
    body = {k: v for k, v in fields.items() if k != "hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"),
                                     ensure_ascii=False).encode()).hexdigest()


def _parse(raw: bytes):
    """(entry, None) for a well-formed chained line, else (None, why)."""
    if len(raw) > MAX_LINE:
        return None, f"line longer than {MAX_LINE} bytes"
    try:
        entry = json.loads(raw)
    except ValueError:
        return None, "not JSON (torn or edited)"
    if not isinstance(entry, dict) or not isinstance(entry.get("hash"), str) \
            or not isinstance(entry.get("prev"), str):
        return None, "no prev/hash fields"
    return entry, None


def files(path: str | Path, keep: int | None = None) -> list[Path]:
    """The log's files, oldest first: the rotated ones (path.N ... path.1), then path."""
    path = Path(path)
    if keep is None:      # verify: every numbered file, so a missing .1 cannot hide .2
        suffixes = (f.name[len(path.name) + 1:] for f in path.parent.glob(path.name + ".*"))
        numbers = sorted(int(x) for x in suffixes if x.isdigit())
    else:                 # the writer: the files its rotation keeps
        numbers = []
        while len(numbers) < keep and path.with_name(f"{path.name}.{len(numbers) + 1}").exists():
            numbers.append(len(numbers) + 1)
    rotated = [path.with_name(f"{path.name}.{n}") for n in numbers]
    return rotated[::-1] + ([path] if path.exists() else [])


def verify(path: str | Path) -> tuple[int, list[str]]:
    """(lines checked, problems) for the log at path and its rotated files; no problems means
    the chain is intact and ends where its sealed head says."""
    problems = []
    prev = first = audithead.sealed_first(path, GENESIS)
    count = 0
    hashes = []
    for part in files(path):
        where = "line" if part == Path(path) else f"{part.name} line"
        with open(part, "rb") as fh:
            for number, raw in enumerate(fh, 1):
                count += 1
                entry, why = _parse(raw.rstrip(b"\n"))
                if entry is None:
                    problems.append(f"{where} {number}: {why}")
                    continue
                if not hashes:
                    first = entry["prev"]
                if entry_hash(entry) != entry["hash"]:
                    problems.append(f"{where} {number}: content does not match its hash (edited)")
                elif entry["prev"] != prev:
                    before = f"line {number - 1}" if number > 1 else "the file before"
                    problems.append(f"{where} {number}: does not follow {before} "
                                    "(a line was removed, inserted or reordered)")
                if entry.get("action") == "anchor_lost":
                    problems.append(f"{where} {number}: the agent found the head broken at a "
                                    f"start: {entry.get('why')}")
                prev = entry["hash"]
                hashes.append(prev)
    return count, problems + audithead.check(path, hashes, first)


class AuditLog:
    """Append-only, hash-chained JSON lines; append() is durable when it returns."""

    def __init__(self, path: str | Path, fsync=os.fsync, max_bytes=MAX_BYTES, keep=KEEP):
        self.path = Path(path)
        self.max_bytes, self.keep = max_bytes, keep
        self.first = GENESIS                 # the oldest kept line's prev (sealed in the head)
        self._fsync = fsync                  # the seam a test slows down (a dying SD card)
        self._worker = SerialWorker(f"audit {self.path.name}")
        self.last = GENESIS
        self.count = 0
        self.entries = 0                     # chained (well-formed) lines: what the head seals
        self._resume_note = None
        self._anchor_note = None
        self.head_path, self.key_path = audithead.paths(self.path)
        self._key = None

    def open(self) -> None:
        """Find the chain's last hash; a torn or foreign last line is noted, not trusted;
        a head that does not match is noted in the chain before the next entry."""
        self._load_key()
        hashes = self._scan()
        problems = audithead.check(self.path, hashes, self.first)
        if problems:
            log.error("audit log %s does not match its sealed head (%s): noted in the log",
                      self.path, problems[0])
            self._anchor_note = problems[0]
            return                           # resealed only with the anchor_lost entry
        if hashes and not self.head_path.exists():
            log.warning("audit log %s has no head file yet: sealed as found", self.path)
        if hashes or self.head_path.exists():
            self._seal()

    def _load_key(self) -> None:
        try:
            self._key = audithead.load_key(self.key_path, create=True)
        except OSError as exc:
            raise AuditError(f"cannot read or make the audit head key {self.key_path} "
                             f"({exc.strerror}): fix the state folder's permissions") from exc

    def _scan(self) -> list[str]:
        hashes = []
        last_good = self.first = audithead.sealed_first(self.path, GENESIS)
        bad_tail = None
        self.count = 0
        for part in files(self.path, self.keep):
            with open(part, "rb") as fh:
                for number, raw in enumerate(fh, 1):
                    self.count = number if part == self.path else 0
                    entry, why = _parse(raw.rstrip(b"\n"))
                    if entry is None:
                        bad_tail = f"line {number}: {why}" if part == self.path else None
                        continue
                    if not hashes:
                        self.first = entry["prev"]
                    last_good, bad_tail = entry["hash"], None
                    hashes.append(last_good)
        self.last = last_good
        self.entries = len(hashes)
        if bad_tail is not None:
            log.warning("audit log %s ends in a damaged line (%s): kept as evidence; the chain "
                        "resumes after it (`lentera audit verify` will list it)", self.path,
                        bad_tail)
            self._resume_note = bad_tail
        return hashes

    def _seal(self) -> None:
        try:
            audithead.seal(self.head_path, self._key, self.entries, self.last, self.first)
        except OSError as exc:
            raise AuditError(f"cannot write the audit head {self.head_path} ({exc.strerror}): "
                             "free space or fix permissions") from exc

    async def write(self, ts: float, **fields) -> dict:
        """append() on the audit's own thread (the loop keeps running through the fsync);
        entries are chained in the order write() was called."""
        return await self._worker.run(self.append, ts, **fields)

    def append(self, ts: float, **fields) -> dict:
        """Write one entry (who, action, target, address, result...) and return it."""
        if self._key is None:
            self._load_key()
        if self._resume_note is not None:
            note, self._resume_note = self._resume_note, None
            self._write({"ts": round(ts, 3), "action": "chain_resumed", "after": note},
                        newline_first=True)
        if self._anchor_note is not None:
            note, self._anchor_note = self._anchor_note, None
            self._write({"ts": round(ts, 3), "action": "anchor_lost", "why": note})
        return self._write({"ts": round(ts, 3), **fields})

    def _write(self, fields: dict, newline_first: bool = False) -> dict:
        entry = {**fields, "prev": self.last}
        entry["hash"] = entry_hash(entry)
        line = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        data = (b"\n" if newline_first and self._ends_torn() else b"") + line.encode() + b"\n"
        try:
            if self.entries and self.path.exists() and \
                    self.path.stat().st_size + len(data) > self.max_bytes:
                self._rotate()
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                os.write(fd, data)
                self._fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise AuditError(f"cannot append to the audit log {self.path} ({exc.strerror}): "
                             "free space or fix permissions; the action was not taken") from exc
        self.last = entry["hash"]
        self.count += 1
        self.entries += 1
        self._seal()
        return entry

    def _rotate(self) -> None:
        """audit.log -> audit.log.1 -> ... -> audit.log.KEEP (the oldest dropped); the chain runs
        on into the new file, and the head is resealed at once with where it now starts."""
        for n in range(self.keep, 0, -1):
            older = self.path if n == 1 else self.path.with_name(f"{self.path.name}.{n - 1}")
            if older.exists():
                os.replace(older, self.path.with_name(f"{self.path.name}.{n}"))
        self._resume_note = None
        self._scan()
        self._seal()

    def _ends_torn(self) -> bool:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(-1, os.SEEK_END)
                return fh.read(1) != b"\n"
        except OSError:
            return False

    def tail(self, n: int = 50) -> list[dict]:
        """The last n well-formed entries, newest last (for the console's events view)."""
        if not self.path.exists():
            return []
        with open(self.path, "rb") as fh:
            fh.seek(max(0, self.path.stat().st_size - 512 * n))
            lines = fh.read().split(b"\n")[-n - 1:]
        return [e for e in (_parse(raw)[0] for raw in lines if raw) if e is not None][-n:]
