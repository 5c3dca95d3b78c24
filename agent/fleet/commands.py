"""Signed commands from the city (`lentera-fleet command`): address, sign, record.

A command goes to one gateway (its `gateway` field must be that gateway's id), so an address
becomes one command per gateway concerned (docs/mqtt.md "Commands"):
- a light (`gateway/device`, or its pole id): one command, target {"device": ...};
- a group (the lights' `grp` in the registry): one command per gateway that has lights in it,
  target {"group": ...} (the gateway's own group of that name);
- a polygon (GeoJSON, lon/lat): the registry's lights within it (PostGIS ST_Within), one
  command per light, target {"device": ...}. A gateway queues at most GATEWAY_QUEUE
  commands, so they go out in waves (`waves`): at most that many per gateway in each, the
  next wave only after the acks of the last (agent/fleet/command_run.py).
Each is signed with its gateway's key by the contract's own module (agent/uplink/signing.py,
the one the gateway verifies with) and recorded in `commands` before it is published.
"""

import json
import re
import secrets
import time
from pathlib import Path

import asyncpg
from drivers.errors import LenteraError

from agent.uplink.signing import sign

MIN_KEY_BYTES = 32
GATEWAY_QUEUE = 32      # a gateway's command queue (agent/uplink/commands.py QUEUE_MAX)
_HEX = re.compile(r"[0-9a-fA-F]+")


class CommandError(LenteraError, ValueError):
    """A command that cannot be sent as asked; says what to change."""


def load_keys(gateways: set[str], key_file: str | None, keys_dir: str | None) -> dict:
    """gateway -> key bytes: one key for all (`key_file`) or `<keys_dir>/<gateway>.key`, each
    holding >= 32 bytes as hex (the gateway's commands.key_file, docs/mqtt.md)."""
    if bool(key_file) == bool(keys_dir):
        raise CommandError("give either --key-file (one key for every gateway) or --keys "
                           "(a folder of <gateway>.key files)")
    keys = {}
    for gw in sorted(gateways):
        path = Path(key_file) if key_file else Path(keys_dir) / f"{gw}.key"
        try:
            text = path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read the key of gateway {gw}: {exc}") from None
        if not _HEX.fullmatch(text) or len(text) % 2 or len(text) < 2 * MIN_KEY_BYTES:
            raise CommandError(f"{path} must hold at least {MIN_KEY_BYTES} bytes as hex, the "
                               f"same key as gateway {gw}'s commands.key_file")
        keys[gw] = bytes.fromhex(text)
    return keys


def polygon_geometry(text: str) -> str:
    """The GeoJSON geometry (Polygon/MultiPolygon) of a geometry, Feature or FeatureCollection
    of one feature, as JSON text for ST_GeomFromGeoJSON."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise CommandError(f"--polygon is not JSON: {exc}") from None
    if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
        features = doc.get("features") or []
        doc = features[0] if len(features) == 1 else None
    if isinstance(doc, dict) and doc.get("type") == "Feature":
        doc = doc.get("geometry")
    if not isinstance(doc, dict) or doc.get("type") not in ("Polygon", "MultiPolygon"):
        raise CommandError("--polygon must be a GeoJSON Polygon or MultiPolygon (a geometry, "
                           "or a Feature holding one), in [lon, lat] degrees")
    return json.dumps(doc)


async def addressees(conn: asyncpg.Connection, light=None, pole=None, group=None,
                     polygon=None) -> list[tuple[str, dict]]:
    """(gateway, target) per command to send; CommandError if the address finds no light."""
    if sum(x is not None for x in (light, pole, group, polygon)) != 1:
        raise CommandError("address exactly one of --light, --pole, --group, --polygon")
    if light is not None:
        gw, _, dev = light.partition("/")
        rows = await conn.fetch("SELECT gateway_id, device_id FROM lights WHERE gateway_id = $1"
                                " AND device_id = $2", gw, dev)
        what = f"light {light} (give it as gateway/device)"
    elif pole is not None:
        rows = await conn.fetch("SELECT gateway_id, device_id FROM lights WHERE pole_id = $1",
                                pole)
        what = f"pole {pole}"
    elif group is not None:
        rows = await conn.fetch("SELECT DISTINCT gateway_id FROM lights WHERE grp = $1 "
                                "ORDER BY 1", group)
        if not rows:
            raise CommandError(f"no light in group {group} in the registry "
                               "(`lentera-fleet lights import` sets the groups)")
        return [(r["gateway_id"], {"group": group}) for r in rows]
    else:
        try:
            rows = await conn.fetch(
                "SELECT gateway_id, device_id FROM lights WHERE geom IS NOT NULL AND "
                "ST_Within(geom::geometry, ST_SetSRID(ST_GeomFromGeoJSON($1), 4326)) "
                "ORDER BY 1, 2", polygon_geometry(polygon))
        except (asyncpg.DataError, asyncpg.InternalServerError) as exc:
            # PostGIS: an unclosed ring is DataError, coordinates that are not arrays XX000
            raise CommandError(f"--polygon: PostGIS cannot read it: {exc}") from None
        what = "light with a position within the polygon"
    if not rows:
        raise CommandError(f"no {what} in the registry")
    return [(r["gateway_id"], {"device": r["device_id"]}) for r in rows]


def waves(commands: list[dict], per_gateway: int = GATEWAY_QUEUE) -> list[list[dict]]:
    """The commands in waves holding at most `per_gateway` commands for any one gateway
    (its command queue: past it the gateway answers "busy"), in their order."""
    out: list[list[dict]] = []
    sent: dict[str, int] = {}
    for c in commands:
        n = sent.get(c["gateway"], 0)
        sent[c["gateway"]] = n + 1
        if n // per_gateway == len(out):
            out.append([])
        out[n // per_gateway].append(c)
    return out


def new_batch() -> str:
    """An id for one run: its commands are `<batch>.<n>` (<= 64 chars of [A-Za-z0-9_.:-])."""
    return f"city-{int(time.time() * 1000)}-{secrets.token_hex(3)}"


def build(batch: str, targets: list[tuple[str, dict]], kind: str, fields: dict,
          keys: dict, ttl_s: float, now_ms: int | None = None) -> list[dict]:
    """The commands, each with its signed envelope (exactly docs/mqtt.md's)."""
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    out = []
    for n, (gw, target) in enumerate(targets, 1):
        command = {"id": f"{batch}.{n}", "gateway": gw, "kind": kind, "target": target,
                   "issued_at": now_ms, "expires_at": now_ms + int(ttl_s * 1000), **fields}
        payload = json.dumps(command, separators=(",", ":"))
        sig = sign(keys[gw], payload)
        out.append({"id": command["id"], "gateway": gw, "kind": kind, "target": target,
                    "payload": payload, "sig": sig, "issued_at": now_ms,
                    "expires_at": command["expires_at"],
                    "envelope": json.dumps({"payload": payload, "sig": sig}).encode()})
    return out


def _ts(ms: int):
    from datetime import datetime, timezone
    return datetime.fromtimestamp(ms / 1000, timezone.utc)


async def record_sent(conn: asyncpg.Connection, batch: str, commands: list[dict]) -> None:
    """Every command is in the database before it goes out."""
    await conn.executemany(
        "INSERT INTO commands (id, batch, gateway_id, kind, target, payload, sig, issued_at, "
        "expires_at) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9)",
        [(c["id"], batch, c["gateway"], c["kind"], json.dumps(c["target"]), c["payload"],
          c["sig"], _ts(c["issued_at"]), _ts(c["expires_at"])) for c in commands])


async def record_outcome(conn: asyncpg.Connection, published: dict, acks: dict,
                         not_delivered: dict | None = None, held: dict | None = None) -> None:
    """published: id -> PUBACK epoch ms; acks: id -> the ack (a dict from the gateway);
    not_delivered: id -> why the broker said nobody heard it (no ack will ever come);
    held: id -> why it was held back (never published)."""
    await conn.executemany(
        "UPDATE commands SET result = 'not_delivered', reason = $2 "
        "WHERE id = $1 AND result IS NULL",
        [(i, why) for i, why in (not_delivered or {}).items() if i not in acks])
    await conn.executemany(
        "UPDATE commands SET result = 'held_back', reason = $2 WHERE id = $1 AND result IS NULL",
        list((held or {}).items()))
    await conn.executemany("UPDATE commands SET published_at = $2 WHERE id = $1",
                           [(i, _ts(ms)) for i, ms in published.items()])
    await conn.executemany(
        "UPDATE commands SET result = $2, reason = $3, ack = $4::jsonb, acked_at = now() "
        "WHERE id = $1 AND result IS NULL",
        [(i, str(a.get("result")), a.get("reason"), json.dumps(a)) for i, a in acks.items()])
