"""TALQ §3.6 on the live gateway: TLS 1.2+ with mutual X.509, and no plaintext listener."""

import asyncio
import socket
import ssl

import pytest

from tests.agent.talq.running import CMS, call, client_context, running_gateway


def handshake_refused(port: int, context: ssl.SSLContext) -> bool:
    """True when the server ends the handshake or the first request without an answer."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                tls.sendall(f"GET /devices?clientAddress={CMS} HTTP/1.1\r\nHost: x\r\n"
                            "talq-api-version: 2.7.1\r\n\r\n".encode())
                return tls.recv(1024) == b""
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        return True


def plaintext_answer(port: int) -> bytes:
    """What a plain-HTTP request to the TALQ port gets back (b"" when it is dropped)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        raw.sendall(b"GET /devices HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            return raw.recv(1024)
        except (ConnectionResetError, TimeoutError):
            return b""


def test_only_a_cms_certificate_from_the_configured_ca_gets_data(tmp_path, site_factory):
    site = site_factory(2)

    async def scenario():
        async with running_gateway(tmp_path, site, 2) as (agent, pki, port):
            status, headers, body = await asyncio.to_thread(call, port, pki, "GET", "/devices")
            assert status == 200 and len(body) == 3          # the gateway and two lights
            assert headers["talq-api-version"] == "2.7.1"
            assert headers["cache-control"] == "no-transform"
            # no certificate, or one from a CA the gateway does not trust: no data
            assert await asyncio.to_thread(handshake_refused, port, client_context(pki, None))
            assert await asyncio.to_thread(handshake_refused, port, client_context(pki, "rogue"))
            # TLS below 1.2 does not connect (§3.6; the system OpenSSL may refuse it too)
            old = client_context(pki)
            with pytest.warns(DeprecationWarning):       # Python deprecates TLS 1.1 too
                old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
            old.set_ciphers("ALL:@SECLEVEL=0")
            assert await asyncio.to_thread(handshake_refused, port, old)
            # no plaintext listener: HTTP on the same port gets no HTTP answer
            assert b"200" not in await asyncio.to_thread(plaintext_answer, port)
            with pytest.raises((ssl.SSLError, OSError)):
                await asyncio.to_thread(call, port, pki, "GET", "/devices", cert="rogue")
    asyncio.run(scenario())
