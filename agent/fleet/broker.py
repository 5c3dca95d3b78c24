"""The city's broker as the fleet's MQTT clients reach it: one URL, TLS included.

    mqtt://host:1883
    mqtts://host:8883?ca_file=/etc/lentera/ca.pem&cert_file=/etc/lentera/fleet.pem&key_file=...

The TLS keys are the gateway's (`uplink.mqtt.tls`: ca_file, cert_file, key_file; docs/config.md)
and mean the same: no ca_file trusts the system's CAs, cert_file and key_file (together) are
a client certificate for mutual TLS, always TLS 1.2 or newer with the host name checked. The
URL carries them so every fleet command that takes `--broker` (ingest, command) takes TLS the
same way, and an env file or a unit line holds the whole connection.
"""

import ssl
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlparse

from drivers.errors import LenteraError

TLS_KEYS = ("ca_file", "cert_file", "key_file")
# OpenSSL X509 verify codes -> what the operator should hear (as the gateway's uplink says it)
VERIFY_REASONS = {
    2: "unknown CA (the issuer certificate is not in ca_file)",
    9: "certificate not yet valid (is this machine's clock right?)",
    10: "certificate expired",
    18: "self-signed certificate (the broker's own, not issued by ca_file)",
    19: "unknown CA (the chain ends in a root CA that is not in ca_file)",
    20: "unknown CA (the issuer certificate is not in ca_file)",
    21: "unknown CA (cannot verify the first certificate)",
    62: "host name mismatch (the certificate is not for this broker address)",
    64: "IP address mismatch (the certificate is not for this broker address)",
}


class BrokerError(LenteraError, ValueError):
    """A broker URL or its TLS files that cannot work; says which part and what to do."""


@dataclass(frozen=True)
class BrokerAddress:
    """Where the broker is and how to speak TLS to it (None: plain MQTT)."""
    host: str
    port: int
    tls: ssl.SSLContext | None
    url: str                      # for messages: the URL without its query


def parse(url: str) -> BrokerAddress:
    """The checked address of `mqtt://` or `mqtts://host[:port][?ca_file=&cert_file=&key_file=]`."""
    parts = urlparse(url)
    if parts.scheme not in ("mqtt", "mqtts"):
        raise BrokerError(f"broker {url}: the scheme is mqtt:// or mqtts://")
    try:
        query = dict(parse_qsl(parts.query, strict_parsing=bool(parts.query)))
        port = parts.port
    except ValueError as exc:
        raise BrokerError(f"broker {url}: {exc}") from None
    unknown = sorted(set(query) - set(TLS_KEYS))
    if unknown:
        raise BrokerError(f"broker {url}: unknown key {unknown[0]!r} (TLS keys: "
                          f"{', '.join(TLS_KEYS)})")
    if query and parts.scheme != "mqtts":
        raise BrokerError(f"broker {url}: TLS files need mqtts://")
    if ("cert_file" in query) != ("key_file" in query):
        raise BrokerError(f"broker {url}: cert_file and key_file go together: give both or "
                          "neither")
    tls = context(**query) if parts.scheme == "mqtts" else None
    default = 8883 if tls else 1883
    return BrokerAddress(parts.hostname or "127.0.0.1", port or default, tls,
                         url.split("?", 1)[0])


def context(ca_file: str | None = None, cert_file: str | None = None,
            key_file: str | None = None) -> ssl.SSLContext:
    """Client TLS context: TLS >= 1.2, ca_file (or the system's CAs), optional client cert."""
    try:
        ctx = ssl.create_default_context(cafile=ca_file)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if cert_file:
            ctx.load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError) as exc:
        raise BrokerError(f"broker TLS: cannot load certificates: {exc}; check ca_file, "
                          "cert_file and key_file") from exc
    return ctx


def explain(exc: BaseException | None) -> str:
    """A failed connect as one operator-facing cause."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = VERIFY_REASONS.get(exc.verify_code, exc.verify_message or str(exc))
        return f"certificate verify failed: {reason}"
    if isinstance(exc, ssl.SSLError):
        if "WRONG_VERSION_NUMBER" in str(exc).upper():
            return "tls: the broker does not speak TLS on this port (plain MQTT listener?)"
        return f"tls: {exc.reason or exc}"
    if isinstance(exc, ConnectionRefusedError):
        return "refused: nothing listens on the broker's port (broker down?)"
    if isinstance(exc, OSError):
        return f"network: {exc.strerror or exc}"
    return f"unknown: {exc!r}"


def is_fatal(exc: BaseException | None) -> bool:
    """A certificate the broker showed and we refuse (wrong CA, name mismatch, expired):
    waiting will not fix it, unlike a broker that is down or restarting."""
    return isinstance(exc, ssl.SSLCertVerificationError)
