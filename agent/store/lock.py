"""One agent per state directory: an OS lock (flock) on `lentera.lock` next to the outbox.

Two agents on one outbox would hand out the same `seq` to different messages and knock
each other off the broker (same client id), so the second one must not start at all.
The lock is taken before the outbox is opened and held for the life of the process; the
kernel releases it when the process dies, however it dies (SIGKILL, power cut), so a stale
lock file never blocks a restart. The file holds the holder's pid, for the error message.
"""

import fcntl
import os
from pathlib import Path

from agent.errors import LenteraError

LOCK_NAME = "lentera.lock"


class AlreadyRunning(LenteraError):
    """Another agent holds the state directory's lock."""


class StateLock:
    """flock(LOCK_EX | LOCK_NB) on `<folder>/lentera.lock`; raises AlreadyRunning if taken."""

    def __init__(self, folder: str | Path):
        self.path = Path(folder) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock at once or raise AlreadyRunning naming the holder's pid and the path."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _read_pid(fd)
            os.close(fd)
            raise AlreadyRunning(
                f"another lentera agent (pid {holder}) is already running on this state "
                f"directory: {self.path} is locked. One agent per outbox: stop the other one "
                "(systemctl stop lentera), or give this config its own outbox.path") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        """Give the lock up (also done by the kernel when the process ends)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _read_pid(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    except OSError:
        return "unknown"
    return text if text.isdigit() else "unknown"
