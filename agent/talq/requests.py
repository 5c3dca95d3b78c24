"""What every TALQ request must carry (gateway OAS parameters; spec §3.5, §4.1)."""

import re
import uuid

from agent.talq.errors import bad

VERSION = re.compile(r"^2\.\d{1,3}(\.\d{1,3})?$")     # same MAJOR; a lower MINOR is adapted to


def check_common(request, cms_address: str, *, request_id: bool = False) -> None:
    """The talq-api-version header and the clientAddress of the attached CMS (§4.1: no access
    for another CMS); talqRequestId on requests that change something."""
    version = request.headers.get("talq-api-version")
    if version is None:
        raise bad("headerMissing", "talq-api-version header missing; send 2.7.1")
    if not VERSION.match(version.strip()):
        raise bad("headerValueNotValid", f"talq-api-version {version[:40]!r}: this gateway "
                  "speaks TALQ 2.7.1 (any 2.x is answered)")
    client = _uuid(request.query, "clientAddress")
    if client != cms_address:
        raise bad("parameterValueNotValid", f"clientAddress {client} is not the CMS attached "
                  "to this gateway (talq.cms_address in gateway.yaml)")
    if request_id:
        _uuid(request.query, "talqRequestId")


def _uuid(query, name: str) -> str:
    raw = query.get(name)
    if raw is None:
        raise bad("parameterMissing", f"{name} is missing (a UUID)")
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise bad("parameterValueNotValid", f"{name}={raw[:60]!r} is not a UUID") from None
