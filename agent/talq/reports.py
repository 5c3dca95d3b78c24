"""Outbox event rows as TALQ log records (EventLogData in the data-model OAS; spec §5.5).

Lentera's fault events already carry TALQ names where TALQ has one (docs/mqtt.md); a
`raised`/`cleared` pair is a period, so it becomes `startEndFlag` true/false.
"""

import json

from agent.talq.attributes import iso

# Lentera event -> (TALQ EventType, the function that reports it)
EVENT_TYPES = {"lampFailure": ("lampFailure", "lampMonitor"),
               "dayBurning": ("lampUnexpectedOn", "lampMonitor"),
               "cycling": ("cyclingFailure", "lampMonitor"),
               "activePowerTooHigh": ("lampPowerTooHigh", "lampMonitor"),
               "lampVoltageTooLow": ("lampVoltageTooLow", "lampMonitor"),
               "lampVoltageTooHigh": ("lampVoltageTooHigh", "lampMonitor"),
               # the gateway refused a data package (§5.9; sDataPackageEvents): a service
               # event, so its srcAddress is the gateway itself (LogData.srcAddress)
               "releaseMismatch": ("releaseMismatch", None)}
MAX_INFO = 200


def event_of(topic: str, payload: str) -> tuple | None:
    """(device id, TALQ event type, function id or None, start/end or None, epoch s, info or
    None) of an event row, or None when TALQ has no event for it (telemetry, output changes,
    acks)."""
    if "/events/" not in topic:
        return None
    try:
        body = json.loads(payload)
    except ValueError:
        return None
    found = EVENT_TYPES.get(body.get("event")) if isinstance(body, dict) else None
    if found is None or not isinstance(body.get("ts"), int):
        return None
    state = body.get("state")
    flag = True if state == "raised" else False if state == "cleared" else None
    info = body.get("info")
    info = info[:MAX_INFO] if isinstance(info, str) else None
    return topic.rsplit("/", 1)[1], found[0], found[1], flag, body["ts"] / 1000, info


def log_entry(address: str, event: tuple) -> dict:
    """One LogReport entry: the event as EventLogData from `address` (device, or
    device/function when the event has a function)."""
    _, event_type, function, flag, ts, info = event
    data = {"type": "EventLogData", "eventType": event_type,
            "srcAddress": address if function is None else f"{address}/{function}",
            "timestamp": iso(ts)}
    if flag is not None:
        data["startEndFlag"] = flag
    if info is not None:
        data["info"] = [{"description": info, "lang": "en"}]     # the OAS: an array
    return {"data": data}


def sample_of(topic: str, payload: str) -> tuple | None:
    """(logger address, AttributeLogData) of a periodic sample row (agent/talq/sampler.py),
    or None for any other row."""
    if "/events/" not in topic or '"talqSample"' not in payload:
        return None
    try:
        body = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(body, dict) or body.get("event") != "talqSample" or \
            not isinstance(body.get("logger"), str) or not isinstance(body.get("data"), dict):
        return None
    return body["logger"], body["data"]
