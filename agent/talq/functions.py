"""Lentera's devices as TALQ functions (data-model OAS), computed from live state on each call.

Streetlight controllers: Basic, LampActuator, LampMonitor, Communication. Meters:
ElectricalMeter; the lux sensor: LightSensor; the gateway itself: Gateway, Time, Basic.
`site` is the running Agent (duck-typed: config, devices, lighting, clock).
"""

from agent import __version__
from agent.talq import attributes as a

# arbitration source (edge_rules/arbitration.py SOURCES) -> TALQ Command.reason
REASON = {"maintenance": "override", "command": "override", "rule": "sensor",
          "schedule": "program", "failsafe": "default"}
LAMP_FAILURE, OVER_TEMP, OVER_VOLT, UNDER_VOLT = 1, 2, 4, 8    # streetlight-generic faults bits

# reading point -> (TALQ attribute, maker, scale to the data model's unit)
MONITOR = {"burn_hours": ("operatingHours", a.number, 1.0),
           "driver_temp": ("temperature", a.number, 1.0),
           "voltage": ("supplyVoltage", a.number, 1.0),
           "current": ("supplyCurrent", a.number, 1.0),
           "power": ("activePower", a.number, 1.0),
           "power_factor": ("powerFactor", a.number, 1.0),
           "energy": ("activeEnergy", a.number, 0.001),          # Wh -> KiloWattHours
           # data-model OAS LampMonitorFunction.switchOnCounter: AttributeInteger, unit None,
           # "cumulative number of ON/OFF cycles since installation", wraps after 2^32 - 1
           "switch_ons": ("switchOnCounter", a.integer, 1.0)}
METER = {"voltage": ("supplyVoltage", a.number, 1.0), "voltage_l1": ("phase1Voltage", a.number, 1.0),
         "voltage_l2": ("phase2Voltage", a.number, 1.0), "voltage_l3": ("phase3Voltage", a.number, 1.0),
         "current": ("totalCurrent", a.number, 1.0), "current_l1": ("phase1Current", a.number, 1.0),
         "current_l2": ("phase2Current", a.number, 1.0), "current_l3": ("phase3Current", a.number, 1.0),
         "active_power": ("totalPower", a.number, 0.001),          # W -> KiloWatt
         "total_power": ("totalPower", a.number, 0.001),
         "power_l1": ("phase1ActivePower", a.number, 0.001),
         "power_l2": ("phase2ActivePower", a.number, 0.001),
         "power_l3": ("phase3ActivePower", a.number, 0.001),
         "apparent_power": ("totalVA", a.number, 0.001),          # VA -> KiloVoltAmpere
         "reactive_power": ("totalVAR", a.number, 0.001),
         "power_factor": ("totalPowerFactor", a.number, 1.0),
         "total_power_factor": ("totalPowerFactor", a.number, 1.0),
         "frequency": ("frequency", a.number, 1.0),
         "total_energy": ("totalActiveEnergy", a.number, 1.0)}    # already kWh
LUX = {"lux": ("lightLevel", a.number, 1.0)}                       # lx = Illuminance
# serial dust sensors' points (drivers/serial/parsers.py, µg/m³) -> MicrogramsPerCubicMeter
DUST = {"pm1_0": ("pm1", a.number, 1.0), "pm2_5": ("pm2-5", a.number, 1.0),
        "pm10": ("pm10", a.number, 1.0)}


def values_of(site, device_id: str) -> dict | None:
    """The device's last good values (the lighting's, else the console's history), or None."""
    if site.lighting is not None and device_id in site.lighting.latest:
        return site.lighting.latest[device_id]
    history = getattr(site, "history", None)
    reading = history.latest.get(device_id) if history is not None else None
    if reading and reading.get("quality") == "good":
        return reading.get("values") or {}
    return None


def mapped(values: dict | None, table: dict) -> dict:
    out = {}
    for point, (name, make, scale) in table.items():
        attribute = a.optional(values or {}, point, make, scale)
        if attribute is not None:
            out[name] = attribute
    return out


def basic(site, device) -> dict:
    body = {"id": "basic", "type": "BasicFunction", "displayName": a.text(device.id),
            "hwType": a.text(device.profile), "swType": a.text("lentera"),
            "swVersion": a.text(__version__), "currentTime": a.when(site.clock.wall()),
            "deviceReset": a.boolean(False)}
    if device.location is not None:
        body["location"] = a.location(device.location.lat, device.location.lon)
    return body


def communication(site, device) -> dict:
    """A device whose last poll was not good has communicationFailure (§ CommunicationFunction)."""
    return {"id": "communication", "type": "CommunicationFunction",
            "communicationType": a.text("modbus"),
            "physicalAddress": a.text(f"{device.bus}/{device.unit}"),
            "communicationFailure": a.boolean(values_of(site, device.id) is None)}


def dust_functions(site, sensor) -> list[dict]:
    """A serial dust sensor (SDS011, PMS5003): Basic, ParticulateMatterSensor, Communication;
    its values are those the lighting service last saw (agent/services/lighting.py latest)."""
    values = values_of(site, sensor.id)
    basic_ = {"id": "basic", "type": "BasicFunction", "displayName": a.text(sensor.id),
              "hwType": a.text(sensor.kind), "swType": a.text("lentera"),
              "swVersion": a.text(__version__), "currentTime": a.when(site.clock.wall()),
              "deviceReset": a.boolean(False)}
    dust = {"id": "particulateMatterSensor", "type": "ParticulateMatterSensorFunction",
            **mapped(values, DUST)}
    link = {"id": "communication", "type": "CommunicationFunction",
            "communicationType": a.text("serial"), "physicalAddress": a.text(sensor.port),
            "communicationFailure": a.boolean(values is None)}
    return [basic_, dust, link]


def _level(out: dict | None) -> int:
    return int(out["dim"]) if out and out.get("switch") else 0


def lamp_actuator(site, device, calendar: str = "") -> dict:
    """`calendar`: the TALQ calendar the light's group runs ("" when none, Catalog.calendar_of)."""
    lighting = site.lighting
    out = lighting.outputs.get(device.id) if lighting else None
    actual = lighting.actual.get(device.id) if lighting else None
    reason = REASON.get((out or {}).get("source"), "default")
    failsafe = lighting.controller.failsafe.level if lighting else 100
    body = {"id": "lampActuator", "type": "LampActuatorFunction",
            "defaultLightState": a.level(failsafe),
            "targetLightCommand": a.command(_level(out) if out else failsafe, reason),
            "calendarID": a.text(calendar),
            "lightStateChange": a.boolean(bool(out and actual and _level(out) != _level(actual)))}
    if actual is not None:
        body["feedbackLightCommand"] = a.command(_level(actual), reason)
        body["actualLightState"] = a.level(_level(actual))
    return body


def segment_monitor(site, device) -> dict:
    """The light's own segment: actualState is the lamp as read; localOverride the crew's
    hold on it (a maintenance override: ON or OFF as the crew set it), else NONE."""
    lighting = site.lighting
    out = lighting.outputs.get(device.id) if lighting else None
    hold = "NONE"
    if out is not None and out.get("source") == "maintenance":
        hold = "ON" if out.get("switch") else "OFF"
    body = {"id": "segmentMonitor", "type": "SegmentMonitorFunction",
            "localOverride": {"type": "AttributeLocalOverride", "value": hold}}
    actual = lighting.actual.get(device.id) if lighting else None
    values = values_of(site, device.id)
    lit = actual.get("switch") if actual else (values or {}).get("lamp_state")
    if lit is not None:
        body["actualState"] = {"type": "AttributeBinary", "value": "ON" if lit == 1 or
                               lit is True else "OFF"}
    return body


def lamp_monitor(site, device) -> dict:
    values = values_of(site, device.id)
    faults = int((values or {}).get("faults", 0) or 0)
    out = site.lighting.outputs.get(device.id) if site.lighting else None
    body = {"id": "lampMonitor", "type": "LampMonitorFunction", **mapped(values, MONITOR)}
    if values is not None:
        body["lampFailure"] = a.boolean(faults & LAMP_FAILURE or values.get("lamp_state") == 2)
        body["highTemperature"] = a.boolean(faults & OVER_TEMP)
        body["supplyVoltageTooHigh"] = a.boolean(faults & OVER_VOLT)
        body["supplyVoltageTooLow"] = a.boolean(faults & UNDER_VOLT)
        # day burning: the lamp reads on while what decides it wants it off
        body["lampUnexpectedOn"] = a.boolean(bool(out is not None and not out.get("switch")
                                                  and values.get("lamp_state") == 1))
    return body


def sensor(site, device, kind: str) -> dict:
    values = values_of(site, device.id)
    if kind == "meter":
        return {"id": "electricalMeter", "type": "ElectricalMeterFunction", **mapped(values, METER)}
    return {"id": "lightSensor", "type": "LightSensorFunction", **mapped(values, LUX)}


def gateway_functions(site, talq) -> list[dict]:
    clock = site.clock
    gateway = {"id": "gateway", "type": "GatewayFunction", "cmsUri": a.uri(talq.cms_uri),
               "cmsAddress": a.text(talq.cms_address), "gatewayUri": a.uri(talq.gateway_uri),
               "gatewayAddress": a.text(talq.gateway_address),
               "retryPeriod": a.number(talq.retry_period), "crlUrn": a.uri(talq.crl_urn),
               "vendor": a.text("Lentera"),
               "currentReleaseId": a.text(__version__)}
    time = {"id": "time", "type": "TimeFunction", "timeZone": a.text(site.config.gateway.timezone),
            "currentTime": a.when(clock.wall()),
            "lastSyncError": a.boolean(not clock.trusted())}     # schedules wait for a trusted clock
    basic_ = {"id": "basic", "type": "BasicFunction", "displayName": a.text(site.config.gateway.id),
              "swType": a.text("lentera"), "swVersion": a.text(__version__),
              "currentTime": a.when(clock.wall()), "deviceReset": a.boolean(False),
              "location": a.location(site.config.gateway.location.lat,
                                     site.config.gateway.location.lon)}
    return [basic_, gateway, time]
