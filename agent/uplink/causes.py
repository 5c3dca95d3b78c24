"""Why the broker is unreachable: one short cause per failed connect (docs/mqtt.md).

paho swallows the exception of a failed connect and calls on_connect_fail from inside
its `except OSError:` block, so the exception is still sys.exc_info() there; CONNACK
refusals and protocol errors arrive as MQTT reason codes. Each becomes a cause string
`<kind>: <detail>`, logged once per change of cause and shown in status.uplink.cause.
"""

import socket
import ssl

# OpenSSL X509 verify codes -> what the operator should hear
VERIFY_REASONS = {
    2: "unknown CA (the issuer certificate is not in tls.ca_file)",
    10: "certificate expired",
    9: "certificate not yet valid (is the gateway's clock right?)",
    18: "self-signed certificate (the server's own, not issued by tls.ca_file)",
    19: "unknown CA (the chain ends in a root CA that is not in tls.ca_file)",
    20: "unknown CA (the issuer certificate is not in tls.ca_file)",
    21: "unknown CA (cannot verify the first certificate)",
    62: "host name mismatch (the certificate is not for this broker address)",
    64: "IP address mismatch (the certificate is not for this broker address)",
}
TLS_VERSION_HINTS = ("PROTOCOL_VERSION", "UNSUPPORTED_PROTOCOL", "NO_PROTOCOLS_AVAILABLE",
                     "VERSION_TOO_LOW", "TLSV1_ALERT_PROTOCOL_VERSION")
PROTOCOL_CODES = {"Protocol error", "Malformed packet", "Unsupported protocol version",
                  "Client identifier not valid", "Topic Name invalid",
                  "Payload format invalid"}


def classify(exc: BaseException | None) -> str:
    """A failed TCP/TLS connect as `kind: detail`."""
    if exc is None:
        return "unknown: the connection failed without an error"
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = VERIFY_REASONS.get(exc.verify_code, exc.verify_message or str(exc))
        return f"certificate verify failed: {reason}"
    if isinstance(exc, ssl.SSLError):
        text = f"{exc.reason or ''} {exc}"
        if any(hint in text.upper() for hint in TLS_VERSION_HINTS):
            return ("tls version: the broker offers no TLS version >= 1.2 "
                    f"({exc.reason or exc})")
        if "WRONG_VERSION_NUMBER" in text.upper():
            return "tls: the broker does not speak TLS on this port (plain MQTT listener?)"
        return f"tls: {exc.reason or exc}"
    if isinstance(exc, socket.gaierror):
        return f"dns: cannot resolve the broker's host name ({exc.strerror or exc})"
    if isinstance(exc, ConnectionRefusedError):
        return "refused: nothing listens on the broker's port (broker down?)"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return "timeout: no answer from the broker (4G link, firewall, wrong address?)"
    if isinstance(exc, OSError):
        return f"network: {exc.strerror or exc}"
    return f"unknown: {exc!r}"


def connack_cause(reason_code) -> str:
    """A CONNACK refusal (bad credentials, not authorised, ...) as a cause."""
    name = str(reason_code)
    if name in PROTOCOL_CODES:
        return f"protocol error: the broker rejected our CONNECT ({name}); check the gateway " \
               "id, client id and topic prefix"
    return f"connack: the broker refused the connection ({name}); check username, password " \
           "and the broker's ACL"


def disconnect_cause(reason_code) -> str | None:
    """A broker-side disconnect worth naming (protocol errors), else None."""
    name = str(reason_code)
    if name in PROTOCOL_CODES:
        return f"protocol error: the broker dropped us ({name}); check the gateway id, " \
               "client id and topic prefix"
    return None
