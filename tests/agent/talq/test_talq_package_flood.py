"""A CMS repeating refused data packages (spec §5.9) cannot flood the outbox, the CMS's log
reports or the gateway's log: 1,000 PUTs over one mutual-TLS connection give every answer,
an exact count, at most RECORDS_PER_HOUR releaseMismatch records and one log line."""

import asyncio
import logging
import uuid

import aiohttp

from agent.talq.packages import LOG_EVERY_S, RECORD_EVERY_S, RECORDS_PER_HOUR, MismatchLog
from tests.agent.talq.running import CMS, GATEWAY, HEADERS, client_context, running_gateway
from tests.support.talq_cms import CmsPeer
from tests.support.talq_pki import make_talq_pki

FLOOD = 1000
LOGGER = {"address": "packages", "ownerCMS": CMS, "sourceAddresses": {"blackList": []},
          "recordingMode": {"type": "EventRecordingMode",
                            "sourceEvents": {"whiteList": ["releaseMismatch"]}},
          "reportingMode": {"type": "ImmediateReportingMode", "delay": 0}}


def package(release: str) -> list:
    return [{"packageId": "lentera-gw", "releaseId": release, "ownerCMS": CMS,
             "downloadUri": "https://cms.example/lentera.bin"}]


async def flood(port: int, pki: dict) -> list:
    """The statuses of FLOOD PUTs: the first half one release, the rest a new one each."""
    connector = aiohttp.TCPConnector(ssl=client_context(pki), limit=1)
    statuses = []
    async with aiohttp.ClientSession(connector=connector, headers=HEADERS) as session:
        url = f"https://127.0.0.1:{port}"
        query = lambda: {"clientAddress": CMS, "talqRequestId": str(uuid.uuid4())}
        async with session.post(url + "/logger-configs", params=query(), json=LOGGER) as r:
            assert r.status == 201, await r.text()
        for i in range(FLOOD):
            release = "9.9.9" if i < FLOOD // 2 else f"9.9.{i}"
            async with session.put(url + "/data-packages", params=query(),
                                   json=package(release)) as response:
                body = await response.json()
                statuses.append((response.status, body[0]["key"]))
    return statuses


def test_a_flood_of_refused_packages_is_counted_exactly_and_recorded_bounded(
        tmp_path, site_factory, caplog):
    site = site_factory(1)
    pki = make_talq_pki(tmp_path / "pki")
    cms = CmsPeer(pki, GATEWAY).start()
    mismatches = lambda records: [r for r in records if r["eventType"] == "releaseMismatch"]
    caplog.set_level(logging.WARNING, logger="agent.talq.packages")

    async def scenario():
        async with running_gateway(tmp_path, site, 1, pki=pki, cms_port=cms.port,
                                   talq_extra=", retry_period: 1") as (agent, _, port):
            statuses = await flood(port, pki)
            assert statuses == [(422, "genericError")] * FLOOD       # every one answered
            records = await asyncio.to_thread(
                cms.wait_records, lambda r: len(mismatches(r)) >= RECORDS_PER_HOUR,
                "the bounded releaseMismatch records", 60)
            # the outbox had its rows before the first report; what came is all there is,
            # but give a flood's tail (on the old code: 990 more records) a report or two
            await asyncio.sleep(2.0)
            records = mismatches(cms.records())
            assert len(records) == RECORDS_PER_HOUR, len(records)
            # one for the repeated release, the rest for the first new releases only
            releases = [r["info"][0]["description"].split(" release ")[1].split(" ")[0]
                        for r in records]
            assert releases == ["9.9.9"] + [f"9.9.{i}" for i in range(
                FLOOD // 2, FLOOD // 2 + RECORDS_PER_HOUR - 1)]
            assert agent.talq.packages.status() == {
                "refused": FLOOD, "recorded": RECORDS_PER_HOUR,
                "unrecorded": FLOOD - RECORDS_PER_HOUR}
            assert cms.invalid == []
    try:
        asyncio.run(scenario())
    finally:
        cms.stop()
    lines = [r for r in caplog.records if r.name == "agent.talq.packages"]
    assert 1 <= len(lines) <= 2, [r.getMessage() for r in lines]   # once a minute
    assert "release '9.9.9'" in lines[0].getMessage() and "have the CMS stop" in \
        lines[0].getMessage()


def test_the_bound_renews_each_hour_and_logs_once_a_minute(caplog):
    now = [0.0]
    refusals = MismatchLog(clock=lambda: now[0])
    caplog.set_level(logging.WARNING, logger="agent.talq.packages")
    same = package("1.0")
    assert refusals.refuse(same) is True
    assert [refusals.refuse(same) for _ in range(99)] == [False] * 99
    now[0] = LOG_EVERY_S - 1
    assert refusals.refuse(same) is False
    assert len(caplog.records) == 1                       # the first only, within the minute
    now[0] = LOG_EVERY_S
    refusals.refuse(same)
    assert len(caplog.records) == 2
    assert "102 refused since the start, 101 since the last such line" in \
        caplog.records[1].getMessage()
    now[0] = RECORD_EVERY_S                               # an hour after the first record
    assert refusals.refuse(same) is True
    assert refusals.status() == {"refused": 103, "recorded": 2, "unrecorded": 101}
    # distinct releases: the hour's budget, then counted only
    took = [refusals.refuse(package(f"2.{i}")) for i in range(RECORDS_PER_HOUR + 5)]
    assert took == [True] * (RECORDS_PER_HOUR - 1) + [False] * 6
