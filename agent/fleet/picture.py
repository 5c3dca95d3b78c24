"""The city's picture read from PostgreSQL: lights, open faults, energy per night per group.

The SQL lives in migrations/003_picture.sql (views `light_points`, `gateway_heard`, the
`light_last` table and the functions `open_faults`, `energy_per_night`); this module only
filters them, with parameters and never with text pasted into SQL
(tests/agent/fleet/test_http.py feeds injection strings through every text parameter).
"""

from datetime import date, datetime, timedelta

import asyncpg
from drivers.errors import LenteraError

from agent.fleet.db import is_transient
from agent.fleet.geo import Query, collection

# $1..$5: the box (west, south, east, north; all null for none), $6 group, $7 office
WHERE = """
WHERE ($1::float8 IS NULL OR (p.geom && ST_MakeEnvelope($1, $2, $3, $4, 4326)::geography
       AND ST_Intersects(p.geom::geometry, ST_MakeEnvelope($1, $2, $3, $4, 4326))))
  AND ($5::text IS NULL OR p.grp = $5) AND ($6::text IS NULL OR p.office = $6)
"""

# the features are built by PostgreSQL (json_build_object), one JSON text per row: for a
# whole city of 50,000 lights that took 1.1 s instead of 3.2 s with dicts built in Python
# (bench/fleet_picture.py); the property names are docs/fleet.md's "HTTP API and map"
GEOMETRY = "ST_AsGeoJSON(p.geom::geometry, 7)::json"
PLACE = "'pole_id', p.pole_id, 'group', p.grp, 'office', p.office"

LIGHTS_SQL = f"""
SELECT json_build_object('type', 'Feature', 'id', p.gateway_id || '/' || p.device_id,
    'geometry', {GEOMETRY}, 'properties', json_build_object(
        'gateway', p.gateway_id, 'device', p.device_id, {PLACE},
        'state', CASE WHEN f.kinds IS NOT NULL THEN 'fault'
                      WHEN p.reading_ts IS NULL THEN 'never_reported' ELSE 'ok' END,
        'faults', coalesce(f.kinds, '{{}}'), 'gateway_state', p.gateway_state,
        'reading_ts', p.reading_ts, 'quality', p.quality, 'power', p.power,
        'energy', p.energy, 'lamp_state', p.lamp_state))::text
FROM light_points p
LEFT JOIN (SELECT gateway_id, device_id, array_agg(DISTINCT kind ORDER BY kind) AS kinds
           FROM open_faults($8, $9) GROUP BY 1, 2) f
    ON f.gateway_id = p.gateway_id AND f.device_id = p.device_id
""" + WHERE + " ORDER BY p.gateway_id, p.device_id LIMIT $7"

# a fault of a device the registry does not list has no point: it still comes without a box
FAULTS_SQL = f"""
SELECT json_build_object('type', 'Feature',
    'id', coalesce(f.fault_id::text, 'communication/' || f.gateway_id || '/' || f.device_id),
    'geometry', {GEOMETRY}, 'properties', json_build_object(
        'kind', f.kind, 'since', f.since, 'gateway', f.gateway_id, 'device', f.device_id,
        {PLACE}, 'detail', f.detail))::text
FROM open_faults($8, $9) f
LEFT JOIN light_points p ON p.gateway_id = f.gateway_id AND p.device_id = f.device_id
""" + WHERE + """  AND ($10::text IS NULL OR f.kind = $10)
ORDER BY f.since, f.gateway_id, f.device_id, f.kind LIMIT $7"""


class PictureUnavailable(LenteraError, RuntimeError):
    """The database did not answer (down, restarting, too slow): try again later."""


async def open_pool(dsn: str, size: int = 4) -> asyncpg.Pool:
    """A small pool for the HTTP API; every query gives up after 30 s."""
    try:
        return await asyncpg.create_pool(dsn, min_size=1, max_size=size, command_timeout=30,
                                         server_settings={"timezone": "UTC"})
    except (OSError, asyncpg.PostgresError) as exc:
        raise PictureUnavailable(f"cannot reach the database: {exc}; check that PostgreSQL "
                                 "is up and --db (or LENTERA_FLEET_DB) names it") from exc


async def fetch(pool: asyncpg.Pool, job, *args):
    """`await job(conn, *args)` on a pooled connection; PictureUnavailable for a lost or
    refusing database (the API answers 503 and the next request tries again)."""
    try:
        async with pool.acquire(timeout=10) as conn:
            return await job(conn, *args)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError,
            asyncpg.InternalClientError, TimeoutError) as exc:
        kind = "unreachable" if is_transient(exc) else "refused the query"
        raise PictureUnavailable(f"database {kind}: {exc}; check that PostgreSQL is up "
                                 "and the schema is migrated (`lentera fleet migrate`)") \
            from exc


async def zone_known(conn: asyncpg.Connection, tz: str) -> bool:
    """Whether PostgreSQL knows the time zone name (pg_timezone_names)."""
    return bool(await conn.fetchval("SELECT 1 FROM pg_timezone_names WHERE name = $1", tz))


def _filters(q: Query) -> list:
    box = list(q.bbox) if q.bbox else [None] * 4
    return [*box, q.group, q.office, q.limit + 1]


async def lights(conn: asyncpg.Connection, q: Query, now: datetime,
                 comm_after: timedelta) -> str:
    """lights.geojson (its text): every registered light in the box/group/office, with
    its state."""
    rows = await conn.fetch(LIGHTS_SQL, *_filters(q), now, comm_after)
    return collection([r[0] for r in rows], q.limit)


async def faults(conn: asyncpg.Connection, q: Query, now: datetime,
                 comm_after: timedelta) -> str:
    """faults.geojson (its text): the open faults, the communication kind included."""
    rows = await conn.fetch(FAULTS_SQL, *_filters(q), now, comm_after, q.kind)
    return collection([r[0] for r in rows], q.limit)


async def energy_per_night(conn: asyncpg.Connection, tz: str, first: date, last: date,
                           group: str | None = None) -> list[dict]:
    """[{group, night, lights, energy_wh}] for the nights first..last (dates of evenings)."""
    rows = await conn.fetch("SELECT * FROM energy_per_night($1, $2, $3) "
                            "WHERE $4::text IS NULL OR grp = $4", tz, first, last, group)
    return [{"group": r["grp"], "night": r["night"].isoformat(), "lights": r["lights"],
             "energy_wh": r["energy_wh"]} for r in rows]


async def last_readings(conn: asyncpg.Connection) -> dict:
    """{(gateway, device): row} of the newest reading per light."""
    rows = await conn.fetch("SELECT * FROM light_last")
    return {(r["gateway_id"], r["device_id"]): dict(r) for r in rows}
