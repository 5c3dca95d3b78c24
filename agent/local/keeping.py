"""Keeping the plots' history across restarts: saved now and then, and on the way out."""

import asyncio
import logging

from agent.store.statefile import write_atomic_off_loop

log = logging.getLogger(__name__)


async def keep_history(history, path: str, every_s: float) -> None:
    """Save every every_s (the file write in a thread), and once more when cancelled."""
    try:
        while True:
            await asyncio.sleep(every_s)       # a period, not a poll
            data = history.to_bytes()
            try:
                await write_atomic_off_loop(path, data)
            except OSError as exc:
                log.warning("cannot save the console history to %s (%s)", path, exc)
    finally:
        try:
            history.save(path)
        except OSError as exc:
            log.warning("cannot save the console history to %s (%s)", path, exc)
