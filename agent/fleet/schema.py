"""What event.schema.json and status.schema.json (docs/schema) allow, beyond their required
keys: the type of every property they type, their enums, an event's score in [0, 1]. Both
schemas allow other keys, so other keys pass. Used by agent/fleet/decode.py, which checks
the required keys and the ranges it stores; the test feeds what decode lets through to
jsonschema with the schemas themselves.
"""

import math

_INT, _NUM, _STR, _OBJ, _NULL = ("int",), ("int", "float"), ("str",), ("dict",), ("NoneType",)
# key -> the Python type names its JSON value may have ("int" is never bool; an "integer" of
# JSON Schema may also be a float with no fraction, 5.0, as the schema's validators take it)
EVENT_TYPES = {"ts": _INT, "seq": _INT, "event": _STR, "dropped": _INT, "dropped_total": _INT,
               "max_mb": _NUM, "detail": _STR, "state": _STR, "score": _NUM + _NULL,
               "evidence": _OBJ, "first_seen_ts": _INT + _NULL, "old": _OBJ + _NULL,
               "new": _OBJ, "source": _STR, "reason": _STR, "rule": _STR, "severity": _STR,
               "message": _STR, "group": _STR, "expires_s": _INT, "switch": ("bool",),
               "dim": _INT}
EVENT_ENUMS = {"source": frozenset({"maintenance", "command", "rule", "schedule", "failsafe"}),
               "severity": frozenset({"minor", "major", "critical"})}
STATUS_TYPES = {"state": _STR, "gateway": _STR, "site": _STR, "version": _STR, "ts": _INT,
                "uptime_s": _INT, "buses": _OBJ, "tasks": _OBJ, "outbox": _OBJ,
                "uplink": _OBJ, "sparkplug": _OBJ, "talq": _OBJ, "commands": _OBJ}
STATUS_OUTBOX_TYPES = {"backlog": _INT, "backlog_bytes": _INT, "oldest_age_s": _INT,
                       "dropped": _INT, "error": _STR + _NULL}
STATES = frozenset({"online", "offline"})


def _is(value, allowed: tuple) -> bool:
    name = type(value).__name__
    if name == "float":
        if not math.isfinite(value):
            return False
        if "float" not in allowed:
            return "int" in allowed and value.is_integer()
    return name in allowed


def typed_problem(body: dict, types: dict) -> str | None:
    """The first key of `types` in `body` whose value has none of its types, as text."""
    for key, value in body.items():
        allowed = types.get(key)
        if allowed is not None and not _is(value, allowed):
            return f"{key}: {repr(value)[:40]}"
    return None


def event_problem(body: dict) -> str | None:
    """Why `body` is not a valid event.schema.json object (None: it is)."""
    problem = typed_problem(body, EVENT_TYPES)
    if problem:
        return problem
    for key, allowed in EVENT_ENUMS.items():
        if key in body and body[key] not in allowed:
            return f"{key}: {repr(body[key])[:40]} is not one of {sorted(allowed)}"
    score = body.get("score")
    if score is not None and not 0 <= score <= 1:
        return f"score: {score!r} is outside 0..1"
    return None


def status_problem(body: dict) -> str | None:
    """Why `body` is not a valid status.schema.json object, its state aside (None: it is)."""
    problem = typed_problem(body, STATUS_TYPES)
    if problem is None and "outbox" in body:
        problem = typed_problem(body["outbox"], STATUS_OUTBOX_TYPES)
        problem = problem and "outbox." + problem
    return problem
