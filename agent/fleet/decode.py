"""Messages from gateways (docs/mqtt.md) decoded into checked records, or BadMessage.

Everything here comes from outside: the broker delivers whatever any client with publish
rights sent. A message is checked against the contract before it is near the database
(size first, then JSON, then every field), so a bad one is counted alone and never
poisons a batch. No I/O: the fuzz test drives it with random bytes.

Telemetry, nearly every message, is checked against the whole of
docs/schema/telemetry.schema.json (required keys, no others, the quality enum, values
numbers only), acks against ack.schema.json, events and statuses against event.schema.json
and status.schema.json (required keys, then agent/fleet/schema.py: every property those
schemas type has that type, their enums, score in [0, 1]; they allow other keys, so do we).
What breaks them is `bad_event`, `bad_status` or `bad_state`. All of it on orjson's parse; a
payload orjson refuses is parsed again by the standard library only to name the reason (a
lone surrogate, 1e999), so reasons are the same either way and nothing that orjson refuses
is let in by the second parse unless it passes the same checks.
"""

import json
import math
from dataclasses import dataclass

import orjson

from agent.config.topics import TOPIC_LEVEL
from agent.fleet import schema
from drivers.errors import LenteraError

MAX_PAYLOAD = 64 * 1024          # a telemetry message is ~300 B, a snapshot ack a few kB
MAX_SEQ = 2**63 - 1              # bigint; an outbox_recovered seq is epoch ms, far below
TS_MIN, TS_MAX = 946_684_800_000, 4_102_444_800_000   # 2000-01-01 .. 2100-01-01 in ms
MAX_TEXT = 512
TOPIC_CACHE_MAX = 200_000        # topics are few (gateways x devices x kinds): decode once
_topics: dict = {}
TELEMETRY_KEYS = frozenset({"ts", "seq", "values", "quality", "age_s", "error"})
QUALITIES = frozenset({"good", "stale", "comm_error"})
ACK_KEYS = frozenset({"ts", "seq", "id", "result", "reason", "details"})
ACK_RESULTS = frozenset({"done", "refused", "failed", "error"})
FAULT_KINDS = frozenset({"lampFailure", "dayBurning", "cycling", "activePowerTooHigh",
                         "lampVoltageTooLow", "lampVoltageTooHigh", "sensorStuck",
                         "energyCounterDecrease"})


class BadMessage(LenteraError, ValueError):
    """A message that breaks the contract; `reason` is a short, stable label for counting."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class Telemetry:
    """One poll of one device."""
    gateway: str
    device: str
    seq: int
    ts: int
    quality: str
    values: str                  # JSON text of the checked values object
    power: float | None
    energy: float | None
    lamp_state: int | None


@dataclass(frozen=True)
class Event:
    """An event; `fault` is set for the street-light faults (raised/cleared)."""
    gateway: str
    device: str
    seq: int
    ts: int
    kind: str
    state: str | None
    body: str                    # JSON text of the whole checked message
    dropped: int | None          # outbox_dropped: how many the gateway's cap dropped


@dataclass(frozen=True)
class Ack:
    """A gateway's answer to a command."""
    gateway: str
    seq: int
    ts: int
    command_id: str | None
    result: str
    reason: str | None
    body: str


@dataclass(frozen=True)
class Status:
    """The retained status (no seq: only the newest matters)."""
    gateway: str
    state: str
    ts: int | None
    outbox_dropped: int | None
    outbox_backlog: int | None
    body: str


def _no_constants(name: str):
    raise BadMessage("not_json", f"{name} is not JSON")


def _clean(value, depth: int = 0):
    """Reject what PostgreSQL's jsonb/text cannot hold: NUL, lone surrogates, deep nests."""
    if depth > 8:
        raise BadMessage("too_deep")
    if isinstance(value, str):
        if "\x00" in value:
            raise BadMessage("nul_in_text")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise BadMessage("bad_unicode") from None
    elif isinstance(value, dict):
        for k, v in value.items():
            _clean(k, depth + 1)
            _clean(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            _clean(v, depth + 1)
    elif isinstance(value, float) and not math.isfinite(value):
        raise BadMessage("not_finite")
    return value


_DECODER = json.JSONDecoder(parse_constant=_no_constants)


def _json(payload: bytes) -> dict:
    if len(payload) > MAX_PAYLOAD:
        raise BadMessage("oversized", f"{len(payload)} bytes > {MAX_PAYLOAD}")
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError:
        body = _json_slow(payload)       # refused either way: this names the reason
    if not isinstance(body, dict):
        raise BadMessage("not_object")
    # strict UTF-8 and no NaN/Infinity already; NUL (and, on the slow path, lone
    # surrogates) can only come as \u escapes, so the walk is needed only then
    return _clean(body) if b"\\u" in payload else body


def _json_slow(payload: bytes):
    """Only for what orjson refused: name the reason, and refuse it whatever happens."""
    try:
        body = _DECODER.decode(payload.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadMessage("not_json") from None
    _clean(body)                         # a lone surrogate, 1e999 (inf), a deep nest
    raise BadMessage("not_json")


def _dump(value) -> str:
    """JSON text for jsonb; an overflowing number (1e999 reads as inf) is refused here."""
    try:
        return json.dumps(value, allow_nan=False)
    except ValueError:
        raise BadMessage("not_finite") from None


def _values(values) -> str:
    """The checked values object (point -> number, as the schema says) as JSON text."""
    if type(values) is not dict:
        raise BadMessage("bad_values")
    for v in values.values():
        t = type(v)
        # bool is not a JSON Schema number; inf can come only from the slow parse
        if t is not int and (t is not float or not math.isfinite(v)):
            raise BadMessage("bad_values", repr(v)[:40])
    return orjson.dumps(values).decode()


def _int(body: dict, key: str, lo: int, hi: int, required: bool = True) -> int | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if type(value) is not int or not lo <= value <= hi:
        raise BadMessage(f"bad_{key}", repr(value)[:40])
    return value


def _text(body: dict, key: str, required: bool = True) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > MAX_TEXT:
        raise BadMessage(f"bad_{key}", repr(value)[:40])
    return value


def _number(values: dict, key: str) -> float | None:
    value = values.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) and abs(value) < 1e15 else None


def _status(gateway: str, body: dict) -> Status:
    state = body.get("state")
    if type(state) is not str or state not in schema.STATES:
        raise BadMessage("bad_state", repr(body.get("state"))[:40])
    problem = schema.status_problem(body)
    if problem:
        raise BadMessage("bad_status", problem)
    outbox = body.get("outbox", {})
    return Status(gateway, body["state"], _int(body, "ts", TS_MIN, TS_MAX, required=False),
                  _int(outbox, "dropped", 0, MAX_SEQ, required=False),
                  _int(outbox, "backlog", 0, MAX_SEQ, required=False), _dump(body))


def split_topic(topic: str, prefix: str) -> tuple[str, str, str | None]:
    """(gateway, kind, device) of `{prefix}/{gw}/{kind}[/{device}]`, or BadMessage."""
    known = _topics.get((topic, prefix))
    if known is None:
        known = _split_topic(topic, prefix)
        if len(_topics) >= TOPIC_CACHE_MAX:
            _topics.clear()          # forged topics cannot grow it without bound
        _topics[(topic, prefix)] = known
    return known


def _split_topic(topic: str, prefix: str) -> tuple[str, str, str | None]:
    if not topic.startswith(prefix + "/"):
        raise BadMessage("bad_topic")
    parts = topic[len(prefix) + 1:].split("/")
    if len(parts) not in (2, 3) or not all(TOPIC_LEVEL.fullmatch(p) for p in parts):
        raise BadMessage("bad_topic")
    if len(parts[0]) > 64 or (len(parts) == 3 and len(parts[2]) > 64):
        raise BadMessage("bad_topic", "id longer than 64")
    kind = parts[1]
    if (kind in ("telemetry", "events")) != (len(parts) == 3) or kind not in (
            "telemetry", "events", "ack", "status"):
        raise BadMessage("bad_topic")
    return parts[0], kind, parts[2] if len(parts) == 3 else None


def decode(topic: str, payload: bytes, prefix: str = "city/lighting"):
    """The checked record of one message; BadMessage (with a `reason`) for anything else."""
    gateway, kind, device = split_topic(topic, prefix)
    body = _json(payload)
    if kind == "status":
        return _status(gateway, body)
    seq, ts = _int(body, "seq", 1, MAX_SEQ), _int(body, "ts", TS_MIN, TS_MAX)
    if kind == "telemetry":
        return _telemetry(gateway, device, seq, ts, body)
    if kind == "events":
        event = _text(body, "event")
        problem = schema.event_problem(body)
        if problem:
            raise BadMessage("bad_event", problem)
        state = _text(body, "state", required=False)
        dropped = _int(body, "dropped", 0, MAX_SEQ, required=False) \
            if event == "outbox_dropped" else None
        return Event(gateway, device, seq, ts, event, state, _dump(body), dropped)
    if "result" not in body or "id" not in body or "reason" not in body:
        raise BadMessage("bad_ack")
    result = _text(body, "result")
    command_id = _text(body, "id", required=False)
    if not body.keys() <= ACK_KEYS or result not in ACK_RESULTS or "details" in body and \
            type(body["details"]) is not dict or command_id and len(command_id) > 128:
        raise BadMessage("bad_ack", "key, result, details or id outside the contract")
    return Ack(gateway, seq, ts, command_id, result,
               _text(body, "reason", required=False), _dump(body))


def _telemetry(gateway: str, device: str, seq: int, ts: int, body: dict) -> Telemetry:
    if not body.keys() <= TELEMETRY_KEYS:
        raise BadMessage("unknown_key", repr(sorted(body.keys() - TELEMETRY_KEYS))[:40])
    values = body.get("values")
    text = _values(values)
    quality = body.get("quality")
    if type(quality) is not str or quality not in QUALITIES:
        raise BadMessage("bad_quality", repr(body.get("quality"))[:40])
    if "age_s" in body and type(body["age_s"]) not in (int, float):
        raise BadMessage("bad_age_s")
    if "error" in body and type(body["error"]) is not str:
        raise BadMessage("bad_error")
    lamp = values.get("lamp_state")
    lamp = int(lamp) if lamp is not None and 0 <= lamp < 100 else None
    return Telemetry(gateway, device, seq, ts, quality, text,
                     _number(values, "power"), _number(values, "energy"), lamp)
