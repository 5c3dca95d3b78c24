"""Data packages (spec §5.9; DataPackage in the data-model OAS): refused, never installed.

§5.9 leaves it to the gateway to accept or refuse a firmware update and names the reason for
a release it does not recognize as valid: `releaseMismatch`, told to the CMS as a log record
(record_mismatch). Lentera has no signed package mechanism over TALQ, so it installs no code
from a URL: every well-formed PUT is refused with 422 and that reason, nothing is downloaded. GET lists the packages installed over TALQ: none.
The gateway itself is upgraded by its installer (docs/installer-guide.md).
"""

from aiohttp import web

from agent.status import wall_ms
from agent.store.outbox import EVENT
from agent.store.outbox_db import INTERFACES

from agent.talq.bodies import read_json
from agent.talq.errors import TalqError, bad, json_answer
from agent.talq.requests import check_common

MAX_PACKAGES = 64


def check_packages(body) -> list:
    """The PUT body: an array of DataPackage (packageId, releaseId, ownerCMS; downloadUri)."""
    if not isinstance(body, list) or not 0 < len(body) <= MAX_PACKAGES:
        raise bad("payloadError", f"an array of 1..{MAX_PACKAGES} DataPackage objects")
    for i, package in enumerate(body):
        if not isinstance(package, dict) or not all(
                isinstance(package.get(k), str) for k in ("packageId", "releaseId", "ownerCMS")):
            raise bad("payloadError", f"[{i}]: a DataPackage needs string packageId, releaseId "
                      "and ownerCMS")
        if "downloadUri" in package and not isinstance(package["downloadUri"], str):
            raise bad("payloadError", f"[{i}].downloadUri: a URI")
    return body


class PackageResources:
    def __init__(self, site, talq):
        self.site, self.talq = site, talq

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
        self.record_mismatch(packages)
        raise TalqError(422, "genericError", f"releaseMismatch (TALQ §5.9): release "
                        f"{first['releaseId'][:40]!r} of package {first['packageId'][:60]!r} "
                        "is not a release this gateway recognizes: Lentera installs no code "
                        "from a URL and has no signed package mechanism over TALQ; upgrade "
                        "it with its installer (docs/installer-guide.md). Nothing was "
                        "downloaded")
