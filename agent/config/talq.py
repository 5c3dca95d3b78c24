"""The TALQ 2.7.1 gateway interface's settings (docs/talq.md): off unless `talq:` is present.

TALQ runs over HTTPS with mutual X.509 (spec §3.6), so the server certificate, its key and the
CA that signs the CMS's client certificates are all required: there is no plaintext mode.
"""

import uuid

from pydantic import BaseModel, ConfigDict, Field, field_validator


class TalqConfig(BaseModel):
    """`talq:` in gateway.yaml: where the gateway listens and which CMS it trusts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    listen: str = Field(pattern=r"^[^:\s]+:\d{1,5}$")     # HOST:PORT of the HTTPS listener
    tls_cert: str                         # the gateway's server certificate (PEM)
    tls_key: str                          # its private key (PEM)
    cms_ca: str                           # CA bundle that signs the CMS's client certificates
    cms_uri: str = Field(pattern=r"^https://\S+$")        # GatewayFunction.cmsUri
    cms_address: str                      # the CMS's TALQ address (UUID), GatewayFunction.cmsAddress
    gateway_uri: str = Field(pattern=r"^https://\S+$")    # how the CMS reaches this gateway
    gateway_address: str                  # this gateway's TALQ address (UUID)
    # GatewayFunction.crlUrn (mandatory): where the CMS finds the CRL; the default says none
    crl_urn: str = Field(default="urn:lentera:no-crl", pattern=r"^[a-z][a-z0-9+.-]*:\S+$")
    retry_period: float = Field(default=60.0, ge=1, le=86400)   # GatewayFunction.retryPeriod, s
    profile: str = Field(default="lighting", pattern=r"^lighting$")   # the one profile served
    page_limit: int = Field(default=100, ge=1, le=1000)  # devices per page when none is asked
    max_body: int = Field(default=1 << 20, ge=1024, le=16 << 20)  # request bytes; larger: 400
    # the gateway as client of the CMS (log reports, §5.5): its client certificate (default:
    # tls_cert/tls_key, which then need the clientAuth usage too); the CMS's server
    # certificate is checked against cms_ca
    client_cert: str | None = None
    client_key: str | None = None
    loggers_file: str | None = None       # logger configs (default: beside the outbox)
    report_timeout: float = Field(default=10.0, gt=0, le=300)    # one POST /log-reports, s
    report_max_entries: int = Field(default=500, ge=1, le=10000)  # per LogReport message

    @field_validator("cms_address", "gateway_address")
    @classmethod
    def _uuid(cls, value):
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise ValueError(f"{value!r} is not a UUID; TALQ addresses are UUIDs "
                             "(e.g. `python3 -c 'import uuid; print(uuid.uuid4())'`)") from None
