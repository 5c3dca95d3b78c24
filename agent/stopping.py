"""Steps of the agent's stop: each bounded, each failure logged, none skipping the next."""

import asyncio
import logging

log = logging.getLogger("lentera")


async def bounded(step, timeout: float, what: str) -> bool:
    """Await step for at most timeout (shielded: at the timeout we go on at once, and the
    step finishes, or not, on its own); False, logged with the cause, if it did not end well."""
    task = asyncio.ensure_future(step)
    try:
        await asyncio.wait_for(asyncio.shield(task), timeout)
        return True
    except asyncio.TimeoutError:
        log.error("stopping: %s took over %.1f s (slow storage or network?); going on", what,
                  timeout)
    except Exception as exc:        # noqa: BLE001 - a failed step must not skip the next ones
        log.error("stopping: %s failed (%r); going on", what, exc)
    return False


def quietly(call, what: str) -> None:
    """call(); an exception is logged and the stop goes on."""
    try:
        call()
    except Exception as exc:        # noqa: BLE001 - as above
        log.error("stopping: %s failed (%r); going on", what, exc)
