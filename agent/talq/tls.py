"""The TLS side of TALQ (spec §3.6): TLS 1.2 or later, and a client certificate is required.

There is no plaintext listener: a CMS without a certificate signed by the configured CA
never completes the handshake, so it never reaches a handler.
"""

import ssl

from agent.config.talq import TalqConfig


def server_context(config: TalqConfig) -> ssl.SSLContext:
    """A server context for mutual X.509, or a ValueError naming the file that is wrong."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
    try:
        context.load_cert_chain(config.tls_cert, config.tls_key)
    except (OSError, ssl.SSLError) as error:
        raise ValueError(f"talq.tls_cert/tls_key ({config.tls_cert}, {config.tls_key}): "
                         f"{error}; give the gateway's PEM certificate and its key") from None
    try:
        context.load_verify_locations(cafile=config.cms_ca)
    except (OSError, ssl.SSLError) as error:
        raise ValueError(f"talq.cms_ca ({config.cms_ca}): {error}; give the PEM CA that "
                         "signs the CMS's client certificates") from None
    return context
