"""Data packages (spec §5.9; DataPackage in the data-model OAS): refused, never installed.

§5.9 leaves it to the gateway to accept or refuse a firmware update and names the reason for
a release it does not recognize as valid: `releaseMismatch`, told to the CMS as a log record.
Lentera has no signed package mechanism over TALQ, so it installs no code from a URL: every
well-formed PUT is refused with 422 and that reason, nothing is downloaded. GET lists the
packages installed over TALQ: none. The gateway itself is upgraded by its installer
(docs/installer-guide.md).

A CMS (or anyone holding a valid client certificate) may repeat the PUT without end, so the
refusals are bounded like all work from an unverified source (MismatchLog): every one is
counted exactly (`lentera status`: talq.packages), but a `releaseMismatch` record goes to the
outbox once per distinct package and release an hour, and at most RECORDS_PER_HOUR of them an
hour; the log says so at most once a minute.
"""

import logging
import time

from aiohttp import web

from agent.status import wall_ms
from agent.store.outbox import EVENT
from agent.store.outbox_db import INTERFACES

from agent.talq.bodies import read_json
from agent.talq.errors import TalqError, bad, json_answer
from agent.talq.requests import check_common

log = logging.getLogger(__name__)

MAX_PACKAGES = 64
RECORD_EVERY_S = 3600.0     # one record per distinct (package, release) in this time
RECORDS_PER_HOUR = 10       # and at most this many records in any such time
LOG_EVERY_S = 60.0


def check_packages(body) -> list:
    """The PUT body: an array of DataPackage (packageId, releaseId, ownerCMS; downloadUri).

    §5.9's own example sends one object without ownerCMS: it is taken as an array of one (the
    answer is the same releaseMismatch refusal, so the CMS learns the real reason, not a
    shape it would fix only to be refused again)."""
    if isinstance(body, dict):
        body = [body]
    if not isinstance(body, list) or not 0 < len(body) <= MAX_PACKAGES:
        raise bad("payloadError", f"the body: an array of 1..{MAX_PACKAGES} DataPackage "
                  "objects ({packageId, releaseId, ownerCMS, downloadUri}), got "
                  f"{_kind(body)}")
    for i, package in enumerate(body):
        if not isinstance(package, dict):
            raise bad("payloadError", f"[{i}]: a DataPackage object, got {_kind(package)}")
        for key in ("packageId", "releaseId") + (("ownerCMS",) if "ownerCMS" in package else ()):
            if not isinstance(package.get(key), str):
                raise bad("payloadError", f"[{i}].{key}: missing or not a string (a "
                          "DataPackage needs string packageId, releaseId and ownerCMS)")
        if "downloadUri" in package and not isinstance(package["downloadUri"], str):
            raise bad("payloadError", f"[{i}].downloadUri: a URI string")
    return body


def _kind(value) -> str:
    if isinstance(value, list):
        return f"an array of {len(value)}"
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    return names.get(type(value), "null" if value is None else "an object")


class MismatchLog:
    """The bound on refused packages: exact counts, bounded records and log lines."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.refused = 0                     # every refused PUT, exactly
        self.recorded = 0                    # releaseMismatch records put in the outbox
        self.unrecorded = 0                  # refusals past the bound: counted only
        self._recorded_at: dict[tuple, float] = {}    # (package, release) -> when recorded
        self._logged_at = -LOG_EVERY_S
        self._logged_count = 0

    def refuse(self, packages: list) -> bool:
        """Count a refusal; True when it is to be recorded (a release not recorded within
        RECORD_EVERY_S, and the hour's budget not spent)."""
        self.refused += 1
        now = self.clock()
        self._recorded_at = {k: t for k, t in self._recorded_at.items()
                             if now - t < RECORD_EVERY_S}        # at most RECORDS_PER_HOUR
        key = (packages[0]["packageId"][:60], packages[0]["releaseId"][:40])
        record = key not in self._recorded_at and len(self._recorded_at) < RECORDS_PER_HOUR
        if record:
            self._recorded_at[key] = now
            self.recorded += 1
        else:
            self.unrecorded += 1
        if now - self._logged_at >= LOG_EVERY_S:
            log.warning("TALQ data package refused (releaseMismatch, §5.9): package %r release "
                        "%r; %d refused since the start, %d since the last such line, %d of "
                        "them not recorded for the CMS (one record per release an hour, at "
                        "most %d an hour). Lentera installs no code over TALQ: have the CMS "
                        "stop sending packages to this gateway", key[0], key[1], self.refused,
                        self.refused - self._logged_count, self.unrecorded, RECORDS_PER_HOUR)
            self._logged_at, self._logged_count = now, self.refused
        return record

    def status(self) -> dict:
        """Counters for `lentera status` (talq.packages)."""
        return {"refused": self.refused, "recorded": self.recorded,
                "unrecorded": self.unrecorded}


class PackageResources:
    """`state.packages` is the MismatchLog (agent/talq/wiring.py)."""

    def __init__(self, site, talq, state):
        self.site, self.talq, self.state = site, talq, state

    def record_mismatch(self, packages: list) -> None:
        """§5.9: the gateway tells the refusal as a `releaseMismatch` event through the data
        collection service. The event row goes to the outbox for the TALQ interface only (the
        JSON topics carry no TALQ package requests), so a logger config that records it
        reports it, through outages and restarts like every log record."""
        first = packages[0]
        info = (f"package {first['packageId'][:60]} release {first['releaseId'][:40]} refused: "
                "no signed package mechanism over TALQ")
        if len(packages) > 1:
            info += f" (and {len(packages) - 1} more package(s))"
        self.site.outbox.put(self.site.uplink.topics.events("gateway"), "gateway", EVENT,
                             wall_ms(), {"event": "releaseMismatch", "info": info},
                             INTERFACES["talq"])

    def routes(self) -> list:
        return [web.get("/data-packages", self.listing), web.put("/data-packages", self.put)]

    async def listing(self, request):
        check_common(request, self.talq.cms_address)
        return json_answer([])

    async def put(self, request):
        check_common(request, self.talq.cms_address, request_id=True)
        packages = check_packages(await read_json(request, self.talq.max_body))
        first = packages[0]
        if self.state.packages.refuse(packages):
            self.record_mismatch(packages)
        raise TalqError(422, "genericError", f"releaseMismatch (TALQ §5.9): release "
                        f"{first['releaseId'][:40]!r} of package {first['packageId'][:60]!r} "
                        "is not a release this gateway recognizes: Lentera installs no code "
                        "from a URL and has no signed package mechanism over TALQ; upgrade "
                        "it with its installer (docs/installer-guide.md). Nothing was "
                        "downloaded")
