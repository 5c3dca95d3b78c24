"""Which northbound interfaces a gateway speaks, and which of them carries each kind of message.

The outbox stores every message once, with the mask of the interfaces still to deliver it
(agent/store/outbox_db.py, INTERFACES). The JSON topics (docs/mqtt.md) are always on; other
interfaces add themselves here from their config sections.
"""

from agent.config.models import GatewayConfig
from agent.store.outbox_db import INTERFACES

JSON = INTERFACES["json"]


def interfaces(config: GatewayConfig) -> tuple[str, ...]:
    """The configured northbound interfaces that drain the outbox, by name.

    TALQ (docs/talq.md) serves live state over HTTPS and takes no outbox rows yet: its log-report
    client is not built, and rows bound for an interface nobody acks would fill the card.
    """
    if config.sparkplug.enabled:      # docs/sparkplug.md: a Sparkplug B edge node as well
        return ("json", "sparkplug")
    return ("json",)


def routes(config: GatewayConfig) -> dict[str, int | None]:
    """Kind of message -> mask of the interfaces that carry it (None: every configured one).

    Acks answer the JSON interface's signed commands, so they go there only.
    Sparkplug carries telemetry only (its births/deaths say what events would): not events.
    """
    if config.sparkplug.enabled:
        every = sum(INTERFACES[name] for name in interfaces(config))
        return {"telemetry": None, "events": every & ~INTERFACES["sparkplug"], "acks": JSON}
    return {"telemetry": None, "events": None, "acks": JSON}
