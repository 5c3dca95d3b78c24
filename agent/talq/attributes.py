"""TALQ attribute values (data-model OAS: AttributeFloat, AttributeLevelState, ...).

Every attribute is an object with its OAS type name and a value of that type; the units are
the data model's (x-talq-unit), so a reading is converted here, once, e.g. Wh -> kWh.
"""

from datetime import datetime, timezone


def iso(epoch_s: float) -> str:
    """RFC 3339 date-time (OAS `format: date-time`), UTC."""
    return datetime.fromtimestamp(epoch_s, timezone.utc).isoformat().replace("+00:00", "Z")


def number(value) -> dict:
    return {"type": "AttributeFloat", "value": float(value)}


def integer(value) -> dict:
    return {"type": "AttributeInteger", "value": int(value)}


def boolean(value) -> dict:
    return {"type": "AttributeBoolean", "value": bool(value)}


def text(value) -> dict:
    return {"type": "AttributeString", "value": str(value)}


def uri(value) -> dict:
    return {"type": "AttributeUri", "value": str(value)}


def when(epoch_s: float) -> dict:
    return {"type": "AttributeDateTime", "value": iso(epoch_s)}


def level(percent: int) -> dict:
    """A light level (DimLevel: integer 0..100, unit Percent); off is level 0."""
    return {"type": "AttributeLevelState",
            "value": {"name": "LevelState", "value": max(0, min(100, int(percent)))}}


def command(percent: int, reason: str) -> dict:
    """A light command (Command: a LevelState and its reason: default/override/sensor/program)."""
    return {"type": "AttributeCommand",
            "value": {"state": {"name": "LevelState", "value": max(0, min(100, int(percent)))},
                      "reason": reason}}


def location(lat: float, lon: float) -> dict:
    return {"type": "AttributeLocation", "value": {"latitude": lat, "longitude": lon}}


def optional(values: dict, key: str, make, scale: float = 1.0) -> dict | None:
    """An attribute from a reading's point, converted by `scale`; None when not read."""
    raw = values.get(key)
    if raw is None or isinstance(raw, bool) and make is number:
        return None
    return make(raw * scale if scale != 1.0 else raw)
