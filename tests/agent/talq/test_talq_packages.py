"""Data packages (spec §5.9): a firmware update is refused with releaseMismatch and nothing
is downloaded from its URL (a real HTTP server counts the requests it gets)."""

import asyncio
import http.server
import threading
import uuid

from tests.agent.talq.oas import validate
from tests.agent.talq.running import CMS, call, running_gateway


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
            ask = lambda *a, **kw: asyncio.to_thread(call, port, pki, *a, **kw)
            query = lambda: f"clientAddress={CMS}&talqRequestId={uuid.uuid4()}"
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
