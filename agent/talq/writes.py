"""PATCH bodies (gateway OAS: Device, Function, Attribute) as a list of checked writes.

The one attribute that changes the lights is LampActuatorFunction.targetLightCommand
(operational, mandatory for the lighting profile): it becomes a TALQ city command in the
arbitration, exactly as an OverrideCommand (agent/talq/overrides.py), so a crew's hold still
beats it and `expiration` hands the light back. GatewayFunction's configuration attributes
come from gateway.yaml: a PATCH that sets them to their value (as a CMS does at the end of
the bootstrap's step 1, §5.1) is taken, another value is refused with what to change. Every
other attribute is read-only here (422 resourceConflict). The whole body is checked before
anything is written: never half-applied.
"""

from agent.talq.errors import TalqError, bad, not_found
from agent.talq.overrides import ACTUATOR, _device, command_of

GATEWAY_KEYS = {"cmsUri": "cms_uri", "cmsAddress": "cms_address", "gatewayUri": "gateway_uri",
                "gatewayAddress": "gateway_address", "retryPeriod": "retry_period",
                "crlUrn": "crl_urn"}
MAX_DEVICES = 1000


def conflict(description: str) -> TalqError:
    return TalqError(422, "resourceConflict", description)


def _function_of(catalog, address: str, function_id) -> dict:
    for function in catalog.functions(address):
        if function["id"] == function_id:
            return function
    raise not_found(f"device {address} has no function {str(function_id)[:60]!r}; its class "
                    f"{catalog.class_of(address)} lists them (GET /device-classes)")


def attribute_write(catalog, address: str, function: dict, name: str, value, now_s: float):
    """One attribute -> None (nothing to do) or ("light", device id, command tuple)."""
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        raise bad("payloadError", f"{function['id']}.{name[:60]}: an Attribute object with "
                  "its type")
    if function["type"] == "LampActuatorFunction" and name == "targetLightCommand":
        if value["type"] != "AttributeCommand":
            raise bad("payloadError", f"{name}: an AttributeCommand")
        if catalog.site.lighting is None:
            raise TalqError(422, "overrideAddressNotValid", "this gateway has no lighting "
                            "section in gateway.yaml: no light is under its control")
        light = _device(catalog, f"{address}/{ACTUATOR}")[0]
        return "light", light, command_of(value.get("value"), now_s)
    if function["type"] == "GatewayFunction" and name in GATEWAY_KEYS:
        current = function[name]
        if value.get("value") != current["value"] and str(value.get("value")).lower() != \
                str(current["value"]).lower():
            raise conflict(f"GatewayFunction.{name} is talq.{GATEWAY_KEYS[name]} in "
                           f"gateway.yaml ({current['value']}): change it there")
        return None
    if name not in function:
        raise not_found(f"function {function['id']} has no attribute {name[:60]!r} on this "
                        "gateway")
    raise conflict(f"{function['id']}.{name} is read-only on this gateway: its value comes "
                   "from the device or gateway.yaml; the lights take "
                   f"{ACTUATOR}/targetLightCommand (or POST /override-commands)")


def function_writes(catalog, address: str, body, now_s: float, function_id=None) -> list:
    if not isinstance(body, dict) or not isinstance(body.get("id", function_id), str):
        raise bad("payloadError", "a Function object: id, type and its attributes")
    if function_id is not None and body.get("id", function_id) != function_id:
        raise bad("payloadError", f"the body's id {str(body['id'])[:60]!r} is not the path's")
    function = _function_of(catalog, address, body.get("id", function_id))
    if body.get("type", function["type"]) != function["type"]:
        raise conflict(f"function {function['id']} is a {function['type']}")
    writes = []
    for name, value in body.items():
        if name not in ("id", "type"):
            writes.append(attribute_write(catalog, address, function, name, value, now_s))
    return [w for w in writes if w is not None]


def device_writes(catalog, body, now_s: float, address: str | None = None) -> list:
    if not isinstance(body, dict) or not isinstance(body.get("address", address), str):
        raise bad("payloadError", "a Device object: address, name, class and functions")
    found = body.get("address", address).lower()
    if address is not None and found != address:
        raise bad("payloadError", f"the body's address {found[:60]} is not the path's")
    if found not in catalog.by_address:
        raise not_found(f"no device {found[:60]!r} on this gateway; GET /devices lists them")
    if body.get("class", catalog.class_of(found)) != catalog.class_of(found):
        raise conflict(f"device {found} is of class {catalog.class_of(found)}; a device's "
                       "class comes from its profile in gateway.yaml")
    functions = body.get("functions", [])
    if not isinstance(functions, list) or len(functions) > 32:
        raise bad("payloadError", "functions: a list of Function objects")
    return [w for f in functions for w in function_writes(catalog, found, f, now_s)]


def devices_writes(catalog, body, now_s: float) -> list:
    if not isinstance(body, list) or not 0 < len(body) <= MAX_DEVICES:
        raise bad("payloadError", f"an array of 1..{MAX_DEVICES} Device objects")
    return [w for device in body for w in device_writes(catalog, device, now_s)]
