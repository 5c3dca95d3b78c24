"""PeriodicRecordingMode (spec §5.5; data-model OAS): attributes sampled on a time profile.

`content` names functions (functionId or functionType) and, optionally, their attributes
(none named: every attribute the function has), each with an optional onChangeThreshold (log
only when the value moved more than that many percent since the last sample logged).
`samplingProfiles` give samplingStartTime, samplingPeriod (ISO 8601 PnDTnHnMnS, at least
MIN_PERIOD_S) and samplingEndTime; no period: one sample at the start, or at once when the
start is past and the end is not. The task `talq.sampling` (agent/talq/sampler.py) takes the
samples from the live functions into the outbox, for the TALQ interface only, one row an
attribute; the reporter sends them as AttributeLogData like every record (agent/talq/client.py).
"""

import math
import re
from datetime import datetime

from agent.talq.errors import TalqError, bad

DURATION = re.compile(r"^P(?:(\d{1,6})D)?(?:T(?:(\d{1,6})H)?(?:(\d{1,6})M)?(?:(\d{1,6})S)?)?$")
MIN_PERIOD_S = 10          # a bound on the rows a CMS can ask for: devices x attributes / period
MAX_CONTENT, MAX_ATTRIBUTES, MAX_PROFILES = 32, 64, 8
SAMPLE = "talqSample"      # the outbox row's event name (TALQ only, never on the JSON topics)


def _when(value, where: str) -> float:
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) and len(value) < 40 \
            else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise bad("payloadError", f"{where}: an RFC 3339 date-time with its offset")
    return parsed.timestamp()


def _period(value, where: str) -> float:
    found = DURATION.match(value) if isinstance(value, str) else None
    if found is None:
        raise bad("payloadError", f"{where}: an ISO 8601 duration PnDTnHnMnS")
    days, hours, minutes, seconds = (int(x or 0) for x in found.groups())
    total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    if total < MIN_PERIOD_S:
        raise TalqError(422, "payloadError", f"{where}: {value!r} is shorter than this "
                        f"gateway's shortest sampling period, {MIN_PERIOD_S} s")
    return float(total)


def _content(raw) -> list:
    if not isinstance(raw, list) or not 0 < len(raw) <= MAX_CONTENT:
        raise bad("payloadError", f"recordingMode.content: 1..{MAX_CONTENT} functions to log")
    out = []
    for i, item in enumerate(raw):
        where = f"recordingMode.content[{i}]"
        function = item.get("function") if isinstance(item, dict) else None
        if isinstance(item, dict) and function is None and (
                "functionType" in item or "functionId" in item):
            raise bad("payloadError", f"{where}.function is missing: the data-model OAS puts "
                      "functionType/functionId and attributes inside it (§5.5's example does "
                      'not): send {"function": {"functionType": ..., "attributes": [...]}}')
        if not isinstance(function, dict):
            raise bad("payloadError", f"{where}.function: {{functionId or functionType, "
                      "attributes}")
        if "attributeScope" in item:
            raise TalqError(422, "payloadError", f"{where}.attributeScope is not supported: "
                            "name the attributes instead")
        fid, ftype = function.get("functionId"), function.get("functionType")
        if not any(isinstance(x, str) and 0 < len(x) <= 100 for x in (fid, ftype)):
            raise bad("payloadError", f"{where}.function: a functionId or a functionType")
        names = None
        if "attributes" in function:
            attributes = function["attributes"]
            if not isinstance(attributes, list) or len(attributes) > MAX_ATTRIBUTES:
                raise bad("payloadError", f"{where}.function.attributes: at most "
                          f"{MAX_ATTRIBUTES}")
            names = [_attribute(a, f"{where}.function.attributes[{j}]")
                     for j, a in enumerate(attributes)]
        out.append((fid if isinstance(fid, str) else None,
                    ftype if isinstance(ftype, str) else None, names))
    return out


def _attribute(raw, where: str) -> tuple:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or \
            not 0 < len(raw["name"]) <= 100:
        raise bad("payloadError", f"{where}: {{name, onChangeThreshold}}")
    threshold = raw.get("onChangeThreshold")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, int)
                                  or not 0 <= threshold <= 100):
        raise bad("payloadError", f"{where}.onChangeThreshold: a percentage 0..100")
    return raw["name"], threshold


def decode_periodic(recording: dict) -> dict:
    """A PeriodicRecordingMode -> {"content": [...], "profiles": [(start, period, end)]}."""
    profiles = recording.get("samplingProfiles")
    if profiles is None and "samplingProfile" in recording:
        raise bad("payloadError", "recordingMode.samplingProfile: the data-model OAS names it "
                  "samplingProfiles, an array (§5.5's example writes one object): send "
                  '"samplingProfiles": [{samplingStartTime, samplingPeriod}]')
    if not isinstance(profiles, list) or not 0 < len(profiles) <= MAX_PROFILES:
        raise bad("payloadError", f"recordingMode.samplingProfiles: 1..{MAX_PROFILES} profiles")
    decoded = []
    for i, profile in enumerate(profiles):
        where = f"recordingMode.samplingProfiles[{i}]"
        if not isinstance(profile, dict):
            raise bad("payloadError", f"{where}: {{samplingStartTime, samplingPeriod, "
                      "samplingEndTime}")
        start = _when(profile.get("samplingStartTime"), where + ".samplingStartTime")
        period = _period(profile["samplingPeriod"], where + ".samplingPeriod") \
            if "samplingPeriod" in profile else None
        end = _when(profile["samplingEndTime"], where + ".samplingEndTime") \
            if "samplingEndTime" in profile else None
        decoded.append((start, period, end))
    return {"content": _content(recording.get("content")), "profiles": decoded}


def first_instant(profile: tuple, now: float) -> float | None:
    """The profile's first sample at or after now (None: it has ended)."""
    start, period, end = profile
    if end is not None and now > end:
        return None
    if now <= start or period is None:
        return max(start, now)
    return start + math.ceil((now - start) / period) * period


def changed(previous, value, threshold) -> bool:
    """onChangeThreshold: whether the value moved more than threshold % since the last log."""
    if threshold is None or previous is None:
        return True
    if not isinstance(value, (int, float)) or not isinstance(previous, (int, float)):
        return value != previous
    if previous == 0:
        return value != 0
    return abs(value - previous) / abs(previous) * 100 > threshold
