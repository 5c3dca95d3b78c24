"""The edge node's birth/death sequence number (bdSeq), persisted atomically across restarts."""

import asyncio
import json
import logging
from pathlib import Path

from agent.store.statefile import write_atomic

log = logging.getLogger(__name__)


class BdSeq:
    """The birth/death sequence number, persisted atomically before every CONNECT."""

    def __init__(self, path: Path):
        self.path = path
        self.value = -1                      # the first CONNECT uses 0 [tck-id-topics-nbirth-bdseq-increment]
        try:
            self.value = int(json.loads(path.read_text())["bdseq"])
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("sparkplug: %s unreadable (%s); bdSeq starts again at 0", path, exc)

    async def next(self) -> int:
        """The bdSeq of the coming CONNECT (0..255, as Tahu wraps it), on disk first."""
        value = (self.value + 1) % 256
        await asyncio.to_thread(write_atomic, self.path, json.dumps({"bdseq": value}).encode())
        self.value = value
        return value
