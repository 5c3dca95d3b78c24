"""Gateway configuration models: gateway.yaml as immutable, validated objects.

Every problem is reported with its key path and YAML line, e.g.
`devices[3].unit: must be 1..247 (gateway.yaml line 41)`.
"""

import re
from typing import Annotated, Literal, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field,
                      field_validator, model_validator)

from agent.config.console import ConsoleConfig, ControlConfig, MetricsConfig
from agent.config.sparkplug import SparkplugConfig, case_clash
from agent.config.talq import TalqConfig
from agent.config.cross import cross_problems
from agent.config.topics import check_level, check_prefix
from agent.errors import PathError
from agent.config.units import Duration

class Strict(BaseModel):
    """Base: unknown keys are errors, objects are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Location(Strict):
    """Where the gateway stands (for sunrise/sunset)."""

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class Gateway(Strict):
    """Identity of this gateway."""

    id: str
    site: str = Field(min_length=1)
    location: Location
    timezone: str = "UTC"
    clock: Literal["kernel", "assume"] = "kernel"   # when to trust the wall clock for schedules

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value):
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", value):
            raise ValueError(f"{value!r}: use lower-case letters, digits and '-' (it becomes "
                             "part of every MQTT topic), e.g. tgr-gw-0001")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value):
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as "
                             "Asia/Jakarta") from None
        return value


class Tls(Strict):
    """TLS towards the broker (always TLS 1.2 or newer)."""

    ca_file: str | None = None            # None: the system's trusted CAs
    cert_file: str | None = None          # client certificate (mutual TLS), with key_file
    key_file: str | None = None

    @model_validator(mode="after")
    def _pair(self):
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together: give both or neither")
        return self


class Mqtt(Strict):
    """The city broker connection."""

    url: str
    topic_prefix: str = "city/lighting"
    qos: Literal[1] = 1                   # always 1: the outbox deletes only what was PUBACKed
    client_id: str | None = None
    keepalive: Annotated[Duration, Field(ge=5, le=3600)] = 60.0   # seconds, whole
    username: str | None = None
    password: str | None = None
    protocol: Annotated[Literal["5", "3.1.1"], BeforeValidator(str)] = "5"
    tls: Tls | None = None                # required for mqtts:// (an empty mapping is fine)
    # jittered back-off between attempts, capped low: back within reconnect_max of the
    # broker's return however long it was away (docs/mqtt.md "Reconnect")
    reconnect_min: Duration = 1.0
    reconnect_max: Duration = 4.0
    inflight: int = Field(default=100, ge=1, le=65535)   # QoS 1 messages awaiting PUBACK
    # MQTT 5: a PUBACK saying "no matching subscribers" (16) or a refusal (>= 0x80) keeps the
    # row and sends it again. Off by default: a topic nobody subscribes to would fill the
    # window and stop the uplink. On for a city ingest on shared subscriptions (docs/fleet.md)
    resend_unheard: bool = False

    _prefix = field_validator("topic_prefix")(check_prefix)
    _client = field_validator("client_id")(check_level)

    @field_validator("url")
    @classmethod
    def _url_shape(cls, value):
        if not re.match(r"^mqtts?://[^/:]+(:\d{1,5})?/?$", value):
            raise ValueError(f"{value!r} is not a broker URL; write mqtt://HOST:PORT "
                             "(or mqtts://HOST:PORT for TLS)")
        return value

    @property
    def host(self) -> str:
        """Broker host name."""
        return self.url.split("://", 1)[1].rstrip("/").split(":")[0]

    @property
    def port(self) -> int:
        """Broker port (1883, or 8883 for mqtts)."""
        rest = self.url.split("://", 1)[1].rstrip("/")
        if ":" in rest:
            return int(rest.split(":")[1])
        return 8883 if self.url.startswith("mqtts") else 1883


class Uplink(Strict):
    """Where telemetry goes."""

    mqtt: Mqtt
    status_period: Duration = 30.0        # retained status (with outbox backlog) this often


class TcpBus(Strict):
    """A Modbus TCP endpoint (a controller or a TCP/RTU gateway)."""

    type: Literal["modbus-tcp"]
    host: str
    port: int = Field(default=502, ge=1, le=65535)
    timeout_ms: int = Field(default=500, ge=10, le=60000)
    max_in_flight: int = Field(default=1, ge=1, le=16)
    # sockets for them; default one per request; 1 pipelines (gateways known to cope)
    connections: int | None = Field(default=None, ge=1, le=16)
    max_gap: int = Field(default=8, ge=0, le=124)
    retries: int = Field(default=1, ge=0, le=5)
    backoff_max: Duration = 300.0


class RtuBus(Strict):
    """An RS-485 line speaking Modbus RTU."""

    type: Literal["modbus-rtu"]
    port: str
    baudrate: Literal[1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200] = 9600
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    timeout_ms: int = Field(default=300, ge=10, le=60000)
    # late replies waited out after a timeout; unset: one reply frame + t3.5, >= 20 ms
    late_reply_window: Annotated[Duration, Field(ge=0.02, le=5)] | None = None
    max_gap: int = Field(default=8, ge=0, le=124)
    retries: int = Field(default=1, ge=0, le=5)
    backoff_max: Duration = 300.0


Bus = Annotated[Union[TcpBus, RtuBus], Field(discriminator="type")]


class Device(Strict):
    """A polled field device."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    bus: str
    unit: int = Field(ge=1, le=247)
    profile: str
    poll: Duration = 10.0
    location: Location | None = None      # where the pole stands (the console's map, GeoJSON)


class OutboxConfig(Strict):
    """The durable outbox (SQLite) every reading passes through."""

    path: str = "outbox.db"               # relative: next to the config file
    max_mb: float = Field(default=64.0, gt=0)
    max_age: Duration | None = None       # routine readings older than this are dropped
    batch_window: Duration = 0.02         # gather this long, then commit once (latency cap)
    batch_max: int = Field(default=500, ge=1, le=100000)


class AnomalyConfig(Strict):
    """Vectorized fault and anomaly detection over every poll (docs/anomaly.md)."""

    enabled: bool = True
    period: Duration = 60.0               # one detector step per period (thresholds assume ~60 s)
    threshold: float = Field(default=0.9, gt=0, lt=1)   # generic score that raises an event
    state_file: str = "anomaly.npz"       # learnt state; relative: next to the config file


class CommandsConfig(Strict):
    """Signed commands from the city."""

    key_file: str | None = None           # hex HMAC key; None: every command is refused
    schedule_file: str = "pushed-lighting.json"   # a pushed schedule, kept across restarts
    max_ttl: Duration = 86400.0           # refuse commands that expire further ahead


class SerialSensor(Strict):
    """An air-quality or other sensor on a plain serial line (docs/serial-sensors.md)."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    kind: Literal["sds011", "pms5003", "ascii"]
    port: str
    baudrate: Literal[1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200] = 9600
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    publish_every: Duration = 10.0
    silence_timeout: Duration = 30.0
    pattern: str | None = None
    scales: dict[str, float] = {}
    terminator: str = "\n"
    max_line_len: int = Field(default=256, ge=8, le=4096)

    @model_validator(mode="after")
    def _ascii_needs_pattern(self):
        if self.kind == "ascii":
            if not self.pattern:
                raise ValueError("kind ascii needs a pattern: a regex with named groups")
            try:
                groups = set(re.compile(self.pattern).groupindex)
            except re.error as exc:
                raise ValueError(f"pattern is not a valid regex: {exc}") from None
            if not groups:
                raise ValueError("pattern has no named groups (?P<name>...): nothing to publish")
            unknown = sorted(set(self.scales) - groups)
            if unknown:
                raise ValueError(f"scales name unknown groups: {', '.join(unknown)}")
        elif self.pattern or self.scales:
            raise ValueError(f"pattern and scales apply to kind ascii only, not {self.kind}")
        return self


class GatewayConfig(Strict):
    """The whole gateway.yaml."""

    gateway: Gateway
    uplink: Uplink
    buses: dict[str, Bus] = Field(min_length=1)
    devices: list[Device] = Field(min_length=1)
    serial_sensors: list[SerialSensor] = []
    lighting: dict | None = None          # edge_rules config, checked by LightingController
    anomaly: AnomalyConfig = AnomalyConfig()
    control: ControlConfig = ControlConfig()
    outbox: OutboxConfig = OutboxConfig()
    commands: CommandsConfig = CommandsConfig()
    console: ConsoleConfig = ConsoleConfig()
    groups: dict[str, list[str]] = {}     # named sets of device ids, for city commands
    profiles: list[str] = []              # extra profile folders, searched before the default
    metrics: MetricsConfig = MetricsConfig()
    sparkplug: SparkplugConfig = SparkplugConfig()   # docs/sparkplug.md; off by default
    talq: TalqConfig | None = None        # the TALQ gateway interface (docs/talq.md); None: off

    @model_validator(mode="after")
    def _groups_known(self):
        ids = {d.id for d in self.devices}
        for name, members in self.groups.items():
            for i, member in enumerate(members):
                if member not in ids:
                    raise PathError(("groups", name, i), f"unknown device {member!r}")
        return self

    @model_validator(mode="after")
    def _sparkplug_ids(self):
        clash = case_clash([d.id for d in self.devices]) if self.sparkplug.enabled else None
        if clash:
            raise PathError(("devices", clash[0], "id"), f"{clash[1]!r} differs from device "
                            f"{clash[2]!r} only in case: Sparkplug hosts may take them for one "
                            "device (Sparkplug 3.0 chapter 5); rename one")
        return self

    @model_validator(mode="after")
    def _cross_check(self):
        problems = cross_problems(list(self.buses), [d.model_dump() for d in self.devices])
        if problems:
            raise PathError(*problems[0])
        return self

