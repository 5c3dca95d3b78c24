"""Small state files the agent keeps besides the outbox (the pushed schedule, detector state).

Written atomically: temporary file, fsync, rename, fsync of the folder, so a power cut
leaves either the old file or the new one, never a torn one.
"""

import os
from pathlib import Path


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
