"""The request examples of the TALQ 2.7.1 specification text (§5.3..§5.10), as JSON: the
"…" and comments taken out, everything else as printed (addresses that are not UUIDs, the
`talq-version` header, `ownerCMS` left out, `samplingProfile` as one object, `reportingMode`
typed only in a comment, `"type": "ActivePeriodAbsolute"`), and each with the corrections a
CMS makes one after another until the gateway takes it."""

import copy
import time

from agent.talq.attributes import iso

EXAMPLE_DEVICE = "110a8321-e34c-112p5-b567-76472384789235809"
EXAMPLE_GROUP = "110a8321-e34c-112p5-b567-36423054023940392"
REFS = [{"resource": "devices", "address": EXAMPLE_DEVICE},
        {"resource": "groups", "address": EXAMPLE_GROUP}]
SCHEDULED = {"times": ["09:00:00"], "randomTime": 60}            # "//ScheduledReportingMode"
CONTENT = [{"functionType": "ElectricalMeterFunction",
            "attributes": [{"name": "totalActiveEnergy"}]}]
LEVEL = lambda value, name="LevelState": {"state": {"name": name, "value": value}}


def with_(body, **changes):
    """A copy of body with dotted keys set ("recordingMode.type": ...)."""
    body = copy.deepcopy(body)
    for dotted, value in changes.items():
        *path, last = dotted.split("__")
        target = body
        for key in path:
            target = target[key]
        target[last] = value
    return body


def examples(cms: str, device: str, group: str) -> list:
    """(name, method, path, body, headers, expected): expected is a 2xx status, or (status,
    TALQ key, what the description must name). `device`, `group`: real addresses that
    replace the example's where the point is the body's shape."""
    real = [{"resource": "devices", "address": device}, {"resource": "groups", "address": group}]
    vendor = {"address": "110a8321-e34c-112p5-b567-1234567890", "sourceAddresses":
              {"whiteList": REFS}, "recordingMode": {"type": "VendorRecordingMode",
                                                     "content": CONTENT},
              "reportingMode": SCHEDULED}
    periodic = {"address": "110a8321-e34c-112p5-b567-1234567890",
                "sourceAddresses": {"whiteList": REFS},
                "recordingMode": {"type": "PeriodicRecordingMode", "content": CONTENT,
                                  "samplingProfile": {"samplingStartTime": "2013-04-01T00:00:00Z",
                                                      "samplingPeriod": "P1D"}},
                "reportingMode": SCHEDULED}
    events = {"address": "logger001", "sourceAddresses": {"whiteList": REFS},
              "recordingMode": {"type": "EventRecordingMode",
                                "sourceEvents": {"whiteList": ["invalidCalendar"]}},
              "reportingMode": SCHEDULED}
    active = {"address": "logger002", "sourceAddresses": {},
              "recordingMode": {"type": "EventRecordingMode", "activePeriods": [
                  {"type": "ActivePeriodAbsolute", "startTime": "21:30:00",
                   "endTime": "07:00:00"}]}, "reportingMode": SCHEDULED}
    owned = lambda body: with_(body, ownerCMS=cms)
    scheduled = {**SCHEDULED, "type": "ScheduledReportingMode"}
    fixed_periodic = with_(owned(periodic), sourceAddresses={"whiteList": real})
    del fixed_periodic["recordingMode"]["samplingProfile"]
    fixed_periodic["recordingMode"]["samplingProfiles"] = [
        periodic["recordingMode"]["samplingProfile"]]
    unwrapped = with_(fixed_periodic, recordingMode__content=[{"function": CONTENT[0]}])
    real_events = with_(owned(events), sourceAddresses={"whiteList": real})
    named = with_(owned(active), recordingMode__activePeriods=[
        {"name": "AbsoluteActivePeriod", "startTime": "21:30:00", "endTime": "07:00:00"}])
    override = {"addresses": REFS, "targetCommand": {
        "reason": "override", "cmsRefId": "<cmsReference>", "expiration": "2017-10-16T03:33:12Z",
        "rampToLevelTime": 0.5, "rampFromLevelTime": 2.0, **LEVEL(50, "levelState")}}
    device_53 = [{"address": "00000000-0000-0000-0000-000000000000", "name": "<deviceName>",
                  "class": "<deviceClassName>", "functions": [
                      {"id": "basic001", "type": "BasicFunction",
                       "displayName": {"value": "<displayName>"}, "assetId": {"value": "<assetId>"}},
                      {"id": "lampActuator001", "type": "LampActuatorFunction",
                       "lampTypeId": {"value": "<lampTypeId>"}, "maintenanceFactor": {"value": 50},
                       "maintenancePeriod": {"value": 12}}]}]
    return [
        ("5.3 header talq-version", "POST", "/devices", device_53, {"talq-version": "2.7.1"},
         (400, "headerMissing", "talq-api-version")),
        ("5.3 device", "POST", "/devices", device_53, None,
         (422, "resourceConflict", "<deviceName>")),
        ("5.4 group", "POST", "/groups", [{"address": "110a8321-e34c-112p5-b567-43126738927893",
                                          "members": REFS, "purpose": "override"}], None,
         (404, "resourceNotFound", "POST /groups")),
        ("5.5 the example's URL", "POST", "/logger-configs/logger001", owned(events), None,
         (404, "resourceNotFound", "POST /logger-configs (its address in the body)")),
        ("5.5 vendor", "POST", "/logger-configs", vendor, None,
         (400, "payloadError", "LoggerConfig.ownerCMS is missing")),
        ("5.5 vendor, owned", "POST", "/logger-configs", owned(vendor), None,
         (422, "payloadError", "recordingMode.type 'VendorRecordingMode'")),
        ("5.5 periodic", "POST", "/logger-configs", periodic, None,
         (400, "payloadError", "LoggerConfig.ownerCMS")),
        ("5.5 periodic, owned", "POST", "/logger-configs", owned(periodic), None,
         (400, "payloadError", "recordingMode.samplingProfile")),
        ("5.5 periodic, profiles", "POST", "/logger-configs", fixed_periodic, None,
         (400, "payloadError", "recordingMode.content[0].function is missing")),
        ("5.5 periodic, function", "POST", "/logger-configs", unwrapped, None,
         (400, "payloadError", "reportingMode.type is missing")),
        ("5.5 periodic, typed", "POST", "/logger-configs",
         with_(unwrapped, reportingMode=scheduled), None, 201),
        ("5.5 events", "POST", "/logger-configs", owned(events), None,
         (400, "payloadError", 'with times it is "ScheduledReportingMode"')),
        ("5.5 events, typed", "POST", "/logger-configs",
         with_(owned(events), reportingMode=scheduled), None,
         (422, "relatedResourceNotFound", "sourceAddresses.whiteList")),
        ("5.5 events, real sources", "POST", "/logger-configs",
         with_(real_events, reportingMode=scheduled), None, 201),
        ("5.5 log report", "GET", "/log-reports/logger001", None, None, 200),
        ("5.5 active period", "POST", "/logger-configs", owned(active), None,
         (400, "payloadError", "recordingMode.activePeriods[0].name is missing")),
        ("5.5 active period, named", "POST", "/logger-configs", named, None,
         (400, "payloadError", "recordingMode.sourceEvents is missing")),
        ("5.5 active period, events", "POST", "/logger-configs",
         with_(named, recordingMode__sourceEvents={"blackList": []}, reportingMode=scheduled),
         None, 201),
        ("5.6 override", "POST", "/override-commands", override, None,
         (422, "relatedResourceNotFound", EXAMPLE_DEVICE)),
        ("5.6 override, real lights", "POST", "/override-commands",
         with_(override, addresses=real), None,
         (422, "overrideCommandNotValid", "targetCommand.expiration")),
        ("5.6 override, future", "POST", "/override-commands",
         with_(override, addresses=real,
               targetCommand__expiration=iso(time.time() + 3600)), None, 201),
        ("5.6 resume", "POST", "/override-commands", {"addresses": REFS}, None,
         (422, "relatedResourceNotFound", EXAMPLE_DEVICE)),
        ("5.6 resume, real lights", "POST", "/override-commands", {"addresses": real}, None,
         201),
        ("5.7 attribute", "GET", "/devices/76472384789235810/lampActuator001/actualLightLevel",
         None, None, (404, "resourceNotFound", "76472384789235810")),
        ("5.9 package", "PUT", "/data-packages",
         {"packageId": "<packageId>", "releaseId": "3.2.4", "downloadUri": "https://cms.example/p"},
         None, (422, "genericError", "releaseMismatch")),
        ("5.10 page", "GET", "/devices?offset=0&limit=10", None, None, 200),
    ]


def plan_examples() -> list:
    """§5.8's control programs, calendar and assignment (agent/talq/plans.py and
    plan_routes.py): (name, method, path, body)."""
    command = lambda v: {"state": {"name": "LevelState", "value": v}}
    fixed = [{"startTime": "00:00:00", "command": command(70)},
             {"startTime": "05:00:00", "command": command(100)},
             {"startTime": "23:00:00", "command": command(70)}]
    return [
        ("5.8 fixed-time program", "POST", "/control-programs", {
            "id": "<controlPrgramAddress>", "activePeriods": [
                {"type": "ActivePeriodAbsolute", "startTime": "21:30:00", "endTime": "07:00:00"}],
            "fixedTimeControls": fixed}),
        ("5.8 sensor program", "POST", "/control-programs", {
            "id": "<controlPrgramAddress>", "activePeriods": [
                {"type": "ActivePeriodLightSensor", "sensor": ["<lightSensorTALQAddress>"],
                 "onIlluminance": 0.2, "offIlluminance": 0.6}],
            "fixedTimeControls": fixed, "dynamicControl": [
                {"period": {"startTime": "05:30:00", "endTime": "16:00:00"},
                 "effect": {"type": "ExternalControlEffect", "operation": "max", "holdTime": 10.0,
                            "source": {"sensor": ["myTrafficSensorTALQAddress"]}}}]}),
        ("5.8 calendar", "POST", "/calendars", [{"id": "myCalendar4", "rules": [
            {"startDate": "2018-07-18", "endDate": "2018-07-25", "program": "myControlProgram3"},
            {"condition": {"type": "ccDate", "dates": [{"start": "--10-16"}]},
             "program": "myControlProgram2"}], "defaultProgram": "myControlProgram1"}]),
        ("5.8 assign", "POST", "/assign-commands", {
            "addresses": REFS, "entity": {"resource": "calendars", "address": "calendar1"}}),
    ]
