"""Override commands (spec §5.6; OverrideCommand in the data-model OAS) as city commands in the
lighting service's per-output arbitration.

A TALQ override is a "command" entry (below a crew's hold, above rules and plans) whose
target kind is "talq": a later override replaces the former on the lights it names, and one
without `targetCommand` withdraws it, so the lights resume their plan or `defaultLightState`
(the failsafe). The request is checked whole before anything is held: never half-applied.
"""

from datetime import datetime

from agent.errors import Refused
from agent.talq.attributes import iso
from agent.talq.errors import TalqError, bad, got

ORIGIN = "talq"
MAX_ADDRESSES = 1000              # references in one override; a group counts as one
REASONS = ("default", "override", "sensor", "program")      # Command.reason (OAS enum)
ACTUATOR = "lampActuator"
COMMANDS = ("targetLightCommand",)     # the AttributeCommand of a LampActuatorFunction


def unprocessable(key: str, description: str) -> TalqError:
    """422: well-formed, but not something this gateway can do (gateway OAS)."""
    return TalqError(422, key, description)


def _when(raw, name: str) -> float:
    if not isinstance(raw, str) or len(raw) > 40:
        raise bad("payloadError", f"targetCommand.{name}: an RFC 3339 date-time string")
    try:
        stamp = datetime.fromisoformat(raw.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise bad("payloadError", f"targetCommand.{name} {raw!r} is not an RFC 3339 "
                  "date-time (e.g. 2026-12-07T18:00:00Z)") from None
    if stamp.tzinfo is None:
        raise bad("payloadError", f"targetCommand.{name} {raw!r} has no time zone; "
                  "add Z or an offset")
    return stamp.timestamp()


def _device(catalog, address: str) -> list[str]:
    parts = address.lower().split("/")
    device = catalog.by_address.get(parts[0])
    if parts[0] not in catalog.by_address:
        raise unprocessable("relatedResourceNotFound", f"no device {parts[0][:60]!r} on this "
                            "gateway; GET /devices lists them")
    if device is None or catalog.kind(device) != "streetlight":
        raise unprocessable("overrideAddressNotValid", f"device {parts[0]} has no "
                            f"{ACTUATOR} function: only street lights take light commands")
    if len(parts) > 1 and parts[1] != ACTUATOR.lower() or len(parts) > 2 and (
            parts[2] != COMMANDS[0].lower()) or len(parts) > 3:
        raise unprocessable("overrideAddressNotValid", f"{address[:120]!r}: the override "
                            f"can address {parts[0]}/{ACTUATOR}/{COMMANDS[0]} or a part of it")
    if device.id not in catalog.site.lighting.controller.devices:
        raise unprocessable("overrideAddressNotValid", f"device {parts[0]} ({device.id}) is "
                            "in no lighting group of gateway.yaml, so not under local control")
    return [device.id]


def lights_of(addresses, catalog) -> list[str]:
    """The device ids the ResourceReferences name (groups expanded), in order, once each."""
    if not isinstance(addresses, list) or not 1 <= len(addresses) <= MAX_ADDRESSES:
        raise bad("payloadError", f"addresses: a list of 1..{MAX_ADDRESSES} ResourceReference "
                  "({resource: devices|groups, address})")
    lights: list[str] = []
    for i, ref in enumerate(addresses):
        if not isinstance(ref, dict) or not isinstance(ref.get("resource"), str) or \
                not isinstance(ref.get("address"), str):
            raise bad("payloadError", f"addresses[{i}]: needs string resource and address")
        resource, address = ref["resource"], ref["address"]
        if resource == "devices":
            found = _device(catalog, address)
        elif resource == "groups":
            if address.lower() not in catalog.groups:
                raise unprocessable("relatedResourceNotFound", f"no group {address[:60]!r} "
                                    "on this gateway; GET /groups lists them")
            found = catalog.site.lighting.controller.groups[catalog.groups[address.lower()]]
        else:
            raise unprocessable("overrideAddressNotValid", f"addresses[{i}].resource "
                                f"{resource[:40]!r}: an override names devices or groups")
        lights += [x for x in found if x not in lights]
    return lights


def level_of(state, where: str = "targetCommand.state",
             unsupported: str = "overrideCommandNotValid") -> int:
    """The DimLevel of a LevelState (0..100); other states cannot drive a street light.
    `where` names the field in the refusal (a program's command is not an override's), and
    `unsupported` is the key for a state other than LevelState."""
    if not isinstance(state, dict) or not isinstance(state.get("name"), str):
        raise bad("payloadError", f"{where} is {got(state)}: send a LevelState, "
                  '{"name": "LevelState", "value": 0..100}')
    if state["name"].lower() != "levelstate":      # §5.6's own example writes "levelState"
        raise unprocessable(unsupported, f"{where}.name {state['name'][:40]!r}: Lentera's lamp "
                            "actuators take LevelState only; send "
                            '{"name": "LevelState", "value": 0..100}')
    value = state.get("value")
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise bad("payloadError", f"{where}.value {str(value)[:20]}: send a DimLevel, a whole "
                  "percentage 0..100 (0 is off)")
    return value


def command_of(target, now_s: float) -> tuple:
    """(switch, dim, expires_s or None, reason text) of a Command; level 0 is off."""
    if not isinstance(target, dict):
        raise bad("payloadError", "targetCommand: a Command object")
    level = level_of(target.get("state"))
    reason = target.get("reason", "override")
    if reason not in REASONS:
        raise bad("payloadError", f"targetCommand.reason {str(reason)[:20]!r}: one of "
                  f"{', '.join(REASONS)}")
    for ramp in ("rampToLevelTime", "rampFromLevelTime"):
        value = target.get(ramp, 0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not \
                0 <= value <= 86400:
            raise bad("payloadError", f"targetCommand.{ramp}: seconds, 0..86400")
    if "start" in target and _when(target["start"], "start") > now_s + 1:
        raise unprocessable("overrideCommandNotValid", "targetCommand.start is in the "
                            "future: this gateway applies an override when it receives it; "
                            "send it at its start")
    expires = _when(target["expiration"], "expiration") if "expiration" in target else None
    if expires is not None and expires <= now_s:
        raise unprocessable("overrideCommandNotValid", f"targetCommand.expiration "
                            f"{target['expiration']} is already past (gateway time "
                            f"{iso(now_s)})")
    ref = target.get("cmsRefId")
    label = "TALQ override" + (f" {ref[:60]}" if isinstance(ref, str) and ref else "")
    return level > 0, level if level > 0 else None, expires, label


def decode_override(body, catalog, now_s: float) -> tuple:
    """An OverrideCommand -> (device ids, switch, dim, expires_s, label); TalqError (400 or
    422) is the only error it raises. switch and dim both None: withdraw (resume)."""
    if not isinstance(body, dict):
        raise bad("payloadError", "the body is an OverrideCommand object")
    if catalog.site.lighting is None:
        raise unprocessable("overrideAddressNotValid", "this gateway has no lighting section "
                            "in gateway.yaml: no light is under its control")
    lights = lights_of(body.get("addresses"), catalog)
    if "targetCommand" not in body:
        return lights, None, None, None, "TALQ override withdrawn"
    return (lights, *command_of(body["targetCommand"], now_s))


async def apply_override(site, catalog, body) -> dict:
    """Hold (or withdraw) the override; {device id: None or why it is not applied yet}."""
    lights, switch, dim, expires, label = decode_override(body, catalog, site.clock.wall())
    try:
        return await site.lighting.replace_commands(ORIGIN, lights, switch, dim, expires, label)
    except Refused as exc:
        raise unprocessable("serviceConstraintExceeded", str(exc)) from None
