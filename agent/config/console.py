"""The local listeners' settings: the crew's control socket and console, the Prometheus metrics."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agent.config.units import Duration


class ConsoleConfig(BaseModel):
    """The crew's web console (docs/console.md); off until `listen` is set and a crew account exists."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    listen: str | None = Field(default=None, pattern=r"^[^:\s]+:\d{1,5}$")   # HOST:PORT
    accounts: str = "crew.json"           # `lentera crew add`; relative: next to the config file
    audit: str = "audit.log"              # hash-chained record of crew actions; relative: next
    history: str = "history.bin"          # to the outbox (the state folder); the plots' history
    history_bucket: Annotated[Duration, Field(ge=1, le=3600)] = 60.0
    tls_cert: str | None = None           # both: serve HTTPS with the gateway's certificate
    tls_key: str | None = None
    hold_default: Annotated[Duration, Field(ge=60)] = 1800.0
    hold_max: Annotated[Duration, Field(ge=60, le=43200)] = 43200.0
    relay_min_interval: Duration = 30.0   # at most one switch change per light this often
    session_idle: Annotated[Duration, Field(ge=60)] = 1800.0
    session_max: Annotated[Duration, Field(ge=60)] = 43200.0
    lockout_after: int = Field(default=5, ge=1, le=100)   # failed logins before a lock-out
    lockout_base: Annotated[Duration, Field(ge=1)] = 30.0   # doubles with every further failure
    lockout_max: Annotated[Duration, Field(ge=1)] = 3600.0
    refresh: Annotated[Duration, Field(ge=1, le=300)] = 5.0

    @model_validator(mode="after")
    def _tls_pair(self):
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together: give both or neither")
        if self.hold_default > self.hold_max:
            raise ValueError("hold_default is longer than hold_max")
        return self


class MetricsConfig(BaseModel):
    """Prometheus metrics on a small HTTP listener of its own (agent/local/metrics.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    listen: str | None = Field(default=None, pattern=r"^[^:\s]+:\d{1,5}$")   # HOST:PORT; None: off


class ControlConfig(BaseModel):
    """The local control socket for maintenance crews (`lentera override`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    socket: str = "lentera.sock"          # relative: next to the config file
