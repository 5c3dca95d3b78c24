"""The TALQ view of the site: devices (with stable addresses), device classes and services.

Addresses are UUIDs (Device.address, format uuid): the gateway device has the configured
gateway address; each field device a name-based UUID under it, so an address never changes
while the device id in gateway.yaml does not.
"""

import functools
import uuid

from agent.talq import functions as f
from agent.talq.calendar_rules import MAX_RULES
from agent.talq.plan_changes import running
from agent.talq.plans import MAX_ITEMS

DUST_KINDS = ("sds011", "pms5003")         # serial sensors that measure particulate matter
# profile kind (drivers/modbus/profile.py) -> TALQ device class and its function types
CLASSES = {
    "streetlight": ("LenteraStreetlight", (("basic", "BasicFunction"),
                                           ("lampActuator", "LampActuatorFunction"),
                                           ("lampMonitor", "LampMonitorFunction"),
                                           ("segmentMonitor", "SegmentMonitorFunction"),
                                           ("communication", "CommunicationFunction"))),
    "meter": ("LenteraElectricalMeter", (("basic", "BasicFunction"),
                                         ("electricalMeter", "ElectricalMeterFunction"),
                                         ("communication", "CommunicationFunction"))),
    "lux-sensor": ("LenteraLightSensor", (("basic", "BasicFunction"),
                                          ("lightSensor", "LightSensorFunction"),
                                          ("communication", "CommunicationFunction"))),
    "dust": ("LenteraDustSensor", (("basic", "BasicFunction"),
                                   ("particulateMatterSensor", "ParticulateMatterSensorFunction"),
                                   ("communication", "CommunicationFunction"))),
    "other": ("LenteraFieldDevice", (("basic", "BasicFunction"),
                                     ("communication", "CommunicationFunction"))),
    "gateway": ("LenteraGateway", (("basic", "BasicFunction"), ("gateway", "GatewayFunction"),
                                   ("time", "TimeFunction"))),
}


# what the control programs and calendars this gateway runs may hold (agent/talq/plans.py,
# calendar_rules.py); a request beyond it is refused with 422 serviceConstraintExceeded
CONTROL_SERVICE = {
    "name": "ControlService", "supportedTypes": ["AstroClockTimeControl", "ccDate", "ccDay"],
    "maxProgramsPerCalendar": MAX_RULES + 1, "maxSwitchPointsPerProgram": MAX_ITEMS + 2,
    "maxActivePeriodsPerProgram": 0, "dayOffset": 12, "ccDateSupport": "full",
    "ccDaySupport": "noOccurrences", "programSecondsSupported": False}


@functools.lru_cache(maxsize=8)
def _addresses(gateway_address: str, ids: tuple) -> dict:
    """Device id -> its name-based UUID. The ids come from gateway.yaml, fixed while the agent
    runs, and a Catalog is built per request and per sample: 500 uuid5 (SHA-1) each time was
    a tenth of the TALQ path's CPU with a CMS reading /devices (docs/benchmarks.md)."""
    root = uuid.UUID(gateway_address)
    return {i: str(uuid.uuid5(root, i)) for i in ids}


class Catalog:
    """Stateless: every answer is computed from `site` at the time of the request (only the
    addresses, which gateway.yaml fixes, are computed once)."""

    def __init__(self, site, talq):
        self.site, self.talq = site, talq
        dust = [s for s in getattr(site.config, "serial_sensors", []) if s.kind in DUST_KINDS]
        self._dust = {id(s) for s in dust}
        devices = list(site.config.devices) + dust
        self._ids = _addresses(talq.gateway_address, tuple(d.id for d in devices))
        self.by_address = {talq.gateway_address: None}
        self.order = [talq.gateway_address]          # §5.10: the implied order of the pages
        for device in devices:
            address = self._ids[device.id]
            self.by_address[address] = device
            self.order.append(address)
        root = uuid.UUID(talq.gateway_address)
        # the lighting groups of gateway.yaml, read-only: address -> group name
        lighting = getattr(site, "lighting", None)
        self.groups = {str(uuid.uuid5(root, "group:" + name)): name
                       for name in (lighting.controller.groups if lighting else {})}
        self._calendars: dict | None = None          # device id -> calendar, when first asked

    def calendar_of(self, device_id: str) -> str:
        """The TALQ calendar the light's group runs (LampActuatorFunction.calendarID), or ""."""
        if self._calendars is None:
            state = getattr(self.site, "talq", None)
            by_calendar = running(self.site, state.plans.calendars) if state else {}
            groups = self.site.lighting.controller.groups if self.site.lighting else {}
            self._calendars = {d: cid for cid, names in by_calendar.items()
                               for name in names for d in groups.get(name, [])}
        return self._calendars.get(device_id, "")

    def kind(self, device) -> str:
        if device is None:
            return "gateway"
        # by identity, not getattr(device, "kind"): on a Modbus device (a pydantic model
        # without `kind`) the AttributeError path cost more than the rest of a sample
        if id(device) in self._dust:
            return "dust"
        modbus = self.site.devices.get(device.id) if getattr(self.site, "devices", None) else None
        kind = modbus.profile.kind if modbus is not None else "other"
        return kind if kind in CLASSES else "other"

    def class_of(self, address: str) -> str:
        return CLASSES[self.kind(self.by_address[address])][0]

    def functions(self, address: str, only=None) -> list[dict]:
        """The device's functions, in its class's order; `only(function id, type)`: build just
        those it takes (the periodic sampler wants one or two of five, 500 devices a sample)."""
        device = self.by_address[address]
        kind = self.kind(device)
        if kind == "gateway":
            made = f.gateway_functions(self.site, self.talq)
        elif kind == "dust":
            made = f.dust_functions(self.site, device)
        else:
            build = {"basic": lambda: f.basic(self.site, device),
                     "lampActuator": lambda: f.lamp_actuator(self.site, device,
                                                             self.calendar_of(device.id)),
                     "lampMonitor": lambda: f.lamp_monitor(self.site, device),
                     "segmentMonitor": lambda: f.segment_monitor(self.site, device),
                     "electricalMeter": lambda: f.sensor(self.site, device, kind),
                     "lightSensor": lambda: f.sensor(self.site, device, kind),
                     "communication": lambda: f.communication(self.site, device)}
            return [build[fid]() for fid, ftype in CLASSES[kind][1]
                    if only is None or only(fid, ftype)]
        return [x for x in made if only is None or only(x["id"], x["type"])]

    def device_name(self, address: str) -> str:
        """Device.name: the id in gateway.yaml (the gateway's own id for the gateway)."""
        device = self.by_address[address]
        return self.site.config.gateway.id if device is None else device.id

    def device(self, address: str) -> dict:
        name = self.device_name(address)
        return {"address": address, "name": name, "class": self.class_of(address),
                "functions": self.functions(address)}

    def addresses(self, classes: list[str] | None = None) -> list[str]:
        if not classes:
            return list(self.order)
        return [x for x in self.order if self.class_of(x) in classes]

    def device_classes(self) -> list[dict]:
        used = {self.class_of(x) for x in self.order}
        return [{"name": name, "functions": [{"functionId": fid, "type": ftype}
                                             for fid, ftype in funcs]}
                for name, funcs in CLASSES.values() if name in used]

    def address_of(self, device_id: str) -> str:
        found = self._ids.get(device_id)
        return found if found is not None else \
            str(uuid.uuid5(uuid.UUID(self.talq.gateway_address), device_id))

    def group(self, address: str) -> dict:
        """A lighting group as a TALQ Group (data-model OAS): its lights, by device address."""
        lights = self.site.lighting.controller.groups[self.groups[address]]
        return {"address": address, "ownerCMS": self.talq.cms_address,
                "members": [{"resource": "devices", "address": self.address_of(d)}
                            for d in lights]}

    def services(self) -> list[dict]:
        """What this gateway supports (§5; Service models in the data-model OAS)."""
        return [{"name": "ConfigurationService", "commissioningSupported": False,
                 "devicesPaginationSupported": True, "supportedProfiles": ["lighting"]},
                CONTROL_SERVICE]
