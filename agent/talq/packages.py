"""Data packages (spec §5.9; DataPackage in the data-model OAS): refused, never installed.

§5.9 leaves it to the gateway to accept or refuse a firmware update and names the reason for
a release it does not recognize as valid: `releaseMismatch`. Lentera has no signed package
mechanism over TALQ, so it installs no code from a URL: every well-formed PUT is refused with
422 and that reason, nothing is downloaded. GET lists the packages installed over TALQ: none.
The gateway itself is upgraded by its installer (docs/installer-guide.md).
"""

from aiohttp import web

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

    def routes(self) -> list:
        return [web.get("/data-packages", self.listing), web.put("/data-packages", self.put)]

    async def listing(self, request):
        check_common(request, self.talq.cms_address)
        return json_answer([])

    async def put(self, request):
        check_common(request, self.talq.cms_address, request_id=True)
        first = check_packages(await read_json(request, self.talq.max_body))[0]
        raise TalqError(422, "genericError", f"releaseMismatch (TALQ §5.9): release "
                        f"{first['releaseId'][:40]!r} of package {first['packageId'][:60]!r} "
                        "is not a release this gateway recognizes: Lentera installs no code "
                        "from a URL and has no signed package mechanism over TALQ; upgrade "
                        "it with its installer (docs/installer-guide.md). Nothing was "
                        "downloaded")
