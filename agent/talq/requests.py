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
        near = [h for h in ("talq-version", "talq-api", "api-version") if h in request.headers]
        raise bad("headerMissing", "talq-api-version header missing" + (
            f" ({near[0]} is not its name; §5.3's example writes talq-version)" if near
            else "") + ": send the header talq-api-version: 2.7.1 (TALQ 2.7.1 §3.5)")
    if not VERSION.match(version.strip()):
        raise bad("headerValueNotValid", f"talq-api-version {version[:40]!r}: this gateway "
                  "speaks TALQ 2.7.1 (any 2.x is answered)")
    client = _uuid(request.query, "clientAddress", "the attached CMS's TALQ address")
    if client != cms_address:
        raise bad("parameterValueNotValid", f"clientAddress {client} is not the CMS attached "
                  "to this gateway: send its address, or set talq.cms_address in gateway.yaml "
                  "to this CMS's")
    if request_id:
        _uuid(request.query, "talqRequestId", "a fresh UUID on every request that changes "
              "something (gateway OAS)")


def _uuid(query, name: str, what: str) -> str:
    raw = query.get(name)
    if raw is None:
        raise bad("parameterMissing", f"query parameter {name} is missing: {what}")
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise bad("parameterValueNotValid", f"query parameter {name}={raw[:60]!r} is not a "
                  f"UUID (8-4-4-4-12 hex digits): {what}") from None
