"""PostgreSQL access for the fleet (asyncpg): connect, migrate, tell transient failures apart.

Only agent/fleet/db.py, agent/fleet/writer.py, agent/fleet/partitions.py and the other fleet adapters touch
asyncpg; every query is parameterised (tests/agent/fleet/test_bad_input.py feeds SQL through
every text field).
"""

import asyncio
from pathlib import Path

import asyncpg
from drivers.errors import LenteraError

MIGRATIONS = Path(__file__).with_name("migrations")


class FleetDbError(LenteraError, RuntimeError):
    """The database refused something for a reason that waiting will not fix."""


def is_transient(exc: BaseException) -> bool:
    """A lost connection, a server shutting down or starting, a deadlock: retry later."""
    # InternalClientError: asyncpg's protocol state after the server dropped us mid-query
    if isinstance(exc, (OSError, asyncio.TimeoutError, asyncpg.InterfaceError,
                        asyncpg.PostgresConnectionError, asyncpg.InternalClientError)):
        return True
    state = getattr(exc, "sqlstate", None) or ""
    return state[:2] in ("08", "57", "53", "40")


async def connect(dsn: str, timeout: float = 10.0) -> asyncpg.Connection:
    """One connection; OSError/asyncpg errors propagate for the caller's back-off."""
    return await asyncpg.connect(dsn, timeout=timeout, command_timeout=60)


async def migrate(conn: asyncpg.Connection) -> list[str]:
    """Apply the migrations not yet applied, each in its own transaction; names applied."""
    await conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                       "name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
    applied = []
    for path in sorted(MIGRATIONS.glob("*.sql")):
        async with conn.transaction():
            # two workers starting together: one applies, the other waits and sees it done
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('lentera-migrate'))")
            if await conn.fetchval("SELECT 1 FROM schema_migrations WHERE name = $1",
                                   path.name):
                continue
            await conn.execute(path.read_text(encoding="utf-8"))
            await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", path.name)
            applied.append(path.name)
    return applied


async def known_gateways(conn: asyncpg.Connection) -> set[str]:
    """The ids in the registry."""
    return {r["id"] for r in await conn.fetch("SELECT id FROM gateways")}
