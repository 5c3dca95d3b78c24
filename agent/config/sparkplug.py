"""The `sparkplug:` section: the gateway as a Sparkplug B 3.0 edge node (docs/sparkplug.md)."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from agent.config.units import Duration

RESERVED = set("+/#")     # [tck-id-topic-structure-namespace-valid-group-id] and its siblings


def check_sparkplug_id(value: str | None) -> str | None:
    """A group, edge node or host id: UTF-8 without + / # (chapter 4, topic namespace)."""
    if value is None:
        return value
    bad = sorted(RESERVED & set(value))
    if not value or bad:
        raise ValueError(f"{value!r} is not a Sparkplug id: it must be non-empty and may not "
                         f"contain {' '.join(bad) or '+ / #'} (Sparkplug 3.0, chapter 4)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{value!r} is not valid UTF-8: {exc}") from exc
    return value


def case_clash(device_ids: list[str]) -> tuple[int, str, str] | None:
    """(index, id, the earlier id) of the first device id equal to an earlier one but for case:
    Sparkplug ids SHOULD NOT match in lower case [tck-id-case-sensitivity-sparkplug-ids]."""
    seen: dict[str, str] = {}
    for i, device_id in enumerate(device_ids):
        earlier = seen.setdefault(device_id.lower(), device_id)
        if earlier != device_id:
            return i, device_id, earlier
    return None


class SparkplugConfig(BaseModel):
    """Off unless `enabled`; the broker defaults to the uplink's (its TLS and credentials too)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    group_id: str = "lentera"
    edge_node_id: str | None = None       # None: the gateway id
    primary_host_id: str | None = None    # set: publish only while its STATE says online
    url: str | None = Field(default=None, pattern=r"^mqtts?://[^/:]+(:\d{1,5})?/?$")
    keepalive: Annotated[Duration, Field(ge=5, le=3600)] = 30.0
    bdseq_file: str = "sparkplug-bdseq.json"   # relative: next to the config file
    commands: bool = False                # DCMD switch/dim writes: trusts the broker's ACLs
    max_writes_per_s: float = Field(default=2.0, gt=0, le=100)   # bounded like the signed intake
    rebirth_min_interval: Annotated[Duration, Field(ge=0.1, le=3600)] = 5.0
    window: int = Field(default=100, ge=1, le=10000)   # DDATA between two delivery barriers
    reconnect_min: Duration = 1.0
    reconnect_max: Duration = 4.0

    _ids = field_validator("group_id", "edge_node_id", "primary_host_id")(check_sparkplug_id)
