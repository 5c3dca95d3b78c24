"""The gateway's bootstrap with its CMS (spec §5.1) and its device announcement (§5.2),
against a CMS peer that checks every request against the CMS OAS and misbehaves: 500s,
answers slower than the gateway waits, and connections dropped before the answer."""

import asyncio
import json
import uuid

from tests.agent.talq.oas import validate
from tests.agent.talq.running import CMS, GATEWAY, asker, call, running_gateway, until
from tests.support.talq_cms import CmsPeer
from tests.support.talq_pki import make_talq_pki

LIGHTS = 3
FAST = ", retry_period: 2, report_timeout: 1"
SEQUENCE = [("post", "/devices"), ("post", "/device-classes"),
            ("patch", "/devices/{deviceAddress}"), ("post", "/services"),
            ("post", "/device-classes"), ("post", "/devices")]


def taken(steps: list) -> list:
    """The steps, a repeat in a row counted once: a CMS answering slower than the gateway
    waits took the request, and the gateway, having no answer, sends it again."""
    return [s for i, s in enumerate(steps) if i == 0 or s != steps[i - 1]]


def test_bootstrap_completes_despite_500s_timeouts_and_dropped_connections(tmp_path,
                                                                           site_factory):
    site = site_factory(LIGHTS)
    pki = make_talq_pki(tmp_path / "pki")
    cms = CmsPeer(pki, GATEWAY)
    cms.slow_s = 3.0                      # the gateway waits 1 s (report_timeout)
    # step 1 fails three ways, the PATCH of step 3 twice, the device announcement once
    cms.script = ["500", "slow", "drop", "ok", "ok", "500", "drop", "ok", "ok", "500"]
    cms.start()

    async def scenario():
        async with running_gateway(tmp_path, site, LIGHTS, pki=pki, cms_port=cms.port,
                                   talq_extra=FAST) as (agent, _, port):
            steps = await asyncio.to_thread(cms.wait_steps, lambda s: len(taken(s)) >= 6,
                                            "the whole bootstrap", 60)
            assert taken(steps) == SEQUENCE          # in §5.1's order
            assert len(steps) == 7                   # step 1 twice: once answered too late
            assert cms.invalid == []                 # every request as the CMS OAS says
            assert not cms.script and cms.requests == 12
            await until(lambda: agent.talq.bootstrap.done.is_set(), "bootstrap done")
            status = agent.talq.bootstrap.status()
            assert status["bootstrapped"] and status["cause"] is None
            assert status["attempts"] == 12
            # the field devices announced with their class; the classes and services seen
            assert len(cms.devices) == LIGHTS
            assert {d["class"] for d in cms.devices.values()} <= set(cms.classes)
            assert cms.classes[0] == "LenteraGateway"
            assert cms.services[0]["name"] == "ConfigurationService"
            path = next(tmp_path.rglob("talq-bootstrap.json"))
            saved = json.loads(path.read_text())
            assert saved["gatewayAddress"] == GATEWAY and saved["cmsAddress"] == CMS

            # §5.1 "Resynchronizing": the CMS deletes the gateway device; its data goes
            ask = asker(port, pki)
            logger = {"address": "faults", "ownerCMS": CMS, "sourceAddresses": {"blackList": []},
                      "recordingMode": {"type": "EventRecordingMode",
                                        "sourceEvents": {"whiteList": ["lampFailure"]}},
                      "reportingMode": {"type": "ImmediateReportingMode", "delay": 1}}
            rid = lambda: f"clientAddress={CMS}&talqRequestId={uuid.uuid4()}"
            assert (await ask("POST", "/logger-configs", body=logger, query=rid()))[0] == 201
            status, _, body = await ask("DELETE", f"/devices/{GATEWAY}", query=rid())
            assert status == 200, body
            validate(body, "Device")
            assert body["address"] == GATEWAY
            assert agent.talq.store.loggers == {}
            steps = await asyncio.to_thread(cms.wait_steps, lambda s: len(s) >= 13,
                                            "the second bootstrap", 30)
            assert steps[7:] == SEQUENCE and cms.invalid == []
            # a field device is gateway.yaml's: not deleted over TALQ
            light = str(uuid.uuid5(uuid.UUID(GATEWAY), "L-001"))
            status, _, body = await ask("DELETE", f"/devices/{light}", query=rid())
            assert status == 422 and body[0]["key"] == "resourceConflict", body

    asyncio.run(scenario())


def test_a_cms_assigning_other_addresses_is_named_with_the_fix(tmp_path, site_factory):
    site = site_factory(1)
    pki = make_talq_pki(tmp_path / "pki")
    cms = CmsPeer(pki, GATEWAY)
    cms.assign = (str(uuid.uuid4()), CMS)         # a CMS that makes up its own address
    cms.start()

    async def scenario():
        async with running_gateway(tmp_path, site, 1, pki=pki, cms_port=cms.port,
                                   talq_extra=FAST) as (agent, _, _port):
            bootstrap = agent.talq.bootstrap
            await until(lambda: bootstrap.cause, "the refusal", 20)
            assert "talq.gateway_address" in bootstrap.cause and cms.assign[0] in \
                bootstrap.cause
            assert not bootstrap.done.is_set() and bootstrap.status()["step"] == \
                "gateway announcement"
            assert cms.steps == [("post", "/devices")] * len(cms.steps)
            assert cms.invalid == []

    asyncio.run(scenario())


def test_a_restart_does_not_bootstrap_again_unless_the_cms_changed(tmp_path, site_factory):
    site = site_factory(1)
    pki = make_talq_pki(tmp_path / "pki")
    cms = CmsPeer(pki, GATEWAY).start()

    async def scenario():
        async with running_gateway(tmp_path, site, 1, pki=pki, cms_port=cms.port,
                                   talq_extra=FAST) as (agent, _, _port):
            await asyncio.to_thread(cms.wait_steps, lambda s: len(s) >= 6, "the bootstrap")
            await until(lambda: agent.talq.bootstrap.done.is_set(), "bootstrap done")
        async with running_gateway(tmp_path, site, 1, pki=pki, cms_port=cms.port,
                                   talq_extra=FAST) as (agent, _, _port):
            # done from talq-bootstrap.json at start: nothing sent, reports not held
            assert agent.talq.bootstrap.done.is_set()
            assert agent.talq.bootstrap.status()["attempts"] == 0
        assert len(cms.steps) == 6
        other = CmsPeer(pki, GATEWAY).start()        # another cms_uri: bootstrap with it
        try:
            async with running_gateway(tmp_path, site, 1, pki=pki, cms_port=other.port,
                                       talq_extra=FAST) as (agent, _, _port):
                await asyncio.to_thread(other.wait_steps, lambda s: len(s) >= 6,
                                        "the bootstrap with the new CMS")
        finally:
            other.stop()

    try:
        asyncio.run(scenario())
    finally:
        cms.stop()


def test_a_resynchronization_during_the_bootstrap_starts_it_again_from_step_1(tmp_path,
                                                                               site_factory):
    site = site_factory(1)
    pki = make_talq_pki(tmp_path / "pki")
    cms = CmsPeer(pki, GATEWAY)
    cms.slow_s = 4.0                           # step 2 in flight while the CMS asks again
    cms.script = ["ok", "slow"]
    cms.start()

    async def scenario():
        async with running_gateway(tmp_path, site, 1, pki=pki, cms_port=cms.port,
                                   talq_extra=", retry_period: 2, report_timeout: 20") as (
                agent, _, port):
            await until(lambda: cms.requests >= 2, "step 2 in flight", 20)
            status, _, body = await asyncio.to_thread(
                call, port, pki, "DELETE", f"/devices/{GATEWAY}",
                query=f"clientAddress={CMS}&talqRequestId={uuid.uuid4()}")
            assert status == 200, body
            steps = await asyncio.to_thread(cms.wait_steps, lambda s: len(s) >= 8,
                                            "the bootstrap again", 30)
            # step 2 answered late counts for nothing: all again from step 1
            assert steps == SEQUENCE[:2] + SEQUENCE and cms.invalid == []
            await until(lambda: agent.talq.bootstrap.done.is_set(), "bootstrap done")

    try:
        asyncio.run(scenario())
    finally:
        cms.stop()
