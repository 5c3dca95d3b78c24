"""The city's picture as GeoJSON (RFC 7946) and the checks of the HTTP API's query strings.

Pure Python, no I/O: agent/fleet/http.py reads a query string into a checked `Query` (or
QueryError, which names the parameter and what is allowed), agent/fleet/picture.py has
PostgreSQL build each feature ([lon, lat] in WGS 84 degrees, as RFC 7946 says; a null
geometry for a light the GIS has no position for), and the collection is put together here.
"""

import math
from dataclasses import dataclass
from datetime import date

from drivers.errors import LenteraError

MAX_TEXT = 128                 # a group or office name; longer is no name of ours
MAX_LIMIT = 200_000            # features in one answer (a city of 50,000 lights fits)
DEFAULT_LIMIT = 100_000
FAULT_KINDS = ("lampFailure", "dayBurning", "cycling", "communication", "activePowerTooHigh",
               "lampVoltageTooLow", "lampVoltageTooHigh", "sensorStuck", "energyCounterDecrease")
MAX_NIGHTS = 366
MAX_ZOOM = 22                  # the map page's deepest zoom (static/map.js MAX_ZOOM)
PARAMS = {"lights": ("bbox", "group", "office", "limit"),
          "clusters": ("bbox", "zoom", "group", "office"),
          "faults": ("bbox", "group", "office", "kind", "limit"),
          "energy": ("from", "to", "group")}


class QueryError(LenteraError, ValueError):
    """A query string the API will not run; `param` names the culprit."""

    def __init__(self, param: str, message: str):
        super().__init__(f"{param}: {message}")
        self.param = param


@dataclass(frozen=True)
class Query:
    """A checked query: every field is None when not asked for."""
    bbox: tuple[float, float, float, float] | None = None     # west, south, east, north
    group: str | None = None
    office: str | None = None
    kind: str | None = None
    limit: int = DEFAULT_LIMIT
    zoom: int | None = None            # clusters only: the map's zoom (256 px world at 0)


def _bbox(text: str) -> tuple[float, float, float, float]:
    parts = text.split(",")
    if len(parts) != 4:
        raise QueryError("bbox", "expected west,south,east,north in degrees (4 numbers)")
    try:
        west, south, east, north = (float(p) for p in parts)
    except ValueError:
        raise QueryError("bbox", "expected 4 numbers, e.g. 106.60,-6.20,106.70,-6.10") from None
    if not all(math.isfinite(v) for v in (west, south, east, north)):
        raise QueryError("bbox", "numbers must be finite")
    if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= 90
            and -90 <= north <= 90):
        raise QueryError("bbox", "out of range: longitudes -180..180, latitudes -90..90 "
                                 "(the order is lon,lat: west,south,east,north)")
    if south > north or west > east:
        raise QueryError("bbox", "south must not exceed north, nor west east (a box across "
                                 "the antimeridian is not supported: ask for two)")
    return west, south, east, north


def _text(name: str, text: str) -> str:
    if not text or len(text) > MAX_TEXT:
        raise QueryError(name, f"1 to {MAX_TEXT} characters")
    if any(ord(c) < 32 for c in text):
        raise QueryError(name, "control characters are not allowed")
    return text


def _params(endpoint: str, items: list[tuple[str, str]]) -> dict:
    allowed, seen = PARAMS[endpoint], {}
    for name, value in items:
        if name not in allowed:
            raise QueryError(name, f"unknown parameter (allowed: {', '.join(allowed)})")
        if name in seen:
            raise QueryError(name, "given more than once")
        seen[name] = value
    return seen


def _day(name: str, text: str | None) -> date:
    try:
        return date.fromisoformat(text or "")
    except ValueError:
        raise QueryError(name, "a date YYYY-MM-DD (the evening a night starts)") from None


def parse_energy(items: list[tuple[str, str]]) -> tuple[date, date, str | None]:
    """(first night, last night, group or None) of /api/energy.json's query string."""
    seen = _params("energy", items)
    first, last = _day("from", seen.get("from")), _day("to", seen.get("to"))
    if not 0 <= (last - first).days < MAX_NIGHTS:
        raise QueryError("to", f"from..to must be 1 to {MAX_NIGHTS} nights, in order")
    return first, last, _text("group", seen["group"]) if "group" in seen else None


def _whole(text: str, digits: int) -> int | None:
    """text as a whole number when it is 1..digits ASCII digits, else None: int() takes
    " 7", "+7" and "٧", and str.isdigit() "²" (int() then raised: a 500)."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= digits else None


def _zoom(text: str | None) -> int:
    if text is None:
        raise QueryError("zoom", f"required: the map's zoom level, a whole number "
                                 f"0..{MAX_ZOOM} (e.g. zoom=12)")
    zoom = _whole(text, 2)
    if zoom is None or zoom > MAX_ZOOM:
        raise QueryError("zoom", f"a whole number 0..{MAX_ZOOM} (the map's zoom level), "
                                 f"not {text[:20]!r}")
    return zoom


def parse_query(endpoint: str, items: list[tuple[str, str]]) -> Query:
    """The checked Query of `endpoint` ('lights', 'faults' or 'clusters') from (name, value)
    pairs."""
    seen = _params(endpoint, items)
    fields = {}
    if endpoint == "clusters":
        fields["zoom"] = _zoom(seen.get("zoom"))
    if "bbox" in seen:
        fields["bbox"] = _bbox(seen["bbox"])
    for name in ("group", "office"):
        if name in seen:
            fields[name] = _text(name, seen[name])
    if "kind" in seen:
        if seen["kind"] not in FAULT_KINDS:
            raise QueryError("kind", f"one of {', '.join(FAULT_KINDS)}")
        fields["kind"] = seen["kind"]
    if "limit" in seen:
        limit = _whole(seen["limit"], 7)
        if limit is None or not 1 <= limit <= MAX_LIMIT:
            raise QueryError("limit", f"a whole number 1..{MAX_LIMIT}")
        fields["limit"] = limit
    return Query(**fields)


def collection(features: list[str], limit: int) -> str:
    """The text of a FeatureCollection of these features (each one JSON text, as PostgreSQL
    built it); `truncated` (a foreign member, RFC 7946 section 6.1) says the limit cut it."""
    more = ',"truncated":true' if len(features) > limit else ""
    return '{"type":"FeatureCollection","features":[' + ",".join(features[:limit]) + "]" \
        + more + "}"
