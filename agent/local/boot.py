"""Starting the console so that its files can never stop the lights.

The console reads three files at start (the crew accounts, the audit log, the plots' history).
One that cannot be read (permissions after a `sudo lentera crew add`, a directory in its
place, a failing card) disables the console with an error that names the file and the fix;
the agent, and the lights, keep running without it.
"""

import logging

from agent.errors import LenteraError

log = logging.getLogger(__name__)


def start_console(site, start) -> None:
    """Build the console and start its tasks, or log why it stays off (never raises)."""
    from agent.local.console import Console      # aiohttp costs memory: only when configured
    try:
        console = Console(site)
    except (OSError, LenteraError) as exc:
        site.console_error = f"console disabled: {exc}"
        log.error("console disabled, the lights keep running without it: %s; fix the file "
                  "(owner and mode: the service user must read and write it) and restart",
                  exc)
        return
    start("console.serve", console.serve_loop)
    start("console.history", console.history_loop)
