"""TALQ log reports (spec §5.5): logger configs on the gateway, and the gateway as client
POSTing the records to a CMS peer that checks every request against the CMS OAS and
misbehaves (500s, slow answers, connections dropped mid-report)."""

import asyncio
import uuid

from tests.agent.talq.oas import validate
from tests.agent.talq.running import CMS, GATEWAY, asker, call, cms_query, running_gateway, until
from tests.support.talq_cms import CmsPeer
from tests.support.talq_pki import make_talq_pki

LIGHTS = 3
FAST = ", retry_period: 1, report_timeout: 2"
ANOMALY = "anomaly: {period: 1s}\n"


def address(device_id: str) -> str:
    return str(uuid.uuid5(uuid.UUID(GATEWAY), device_id))


def logger_config(name: str = "faults", delay: int = 1, events=("lampFailure",)) -> dict:
    return {"address": name, "ownerCMS": CMS, "sourceAddresses": {"blackList": []},
            "recordingMode": {"type": "EventRecordingMode",
                              "sourceEvents": {"whiteList": list(events)}},
            "reportingMode": {"type": "ImmediateReportingMode", "delay": delay}}


def lamp_records(records: list, device: str) -> list:
    return [(r["startEndFlag"]) for r in records
            if r["eventType"] == "lampFailure" and r["srcAddress"] == f"{address(device)}/lampMonitor"]


def test_lamp_failures_reach_a_misbehaving_cms_as_lampfailure_records(tmp_path, site_factory):
    site = site_factory(LIGHTS)
    pki = make_talq_pki(tmp_path / "pki")
    cms = CmsPeer(pki, GATEWAY).start()

    async def scenario():
        async with running_gateway(tmp_path, site, LIGHTS, pki=pki, cms_port=cms.port,
                                   talq_extra=FAST, extra=ANOMALY) as (agent, _, port):
            ask = asker(port, pki)
            query = cms_query
            status, _, body = await ask("POST", "/logger-configs", body=logger_config(),
                                        query=query())
            assert status == 201, body
            assert (await ask("POST", "/logger-configs", body=logger_config(),
                              query=query()))[0] == 409
            status, _, got = await ask("GET", "/logger-configs/faults")
            assert status == 200 and got == logger_config()
            validate(got, "LoggerConfig")
            # the CMS switches the lights on (daytime here: the plan has them off), and a
            # lamp fails: the first report
            lit = {"addresses": [{"resource": "devices", "address": address(f"L-{u:03d}")}
                                 for u in range(1, LIGHTS + 1)],
                   "targetCommand": {"state": {"name": "LevelState", "value": 80}}}
            assert (await ask("POST", "/override-commands", body=lit, query=query()))[0] == 201
            site.call(site.site.fail_lamp, 2)
            records = await asyncio.to_thread(
                cms.wait_records, lambda r: lamp_records(r, "L-002"), "lampFailure of L-002", 40)
            assert lamp_records(records, "L-002") == [True]
            # now the CMS misbehaves: 500, a dropped connection, a slow answer, then well again
            cms.script = ["500", "drop", "slow", "500"]
            site.call(site.site.fail_lamp, 2, False)
            site.call(site.site.fail_lamp, 3)
            records = await asyncio.to_thread(
                cms.wait_records, lambda r: lamp_records(r, "L-002") == [True, False]
                and lamp_records(r, "L-003"), "the records sent after the CMS's failures", 60)
            assert cms.requests >= 5 and not cms.script
            assert lamp_records(records, "L-003") == [True]
            assert cms.invalid == []              # every request as the CMS OAS defines it
            # nothing waits any more: the records the CMS took are acknowledged
            await until(lambda: not agent.talq.reporter.waiting, "no record waiting")
            figures = agent.talq.reporter.status()
            assert figures["failures"] >= 4 and figures["records"] >= 3
            assert figures["waiting"] == 0 and figures["cause"] is None
            status, _, report = await ask("GET", "/log-reports/faults")
            assert status == 200 and report == {"address": "faults", "entries": []}
            validate(report, "LogReport")
            assert (await ask("DELETE", f"/logger-configs/faults?talqRequestId={uuid.uuid4()}"))[0] == 200
            assert (await ask("GET", "/logger-configs/faults"))[0] == 404
    try:
        asyncio.run(scenario())
    finally:
        cms.stop()


def test_logger_configs_the_gateway_cannot_run_are_refused(tmp_path, site_factory):
    site = site_factory(1)

    async def scenario():
        async with running_gateway(tmp_path, site, 1) as (agent, pki, port):
            def post(body):
                return asyncio.to_thread(call, port, pki, "POST", "/logger-configs", body=body,
                                         query=f"clientAddress={CMS}&talqRequestId={uuid.uuid4()}")
            periodic = logger_config()
            periodic["recordingMode"] = {         # shorter than MIN_PERIOD_S
                "type": "PeriodicRecordingMode",
                "content": [{"function": {"functionType": "LampMonitorFunction"}}],
                "samplingProfiles": [{"samplingStartTime": "2026-01-01T00:00:00Z",
                                      "samplingPeriod": "PT1S"}]}
            scheduled = logger_config()
            scheduled["reportingMode"] = {"type": "ScheduledReportingMode", "times": ["9:00"],
                                          "randomTime": 60}      # not HH:MM:SS
            unknown = logger_config()
            unknown["sourceAddresses"] = {"whiteList": [{"resource": "devices",
                                                         "address": str(uuid.uuid4())}]}
            for body, status in ((periodic, 422), (scheduled, 400), (unknown, 422),
                                 ([], 400), ({"address": "x"}, 400)):
                got, _, answer = await post(body)
                assert got == status, (body, answer)
                validate(answer[0], "TALQErrorMessage")
            assert agent.talq.store.loggers == {}
    asyncio.run(scenario())
