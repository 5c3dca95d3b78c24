"""ScheduledReportingMode (spec §5.5): records wait for the logger's next time of day (plus
0..randomTime s) and then reach the CMS; the times, zones and jitter as the data model says."""

import asyncio
import random
import time
import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from agent.talq.errors import TalqError
from agent.talq.schedule import decode_schedule, next_report
from tests.agent.talq.running import GATEWAY, asker, cms_query, running_gateway, until
from tests.agent.talq.test_talq_log_reports import ANOMALY, FAST, lamp_records, logger_config
from tests.support.talq_cms import CmsPeer
from tests.support.talq_pki import make_talq_pki

JAKARTA = ZoneInfo("Asia/Jakarta")
NOON_UTC = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc).timestamp()


def test_the_next_report_is_the_first_time_to_come_plus_up_to_random_time():
    local = decode_schedule({"times": ["06:00:00", "20:30:00"]})        # Jakarta: UTC+7
    assert next_report(local, NOON_UTC, JAKARTA) == NOON_UTC + 90 * 60   # 19:00 local now
    utc = decode_schedule({"times": ["11:00:00Z", "12:00:00+01:00"], "randomTime": 0})
    assert next_report(utc, NOON_UTC, JAKARTA) == NOON_UTC + 23 * 3600   # both passed today
    spread = decode_schedule({"times": ["12:10:00.5Z"], "randomTime": 300})
    rng = random.Random(7)
    draws = [next_report(spread, NOON_UTC, JAKARTA, rng) - NOON_UTC for _ in range(200)]
    assert all(600 <= d <= 900 for d in draws) and max(draws) - min(draws) > 200
    for bad in ({"times": []}, {"times": ["24:00:00"]}, {"times": ["9:00"]},
                {"times": ["09:00:00"], "randomTime": -1}, {"times": "09:00:00"},
                {"times": ["09:00:00"], "randomTime": True}):
        with pytest.raises(TalqError) as refused:
            decode_schedule(bad)
        assert refused.value.status == 400


def test_scheduled_records_wait_for_their_time_then_reach_the_cms(tmp_path, site_factory):
    site = site_factory(2)
    pki = make_talq_pki(tmp_path / "pki")
    cms = CmsPeer(pki, GATEWAY).start()

    async def scenario():
        async with running_gateway(tmp_path, site, 2, pki=pki, cms_port=cms.port,
                                   talq_extra=FAST, extra=ANOMALY) as (agent, _, port):
            ask = asker(port, pki)
            query = cms_query
            await until(lambda: agent.talq.bootstrap.done.is_set(), "the bootstrap")
            at = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=15)
            logger = logger_config()
            logger["reportingMode"] = {"type": "ScheduledReportingMode",
                                       "times": [at.strftime("%H:%M:%SZ")], "randomTime": 2}
            status, _, body = await ask("POST", "/logger-configs", body=logger, query=query())
            assert status == 201, body
            lit = {"addresses": [{"resource": "devices",
                                  "address": str(uuid.uuid5(uuid.UUID(GATEWAY), f"L-00{u}"))}
                                 for u in (1, 2)],
                   "targetCommand": {"state": {"name": "LevelState", "value": 80}}}
            assert (await ask("POST", "/override-commands", body=lit, query=query()))[0] == 201
            site.call(site.site.fail_lamp, 2)
            await until(lambda: agent.talq.reporter.waiting, "the record waiting", 14)
            # it waits for its time: nothing at the CMS while the time has not come
            seen = list(cms.records())
            assert time.time() < at.timestamp(), "the test was too slow to look before"
            assert seen == []
            records = await asyncio.to_thread(
                cms.wait_records, lambda r: lamp_records(r, "L-002"), "the scheduled report", 30)
            assert time.time() >= at.timestamp()
            assert lamp_records(records, "L-002") == [True] and cms.invalid == []
            await until(lambda: not agent.talq.reporter.waiting, "nothing waiting")

    try:
        asyncio.run(scenario())
    finally:
        cms.stop()
