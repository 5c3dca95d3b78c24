"""Which northbound interfaces a gateway speaks, and which of them carries each kind of message.

The outbox stores every message once, with the mask of the interfaces still to deliver it
(agent/store/outbox_db.py, INTERFACES). The JSON topics (docs/mqtt.md) are always on; other
interfaces add themselves here from their config sections.
"""

from agent.config.models import GatewayConfig
from agent.store.outbox_db import INTERFACES

JSON = INTERFACES["json"]


def interfaces(config: GatewayConfig) -> tuple[str, ...]:
    """The configured northbound interfaces that drain the outbox, by name."""
    names = ["json"]
    if config.sparkplug.enabled:      # docs/sparkplug.md: a Sparkplug B edge node as well
        names.append("sparkplug")
    if config.talq is not None:       # docs/talq.md: log reports to the CMS (§5.5)
        names.append("talq")
    return tuple(names)


def routes(config: GatewayConfig) -> dict[str, int | None]:
    """Kind of message -> mask of the interfaces that carry it (None: every configured one).

    Acks answer the JSON interface's signed commands, so they go there only.
    Sparkplug carries telemetry only (its births/deaths say what events would): not events.
    TALQ carries events only: its log reports record events (EventRecordingMode, §5.5);
    the CMS reads live values with GET, so telemetry rows would only wait for it in vain.
    """
    every = sum(INTERFACES[name] for name in interfaces(config))
    talq, sparkplug = INTERFACES["talq"], INTERFACES["sparkplug"]
    return {"telemetry": every & ~talq if every & talq else None,
            "events": every & ~sparkplug if every & sparkplug else None, "acks": JSON}
