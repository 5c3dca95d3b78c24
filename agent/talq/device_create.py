"""POST and PUT /devices from the CMS (spec §5.3; gateway OAS).

Lentera's field devices come from gateway.yaml: a TALQ Device carries no bus or unit, so the
gateway cannot start talking to a device the CMS names. What §5.3 leaves to the gateway, it
does: "if another device already exists in the Gateway with attributes which make it
indistinguishable (by the Gateway) from the new device, the Gateway shall return the TALQ
address of the existing device ... if the CMS originally sent a NIL address", and answers
CONFLICT when the CMS sent a UUID of its own. Indistinguishable here: the same `name` (the
device id in gateway.yaml) and `class`. Anything else is refused whole (422): nothing is
created, half or whole. PUT replaces a device's whole definition, which gateway.yaml owns: a
known address is refused with 422 naming PATCH for the writable attributes, an unknown one 404.
"""

import uuid

from agent.talq.errors import TalqError, bad, not_found
from agent.talq.writes import MAX_DEVICES

NIL = "00000000-0000-0000-0000-000000000000"


def _devices(body) -> list:
    if not isinstance(body, list) or not 0 < len(body) <= MAX_DEVICES:
        raise bad("payloadError", f"an array of 1..{MAX_DEVICES} Device objects")
    for i, device in enumerate(body):
        if not isinstance(device, dict) or not all(
                isinstance(device.get(k), str) for k in ("address", "name", "class")):
            raise bad("payloadError", f"[{i}]: a Device needs string address, name and class")
        try:
            uuid.UUID(device["address"])
        except ValueError:
            raise bad("payloadError", f"[{i}].address: a UUID (NIL to let the gateway tell "
                      "its own)") from None
        if "functions" in device and not isinstance(device["functions"], list):
            raise bad("payloadError", f"[{i}].functions: an array of functions")
    return body


def created(catalog, body) -> list:
    """POST /devices: the existing devices the CMS's NIL-addressed ones are (201), or a
    TalqError: 409 for a UUID of the CMS's own on an existing device, 422 for a device this
    gateway does not have."""
    answer = []
    for i, device in enumerate(_devices(body)):
        found = [a for a in catalog.order if catalog.device_name(a) == device["name"]
                 and catalog.class_of(a) == device["class"]]
        if not found:
            raise TalqError(422, "resourceConflict", f"[{i}]: no {device['class'][:40]} "
                            f"{device['name'][:60]!r} on this gateway, and it cannot create "
                            "one: a field device needs its bus and unit in gateway.yaml "
                            "(devices[], `lentera check-config`, then restart lentera)")
        if uuid.UUID(device["address"]) != uuid.UUID(NIL):
            raise TalqError(409, "resourceConflict", f"[{i}]: {device['name'][:60]!r} exists "
                            f"as {found[0]}; send a NIL address to be told it (TALQ §5.3)")
        answer.append(catalog.device(found[0]))
    return answer


def replaced(catalog, body) -> None:
    """PUT /devices: always a TalqError (404 an unknown address, else 422)."""
    for i, device in enumerate(_devices(body)):
        if device["address"].lower() not in catalog.by_address:
            raise not_found(f"[{i}]: no device {device['address'][:60]!r} on this gateway; "
                            "GET /devices lists them")
    raise TalqError(422, "resourceConflict", "a device's definition (class, functions) comes "
                    "from gateway.yaml and is not replaced over TALQ; PATCH /devices sets the "
                    "writable attributes (targetLightCommand)")
