"""Logger configs (spec §5.5; LoggerConfig in the data-model OAS): what the gateway records and
when it reports it, kept atomically in a file so they outlive restarts.

Supported: EventRecordingMode (mandatory for a lighting gateway) with its white/black lists,
PeriodicRecordingMode (agent/talq/sampling.py), their activePeriods (agent/talq/periods.py),
ImmediateReportingMode (with its coalescing delay) and ScheduledReportingMode (times of day,
randomTime jitter; agent/talq/schedule.py). Vendor recording is refused with 422
(docs/talq.md); nothing is ever half-taken.
"""

import asyncio
import json
import logging

from agent.store.statefile import load_or_quarantine, write_atomic_off_loop
from agent.talq.errors import TalqError, bad
from agent.talq.periods import decode_periods
from agent.talq.sampling import decode_periodic
from agent.talq.schedule import decode_schedule

log = logging.getLogger(__name__)

MAX_LOGGERS = 16
MAX_NAMES = 200                  # events or addresses in one list
MAX_DELAY_S = 86400


def refuse(key: str, description: str) -> TalqError:
    return TalqError(422, key, description)


def _names(value, where: str) -> list:
    if not isinstance(value, list) or len(value) > MAX_NAMES or not all(
            isinstance(x, str) and len(x) <= 200 for x in value):
        raise bad("payloadError", f"{where}: a list of at most {MAX_NAMES} strings")
    return list(value)


def _sources(raw, catalog) -> dict:
    """sourceAddresses -> {"white": [device ids] or None, "black": [device ids] or None}.

    The data-model OAS (LoggerConfig.sourceAddresses) gives the table: neither list (`{}`, or no
    sourceAddresses at all) is no device; only a black list, even empty, is every device but
    those; a white list is those devices less the black list's."""
    if raw is None:
        return {"white": None, "black": None}
    if not isinstance(raw, dict):
        raise bad("payloadError", "sourceAddresses: {whiteList, blackList} of ResourceReference")
    out = {"white": None, "black": None}
    for key, name in (("whiteList", "white"), ("blackList", "black")):
        if key not in raw:
            continue
        refs = raw[key]
        if not isinstance(refs, list) or len(refs) > MAX_NAMES:
            raise bad("payloadError", f"sourceAddresses.{key}: at most {MAX_NAMES} references")
        ids = []
        for ref in refs:
            ids += _devices_of(ref, catalog, f"sourceAddresses.{key}")
        out[name] = ids
    return out


def _devices_of(ref, catalog, where: str) -> list:
    if not isinstance(ref, dict) or not isinstance(ref.get("resource"), str) or \
            not isinstance(ref.get("address"), str):
        raise bad("payloadError", f"{where}: a ResourceReference needs string resource "
                  "(devices or groups) and address")
    address = ref["address"].lower().split("/")[0]
    if ref["resource"] == "devices" and address in catalog.by_address:
        device = catalog.by_address[address]
        return ["gateway" if device is None else device.id]
    if ref["resource"] == "groups" and address in catalog.groups:
        return list(catalog.site.lighting.controller.groups[catalog.groups[address]])
    raise refuse("relatedResourceNotFound", f"{where}: no {ref['resource'][:20]} "
                 f"{address[:60]!r} on this gateway (GET /devices, GET /groups)")


def decode_logger(body, catalog, address: str | None = None) -> dict:
    """A LoggerConfig -> the stored form (the CMS's body, and what it resolves to); TalqError
    (400 or 422) is the only error it raises. `address`: the path's, for PUT."""
    if not isinstance(body, dict):
        raise bad("payloadError", "the body is one LoggerConfig object {address, ownerCMS, "
                  "sourceAddresses, recordingMode, reportingMode}")
    for key, what in (("address", "the logger's address"), ("ownerCMS", "the CMS's address")):
        if key not in body:
            raise bad("payloadError", f"LoggerConfig.{key} is missing: {what}, required by "
                      "the data-model OAS (§5.5's examples leave ownerCMS out)")
        if not isinstance(body[key], str) or not 0 < len(body[key]) <= 100:
            raise bad("payloadError", f"LoggerConfig.{key}: {what}, a string of 1..100 "
                      "characters")
    if address is not None and body["address"] != address:
        raise bad("payloadError", f"LoggerConfig.address {body['address'][:60]!r} is not the "
                  f"path's {address[:60]!r}")
    recording, reporting = body.get("recordingMode"), body.get("reportingMode")
    _typed(recording, "recordingMode", "EventRecordingMode (with sourceEvents) or "
           "PeriodicRecordingMode (with content and samplingProfiles)")
    kind = recording["type"]
    if kind not in ("EventRecordingMode", "PeriodicRecordingMode"):
        raise refuse("payloadError", f"recordingMode.type {str(kind)[:40]!r}: this gateway "
                     "records events (EventRecordingMode) or samples attributes "
                     "(PeriodicRecordingMode); vendor recording is not supported")
    periods = decode_periods(recording.get("activePeriods"))
    white = black = periodic = None
    if kind == "PeriodicRecordingMode":
        periodic = decode_periodic(recording)
    else:
        white, black = _events(recording.get("sourceEvents"))
    _typed(reporting, "reportingMode", "ImmediateReportingMode (with a delay) or "
           "ScheduledReportingMode (with times, randomTime)" + _guess(reporting))
    kind = reporting["type"]
    if kind not in ("ImmediateReportingMode", "ScheduledReportingMode"):
        raise refuse("payloadError", f"reportingMode.type {str(kind)[:40]!r}: "
                     "ImmediateReportingMode (with a delay) or ScheduledReportingMode (times, "
                     "randomTime)")
    delay, schedule = 0, None
    if kind == "ScheduledReportingMode":
        schedule = decode_schedule(reporting)
    else:
        delay = reporting.get("delay")
        if isinstance(delay, bool) or not isinstance(delay, int) or \
                not 0 <= delay <= MAX_DELAY_S:
            raise bad("payloadError", f"reportingMode.delay: whole seconds 0..{MAX_DELAY_S}")
    return {"config": body, "events": {"white": white, "black": black},
            "sources": _sources(body.get("sourceAddresses"), catalog), "delay": delay,
            "schedule": schedule, "periodic": periodic, "periods": periods}


def _typed(mode, where: str, kinds: str) -> None:
    """A recording or reporting mode: an object with its `type` (the OAS's discriminator)."""
    if mode is None:
        raise bad("payloadError", f"LoggerConfig.{where} is missing: an object whose type is "
                  f"{kinds}")
    if not isinstance(mode, dict):
        raise bad("payloadError", f"LoggerConfig.{where}: an object whose type is {kinds}")
    if "type" not in mode:
        raise bad("payloadError", f"{where}.type is missing (the data-model OAS requires it: "
                  f"§5.5's examples only name it in a comment): send \"type\": {kinds}")


def _guess(reporting) -> str:
    if isinstance(reporting, dict) and "type" not in reporting:
        if "times" in reporting:
            return '; with times it is "ScheduledReportingMode"'
        if "delay" in reporting:
            return '; with a delay it is "ImmediateReportingMode"'
    return ""


def _events(events) -> tuple:
    """EventRecordingMode.sourceEvents -> (white list or None, black list or None)."""
    if events is None:
        raise bad("payloadError", "recordingMode.sourceEvents is missing (EventRecordingMode "
                  "requires it): {\"whiteList\": [event types]}, or {\"blackList\": []} for "
                  "every event")
    if not isinstance(events, dict):
        raise bad("payloadError", "recordingMode.sourceEvents: {whiteList, blackList}, lists "
                  "of event types")
    white = _names(events["whiteList"], "sourceEvents.whiteList") if "whiteList" in events \
        else None
    black = _names(events["blackList"], "sourceEvents.blackList") if "blackList" in events \
        else None
    return white, black


def records(logger: dict, device_id: str, event_type: str) -> bool:
    """Whether the logger records this event of this device (§5.5, EventRecordingMode: the
    white list reduced by the black list; only a black list: everything else; neither: nothing)."""
    events = logger["events"]
    if events["white"] is None and events["black"] is None:
        return False
    if events["white"] is not None and event_type not in events["white"]:
        return False
    if event_type in (events["black"] or ()):
        return False
    return in_sources(logger, device_id)


def in_sources(logger: dict, device_id: str) -> bool:
    """Whether the logger applies to the device (sourceAddresses: white list reduced by the
    black list; only a black list: every other device; neither: no device)."""
    sources = logger["sources"]
    if sources["white"] is None and sources["black"] is None:
        return False
    if sources["white"] is not None and device_id not in sources["white"]:
        return False
    return device_id not in (sources["black"] or ())


class LoggerStore:
    """The logger configs by address, saved atomically on every change."""

    def __init__(self, path):
        self.path = path
        self.loggers: dict[str, dict] = {}
        self.version = 0                     # bumped on every change: the reporter's cue
        self.changed = asyncio.Event()       # set on every change: the sampler's cue

    def load(self, catalog, on_corrupt) -> None:
        """Read the file; a corrupt one is moved aside and on_corrupt(path, aside, exc) told
        (statefile.load_or_quarantine): the gateway starts with no logger configs."""
        def read(path):
            saved = json.loads(path.read_bytes().decode("utf-8"))
            return {c["address"]: decode_logger(c, catalog) for c in saved}
        self.loggers = load_or_quarantine(self.path, read, on_corrupt) or {}

    async def put(self, logger: dict) -> None:
        """Add or replace, then save; OSError (disk) leaves memory and file as they were."""
        if logger["config"]["address"] not in self.loggers and len(self.loggers) >= MAX_LOGGERS:
            raise refuse("serviceConstraintExceeded", f"{MAX_LOGGERS} logger configs exist "
                         "already: delete one first")
        await self._save({**self.loggers, logger["config"]["address"]: logger})

    async def delete(self, address: str) -> None:
        await self._save({k: v for k, v in self.loggers.items() if k != address})

    async def _save(self, loggers: dict) -> None:
        data = json.dumps([x["config"] for x in loggers.values()]).encode()
        try:
            await asyncio.wait_for(write_atomic_off_loop(self.path, data), 10)
        except (OSError, asyncio.TimeoutError) as exc:
            raise TalqError(500, "genericError", f"cannot save the logger configs to "
                            f"{self.path}: {exc}; check the disk") from None
        self.loggers = loggers
        self.version += 1
        self.changed.set()
