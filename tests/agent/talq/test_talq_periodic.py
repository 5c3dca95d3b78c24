"""PeriodicRecordingMode and activePeriods (spec §5.5; data-model OAS): attributes sampled on
a time profile reach the CMS peer as AttributeLogData (every request checked against the CMS
OAS); a logger outside its active period records nothing."""

import asyncio
import time
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from agent.talq.attributes import iso
from tests.agent.talq.oas import validate
from tests.agent.talq.running import CMS, GATEWAY, asker, running_gateway
from tests.support.talq_cms import CmsPeer
from tests.support.talq_pki import make_talq_pki

LIGHTS = 2
ZONE = ZoneInfo("Asia/Jakarta")          # tests/support/gateway_files.py


def address(device_id: str) -> str:
    return str(uuid.uuid5(uuid.UUID(GATEWAY), device_id))


def local(delta_s: float) -> str:
    return (datetime.now(ZONE) + timedelta(seconds=delta_s)).strftime("%H:%M:%S")


def periodic(name: str, periods=None, **profile) -> dict:
    recording = {"type": "PeriodicRecordingMode",
                 "content": [{"function": {"functionType": "LampMonitorFunction",
                                           "attributes": [{"name": "supplyVoltage"},
                                                          {"name": "switchOnCounter"}]}}],
                 "samplingProfiles": [{"samplingStartTime": iso(time.time()),
                                       "samplingPeriod": "PT10S", **profile}]}
    if periods is not None:
        recording["activePeriods"] = periods
    return {"address": name, "ownerCMS": CMS,
            "sourceAddresses": {"whiteList": [{"resource": "devices",
                                               "address": address("L-001")}]},
            "recordingMode": recording,
            "reportingMode": {"type": "ImmediateReportingMode", "delay": 0}}


def events(name: str, periods) -> dict:
    return {"address": name, "ownerCMS": CMS, "sourceAddresses": {"blackList": []},
            "recordingMode": {"type": "EventRecordingMode", "activePeriods": periods,
                              "sourceEvents": {"whiteList": ["releaseMismatch"]}},
            "reportingMode": {"type": "ImmediateReportingMode", "delay": 0}}


NOW = lambda: [{"name": "AbsoluteActivePeriod", "startTime": local(-3600),
                "endTime": local(3600)}]
LATER = lambda: [{"name": "AbsoluteActivePeriod", "startTime": local(4 * 3600),
                  "endTime": local(5 * 3600)}]


def test_periodic_samples_and_active_periods_through_the_cms(tmp_path, site_factory):
    site = site_factory(LIGHTS)
    pki = make_talq_pki(tmp_path / "pki")
    cms = CmsPeer(pki, GATEWAY).start()
    by = lambda records, logger_of: [r for r in records if r.get("type") == logger_of]

    async def scenario():
        async with running_gateway(tmp_path, site, LIGHTS, pki=pki, cms_port=cms.port,
                                   talq_extra=", retry_period: 1") as (agent, _, port):
            ask = asker(port, pki)
            post = lambda body: ask("POST", "/logger-configs", body=body, query=(
                f"clientAddress={CMS}&talqRequestId={uuid.uuid4()}"))
            for logger in (periodic("energy", NOW()), periodic("later", LATER()),
                           events("day", NOW()), events("night", LATER())):
                status, _, body = await post(logger)
                assert status == 201, body
                validate(logger, "LoggerConfig")
            # what is not supported is refused whole (422), and nothing is stored
            sensor = [{"name": "SensorActivePeriod"}]
            for wrong in (periodic("x", sensor), periodic("x", samplingPeriod="PT1S")):
                status, _, body = await post(wrong)
                assert status == 422, body
            scoped = periodic("x")
            scoped["recordingMode"]["content"][0]["attributeScope"] = "measurement"
            assert (await post(scoped))[0] == 422
            assert (await ask("GET", "/logger-configs/x"))[0] == 404

            samples = lambda r: [x for x in by(r, "AttributeLogData")
                                 if x["attributeName"] == "supplyVoltage"]
            records = await asyncio.to_thread(cms.wait_records, lambda r: len(samples(r)) >= 2,
                                              "two periodic samples", 40)
            first, second = samples(records)[:2]
            for record in (first, second):
                validate(record, "AttributeLogData")
                assert record["srcAddress"] == f"{address('L-001')}/lampMonitor"
                assert record["attributeValue"]["type"] == "AttributeFloat"
                assert 150 < record["attributeValue"]["value"] < 260      # the simulator's volts
            gap = datetime.fromisoformat(second["timestamp"]) - \
                datetime.fromisoformat(first["timestamp"])
            assert gap == timedelta(seconds=10)                 # PT10S from samplingStartTime
            counters = [x for x in by(records, "AttributeLogData")
                        if x["attributeName"] == "switchOnCounter"]
            assert counters[0]["attributeValue"] == {
                "type": "AttributeInteger", "value": site.site.lights[1].switch_ons}
            # only L-001 (sourceAddresses) and only the logger in its active period
            assert {x["srcAddress"].split("/")[0] for x in by(records, "AttributeLogData")} \
                == {address("L-001")}
            assert agent.talq.sampler.due[("later", 0)][1] > time.time()   # its instants passed
            # event recording: the same event, recorded by the logger active now only
            package = {"packageId": "p", "releaseId": "1", "ownerCMS": CMS}
            assert (await ask("PUT", "/data-packages", body=[package], query=(
                f"clientAddress={CMS}&talqRequestId={uuid.uuid4()}")))[0] == 422
            await asyncio.to_thread(cms.wait_records, lambda r: by(r, "EventLogData"),
                                    "the releaseMismatch record", 30)
            assert cms.invalid == []
            reports = {name: [e for e in cms.reports if e["address"] == name]
                       for name in ("energy", "later", "day", "night")}
            assert reports["later"] == [] and reports["night"] == []
            assert len(reports["day"]) == 1
    try:
        asyncio.run(scenario())
    finally:
        cms.stop()


@pytest.mark.parametrize("when, expected", [(-60, True), (60, False)])
def test_an_astro_period_starts_at_sunset_plus_its_offset(when, expected):
    from agent.talq.periods import active, decode_periods
    from edge_rules.sunclock import sun_day
    sunset = sun_day(-6.178, 106.632, 2026, 12, 7).get("sunset")
    periods = decode_periods([{"name": "AstroClockActivePeriod", "sunsetOffset": -15,
                               "sunriseOffset": 10}])
    at = sunset - 15 * 60 - when            # a minute after (True) or before the start
    assert active(periods, at, ZONE, -6.178, 106.632) is expected
