"""Small state files the agent keeps besides the outbox (the pushed schedule, detector state).

Written atomically: temporary file, fsync, rename, fsync of the folder, so a power cut
leaves either the old file or the new one, never a torn one.
"""

import asyncio
import itertools
import logging
import os
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)
_writes = itertools.count(1)


def write_atomic(path: str | Path, data: bytes) -> None:
    """Replace path's content with data, crash-safely; OSError (disk full, read-only) on failure."""
    path = Path(path)
    # a temporary name of its own per write: an hourly save still running when the
    # shutdown's save starts must not write into the same file
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}-{next(_writes)}")
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


async def write_atomic_off_loop(path: str | Path, data: bytes) -> None:
    """write_atomic in a daemon thread of its own (bound the wait with the caller's timeout).

    Not the loop's default executor: asyncio.run() and the interpreter wait for its threads
    at exit, so a write stuck on a dying SD card would hold the agent's stop without bound.
    A write abandoned at exit leaves at most its temporary file; the old file stays whole.
    """
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def settle(error):
        if done.done():
            return
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)

    def work():
        error = None
        try:
            write_atomic(path, data)
        except BaseException as exc:     # handed to the awaiting coroutine, raised there
            error = exc
        try:
            loop.call_soon_threadsafe(settle, error)
        except RuntimeError:
            pass                         # the loop is gone: nobody waits any more
    threading.Thread(target=work, name=f"save {Path(path).name}", daemon=True).start()
    await done


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
