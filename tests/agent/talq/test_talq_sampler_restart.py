"""A restart does not repeat what the periodic sampler took (data-model OAS, SamplingProfile:
without a samplingPeriod "a single sample shall be taken"; onChangeThreshold compares "with
respect to the previous sample"): the gateway stops and starts again on the same files, and
the CMS peer gets each one-shot sample once and no threshold sample the value did not earn."""

import asyncio
import time
import uuid

from agent.talq.attributes import iso
from agent.talq.sampler import Sampler
from tests.agent.talq.running import CMS, GATEWAY, call, running_gateway, until
from tests.support.talq_cms import CmsPeer
from tests.support.talq_pki import make_talq_pki


def address(device_id: str) -> str:
    return str(uuid.uuid5(uuid.UUID(GATEWAY), device_id))


def logger(name: str, threshold=None, **profile) -> dict:
    attribute = {"name": "supplyVoltage"}
    if threshold is not None:
        attribute["onChangeThreshold"] = threshold
    return {"address": name, "ownerCMS": CMS,
            "sourceAddresses": {"whiteList": [{"resource": "devices",
                                               "address": address("L-001")}]},
            "recordingMode": {"type": "PeriodicRecordingMode",
                              "content": [{"function": {"functionType": "LampMonitorFunction",
                                                        "attributes": [attribute]}}],
                              "samplingProfiles": [profile]},
            "reportingMode": {"type": "ImmediateReportingMode", "delay": 0}}


def samples_of(cms, name: str) -> list:
    return [e["data"] for body in list(cms.reports) if body["address"] == name
            for e in body["entries"]]


def instants(cms, name: str) -> set:
    """The sampling instants the CMS got: a report the stop cut before the gateway booked
    the CMS's 201 is sent again (the outbox is at least once), with the same timestamp."""
    return {s["timestamp"] for s in samples_of(cms, name)}


def test_a_restart_repeats_no_one_shot_and_no_unchanged_sample(tmp_path, site_factory):
    site = site_factory(1)
    pki = make_talq_pki(tmp_path / "pki")
    cms = CmsPeer(pki, GATEWAY).start()
    # taken at once (its start is past), and every 10 s unless the volts move > 100 %
    once = logger("once", samplingStartTime=iso(time.time() - 60))
    steady = logger("steady", threshold=100, samplingStartTime=iso(time.time()),
                    samplingPeriod="PT10S")
    post = lambda port, body: asyncio.to_thread(
        call, port, pki, "POST", "/logger-configs", body=body,
        query=f"clientAddress={CMS}&talqRequestId={uuid.uuid4()}")
    gateway = dict(pki=pki, cms_port=cms.port, talq_extra=", retry_period: 1")

    async def scenario():
        async with running_gateway(tmp_path, site, 1, **gateway) as (agent, _, port):
            for body in (once, steady):
                status, _, answer = await post(port, body)
                assert status == 201, answer
            await asyncio.to_thread(cms.wait_records, lambda r: samples_of(cms, "once") and
                                    samples_of(cms, "steady"), "the first samples", 40)
        assert (tmp_path / "talq-sampler.json").exists()
        restarted = time.time()
        async with running_gateway(tmp_path, site, 1, **gateway) as (agent, _, port):
            sampler = agent.talq.sampler
            # steady's first instant after the restart is taken (without the kept value the
            # volts would be logged anew) ...
            await until(lambda: sampler.due[("steady", 0)][1] > restarted + 10,
                        "steady's first instant after the restart", 30)
            # ... and its rows would have been reported by the time a new logger's are
            status, _, answer = await post(port, logger("marker", samplingStartTime=iso(
                time.time() - 60)))
            assert status == 201, answer
            await asyncio.to_thread(cms.wait_records, lambda r: samples_of(cms, "marker"),
                                    "the marker's sample", 30)
            assert len(instants(cms, "once")) == 1, instants(cms, "once")
            assert len(instants(cms, "steady")) == 1, instants(cms, "steady")
            assert cms.invalid == []
            # the sampler took its one-shot at its start, before the first poll, with no
            # value to log; a sampler started from the files now (values read) takes none
            again = Sampler(agent, agent.config.talq, agent.talq.store,
                            tmp_path / "talq-sampler.json", None)
            again._plan(time.time())
            assert again.due[("once", 0)][1] == float("inf")
            assert again.due[("steady", 0)][1] == sampler.due[("steady", 0)][1]
    try:
        asyncio.run(scenario())
    finally:
        cms.stop()
