"""Sparkplug topic namespace (chapter 4): spBv1.0/{group}/{TYPE}/{edge node}[/{device}]."""

import json
from drivers.errors import LenteraError

NAMESPACE = "spBv1.0"         # [tck-id-topic-structure-namespace-a]
MAX_STATE = 1024              # bytes of a STATE message read at most


class StateError(LenteraError, ValueError):
    """A STATE message that is not the JSON object of chapter 4 (ignored, counted)."""


class Topics:
    """The topics of one edge node; ids are checked by agent/config/sparkplug.py."""

    def __init__(self, group_id: str, edge_node_id: str):
        base = f"{NAMESPACE}/{group_id}"
        self.nbirth = f"{base}/NBIRTH/{edge_node_id}"
        self.ndeath = f"{base}/NDEATH/{edge_node_id}"
        self.ndata = f"{base}/NDATA/{edge_node_id}"
        self.ncmd = f"{base}/NCMD/{edge_node_id}"
        self._device = f"{base}/{{kind}}/{edge_node_id}/"
        self.dcmd_all = f"{base}/DCMD/{edge_node_id}/+"
        # never subscribed: unsubscribing it is a barrier whose UNSUBACK says the broker has
        # read every QoS 0 message sent before it on this connection (docs/sparkplug.md)
        self.barrier = f"{base}/NCMD/{edge_node_id}/.lentera-barrier"

    def device(self, kind: str, device_id: str) -> str:
        """DBIRTH, DDATA, DDEATH or DCMD topic of one device."""
        return self._device.format(kind=kind) + device_id


def state_topic(host_id: str) -> str:
    """The primary host's STATE topic (3.0: spBv1.0/STATE/{host_id})."""
    return f"{NAMESPACE}/STATE/{host_id}"


def read_state(data: bytes) -> tuple[bool, int]:
    """A STATE payload -> (online, timestamp); StateError says what is wrong."""
    if len(data) > MAX_STATE:
        raise StateError(f"STATE of {len(data)} bytes (at most {MAX_STATE})")
    try:
        body = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise StateError(f"STATE is not UTF-8 JSON: {exc}") from None
    if not isinstance(body, dict):
        raise StateError("STATE is not a JSON object")
    online, ts = body.get("online"), body.get("timestamp")
    if not isinstance(online, bool):
        raise StateError("STATE has no boolean 'online'")
    if isinstance(ts, bool) or not isinstance(ts, (int, float)) or not 0 <= ts < 2 ** 63:
        raise StateError("STATE has no numeric 'timestamp'")
    return online, int(ts)
