"""The registry of gateways and lights, imported from the city's GIS as GeoJSON.

A Feature per light: Point geometry (lon, lat; WGS 84) and properties `gateway`, `device`,
optional `pole_id`, `group`, `office` — the shape the gateway console's
/api/lights.geojson gives, plus the gateway id.
"""

import json

import asyncpg
from drivers.errors import LenteraError


class RegistryError(LenteraError, ValueError):
    """A GeoJSON file that is not a list of lights; names the feature and field."""


def lights_from_geojson(text: str) -> list[tuple]:
    """(gateway, device, pole_id, group, office, lon, lat) per feature; RegistryError."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise RegistryError(f"not JSON: {exc}") from None
    features = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(features, list):
        raise RegistryError("not a GeoJSON FeatureCollection (no `features` list)")
    rows = []
    for i, feature in enumerate(features):
        props = (feature or {}).get("properties") or {}
        geometry = (feature or {}).get("geometry") or {}
        gw, dev = props.get("gateway"), props.get("device") or (feature or {}).get("id")
        if not isinstance(gw, str) or not isinstance(dev, str):
            raise RegistryError(f"features[{i}]: properties.gateway and .device are required")
        coords = geometry.get("coordinates") if geometry.get("type") == "Point" else None
        lon, lat = (coords[0], coords[1]) if isinstance(coords, list) and len(coords) >= 2 \
            else (None, None)
        if lon is not None and not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise RegistryError(f"features[{i}]: position {coords} is out of range "
                                "(GeoJSON is [lon, lat] in degrees)")
        rows.append((gw, dev, props.get("pole_id"), props.get("group"), props.get("office"),
                     lon, lat))
    return rows


async def import_lights(conn: asyncpg.Connection, rows: list[tuple]) -> int:
    """Upsert gateways and lights; how many lights."""
    async with conn.transaction():
        await conn.executemany(
            "INSERT INTO gateways (id, office) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
            sorted({(r[0], r[4]) for r in rows}))
        await conn.executemany(
            "INSERT INTO lights (gateway_id, device_id, pole_id, grp, office, geom) VALUES "
            "($1, $2, $3, $4, $5, CASE WHEN $6::float8 IS NULL THEN NULL ELSE "
            "ST_SetSRID(ST_MakePoint($6, $7), 4326)::geography END) "
            "ON CONFLICT (gateway_id, device_id) DO UPDATE SET pole_id = EXCLUDED.pole_id, "
            "grp = EXCLUDED.grp, office = EXCLUDED.office, geom = EXCLUDED.geom", rows)
    return len(rows)
