"""Small state files the agent keeps besides the outbox (the pushed schedule, detector state).

Written atomically: temporary file, fsync, rename, fsync of the folder, so a power cut
leaves either the old file or the new one, never a torn one.
"""

import logging
import os
import time
from pathlib import Path

log = logging.getLogger(__name__)


def write_atomic(path: str | Path, data: bytes) -> None:
    """Replace path's content with data, crash-safely; OSError (disk full, read-only) on failure."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)        # the rename itself is durable only once the folder is
    finally:
        os.close(fd)


def quarantine(path: str | Path) -> Path:
    """Move a file that cannot be loaded aside as NAME.corrupt-<UTC time>; returns the new name."""
    path = Path(path)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    os.replace(path, aside)
    return aside


def load_or_quarantine(path: str | Path, load, on_corrupt):
    """load(path) -> value; None when the file is missing or cannot be loaded.

    Whatever load() raises (a torn zip, an empty file, bad JSON, a value that no longer
    validates, a numpy error...) the file is moved aside, on_corrupt(path, aside, exc) is told,
    and the agent starts fresh: a state file must never keep the agent from starting. This is
    why it catches Exception, the one place besides the supervisor that does.
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        return load(path)
    except Exception as exc:  # noqa: BLE001 - see above: any failure means "start fresh"
        try:
            aside = quarantine(path)
        except OSError as move_exc:
            log.error("cannot move the unreadable %s aside (%s)", path, move_exc)
            aside = None
        log.error("state file %s cannot be loaded (%s: %s); moved aside to %s, starting fresh",
                  path, type(exc).__name__, exc, aside)
        on_corrupt(path, aside, exc)
        return None
