"""The lights as GeoJSON (RFC 7946) for the city's GIS: one Point feature per light."""


def geojson(rows: list[dict]) -> dict:
    """A FeatureCollection; a light without a position has a null geometry (still listed)."""
    features = []
    for row in rows:
        geometry = None
        if row["lat"] is not None:
            geometry = {"type": "Point", "coordinates": [row["lon"], row["lat"]]}
        props = {k: row[k] for k in ("id", "state", "switch", "dim", "power", "voltage",
                                     "faults", "quality", "age_s", "source", "until")}
        features.append({"type": "Feature", "id": row["id"], "geometry": geometry,
                         "properties": props})
    return {"type": "FeatureCollection", "features": features}
