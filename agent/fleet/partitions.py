"""Telemetry's day partitions: created before a day's first row, dropped for retention."""

from datetime import date, datetime, timedelta, timezone

import asyncpg

DAY_MS = 86_400_000


def day_of(ts_ms: int) -> date:
    """The UTC day a reading's ts falls in."""
    return datetime.fromtimestamp(ts_ms / 1000, timezone.utc).date()


def partition_name(day: date) -> str:
    """telemetry_YYYYMMDD (built from a date, never from outside text)."""
    return f"telemetry_{day:%Y%m%d}"


async def ensure_days(conn: asyncpg.Connection, days: set[date], known: set[date]) -> None:
    """Create the partitions of `days` not in `known` (and remember them there)."""
    for day in sorted(days - known):
        start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
        async with conn.transaction():
            # workers racing to create the same day take turns
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('lentera-partitions'))")
            # identifiers cannot be parameters; the name and bounds come from a date object
            await conn.execute(
                f"CREATE TABLE IF NOT EXISTS {partition_name(day)} PARTITION OF telemetry "
                f"FOR VALUES FROM ('{start.isoformat()}') "
                f"TO ('{(start + timedelta(days=1)).isoformat()}')")
        known.add(day)


async def drop_older_than(conn: asyncpg.Connection, keep_days: int, today: date) -> list[str]:
    """Drop whole day partitions older than `keep_days` (retention without DELETE)."""
    cutoff = partition_name(today - timedelta(days=keep_days))
    rows = await conn.fetch(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'telemetry' "
        "ORDER BY c.relname")
    dropped = [r["relname"] for r in rows if r["relname"] < cutoff]
    for name in dropped:
        await conn.execute(f'DROP TABLE IF EXISTS "{name}"')
    return dropped
