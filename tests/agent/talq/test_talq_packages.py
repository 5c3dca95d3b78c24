"""Data packages (spec §5.9): a firmware update is refused with releaseMismatch and nothing
is downloaded from its URL (a real HTTP server counts the requests it gets)."""

import asyncio
import http.server
import threading

from tests.agent.talq.oas import validate
from tests.agent.talq.running import CMS, GATEWAY, asker, cms_query, running_gateway
from tests.support.talq_cms import CmsPeer
from tests.support.talq_pki import make_talq_pki


def test_a_firmware_package_is_refused_and_never_downloaded(tmp_path, site_factory):
    site = site_factory(1)
    hits = []

    class Counting(http.server.BaseHTTPRequestHandler):
        def do_GET(self):                    # noqa: N802 - http.server's name
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"#!/bin/sh\necho pwned\n")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Counting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/firmware.bin"

    async def scenario():
        async with running_gateway(tmp_path, site, 1) as (agent, pki, port):
            ask = asker(port, pki)
            query = cms_query
            package = {"packageId": "lentera-gw", "releaseId": "9.9.9", "ownerCMS": CMS,
                       "downloadUri": url}
            validate(package, "DataPackage")
            status, _, body = await ask("PUT", "/data-packages", body=[package], query=query())
            assert status == 422, body
            validate(body[0], "TALQErrorMessage")
            assert body[0]["key"] == "genericError"
            assert "releaseMismatch" in body[0]["description"] and "9.9.9" in \
                body[0]["description"]
            status, _, body = await ask("PUT", "/data-packages", body=[{"packageId": 1}],
                                        query=query())
            assert status == 400 and body[0]["key"] == "payloadError"
            status, _, body = await ask("GET", "/data-packages")
            assert status == 200 and body == []
            await asyncio.sleep(1.0)
            assert hits == []                  # nothing fetched from the package's URL

    try:
        asyncio.run(scenario())
    finally:
        server.shutdown()


def test_a_refused_package_reaches_the_cms_as_a_releasemismatch_record(tmp_path, site_factory):
    """§5.9: the gateway tells the refusal with a releaseMismatch event through the data
    collection service; its srcAddress is the gateway (LogData: a service event)."""
    site = site_factory(1)
    pki = make_talq_pki(tmp_path / "pki")
    cms = CmsPeer(pki, GATEWAY).start()
    logger = {"address": "packages", "ownerCMS": CMS, "sourceAddresses": {"blackList": []},
              "recordingMode": {"type": "EventRecordingMode",
                                "sourceEvents": {"whiteList": ["releaseMismatch"]}},
              "reportingMode": {"type": "ImmediateReportingMode", "delay": 0}}
    mismatches = lambda records: [r for r in records if r["eventType"] == "releaseMismatch"]

    async def scenario():
        async with running_gateway(tmp_path, site, 1, pki=pki, cms_port=cms.port,
                                   talq_extra=", retry_period: 1") as (agent, _, port):
            ask = asker(port, pki)
            query = cms_query
            assert (await ask("POST", "/logger-configs", body=logger, query=query()))[0] == 201
            package = {"packageId": "lentera-gw", "releaseId": "9.9.9", "ownerCMS": CMS,
                       "downloadUri": "https://cms.example/lentera-9.9.9.bin"}
            assert (await ask("PUT", "/data-packages", body=[package], query=query()))[0] == 422
            records = await asyncio.to_thread(cms.wait_records, mismatches,
                                              "the releaseMismatch record", 30)
            [record] = mismatches(records)
            validate(record, "EventLogData")
            assert record["srcAddress"] == GATEWAY
            [info] = record["info"]
            assert "lentera-gw" in info["description"] and "9.9.9" in info["description"]
            assert "startEndFlag" not in record        # an event, not a period
            assert cms.invalid == []
    try:
        asyncio.run(scenario())
    finally:
        cms.stop()
