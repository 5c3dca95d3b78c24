"""Which northbound interfaces a gateway speaks, and which of them carries each kind of message.

The outbox stores every message once, with the mask of the interfaces still to deliver it
(agent/store/outbox_db.py, INTERFACES). The JSON topics (docs/mqtt.md) are always on; other
interfaces add themselves here from their config sections.
"""

from agent.config.models import GatewayConfig
from agent.store.outbox_db import INTERFACES

JSON = INTERFACES["json"]


def interfaces(config: GatewayConfig) -> tuple[str, ...]:
    """The configured northbound interfaces, by name."""
    return ("json",) + (("talq",) if config.talq is not None else ())


def routes(config: GatewayConfig) -> dict[str, int | None]:
    """Kind of message -> mask of the interfaces that carry it (None: every configured one).

    Acks answer the JSON interface's signed commands, so they go there only.
    """
    if config.talq is not None:
        # the TALQ log-report client (issue 19, step 5) does not drain its consumer yet: rows
        # bound for it would never be acked and would fill the card, so none are routed there
        return {"telemetry": JSON, "events": JSON, "acks": JSON}
    return {"telemetry": None, "events": None, "acks": JSON}
