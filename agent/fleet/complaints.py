"""Citizens' complaints matched to the lights' faults, with the evidence for each verdict.

A complaint (id, text, time, position and/or pole id, office) is matched in this order:
1. a pole id the registry knows names the light;
2. otherwise the nearest light with a fault open at the complaint's time within
   `radius_m` of its position (PostGIS KNN `<->` on geography, bounded by `ST_DWithin`);
3. otherwise the nearest light within `radius_m`, if any.
`radius_m` is the worst GPS error expected of the complaints app (30 m by default): a larger
radius reaches the faulty neighbour of a fine lamp (bench/complaints_match.py shows it).
The verdict: `confirmed` (that light had a fault open at the time: raised before the
complaint + `grace`, not cleared before it), `healthy_since` (no such fault, and the lamp
reported itself lit and good after the complaint), or `send_crew` (nothing seen).
"""

import csv
import io
import json
from datetime import datetime, timedelta, timezone

import asyncpg
from drivers.errors import LenteraError

VERDICTS = ("confirmed", "send_crew", "healthy_since")


class ComplaintError(LenteraError, ValueError):
    """A complaints file that cannot be read; names the record and field."""


def _when(value, where: str) -> datetime:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, timezone.utc)
    try:
        t = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ComplaintError(f"{where}.reported_at: {value!r} is neither ISO 8601 nor "
                             "epoch milliseconds") from None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def _float(value, lo: float, hi: float, where: str) -> float | None:
    if value in (None, ""):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ComplaintError(f"{where}: {value!r} is not a number") from None
    if not lo <= number <= hi:
        raise ComplaintError(f"{where}: {number} is out of range {lo}..{hi}")
    return number


def parse_complaints(text: str, fmt: str) -> list[tuple]:
    """(id, office, body, reported_at, lon, lat, pole_id) per complaint, from CSV or JSON
    (a list of objects, or {"complaints": [...]}); ComplaintError names the bad record."""
    if fmt == "json":
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise ComplaintError(f"not JSON: {exc}") from None
        items = doc.get("complaints") if isinstance(doc, dict) else doc
        if not isinstance(items, list):
            raise ComplaintError("expected a list of complaints (or {\"complaints\": [...]})")
    else:
        items = list(csv.DictReader(io.StringIO(text)))
    rows = []
    for i, item in enumerate(items):
        where = f"complaints[{i}]"
        if not isinstance(item, dict) or not item.get("id"):
            raise ComplaintError(f"{where}: an object with an `id` is required")
        lat = _float(item.get("lat"), -90, 90, f"{where}.lat")
        lon = _float(item.get("lon"), -180, 180, f"{where}.lon")
        pole = item.get("pole_id") or None
        if (lat is None) != (lon is None) or (lat is None and pole is None):
            raise ComplaintError(f"{where}: needs a position (lat and lon) or a pole_id")
        rows.append((str(item["id"])[:128], item.get("office") or None,
                     str(item.get("text") or "")[:2000],
                     _when(item.get("reported_at"), where), lon, lat, pole))
    return rows


async def import_complaints(conn: asyncpg.Connection, rows: list[tuple]) -> int:
    """Insert new complaints (a re-import of the same id changes nothing); how many new."""
    result = await conn.executemany(
        "INSERT INTO complaints (id, office, body, reported_at, geom, pole_id) VALUES "
        "($1, $2, $3, $4, CASE WHEN $5::float8 IS NULL THEN NULL ELSE "
        "ST_SetSRID(ST_MakePoint($5, $6::float8), 4326)::geography END, $7) "
        "ON CONFLICT (id) DO NOTHING", rows)
    del result
    return len(rows)


MATCH_SQL = """
WITH c AS (SELECT * FROM complaints WHERE id = ANY($1::text[])),
named AS (
  SELECT c.id, l.gateway_id, l.device_id, l.geom FROM c JOIN lights l ON l.pole_id = c.pole_id),
faulty AS (
  SELECT c.id, f.gateway_id, f.device_id, f.id AS fault_id, f.kind, f.raised_ts, d.dist
  FROM c CROSS JOIN LATERAL (
    SELECT f.*, ST_Distance(l.geom, c.geom) AS dist
    FROM faults f JOIN lights l USING (gateway_id, device_id)
    WHERE c.geom IS NOT NULL AND NOT EXISTS (SELECT 1 FROM named WHERE named.id = c.id)
      AND ST_DWithin(l.geom, c.geom, $2) AND f.raised_ts <= c.reported_at + $3::interval
      AND (f.cleared_ts IS NULL OR f.cleared_ts > c.reported_at)
    ORDER BY l.geom <-> c.geom LIMIT 1) d JOIN faults f ON f.id = d.id),
nearest AS (
  SELECT c.id, n.gateway_id, n.device_id, n.dist FROM c CROSS JOIN LATERAL (
    SELECT l.gateway_id, l.device_id, ST_Distance(l.geom, c.geom) AS dist FROM lights l
    WHERE c.geom IS NOT NULL AND ST_DWithin(l.geom, c.geom, $2)
    ORDER BY l.geom <-> c.geom LIMIT 1) n)
SELECT c.id, c.reported_at,
  coalesce(nm.gateway_id, fy.gateway_id, ne.gateway_id) AS gateway_id,
  coalesce(nm.device_id, fy.device_id, ne.device_id) AS device_id,
  CASE WHEN nm.id IS NOT NULL THEN ST_Distance(nm.geom, c.geom)
       WHEN fy.id IS NOT NULL THEN fy.dist ELSE ne.dist END AS distance_m,
  nm.id IS NOT NULL AS by_pole
FROM c LEFT JOIN named nm ON nm.id = c.id LEFT JOIN faulty fy ON fy.id = c.id
  LEFT JOIN nearest ne ON ne.id = c.id
"""

FAULT_AT_SQL = """
SELECT id, kind, raised_ts FROM faults WHERE gateway_id = $1 AND device_id = $2
  AND raised_ts <= $3::timestamptz + $4::interval AND (cleared_ts IS NULL OR cleared_ts > $3)
ORDER BY raised_ts DESC LIMIT 1
"""

# the light itself (named by pole id), else the nearest lit-and-good light within the radius
HEALTHY_SQL = """
SELECT l.gateway_id, l.device_id, min(t.ts) AS since, min(ST_Distance(l.geom, c.geom)) AS dist
FROM complaints c JOIN lights l ON (NOT $2 AND ST_DWithin(l.geom, c.geom, $3))
    OR ($2 AND (l.gateway_id, l.device_id) = ($4, $5))
  JOIN telemetry t ON t.gateway_id = l.gateway_id AND t.device_id = l.device_id
WHERE c.id = $1 AND t.ts > c.reported_at AND t.lamp_state = 1 AND t.quality = 'good'
GROUP BY 1, 2 ORDER BY 4 NULLS FIRST LIMIT 1
"""


async def match(conn: asyncpg.Connection, ids: list[str] | None = None, radius_m: float = 30,
                grace: timedelta = timedelta(hours=2)) -> list[dict]:
    """Match the given complaints (default: those without a verdict); the verdicts, stored."""
    if ids is None:
        ids = [r["id"] for r in await conn.fetch(
            "SELECT id FROM complaints WHERE verdict IS NULL ORDER BY reported_at")]
    out = []
    for row in await conn.fetch(MATCH_SQL, ids, radius_m, grace):
        out.append(await _verdict(conn, dict(row), radius_m, grace))
    async with conn.transaction():
        await conn.executemany(
            "UPDATE complaints SET verdict = $2, gateway_id = $3, device_id = $4, "
            "fault_id = $5, distance_m = $6, explanation = $7 WHERE id = $1",
            [(m["id"], m["verdict"], m["gateway_id"], m["device_id"], m["fault_id"],
              m["distance_m"], m["explanation"]) for m in out])
    return out


async def _verdict(conn, row: dict, radius_m: float, grace: timedelta) -> dict:
    row["fault_id"] = None
    if row["gateway_id"] is None:
        row.update(verdict="send_crew", explanation=f"no known light within {radius_m:g} m "
                   "and no known pole id: send a crew to look")
        return row
    where = (f"pole id names {row['gateway_id']}/{row['device_id']}" if row["by_pole"] else
             f"{row['gateway_id']}/{row['device_id']} is {row['distance_m']:.0f} m away")
    fault = await conn.fetchrow(FAULT_AT_SQL, row["gateway_id"], row["device_id"],
                                row["reported_at"], grace)
    if fault:
        lag = (row["reported_at"] - fault["raised_ts"]).total_seconds() / 60
        row.update(verdict="confirmed", fault_id=fault["id"], explanation=(
            f"confirmed by telemetry: {where}; fault {fault['kind']} (#{fault['id']}) raised "
            f"{abs(lag):.0f} min {'before' if lag >= 0 else 'after'} the complaint"))
        return row
    healthy = await conn.fetchrow(HEALTHY_SQL, row["id"], bool(row["by_pole"]), radius_m,
                                  row["gateway_id"], row["device_id"])
    if healthy:
        row.update(gateway_id=healthy["gateway_id"], device_id=healthy["device_id"],
                   distance_m=healthy["dist"])
        where = (f"{healthy['gateway_id']}/{healthy['device_id']}" + (
            f", {healthy['dist']:.0f} m away" if healthy["dist"] is not None else ""))
        row.update(verdict="healthy_since", explanation=(
            f"lamp reports healthy since the complaint: {where}; lit with good readings "
            f"from {healthy['since'].isoformat()} and no fault open within {radius_m:g} m"))
    else:
        row.update(verdict="send_crew", explanation=(
            f"no fault seen: send a crew; {where}, no fault open at the time and no "
            "healthy reading since"))
    return row


async def work_orders(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Open work per office: complaints confirmed or needing a crew, not yet resolved."""
    return await conn.fetch(
        "SELECT coalesce(c.office, l.office, '-') AS office, coalesce(l.grp, '-') AS grp, c.id, "
        "c.verdict, c.gateway_id, c.device_id, l.pole_id, c.explanation FROM complaints c "
        "LEFT JOIN lights l USING (gateway_id, device_id) WHERE c.resolved_at IS NULL AND "
        "c.verdict IN ('confirmed', 'send_crew') ORDER BY 1, 2, c.reported_at")
